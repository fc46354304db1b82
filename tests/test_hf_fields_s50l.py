"""Hugging Face ModernBERT fields that import-hf / export-hf dropped without a word (s50l).

Before: an untied decoder (``tie_word_embeddings=false``) was merged into the tied head (the
embedding won; masked-token logits moved by 0.41), a scaled rotary (``rope_type`` linear, 4.x
``rope_scaling``) was read as the default one, ``run.init_from`` trained with the run's
``norm_eps`` on weights made for another, the dropouts became 0.0, a ``token_regression``
export said nothing of transformers' missing per-token regression loss, ``import-hf
domain=timeseries`` advised ``model.rope_axes=2`` and then failed in export's words, ``domain=sets``
without ``store=`` said "re-ingest", and a classifier's pooling head landed in the masked-token
head unsaid. The references are transformers' own models and outputs, built here from tiny
configs.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from encoderkit import cli
from encoderkit.core import EncoderConfig
from encoderkit.data.collate import collate
from encoderkit.domain import Domain, Example, HeadOutput
from encoderkit.infer.pretrained import Pretrained
from encoderkit.interop.hf import HFInteropError, config_from_hf, export_hf, init_from_hf, read_hf_config
from encoderkit.modeling import MaskedEncoderModel
from encoderkit.registry import available_domains

transformers = pytest.importorskip("transformers")
genomic = pytest.mark.skipif("genomic" not in available_domains(), reason="genomic domain not registered")

VOCAB = 64  # the genomic domain's padded vocabulary: no resize note in the import message
SIZES = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=2,
             local_attention=8, global_attn_every_n_layers=2, global_rope_theta=80000.0, local_rope_theta=5000.0,
             pad_token_id=0, bos_token_id=None, eos_token_id=None, cls_token_id=1, sep_token_id=2)


class _Embedder(nn.Module):
    def __init__(self, vocab: int, d: int) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(vocab, d)

    def forward(self, inputs):
        return self.tok_embeddings(inputs["ids"].long())


class _Head(nn.Module):
    """dense -> GELU -> norm -> decoder; the decoder tied to the embedding unless ``untied``."""

    def __init__(self, d: int, vocab: int, eps: float, embedder: _Embedder, untied: bool) -> None:
        super().__init__()
        self.dense = nn.Linear(d, d, bias=False)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(d, eps=eps, bias=False)
        self.decoder = nn.Linear(d, vocab, bias=True)
        if not untied:
            self.decoder.weight = embedder.tok_embeddings.weight

    def forward(self, hidden, targets=None, weights=None):
        return HeadOutput(predictions={"logits": self.decoder(self.norm(self.act(self.dense(hidden))))})


class TokenDomain(Domain):
    name = "hf-test-s50l"
    rope_axes = 1

    def __init__(self, schema=None, **options):
        super().__init__(schema or {}, **options)
        self.untied = bool(options.get("untied", False))

    def featurize(self, record):
        ids = np.asarray(record["ids"], dtype=np.int64)
        return Example(fields={"ids": ids}, positions=np.arange(len(ids), dtype=np.int32)[:, None])

    def embedder(self, config):
        return _Embedder(VOCAB, config.hidden_size)

    def head(self, config, embedder=None):
        return _Head(config.hidden_size, VOCAB, config.norm_eps, embedder, self.untied)


def _save(path, cls=None, seed: int = 0, sharp: bool = False, **kw):
    """A transformers ModernBERT of ``SIZES`` + ``kw`` saved at ``path``, with non-trivial norms and
    biases (and attention weights x8 when ``sharp``: attention then depends strongly on position)."""
    torch.manual_seed(seed)
    model = (cls or transformers.ModernBertForMaskedLM)(transformers.ModernBertConfig(**{**SIZES, **kw}))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or "bias" in name:
                p.add_(0.3 * torch.randn_like(p))
            if sharp and "Wqkv" in name:
                p.mul_(8)
    model.save_pretrained(path)
    return model.eval()


SEQS = [np.random.default_rng(0).integers(4, VOCAB, size=n) for n in (21, 5)]  # 21 > the window


def _ours(model: MaskedEncoderModel, what: str) -> list[np.ndarray]:
    """Per sequence of ``SEQS``: the masked-token logits (``what="logits"``) or hidden states."""
    domain = TokenDomain()
    examples = []
    for s in SEQS:
        ex = domain.unmasked(domain.featurize({"ids": s}))
        ex.predict = np.ones(len(s), dtype=bool)
        examples.append(ex)
    batch = collate(examples)
    with torch.no_grad():
        model = model.eval()
        out = (model(batch, with_targets=False).predictions["logits"] if what == "logits"
               else model.encode(batch)).numpy()
    return np.split(out, np.cumsum([len(s) for s in SEQS])[:-1])


def _theirs(hf_model, what: str) -> list[np.ndarray]:
    out = []
    with torch.no_grad():
        for s in SEQS:
            result = hf_model.eval()(input_ids=torch.from_numpy(s)[None])
            out.append((result.logits if what == "logits" else result.last_hidden_state)[0].numpy())
    return out


def _gap(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def _model(hf_dir, untied: bool = False, **overrides) -> MaskedEncoderModel:
    config = config_from_hf(read_hf_config(hf_dir), backend="sdpa", **overrides)
    return MaskedEncoderModel(TokenDomain(untied=untied), config)


# ---------------------------------------------------------------- 1. untied decoder
def test_an_untied_decoder_is_refused_by_a_tied_head_and_kept_by_an_untied_one(tmp_path):
    hf = _save(tmp_path / "hf", tie_word_embeddings=False)
    assert not torch.equal(hf.decoder.weight, hf.model.embeddings.tok_embeddings.weight)
    tied = _model(tmp_path / "hf")
    before = {k: v.clone() for k, v in tied.state_dict().items()}
    # before: loaded, the embedding in the one tied parameter; logits 0.4 off transformers'
    with pytest.raises(HFInteropError, match="tie_word_embeddings=false.*ties its decoder"):
        init_from_hf(tied, tmp_path / "hf")
    assert all(torch.equal(v, before[k]) for k, v in tied.state_dict().items())  # nothing copied
    # a head with a decoder of its own takes it: transformers' logits, and back out untied
    untied = _model(tmp_path / "hf", untied=True)
    init_from_hf(untied, tmp_path / "hf")
    assert _gap(_ours(untied, "logits"), _theirs(hf, "logits")) < 1e-4
    out = export_hf(Pretrained(untied, TokenDomain(untied=True), untied.config), tmp_path / "back")
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is False
    back = transformers.AutoModelForMaskedLM.from_pretrained(out)
    assert _gap(_theirs(back, "logits"), _theirs(hf, "logits")) < 1e-4


@genomic
def test_import_hf_refuses_an_untied_modernbert_for_the_genomic_domain(tmp_path, capsys):
    _save(tmp_path / "hf", tie_word_embeddings=False)
    code = cli.main(["import-hf", str(tmp_path / "hf"), f"output={tmp_path / 'run'}", "domain=genomic"])
    assert code == 1 and "tie_word_embeddings=false" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- 2. rotary scaling
def test_a_scaled_rotary_is_refused_naming_the_field(tmp_path):
    linear = {"rope_type": "linear", "factor": 4.0}
    hf = _save(tmp_path / "linear", sharp=True, rope_parameters={
        "full_attention": {**linear, "rope_theta": 80000.0}, "sliding_attention": {**linear, "rope_theta": 5000.0}})
    plain = _save(tmp_path / "default", sharp=True)  # the same weights (same seed), default rotary
    # transformers itself: the scaling changes the hidden states, so reading theta alone is wrong
    assert _gap(_theirs(hf.model, "hidden"), _theirs(plain.model, "hidden")) > 1e-2
    with pytest.raises(HFInteropError, match=r"rope_parameters\.full_attention\.rope_type='linear'"):
        read_hf_config(tmp_path / "linear")
    # a 4.x config's rope_scaling (transformers 5 applies it to both layer types)
    config = json.loads((tmp_path / "default" / "config.json").read_text())
    (tmp_path / "v4").mkdir()
    (tmp_path / "v4" / "config.json").write_text(json.dumps({**config, "rope_scaling": linear}))
    (tmp_path / "v4" / "model.safetensors").write_bytes((tmp_path / "default" / "model.safetensors").read_bytes())
    v4 = transformers.AutoModel.from_pretrained(tmp_path / "v4")
    assert _gap(_theirs(v4, "hidden"), _theirs(plain.model, "hidden")) > 1e-2
    with pytest.raises(HFInteropError, match=r"rope_scaling\.rope_type='linear'"):
        init_from_hf(_model(tmp_path / "default"), tmp_path / "v4")
    # the default rotary still imports, its thetas read from rope_parameters
    model = _model(tmp_path / "default")
    assert (model.config.rope_theta_global, model.config.rope_theta_local) == (80000.0, 5000.0)
    init_from_hf(model, tmp_path / "default")
    assert _gap(_ours(model, "hidden"), _theirs(plain.model, "hidden")) < 1e-4


# ---------------------------------------------------------------- 3. norm_eps on init_from
def test_init_from_compares_norm_eps_and_names_the_override(tmp_path):
    hf = _save(tmp_path / "hf", norm_eps=0.5)
    pretrain_default = _model(tmp_path / "hf", norm_eps=1e-5)  # a pretrain run's model config
    with pytest.raises(HFInteropError, match=r"norm_eps: HF 0\.5 vs model 1e-05.*model\.norm_eps=0\.5"):
        init_from_hf(pretrain_default, tmp_path / "hf")
    model = _model(tmp_path / "hf")  # built from config.json: transformers' hidden states
    init_from_hf(model, tmp_path / "hf")
    assert _gap(_ours(model, "hidden"), _theirs(hf.model, "hidden")) < 1e-4
    # import-hf's model.norm_eps= is the user's choice: kept, and said
    chosen = _model(tmp_path / "hf", norm_eps=1e-5)
    assert "norm_eps=1e-05 as set" in init_from_hf(chosen, tmp_path / "hf", chosen={"norm_eps": 1e-5})


# ---------------------------------------------------------------- 4. dropouts
@genomic
def test_dropouts_come_in_with_the_weights_and_go_back_out(tmp_path):
    drops = {"attention_dropout": 0.3, "mlp_dropout": 0.2, "embedding_dropout": 0.1}
    _save(tmp_path / "hf", **drops)
    reference = transformers.AutoConfig.from_pretrained(tmp_path / "hf")
    assert {k: getattr(reference, k) for k in drops} == drops
    assert cli.main(["import-hf", str(tmp_path / "hf"), f"output={tmp_path / 'run'}", "domain=genomic"]) == 0
    state = json.loads((tmp_path / "run" / "checkpoints" / "0" / "state.json").read_text())
    assert {k: state["model_config"][k] for k in drops} == drops  # before: all 0.0
    assert cli.main(["export-hf", str(tmp_path / "run"), str(tmp_path / "back")]) == 0
    back = transformers.AutoConfig.from_pretrained(tmp_path / "back")
    assert {k: getattr(back, k) for k in drops} == drops


# ---------------------------------------------------------------- 5. token regression export
@genomic
def test_a_token_regression_export_warns_that_transformers_has_no_such_loss(tmp_path):
    from tests.domains.sample_store import ingest_sample

    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.tasks import finetune

    store = ingest_sample("genomic", tmp_path)
    rows = [(r["id"], p, float(b)) for r in RecordStore(store) for p, b in enumerate(np.asarray(r["ids"][:50]))]
    labels = tmp_path / "tok.csv"
    pd.DataFrame(rows, columns=["id", "position", "value"]).to_csv(labels, index=False)
    run = finetune(["model=tiny", "model.hidden_size=32", "model.num_heads=2", "model.num_layers=2",
                    "model.intermediate_size=48", "model.local_window=8", "model.backend=sdpa",
                    "train.progress=false", "data.max_tokens=256", "data.max_seqlen=64", "run.device=cpu",
                    "train.eval_every=0", "train.checkpoint_every=0", "checkpoint=none", "domain=genomic",
                    f"data.store={store}", f"run.dir={tmp_path / 'ft'}", "train.steps=1", f"task.labels={labels}",
                    "task.val_fraction=0", "task.type=token_regression", "task.ensemble=1"])
    model = load(run)
    with pytest.warns(UserWarning, match="no per-token regression loss.*compute the MSE on the logits"):
        out = export_hf(model, tmp_path / "hf")
    hf = transformers.AutoModelForTokenClassification.from_pretrained(out).eval()
    seq = "ACGTTGCAAGGCTTAACG"
    ids = torch.as_tensor(model.domain.featurize(model.domain.to_records([seq])[0]).fields["ids"])[None]
    with torch.no_grad():
        logits = hf(input_ids=ids).logits
        loss = hf(input_ids=ids, labels=torch.zeros_like(ids)).loss
    np.testing.assert_allclose(logits[0].numpy(), model.outputs([seq])[1][0], atol=1e-4, rtol=0)  # kept
    # what the warning says: transformers' loss is cross-entropy whatever problem_type says
    assert hf.config.problem_type == "regression"
    torch.testing.assert_close(loss, nn.functional.cross_entropy(logits[0], torch.zeros_like(ids[0])))


# ---------------------------------------------------------------- 6. messages
@pytest.mark.skipif(not {"genomic", "timeseries", "sets"} <= set(available_domains()),
                    reason="built-in domains not registered")
def test_import_hf_says_up_front_what_a_domain_lacks(tmp_path, capsys):
    _save(tmp_path / "hf")
    for extra in ([], ["model.rope_axes=2"]):  # the old advice, taken: the same answer
        code = cli.main(["import-hf", str(tmp_path / "hf"), f"output={tmp_path / 'ts'}", "domain=timeseries",
                         *extra])
        err = capsys.readouterr().err
        assert code == 2 and "domain 'timeseries' cannot be imported" in err and "positions have 2 axes" in err
        assert "set model.rope_axes" not in err and "cannot export" not in err  # before: both
    code = cli.main(["import-hf", str(tmp_path / "hf"), f"output={tmp_path / 'sets'}", "domain=sets"])
    err = capsys.readouterr().err
    assert code == 2 and "pass store=<a sets store>" in err and "re-ingest" not in err  # before: re-ingest
    # with its store: refused in import's words, with no warning of the model it will not build
    from tests.domains.sample_store import ingest_sample

    (tmp_path / "s").mkdir()
    store = ingest_sample("sets", tmp_path / "s")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        code = cli.main(["import-hf", str(tmp_path / "hf"), f"output={tmp_path / 'sets'}", "domain=sets",
                         f"store={store}"])
    err = capsys.readouterr().err
    assert code == 2 and "domain 'sets' cannot be imported" in err
    assert [str(w.message) for w in said] == []
    assert not (tmp_path / "ts").exists() and not (tmp_path / "sets").exists()


# ---------------------------------------------------------------- 7. a classifier's directory
def test_a_classifier_directory_says_its_head_is_the_classifiers(tmp_path):
    hf = _save(tmp_path / "hf", cls=transformers.ModernBertForSequenceClassification, num_labels=3)
    model = _model(tmp_path / "hf")
    message = init_from_hf(model, tmp_path / "hf")
    # what was loaded is transformers' classifier head, and the note says so (before: only the
    # decoder bias was named, as initialised)
    torch.testing.assert_close(model.head.dense.weight, hf.head.dense.weight)
    assert "fine-tuned classifier (ModernBertForSequenceClassification)" in message
    assert "infill" in message and "pretrain it before trusting" in message
    _save(tmp_path / "mlm")  # a masked-LM directory: no such note
    assert "fine-tuned classifier" not in init_from_hf(_model(tmp_path / "mlm"), tmp_path / "mlm")
