"""Sets domain: curves, ingest, featurize, maskers, chunking, invariances, head, infill."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from domains.sets import SetsDomain, ingest_sets
from domains.sets.curves import curve_order, hilbert_index, zorder_index
from domains.sets.digits import CSV_OPTIONS, digit_frame, load_digit_sets
from domains.sets.ingest import CLS, ELEM, MASK, MISSING_ID, NUM_SPECIAL, UNK, ingest_objects
from domains.sets.modules import IGNORE
from domains.sets.views import relative_positions
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.data.ingest import ingest
from encoderkit.data.split import validation_mask
from encoderkit.data.store import RecordStore
from encoderkit.domain import IngestReport
from encoderkit.modeling import MaskedEncoderModel


class ListWriter:
    """Collects appended records in memory (the RecordWriter protocol)."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, fields, meta=None, id=None) -> int:
        self.records.append({**{k: np.asarray(v) for k, v in fields.items()}, "id": id})
        return len(self.records) - 1


def ingest_memory(sets, **options):
    writer, report = ListWriter(), IngestReport()
    schema = ingest_objects(sets, writer, report, **options)
    return schema, writer.records, report


def tiny_config(rope_axes: int, **kw) -> EncoderConfig:
    return EncoderConfig.preset("tiny", hidden_size=32, num_layers=2, num_heads=2,
                                intermediate_size=64, rope_axes=rope_axes, global_every=1,
                                backend="sdpa", **kw)


def item_sets(n_sets=20, seed=0, features=True):
    rng = np.random.default_rng(seed)
    sets = []
    for i in range(n_sets):
        n = int(rng.integers(3, 9))
        s = {"ids": [f"g{int(k)}" for k in rng.integers(0, 6, n)]}
        if features:
            f = rng.normal(size=(n, 2))
            f[rng.random((n, 2)) < 0.2] = np.nan
            s["features"] = f
        sets.append(s)
    return sets


def sharpen(model: MaskedEncoderModel, factor: float = 25.0) -> MaskedEncoderModel:
    """Scale q/k/v and output projections: at initialisation attention is nearly uniform,
    so positions would barely matter and an invariance check would pass trivially."""
    with torch.no_grad():
        for name, p in model.encoder.named_parameters():
            if name.endswith(("Wqkv.weight", "attn.Wo.weight")):
                p.mul_(factor)
    return model


def encode(model, domain, records):
    batch = collate([domain.unmasked(domain.featurize(r)) for r in records])
    with torch.no_grad():
        return model.encode(batch), batch


# ---- space-filling curves ---------------------------------------------------------------

@pytest.mark.parametrize("dims,bits", [(2, 1), (2, 3), (3, 2)])
def test_hilbert_visits_every_cell_once_with_unit_steps(dims, bits):
    side = 2 ** bits
    cells = np.stack(np.meshgrid(*[np.arange(side)] * dims, indexing="ij"), -1).reshape(-1, dims)
    index = hilbert_index(cells.astype(np.uint64), bits)
    assert sorted(index.tolist()) == list(range(side ** dims))
    path = cells[np.argsort(index)]
    # the defining property of a Hilbert curve: consecutive cells are grid neighbours
    assert (np.abs(np.diff(path, axis=0)).sum(axis=1) == 1).all()


def test_zorder_matches_hand_interleaving():
    # axis 0 bit first: (x=1, y=0) -> 0b10 = 2, (x=0, y=1) -> 1, (x=3, y=1) = bits x:11 y:01 -> 1011
    cells = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [3, 1]], dtype=np.uint64)
    assert zorder_index(cells, 2).tolist() == [0, 2, 1, 3, 0b1011]


def test_curve_order_is_a_stable_permutation():
    coords = np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 0.0], [5.0, 0.0]])
    order = curve_order(coords, "hilbert", 4)
    assert sorted(order.tolist()) == [0, 1, 2, 3]
    assert order.tolist().index(0) < order.tolist().index(2)  # ties keep input order


# ---- ingest ----------------------------------------------------------------------------

def test_csv_ingest_vocab_missing_empty_and_train_only_statistics(tmp_path):
    frame = pd.DataFrame({
        "set": ["a", "a", "a", "b", "c", "c", "d", "d"],
        "id": ["p", "q", None, None, "p", "r", "p", "q"],
        "w": [1.0, np.nan, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0],
    })
    path = tmp_path / "sets.csv"
    frame.to_csv(path, index=False)
    report = ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False,
                    validation_fraction=0.5, split_seed=3)
    store = RecordStore(str(tmp_path / "s.zarr"))
    # set b has only an all-empty row: an empty set, skipped and counted
    assert len(store) == 3 and report.skipped["empty set"] == 1
    s = store.schema
    assert s["vocab"] == ["p", "q", "r"]  # by frequency (p: 3, q: 2, r: 1)
    rec = store[0]
    assert rec["id"] == "a"
    assert rec["ids"].tolist() == [NUM_SPECIAL + 0, NUM_SPECIAL + 1, MISSING_ID]
    assert np.isnan(rec["features"][1, 0]) and rec["features"][2, 0] == 3.0
    # statistics from the train side only, written independently here
    val = validation_mask(3, 0.5, 3)
    values = [[1.0, 3.0], [5.0, 6.0], [7.0, 8.0]]
    train_values = np.concatenate([v for v, is_val in zip(values, val) if not is_val] or values)
    assert s["feature_mean"][0] == pytest.approx(train_values.mean())
    assert s["feature_std"][0] == pytest.approx(train_values.std())


def test_npz_ingest_ragged_arrays(tmp_path):
    path = tmp_path / "sets.npz"
    np.savez(path, offsets=np.array([0, 2, 2, 5]), coords=np.arange(10.0).reshape(5, 2),
             features=np.array([1.0, 2.0, np.nan, 4.0, 5.0]),
             set_ids=np.array(["x", "y", "z"]))
    report = ingest("sets", [str(path)], str(tmp_path / "s.zarr"), progress=False, verbose=False)
    store = RecordStore(str(tmp_path / "s.zarr"))
    assert [store[i]["id"] for i in range(len(store))] == ["x", "z"]
    assert report.skipped["empty set"] == 1
    np.testing.assert_array_equal(store[1]["coords"], np.arange(4.0, 10.0).reshape(3, 2))
    assert store.schema["coord_names"] == ["x", "y"] and store.schema["feature_names"] == ["f0"]


def test_python_api_ingest_and_errors(tmp_path):
    sets = [{"coords": np.zeros((3, 2)), "features": np.ones((3, 2))},
            {"coords": np.ones((2, 2)), "features": np.ones((2, 3))}]
    with pytest.raises(ValueError, match=r"set '1'.*3 columns, expected 2"):
        ingest_sets(sets, str(tmp_path / "bad.zarr"))
    assert not (tmp_path / "bad.zarr").exists()  # an error leaves no store behind
    with pytest.raises(ValueError, match="nothing to predict"):
        ingest_memory([np.zeros((3, 2))])  # coordinates only: no target
    with pytest.raises(ValueError, match="min_count"):
        ingest_memory(sets, min_count=0)
    with pytest.raises(ValueError, match=r"set 'k'.*infinite"):
        ingest_memory({"k": {"features": np.array([[np.inf]])}})
    report = ingest_sets([{"features": [[1.0], [np.nan]]}, {"features": np.zeros((0, 1))}],
                         str(tmp_path / "ok.zarr"))
    assert report.records == 1 and report.skipped["empty set"] == 1


def test_unknown_items_at_inference_become_unk():
    schema, _, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema)
    rec = domain.to_records([{"ids": ["g1", "never-seen", None], "features": np.zeros((3, 2))}])[0]
    assert rec["ids"].tolist() == [domain.index["g1"], UNK, MISSING_ID]
    ex = domain.featurize(rec)
    assert ex.fields["ids"].tolist() == [domain.index["g1"], UNK, MASK]


# ---- options ---------------------------------------------------------------------------

def test_options_are_validated_with_teaching_errors():
    schema, _, _ = ingest_memory(load_digit_sets(limit=5)[0])
    with pytest.raises(ValueError, match=r"'order'.*\('input', 'zorder', 'hilbert'\).*'spiral'"):
        SetsDomain(schema, order="spiral")
    with pytest.raises(ValueError, match=r"'unit'.*-1"):
        SetsDomain(schema, unit=-1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) of the sets domain: \["):
        SetsDomain(schema, mask_ratio=0.3)
    with pytest.raises(ValueError, match=r"'pooling'.*pooling_token"):
        SetsDomain(schema, pooling="cls")
    no_features, _, _ = ingest_memory(item_sets(features=False))
    with pytest.raises(ValueError, match=r"'masker'"):
        SetsDomain(no_features, masker="feature")
    d = SetsDomain(schema, pooling_token=True)
    assert d.options["pooling"] == "cls" and d.rope_axes == 2
    assert SetsDomain(schema, use_coordinates=False).rope_axes == 0


# ---- featurize, masking ----------------------------------------------------------------

def test_featurize_normalises_and_marks_missing():
    schema, records, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema)
    rec = records[0]
    ex = domain.featurize(rec)
    raw = rec["features"].astype(np.float64)
    expected = (raw - np.asarray(schema["feature_mean"])) / np.asarray(schema["feature_std"])
    np.testing.assert_array_equal(ex.fields["observed"], ~np.isnan(raw))
    np.testing.assert_allclose(ex.fields["features"], np.nan_to_num(expected, nan=0.0), rtol=1e-6)
    assert ex.positions.shape == (len(raw), 0)


def test_random_masker_keeps_coordinates_and_hides_content():
    sets, _ = load_digit_sets(limit=10)
    schema, records, _ = ingest_memory(sets)
    domain = SetsDomain(schema, mask_rate=0.5)
    rng = np.random.default_rng(0)
    for rec in records:
        ex = domain.featurize(rec)
        m = domain.mask(ex, rng)
        p = m.predict
        assert p.any()
        np.testing.assert_array_equal(m.positions, ex.positions)  # coordinates stay visible
        assert (m.inputs["ids"][p] == MASK).all() and (m.inputs["ids"][~p] == ELEM).all()
        assert (m.inputs["features"][p] == 0).all() and not m.inputs["observed"][p].any()
        np.testing.assert_array_equal(m.inputs["features"][~p], ex.fields["features"][~p])
        np.testing.assert_array_equal(m.targets["features"], ex.fields["features"][p])
        # the inputs of a masked example do not depend on the hidden elements' content
        other = {k: v.copy() for k, v in ex.fields.items()}
        other["features"][p] = 123.0
        from encoderkit.domain import Example
        m2 = domain.mask(Example(other, ex.positions, context=ex.context),
                         np.random.default_rng(int(rng.integers(1 << 30))))
        if np.array_equal(m2.predict, p):
            for k in m.inputs:
                np.testing.assert_array_equal(m.inputs[k], m2.inputs[k])


def test_masked_ids_do_not_leak_and_missing_never_targets():
    schema, records, _ = ingest_memory(item_sets(n_sets=30))
    domain = SetsDomain(schema, masker={"random": 0.5, "feature": 0.5}, mask_rate=0.6)
    rng = np.random.default_rng(1)
    for rec in records:
        ex = domain.featurize(rec)
        for masker in ("random", "feature"):
            m = domain.maskers[masker](ex, rng)
            p = m.predict
            obs = ex.fields["observed"][p]
            # a missing feature is never a target
            assert not (m.targets["feature_mask"] & ~obs).any()
            # a missing item is never an id target
            missing = (rec["ids"] == MISSING_ID)[p]
            assert (m.targets["ids"][missing] == IGNORE).all()
            if masker == "random":
                assert (m.inputs["ids"][p] == MASK).all()
                real = ~missing
                np.testing.assert_array_equal(m.targets["ids"][real], ex.fields["ids"][p][real])
            else:
                hidden = m.targets["feature_mask"]
                assert not (m.inputs["observed"][p] & hidden).any()
                assert (m.inputs["features"][p][hidden] == 0).all()
                np.testing.assert_array_equal(m.inputs["ids"], ex.fields["ids"])


def test_masking_rate_matches_configuration():
    sets, _ = load_digit_sets(limit=60)
    schema, records, _ = ingest_memory(sets)
    domain = SetsDomain(schema, mask_rate=0.3)
    rng = np.random.default_rng(0)
    chosen = total = 0
    for rec in records:
        m = domain.mask(domain.featurize(rec), rng)
        chosen += int(m.predict.sum())
        total += len(m)
    rate = chosen / total
    # binomial standard error over ~2000 elements is ~0.01 (plus the at-least-one rule)
    assert abs(rate - 0.3) < 0.04


# ---- chunking --------------------------------------------------------------------------

@pytest.mark.parametrize("coords", [True, False])
@pytest.mark.parametrize("cls_token", [True, False])
def test_chunking_covers_each_element_once_deterministically(coords, cls_token):
    rng = np.random.default_rng(0)
    n = 103
    s = {"features": rng.normal(size=(n, 1))}
    if coords:
        s["coords"] = rng.uniform(0, 100, size=(n, 2))
    schema, records, _ = ingest_memory([s])
    domain = SetsDomain(schema, pooling_token=cls_token)
    ex = domain.featurize(records[0])
    chunks = domain.windows(ex, 25)
    again = domain.windows(domain.featurize(records[0]), 25)
    cap = 25 - cls_token
    assert len(chunks) == math.ceil(n / cap)
    seen = np.concatenate([c.context["elements"] for c in chunks])
    assert sorted(seen.tolist()) == list(range(n))
    for c, c2 in zip(chunks, again):
        assert len(c) <= 25
        np.testing.assert_array_equal(c.context["elements"], c2.context["elements"])
        body = slice(1, None) if cls_token else slice(None)
        if cls_token:
            assert c.fields["ids"][0] == CLS
        # each chunk's tokens are the right elements with their own values
        np.testing.assert_array_equal(c.fields["features"][body],
                                      ex.fields["features"][slice(1 if cls_token else 0, None)]
                                      [c.context["elements"]])
    if coords:
        # spatial chunks are compact: smaller mean bounding box than a random partition
        def mean_area(groups):
            return np.mean([np.prod(np.ptp(s["coords"][g], axis=0)) for g in groups])
        spatial = mean_area([c.context["elements"] for c in chunks])
        random = mean_area(np.array_split(rng.permutation(n), len(chunks)))
        assert spatial < 0.5 * random


# ---- invariances through the model ----------------------------------------------------

def test_without_coordinates_permuting_elements_permutes_outputs():
    schema, records, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema)
    torch.manual_seed(0)
    model = sharpen(MaskedEncoderModel(domain, tiny_config(0)).eval())
    rec = records[3]
    perm = np.random.default_rng(0).permutation(len(rec["ids"]))
    permuted = {k: (v[perm] if isinstance(v, np.ndarray) else v) for k, v in rec.items()}
    out, _ = encode(model, domain, [rec])
    out_p, _ = encode(model, domain, [permuted])
    torch.testing.assert_close(out_p, out[torch.as_tensor(perm)], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_p.mean(0), out.mean(0), rtol=1e-5, atol=1e-6)
    assert out.std(0).mean() > 1e-3  # outputs differ between elements: the check has teeth


def test_with_coordinates_translation_invariant_rotation_not():
    sets, _ = load_digit_sets(limit=4)
    schema, records, _ = ingest_memory(sets)
    domain = SetsDomain(schema)
    torch.manual_seed(0)
    model = sharpen(MaskedEncoderModel(domain, tiny_config(2)).eval())
    rec = records[2]
    out, batch = encode(model, domain, [rec])
    # the domain re-origins each set (float64): a far translation gives identical inputs
    moved = dict(rec, coords=rec["coords"] + np.array([1e6 + 0.25, -3e5]))
    np.testing.assert_array_equal(domain.featurize(moved).positions, domain.featurize(rec).positions)
    # and the rotary encoding itself is relative: shift the positions the model sees
    for shift in ([3.5, -7.25], [40.0, 12.0]):
        shifted = collate([domain.unmasked(domain.featurize(rec))])
        shifted.positions = shifted.positions + torch.tensor(shift)
        with torch.no_grad():
            out_s = model.encode(shifted)
        torch.testing.assert_close(out_s, out, rtol=1e-4, atol=1e-4)
    # moving a single element is not a translation: outputs change (the check has teeth)
    nudged = collate([domain.unmasked(domain.featurize(rec))])
    nudged.positions[0] += torch.tensor([2.0, 1.0])
    with torch.no_grad():
        assert (model.encode(nudged) - out).abs().max() > 1e-2
    # a 90-degree rotation (x, y) -> (-y, x) changes the outputs: the encoding is axis-aligned
    c = rec["coords"]
    rotated = dict(rec, coords=np.stack([-c[:, 1], c[:, 0]], axis=1))
    out_r, _ = encode(model, domain, [rotated])
    assert (out_r - out).abs().max() > 1e-2


# ---- head ------------------------------------------------------------------------------

def test_head_loss_matches_float64_reference():
    schema, _, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema, id_loss_weight=0.7, feature_loss_weight=1.3)
    config = tiny_config(0)
    torch.manual_seed(0)
    embedder = domain.embedder(config).double()
    head = domain.head(config, embedder).double()
    P = 6
    hidden = torch.randn(P, 32, dtype=torch.float64)
    targets = {"ids": torch.tensor([4, 5, IGNORE, 6, 4, 7]),
               "features": torch.randn(P, 2, dtype=torch.float64),
               "feature_mask": torch.tensor([[1, 1], [0, 1], [1, 0], [0, 0], [1, 1], [0, 0]],
                                            dtype=torch.bool)}
    weights = torch.tensor([1.0, 0.5, 2.0, 1.0, 0.1, 1.0], dtype=torch.float64)
    out = head(hidden, targets, weights)
    logits = out.predictions["ids"].detach().numpy().astype(np.float64)
    feats = out.predictions["features"].detach().numpy()
    w = weights.numpy()
    t = targets["ids"].numpy()
    ce, cw = 0.0, 0.0
    for i in range(P):
        if t[i] == IGNORE:
            continue
        lse = np.log(np.exp(logits[i] - logits[i].max()).sum()) + logits[i].max()
        ce += w[i] * (lse - logits[i, t[i]])
        cw += w[i]
    m = targets["feature_mask"].numpy()
    tf = targets["features"].numpy()
    mse, mw = 0.0, 0.0
    for i in range(P):
        if m[i].any():
            mse += w[i] * ((feats[i] - tf[i]) ** 2)[m[i]].mean()
            mw += w[i]
    expected = 0.7 * ce / cw + 1.3 * mse / mw
    assert float(out.loss.detach()) == pytest.approx(expected, rel=1e-6)
    # tied decoder: the item logits use the input embedding matrix
    assert head._tied[0] is embedder.tok_embeddings


def test_a_few_steps_of_training_reduce_the_loss():
    # items come in pairs (g0 with g1, g2 with g3): a masked item is predictable from its partner
    rng = np.random.default_rng(0)
    sets = []
    for _ in range(64):
        pair = int(rng.integers(0, 3))
        value = rng.normal()
        ids = [f"g{2 * pair}", f"g{2 * pair + 1}"] * 2
        sets.append({"ids": ids, "features": np.full((4, 1), value)})
    schema, records, _ = ingest_memory(sets)
    domain = SetsDomain(schema, mask_rate=0.25)
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, tiny_config(0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for step in range(25):
        chosen = rng.choice(len(records), 12, replace=False)
        batch = collate([domain.mask(domain.featurize(records[i]), rng) for i in chosen])
        out = model(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


# ---- decode / infill -------------------------------------------------------------------

def fake_predict(domain, value):
    """Predictions that decode to a known item and feature value (normalised)."""
    def predict(examples):
        out = []
        for ex in examples:
            p = int(ex.predict.sum())
            feats = np.full((p, domain.num_features), value, dtype=np.float32)
            out.append({"features": feats})
            if domain.has_ids:
                logits = np.zeros((p, domain.vocab_size))
                logits[:, domain.index["g2"]] = 5.0
                logits[:, MASK] = 50.0  # specials must never be decoded
                out[-1]["ids"] = logits
        return out
    return predict


def test_infill_fills_only_missing_parts_of_python_sets():
    schema, _, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema, infill_max_seqlen=4)
    data = [{"ids": ["g1", None, "g3", "zzz", None], "features": [[1.5, np.nan], [2.0, 3.0],
                                                                  [np.nan, np.nan], [4.0, 5.0],
                                                                  [6.0, 7.0]]},
            {"ids": ["g0"], "features": [[0.25, 0.5]]}]
    out = domain.infill(data, fake_predict(domain, 1.0))
    mean, std = np.asarray(schema["feature_mean"]), np.asarray(schema["feature_std"])
    assert out[0]["ids"] == ["g1", "g2", "g3", "zzz", "g2"]  # unknown item kept as given
    f = np.asarray(out[0]["features"])
    assert f[0, 0] == 1.5 and f[1].tolist() == [2.0, 3.0] and f[3].tolist() == [4.0, 5.0]
    assert f[0, 1] == pytest.approx(1.0 * std[1] + mean[1], rel=1e-6)
    np.testing.assert_allclose(f[2], std + mean, rtol=1e-6)
    assert out[1]["ids"] == ["g0"] and np.asarray(out[1]["features"]).tolist() == [[0.25, 0.5]]
    assert data[0]["ids"][1] is None  # the input is not modified


def test_infill_dataframe_keeps_observed_cells_bit_identical(tmp_path):
    sets, _ = load_digit_sets(limit=6)
    schema, _, _ = ingest_memory(sets, feature_names=["intensity"])
    domain = SetsDomain(schema)
    frame = domain.sample_infill_input()
    missing = frame["intensity"].isna().to_numpy()
    assert missing.any()
    out = domain.infill(frame, fake_predict(domain, -0.5))
    np.testing.assert_array_equal(out["intensity"].to_numpy()[~missing],
                                  frame["intensity"].to_numpy()[~missing])
    np.testing.assert_array_equal(out[["set", "x", "y"]].to_numpy(),
                                  frame[["set", "x", "y"]].to_numpy())
    expected = -0.5 * schema["feature_std"][0] + schema["feature_mean"][0]
    np.testing.assert_allclose(out["intensity"].to_numpy()[missing], expected, rtol=1e-6)
    # round trip through the CLI file hooks
    path = tmp_path / "out.csv"
    domain.write_output(out, str(path))
    back = domain.read_input(str(path))
    np.testing.assert_allclose(back["intensity"].to_numpy(), out["intensity"].to_numpy())


def test_infill_with_a_model_and_decode(tmp_path):
    schema, records, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema, order="input")
    torch.manual_seed(0)
    model = MaskedEncoderModel(domain, tiny_config(0)).eval()

    def predict(examples):
        batch = collate(list(examples))
        with torch.no_grad():
            preds = model(batch, with_targets=False).predictions
        bounds = np.cumsum([0] + [int(e.predict.sum()) for e in examples])
        return [{k: v[a:b].numpy() for k, v in preds.items()} for a, b in zip(bounds, bounds[1:])]

    data = [{"ids": ["g1", None], "features": [[np.nan, 1.0], [2.0, 3.0]]}]
    out = domain.infill(data, predict)
    assert out[0]["ids"][0] == "g1" and out[0]["ids"][1] in domain.vocab
    assert np.isfinite(np.asarray(out[0]["features"])).all()
    # decode of a training-masked example fills exactly the hidden parts
    m = domain.mask(domain.featurize(records[0]), np.random.default_rng(0))
    rec = domain.decode(predict([m])[0], m)
    hidden = m.predict
    keep = ~hidden
    np.testing.assert_array_equal(rec["ids"][keep], records[0]["ids"][keep])
    # npz round trip of list output
    path = tmp_path / "o.npz"
    domain.write_output(out, str(path))
    back = domain.read_input(str(path))
    assert back[0]["ids"] == out[0]["ids"]


def test_sample_sources_are_real_digits(tmp_path):
    paths, options = SetsDomain.sample_sources(str(tmp_path))
    frame = pd.read_csv(paths[0])
    sets, _ = load_digit_sets(limit=12)
    expected = digit_frame(sets)
    np.testing.assert_array_equal(frame[["x", "y", "intensity"]].to_numpy(),
                                  expected[["x", "y", "intensity"]].to_numpy())
    assert options == CSV_OPTIONS and sum(p.stat().st_size for p in tmp_path.iterdir()) < 16000


# ---- ordering, augmentation, 3-D ------------------------------------------------------

def test_curve_order_maps_back_to_input_order():
    rng = np.random.default_rng(3)
    sets = [{"coords": rng.uniform(-50, 50, size=(40, 2)), "features": rng.normal(size=(40, 1))}]
    sets[0]["features"][[3, 17, 29], 0] = np.nan
    schema, records, _ = ingest_memory(sets)
    plain, curved = SetsDomain(schema), SetsDomain(schema, order="hilbert")
    ex = curved.featurize(records[0])
    el = ex.context["elements"]
    assert sorted(el.tolist()) == list(range(40)) and el.tolist() != list(range(40))
    coords = records[0]["coords"]
    np.testing.assert_allclose(ex.positions, coords[el] - coords.min(axis=0), rtol=1e-6)
    # consecutive tokens are spatially closer than in the input order
    step = lambda p: np.linalg.norm(np.diff(p, axis=0), axis=1).mean()  # noqa: E731
    assert step(ex.positions) < 0.5 * step(coords)
    # infill decodes back into the input order whatever the token order
    a = plain.infill(sets, fake_predict(plain, 0.75))
    b = curved.infill(sets, fake_predict(curved, 0.75))
    np.testing.assert_array_equal(a[0]["features"], b[0]["features"])
    np.testing.assert_array_equal(a[0]["coords"], sets[0]["coords"])


def test_local_layers_over_input_order_warn():
    schema, _, _ = ingest_memory(load_digit_sets(limit=3)[0])
    config = EncoderConfig.preset("tiny", hidden_size=32, num_layers=3, num_heads=2,
                                  intermediate_size=64, rope_axes=2, global_every=3)
    with pytest.warns(UserWarning, match="global_every=1"):
        SetsDomain(schema).embedder(config)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SetsDomain(schema, order="zorder").embedder(config)


def test_augmentation_rotates_rigidly_and_keeps_the_pooling_token_central():
    sets, _ = load_digit_sets(limit=2)
    schema, records, _ = ingest_memory(sets)
    domain = SetsDomain(schema, random_rotation=True, pooling_token=True)
    ex = domain.featurize(records[1])
    aug = domain.augment(ex, np.random.default_rng(5))
    p, q = ex.positions[1:].astype(np.float64), aug.positions[1:].astype(np.float64)
    dist = lambda x: np.linalg.norm(x[:, None] - x[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(q), dist(p), atol=1e-4)  # rigid motion
    assert np.abs(q - p).max() > 0.1  # but it moved
    np.testing.assert_allclose(aug.positions[0], q.mean(axis=0), atol=1e-4)
    for k in ex.fields:
        if k != "rel_pos":
            np.testing.assert_array_equal(aug.fields[k], ex.fields[k])
    # the offsets turn with the set: the same rotation about the centroid, same radii
    r0, r1 = ex.fields["rel_pos"][1:], aug.fields["rel_pos"][1:]
    np.testing.assert_allclose(np.linalg.norm(r1, axis=1), np.linalg.norm(r0, axis=1), atol=1e-5)
    np.testing.assert_allclose(r1, relative_positions(q), atol=1e-6)
    np.testing.assert_array_equal(aug.fields["rel_pos"][0], [0.0, 0.0])


def test_3d_point_sets_are_translation_invariant():
    rng = np.random.default_rng(0)
    sets = [{"coords": rng.uniform(0, 5, size=(12, 3)), "features": rng.normal(size=(12, 2))}]
    schema, records, _ = ingest_memory(sets)
    domain = SetsDomain(schema)
    assert domain.rope_axes == 3
    torch.manual_seed(1)
    model = sharpen(MaskedEncoderModel(domain, tiny_config(3)).eval())
    out, batch = encode(model, domain, records)
    batch.positions = batch.positions + torch.tensor([4.5, -2.0, 9.25])
    with torch.no_grad():
        torch.testing.assert_close(model.encode(batch), out, rtol=1e-4, atol=1e-4)


def test_featurize_accepts_user_set_dicts_like_stored_records():
    schema, _, _ = ingest_memory(item_sets())
    domain = SetsDomain(schema)
    user = {"ids": ["g1", "nope", None], "features": [[1.0, np.nan], [0.0, 2.0], [3.0, 4.0]]}
    stored = domain.to_records([user])[0]
    a, b = domain.featurize(user), domain.featurize(stored)
    for k in a.fields:
        np.testing.assert_array_equal(a.fields[k], b.fields[k])
    assert a.fields["ids"].tolist() == [domain.index["g1"], UNK, MASK]
