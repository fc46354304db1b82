"""Contrastive views (``Domain.views``): every registered domain's views are valid
examples its model accepts, and each domain's augmentations hold the property that
makes them a positive pair, checked against an independent reference."""

from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import pdist

from domains.genomic import GenomicDomain
from domains.genomic.tokens import decode_bases, encode_bases
from domains.sets import SetsDomain
from domains.sets.views import relative_positions, rigid_transform
from domains.tabular import TabularDomain
from domains.tabular.schema import encode_frame
from domains.tabular.views import column_marginals, scarf_corrupt
from domains.timeseries import TimeSeriesDomain
from domains.timeseries.views import hide_patches, jitter
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.data.store import RecordStore
from encoderkit.domain import Example
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import GROUP, get_domain

from .sample_store import ingest_sample

# The library's domains (entry points), not the in-process test domains.
REGISTERED = sorted(ep.name for ep in entry_points(group=GROUP))
# Option variants whose tokens differ (k-mers, channel-independent, [CLS] element).
VARIANTS = {"genomic": [{}, {"tokens": "kmer", "k": 3, "positions": "base"}],
            "timeseries": [{"patch": 8}, {"patch": 8, "channel_independent": True}],
            "tabular": [{}, {"column_positions": True}],
            "sets": [{"pooling_token": True, "unit": 0.1}, {"use_coordinates": False}]}


def check_view(view: Example, example: Example) -> None:
    """Same fields, dtypes, per-token shapes and position layout; 1 <= length <= the example's."""
    assert set(view.fields) == set(example.fields)
    n = len(view)
    assert 1 <= n <= len(example)
    for k, v in view.fields.items():
        ref = example.fields[k]
        assert v.dtype == ref.dtype, k
        assert v.shape == (n, *ref.shape[1:]), k
    assert view.positions.dtype == example.positions.dtype
    assert view.positions.shape == (n, example.positions.shape[1])
    assert np.isfinite(view.positions).all()
    assert view.record == example.record


@pytest.mark.parametrize("name", REGISTERED)
def test_views_of_every_registered_domain_are_valid_examples_the_model_encodes(name, tmp_path):
    torch.manual_seed(0)
    store = RecordStore(ingest_sample(name, tmp_path))
    cls = get_domain(name)
    for options in VARIANTS.get(name, [{}]):
        domain = cls(store.schema, **options)
        rng = np.random.default_rng(0)
        examples = [w for i in range(min(len(store), 6))
                    for w in domain.windows(domain.featurize(store[i]), 96)]
        views = []
        for ex in examples:
            a, b = domain.views(ex, rng)
            check_view(a, ex)
            check_view(b, ex)
            views += [a, b]
        cfg = EncoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                            rope_axes=domain.rope_axes, global_every=1, backend="sdpa")
        model = MaskedEncoderModel(domain, cfg).eval()
        with torch.no_grad():
            hidden = model.encode(collate([domain.unmasked(v) for v in views]))
            assert hidden.shape == (sum(len(v) for v in views), 32)
            assert torch.isfinite(hidden).all()
            # views are training inputs too: masking them and the MLM loss work
            out = model(collate([domain.mask(v, rng) for v in views]))
            assert torch.isfinite(out.loss)


# ------------------------------------------------------------------ genomic
# Written out by hand (IUPAC): the reference the domain's table is checked against.
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N", "R": "Y", "Y": "R", "S": "S",
              "W": "W", "K": "M", "M": "K", "B": "V", "V": "B", "D": "H", "H": "D"}


def rc_by_hand(seq: str) -> str:
    return "".join(COMPLEMENT[b.upper()].lower() if b.islower() else COMPLEMENT[b]
                   for b in reversed(seq))


def genomic_example(domain: GenomicDomain, seq: str) -> Example:
    codes, soft = encode_bases(seq)
    return domain.featurize({"ids": codes, "soft": soft})


def as_string(domain: GenomicDomain, ex: Example) -> str:
    return decode_bases(*domain.vocab.detokenize(ex.fields["ids"], ex.fields["soft"]))


SEQ = "ACGTTGCAggctaNNNgatcRYKMSWBDHVacgtACGGTTCCAAnnACGTAGCTAGCtagcatGCATCGAAC"


@pytest.mark.parametrize("options", [{"iupac": "keep"}, {"tokens": "kmer", "k": 3, "iupac": "keep"}])
def test_reverse_complement_matches_the_hand_table_and_twice_is_identity(options):
    domain = GenomicDomain({}, **options)
    ex = genomic_example(domain, SEQ)
    once = domain.reverse_complement(ex)
    assert as_string(domain, once) == rc_by_hand(SEQ)
    twice = domain.reverse_complement(once)
    for k in ex.fields:
        np.testing.assert_array_equal(twice.fields[k], ex.fields[k])
    np.testing.assert_array_equal(twice.positions, ex.positions)


@pytest.mark.parametrize("options", [{"iupac": "keep"}, {"tokens": "kmer", "k": 3, "iupac": "keep",
                                                         "positions": "base"}])
def test_genomic_views_are_crops_of_one_strand_or_the_other(options):
    domain = GenomicDomain({}, **options)
    ex = genomic_example(domain, SEQ)
    rng = np.random.default_rng(1)
    strands = set()
    for _ in range(40):
        for view in domain.views(ex, rng):
            s = as_string(domain, view)
            forward, backward = s in SEQ, rc_by_hand(s) in SEQ
            assert forward or backward, s
            strands.add("+" if forward else "-")
            assert len(view) >= np.ceil(0.5 * len(ex)) and view.positions[0, 0] == 0
            # positions are re-based: the same as featurizing the view's bases afresh
            np.testing.assert_array_equal(view.positions, genomic_example(domain, s).positions)
    assert strands == {"+", "-"}


# ------------------------------------------------------------------ timeseries
def ts_record(x: np.ndarray) -> dict:
    return {"values": x.astype(np.float32).reshape(-1), "channels": x.shape[0], "length": x.shape[1]}


def test_jitter_keeps_unobserved_flags_and_scales_noise_to_each_channels_spread():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(0, 1, 4000), rng.normal(100, 50, 4000)])
    x[:, rng.random(4000) < 0.2] = np.nan
    domain = TimeSeriesDomain({}, patch=16)
    ex = domain.featurize(ts_record(x))
    out = jitter(ex, np.random.default_rng(1), 0.1)
    obs = ex.fields["observed"]
    np.testing.assert_array_equal(out.fields["observed"], obs)
    np.testing.assert_array_equal(out.fields["values"][~obs], ex.fields["values"][~obs])
    diff = out.fields["values"] - ex.fields["values"]
    for c in (0, 1):
        rows = ex.context["c_index"] == c
        expected = 0.1 * np.nanstd(x[c].astype(np.float32).astype(np.float64))  # float64 reference
        measured = diff[rows][obs[rows]].std()
        assert abs(measured / expected - 1) < 0.05, (c, measured, expected)


def test_hidden_patches_never_invent_observations_and_keep_one():
    x = np.full((1, 40), np.nan)
    x[0, 5] = 1.0  # a single observed patch can never be hidden
    domain = TimeSeriesDomain({}, patch=8)
    ex = domain.featurize(ts_record(x))
    out = hide_patches(ex, np.random.default_rng(0), rate=1.0)
    np.testing.assert_array_equal(out.fields["observed"], ex.fields["observed"])
    y = np.random.default_rng(2).normal(size=(3, 400))
    ex = domain.featurize(ts_record(y))
    out = hide_patches(ex, np.random.default_rng(0), rate=0.5)
    hidden = ~out.fields["observed"].any(axis=1)
    assert 0.3 < hidden.mean() < 0.7 and not hidden.all()
    assert (out.fields["values"][hidden] == 0).all()


@pytest.mark.parametrize("independent", [False, True])
def test_timeseries_views_are_crops_whose_observed_samples_come_from_the_series(independent):
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(2, 300)), axis=1)
    x[0, 40:90] = np.nan
    domain = TimeSeriesDomain({}, patch=10, channel_independent=independent)
    ex = domain.featurize(ts_record(x))
    p = 10
    for _ in range(20):
        for view in domain.views(ex, rng):
            t, c = view.context["t_index"], view.context["c_index"]
            assert view.positions[:, 0].min() == 0
            # every kept time step holds all channels; crops are contiguous in time
            steps = np.unique(t)
            assert np.array_equal(steps, np.arange(steps[0], steps[-1] + 1))
            assert len(view) == steps.size * 2 and steps.size >= 15
            obs = view.fields["observed"]
            sample = t[:, None] * p + np.arange(p)
            truth = x[c[:, None], sample]
            assert not (obs & np.isnan(truth)).any()  # nothing invented
            err = view.fields["values"][obs] - truth[obs]
            std = np.nanstd(x, axis=1)
            assert np.abs(err).max() < 1.0 * std.max()  # jitter, not new data
            assert (view.fields["values"][~obs] == 0).all()


# ------------------------------------------------------------------ tabular
def scarf_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zeros = rng.random(n) < 0.4
    return pd.DataFrame({
        "cat": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),
        "normal": rng.normal(10.0, 3.0, n),
        "spiky": np.where(zeros, 0.0, rng.exponential(5.0, n)),  # a point mass at 0
        "count": rng.poisson(30, n),  # integral, many values: numeric, drawn as integers
    })


def test_scarf_replaces_the_right_share_of_cells_with_draws_from_each_columns_marginal():
    frame = scarf_frame(4000)
    train = scarf_frame(4000, seed=1)  # the schema (the marginal) comes from other rows
    train.loc[::7, "normal"] = np.nan  # missing cells are never corrupted
    domain = TabularDomain.from_frame(train, ingest_options={"validation_fraction": 0.0})
    frame.loc[::5, "normal"] = np.nan
    enc = encode_frame(frame, domain.schema)
    marginals = column_marginals(domain.columns)
    rng = np.random.default_rng(0)
    names = [c["name"] for c in domain.columns]
    chosen, drawn = [], {name: [] for name in names}
    for i in range(len(frame)):
        ex = domain.featurize({"column": np.arange(len(names)), "cat": enc.cat[i], "num": enc.num[i],
                               "observed": enc.observed[i]})
        view, mask = scarf_corrupt(ex, marginals, rng, 0.6)
        assert not (mask & ~ex.fields["observed"]).any()
        keep = ~mask
        for f in ("cat", "num", "observed", "column"):
            np.testing.assert_array_equal(view.fields[f][keep], ex.fields[f][keep])
        np.testing.assert_array_equal(view.fields["observed"], ex.fields["observed"])
        chosen.append(mask[ex.fields["observed"]])
        for j in np.flatnonzero(mask):
            drawn[names[j]].append(view.fields["cat"][j] if j == 0 else view.fields["num"][j])
    chosen = np.concatenate(chosen)
    n = chosen.size
    assert abs(chosen.sum() - 0.6 * n) < 4 * np.sqrt(n * 0.6 * 0.4)  # binomial, 4 sigma

    def within(share: float, p: float, m: int) -> bool:
        return abs(share - p) < 4 * np.sqrt(p * (1 - p) / m) + 1e-12

    cols = {c["name"]: c for c in domain.columns}
    # categorical: category shares of the training rows (pandas' count is the reference)
    ref = train["cat"].value_counts(normalize=True)
    codes = np.asarray(drawn["cat"])
    for code, cat in enumerate(cols["cat"]["categories"], start=1):
        assert within((codes == code).mean(), ref[cat], codes.size), cat

    def units(name: str) -> np.ndarray:
        return np.asarray(drawn[name], np.float64) * cols[name]["std"] + cols[name]["mean"]

    # continuous: the draws' CDF at the training quantiles (numpy) is the quantile level
    x = units("normal")
    levels = np.linspace(0, 1, 17)[1:-1]
    for q, level in zip(np.nanquantile(train["normal"], levels), levels):
        assert within((x <= q + 1e-4).mean(), level, x.size), level
    # a point mass keeps its weight; positive values stay positive
    s = units("spiky")
    assert within((np.abs(s) < 1e-4).mean(), (train["spiky"] == 0).mean(), s.size)
    assert s.min() > -1e-4 and s.max() <= train["spiky"].max() + 1e-3
    # integral column: draws are integers within the training range
    c = units("count")
    np.testing.assert_allclose(c, np.round(c), atol=1e-3)
    assert train["count"].min() - 1e-3 <= c.min() and c.max() <= train["count"].max() + 1e-3


def test_tabular_views_are_the_row_and_its_corruption():
    frame = scarf_frame(300)
    domain = TabularDomain.from_frame(frame)
    enc = encode_frame(frame, domain.schema)
    ex = domain.featurize({"column": np.arange(4), "cat": enc.cat[0], "num": enc.num[0],
                           "observed": enc.observed[0]})
    a, b = domain.views(ex, np.random.default_rng(0))
    assert a is ex and b is not ex


# ------------------------------------------------------------------ sets
@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("reflect", [0.0, 1.0])
def test_rigid_transform_preserves_pairwise_distances(dims, reflect):
    rng = np.random.default_rng(dims)
    pos = rng.normal(0, 5, size=(30, dims))
    moved = rigid_transform(pos, rng, reflect_prob=reflect)
    np.testing.assert_allclose(pdist(moved), pdist(pos), rtol=1e-5, atol=1e-5)
    assert not np.allclose(moved, pos, atol=1e-3)  # it did move
    # orientation: a reflection flips the sign of a signed volume / area
    a, b = pos[1:dims + 1] - pos[0], moved[1:dims + 1] - moved[0]
    assert np.sign(np.linalg.det(a)) * np.sign(np.linalg.det(b)) == (-1 if reflect else 1)


def test_sets_views_are_moved_subsets_with_the_cls_element_at_their_centroid(tmp_path):
    store = RecordStore(ingest_sample("sets", tmp_path))
    domain = SetsDomain(store.schema, pooling_token=True, unit=0.1)
    rng = np.random.default_rng(0)
    for i in range(5):
        ex = domain.featurize(store[i])
        body = ex.positions[1:].astype(np.float64)
        for view in domain.views(ex, rng):
            assert view.fields["ids"][0] == ex.fields["ids"][0]  # the [CLS] element first
            pos = view.positions.astype(np.float64)
            np.testing.assert_allclose(pos[0], pos[1:].mean(axis=0), atol=1e-4)
            elements = view.context["elements"]  # indices into the set (order "input")
            assert len(elements) >= np.ceil(0.5 * (len(ex) - 1))
            assert np.all(np.diff(elements) > 0)
            for k, v in view.fields.items():
                if k == "rel_pos":  # the view's own centroid and radius, turned with it
                    np.testing.assert_allclose(v[1:], relative_positions(pos[1:]), atol=1e-5)
                else:
                    np.testing.assert_array_equal(v[1:], ex.fields[k][1:][elements])
            np.testing.assert_allclose(pdist(pos[1:]), pdist(body[elements]), rtol=1e-5, atol=1e-4)
