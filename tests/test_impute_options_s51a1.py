"""impute / EncoderImputer: the user's pretraining words read against the imputer's own
parameters, and the encoder's pass made once per step.

- An ensemble's members always differ: a user's ``run.seed`` / ``data.seed`` is the first
  model's seed and model k gets it + k (they were the same model, byte-identical weights, a
  spread of 0 at every cell).
- A word that sets what a parameter (not at its default) sets, to another value, is refused
  naming both (``steps=5`` with ``train.steps=8`` trained 8 steps; ``blend='none'`` with
  ``domain.infill_blend=iterative+forest`` turned the domain's blend back on); so is one for
  a key the imputer owns (its runs' folder, its training store).
- ``impute``'s fill of the held-back cells and of the file each run the encoder once, also
  where the candidates' ``encoder`` fill runs the same pass (it ran twice), with the same
  output file; and the pretraining config is composed once before training, not twice.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from encoderkit.cli import main

TINY = ["model.hidden_size=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_size=32",
        "data.max_tokens=256", "data.max_seqlen=64"]


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": a + 0.3 * rng.normal(size=n), "c": rng.normal(size=n),
                          "k": rng.choice(["x", "y", "z"], n)})
    return frame.mask(rng.random(frame.shape) < 0.12)


@pytest.fixture()
def csv(tmp_path):
    path = tmp_path / "t.csv"
    _table().to_csv(path, index=False)
    return path


def _err(capsys, argv: list[str], code: int = 2) -> str:
    assert main(argv) == code, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]


# ---------------------------------------------------------------- 1. members differ

def test_pretrain_words_give_model_k_the_users_seed_plus_k():
    from encoderkit.impute_models import pretrain_overrides
    from encoderkit.train.config import compose

    for member in (0, 1, 2):
        cfg = compose(pretrain_overrides("tabular", "s.zarr", "r", 0, False, ["run.seed=5", "+data.seed=40"],
                                         member=member))
        assert (cfg.run.seed, cfg.data.seed) == (5 + member, 40 + member)
        cfg = compose(pretrain_overrides("tabular", "s.zarr", "r", 7, False, ["train.steps=3"], member=member))
        assert (cfg.run.seed, cfg.data.seed) == (7 + member, 7 + member)  # no seed word: seed + k, as before


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_ensemble_with_a_run_seed_trains_different_models(tmp_path, csv, capsys):
    # before: model0 and model1 byte-identical (both run.seed=5 data.seed=5)
    run_dir = tmp_path / "runs"
    assert main(["impute", f"input={csv}", f"output={tmp_path / 'o.csv'}", "n_models=2", "run.seed=5",
                 "data.seed=5", "train.steps=2", "select=model", f"run_dir={run_dir}", "progress=false",
                 *TINY]) == 0, capsys.readouterr().err
    weights = [next((run_dir / f"model{k}" / "checkpoints").glob("*/model.safetensors")).read_bytes()
               for k in (0, 1)]
    assert weights[0] != weights[1]
    seeds = [(run_dir / f"model{k}" / "config.yaml").read_text() for k in (0, 1)]
    assert "seed: 5" in seeds[0] and "seed: 6" in seeds[1] and "seed: 5" not in seeds[1]


def test_estimator_ensemble_with_a_run_seed_has_a_spread():
    from encoderkit.sklearn import EncoderImputer

    frame = _table()[["a", "b", "c"]]
    imp = EncoderImputer(steps=2, n_models=2, select="model", blend="none",
                         overrides=(*TINY, "run.seed=5", "data.seed=5"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        filled, spread = imp.fit_transform(frame, return_std=True)
    holes = frame.isna().to_numpy()
    # before: 0.0 at every filled cell (two copies of one model)
    assert np.nanmax(spread.to_numpy()[holes]) > 0
    assert [m.step for m in imp.models_] == [2, 2]


# ---------------------------------------------------------------- 2. contradictions refused

@pytest.mark.parametrize("params,word,named", [
    (dict(model="tiny"), "model=small", "'model'"),
    (dict(random_state=0), "run.seed=5", "'random_state'"),
    (dict(progress=True), "train.progress=false", "'progress'"),
    (dict(blend="none"), "domain.infill_blend=iterative+forest", "blend"),
    (dict(), "domain.infill_blend=iterative", "blend"),
    (dict(), "run.dir={tmp}/elsewhere", "'run_dir'"),
    (dict(), "data.store=other.zarr", "X"),
])
def test_estimator_refuses_an_override_that_contradicts_a_parameter(params, word, named, tmp_path):
    from encoderkit.sklearn import EncoderImputer

    frame = _table()[["a", "b", "c"]]
    word = word.format(tmp=tmp_path)
    imp = EncoderImputer(**params, overrides=(*TINY, word), run_dir=str(tmp_path / "r") if "run.dir" in word else None)
    with pytest.raises(ValueError) as e:  # before: fit trained (8 steps; the domain's blend on; ...)
        imp.fit(frame)
    assert word in str(e.value) and named in str(e.value)
    assert not hasattr(imp, "models_")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())
    assert not (tmp_path / "elsewhere").exists()


def test_estimator_steps_and_train_steps_conflict_only_when_both_say_something_else():
    from encoderkit.sklearn import EncoderImputer

    frame = _table()[["a", "b", "c"]]
    # before: trained 8 steps, steps=5 unsaid
    with pytest.raises(ValueError, match=r"'steps' parameter of EncoderImputer \(steps=5\) and the override "
                                         r"'train\.steps=8'"):
        EncoderImputer(steps=5, overrides=(*TINY, "train.steps=8")).fit(frame)
    # steps at its default: the override chooses (as before); the same value twice: no conflict
    for imp in (EncoderImputer(select="model", blend="none", overrides=(*TINY, "train.steps=3")),
                EncoderImputer(steps=3, select="model", blend="none",
                               overrides=(*TINY, "train.steps=3", "domain.infill_blend=none"))):
        imp.fit(frame)
        assert imp.models_[0].step == 3


@pytest.mark.parametrize("words,named", [
    (["seed=3", "run.seed=5"], "'seed'"),
    (["seed=3", "data.seed=1"], "'seed'"),
    (["progress=false", "train.progress=true"], "'progress'"),
    (["run.dir={tmp}/somewhere"], "'run_dir'"),
    (["data.store=other.zarr"], "'input'"),
])
def test_impute_refuses_a_word_that_contradicts_its_parameters(tmp_path, csv, capsys, words, named):
    out = tmp_path / "o.csv"
    words = [w.format(tmp=tmp_path) for w in words]
    line = _err(capsys, ["impute", f"input={csv}", f"output={out}", *words, *TINY])
    assert named in line and words[-1] in line
    assert not out.exists() and not (tmp_path / "somewhere").exists()


# ---------------------------------------------------------------- 3. one encoder pass per step

def test_remembered_predict_answers_the_same_examples_once_again():
    from encoderkit.domain_types import MaskedExample
    from encoderkit.impute_models import RememberedPredict

    def example(x: float, at: int) -> MaskedExample:
        predict = np.zeros(3, dtype=bool)
        predict[at] = True
        return MaskedExample(inputs={"v": np.array([x, 1.0, 2.0])}, positions=np.zeros((3, 1), np.int32),
                             targets={}, predict=predict)
    made = []

    def predict(examples):
        made.append(len(examples))
        return [{"y": np.array([float(len(made))])} for _ in examples]
    memo = RememberedPredict(predict)
    first = memo([example(0.0, 0), example(1.0, 1)])
    assert memo([example(0.0, 0), example(1.0, 1)]) is first and made == [2]  # rebuilt alike: answered
    other = memo([example(0.0, 0), example(1.0, 2)])  # another token predicted: the models run
    assert other[0]["y"][0] == 2.0 and made == [2, 2]
    assert memo([example(0.0, 0), example(1.0, 1)])[0]["y"][0] == 3.0 and memo.calls == 3  # answered once only


@pytest.mark.slow  # over 3 s on 2 cores: `make test-slow` (CI) runs it
def test_impute_runs_the_encoder_once_per_step_with_the_same_output(tmp_path, csv, monkeypatch, capsys):
    import encoderkit.impute as imp
    from encoderkit.impute_models import averaged_predict
    from encoderkit.infer.pretrained import Pretrained

    real_select, real_predict = imp.select_fills, Pretrained.predict
    passes: list[int] = []

    def one_encoder_column(*a, **k):  # the file's fill then makes the candidates too
        choices = real_select(*a, **k)
        return {n: dataclasses.replace(c, used="encoder") if n == "a" else c for n, c in choices.items()}

    def counted(self, examples, **kw):
        passes.append(len(examples))
        return real_predict(self, examples, **kw)
    monkeypatch.setattr(imp, "select_fills", one_encoder_column)
    monkeypatch.setattr(Pretrained, "predict", counted)
    argv = ["impute", f"input={csv}", "train.steps=2", "seed=2", "progress=false", *TINY]
    assert main([*argv, f"output={tmp_path / 'once.csv'}"]) == 0, capsys.readouterr().err
    once = list(passes)
    # the held-back cells' step and the file's: one pass each (before: two each, the candidates'
    # encoder fill made again)
    assert len(once) == 2, once
    passes.clear()
    import encoderkit.impute_heldback as heldback

    monkeypatch.setattr(imp, "RememberedPredict", averaged_predict)  # each pass made again
    monkeypatch.setattr(heldback, "RememberedPredict", averaged_predict)  # the held-back step's (s53)
    assert main([*argv, f"output={tmp_path / 'twice.csv'}"]) == 0, capsys.readouterr().err
    # each pass made again: on the same rows, and the same output file
    assert sorted(passes) == sorted(once * 2)
    assert (tmp_path / "once.csv").read_bytes() == (tmp_path / "twice.csv").read_bytes()


# ---------------------------------------------------------------- 4. composed once

def test_impute_composes_the_pretraining_config_once_before_training(tmp_path, csv, monkeypatch, capsys):
    import encoderkit.train.config as config

    real = config.compose
    composed: list[list[str]] = []

    def counted(overrides=None, *a, **k):
        composed.append(list(overrides or []))
        return real(overrides, *a, **k)
    monkeypatch.setattr(config, "compose", counted)
    assert main(["impute", f"input={csv}", f"output={tmp_path / 'o.csv'}", "train.steps=2", "select=model",
                 "progress=false", *TINY]) == 0, capsys.readouterr().err
    # the check of the words (the command's and impute's: two before) and the model's own
    assert len(composed) == 2
