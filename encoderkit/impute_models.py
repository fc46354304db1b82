"""The models of ``encoderkit impute`` (and ``EncoderImputer``): the pretrain words of one
imputation model (``pretrain_overrides``, with the per-domain settings the shared
``configs/experiment/impute.yaml`` cannot hold), fitting ``n_models`` of them
(``fit_models``) and the fill averaged over them, with its per-cell spread
(``ensemble_infill``). Split out of ``encoderkit/impute.py`` (the command), so each module
keeps one job; domain-free: the domain is reached through the registry and the run.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.impute_words import member_seeds
from encoderkit.session_state import warnings_kept

# Per-domain imputation settings that configs/experiment/impute.yaml cannot hold (it is
# shared by every domain, and a domain refuses options it does not know). Tables: fills are
# judged by squared error, so numbers decode as the regression value (the conditional
# mean) rather than clipped to the likeliest quantile bin (benchmarks/RESULTS.md: clip
# costs 0.07 NRMSE on average). Series: the model sees and refines the seasonal / linear
# baseline (the pretraining default, none, is for embeddings), trains on every phase of the patch grid
# (grid_shift) and infill averages 4 passes with the grid moved (infill_shifts): one
# transductive model on one file otherwise met each stretch on one grid only (series
# protocol, 2 seeds: mean error relative to the best classical fill 0.872 -> 0.848 and
# 0.829 -> 0.750; benchmarks/RESULTS.md). Classification pretraining keeps the domain's
# defaults: there the grid shift did not help (JapaneseVowels fine-tuned 0.905 -> 0.861).
# Series also train for 900 epochs instead of 100 (same floor of 200 steps, same cap of
# 3,000): a file of many series, or one long recording, stopped undertrained (2 seeds each:
# ArrowHead, OSULeaf, ACSF1, BasicMotions, ItalyPowerDemand and three recordings no default
# was chosen on all gain, e.g. mean error relative to the best classical fill 0.77 -> 0.44
# on a 9-channel accelerometer recording), while a single short series, already thousands
# of passes deep at the floor, keeps it (a flat 600-step floor cost airline and macrodata;
# benchmarks/RESULTS.md, "Series imputation: a budget of 900 epochs"); a file of many
# series trains longer still (COLLECTION_EPOCHS below; series_epochs holds both).
DOMAIN_OVERRIDES: dict[str, tuple[str, ...]] = {
    "tabular": ("domain.numeric_decode=regression",),
    "timeseries": ("domain.baseline=seasonal", "domain.grid_shift=true", "domain.infill_shifts=4"),
}


# Series train SERIES_EPOCHS; a file of at least COLLECTION_SERIES trains COLLECTION_EPOCHS: 2,700 epochs
# (most files then at the 3,000-step cap) beat 900 again (benchmarks/RESULTS.md), while one
# or a few series lost at that budget; the same count as the series inputs' auto rule
# (domains/timeseries/domain.py, MIN_SERIES_FOR_SERIES_INPUTS).
SERIES_EPOCHS = 900
COLLECTION_SERIES = 4
COLLECTION_EPOCHS = 2700


def series_epochs(n_records: int | None) -> int:
    """``train.auto_epochs`` of a series imputation model for a file of ``n_records`` series
    (None: not known yet, as when only the overrides are checked)."""
    return COLLECTION_EPOCHS if n_records is not None and n_records >= COLLECTION_SERIES else SERIES_EPOCHS


def pretrain_overrides(domain: str, store: str, run_dir: str, seed: int, progress: bool,
                       overrides: Sequence[str] = (), n_records: int | None = None, member: int = 0) -> list[str]:
    """The pretrain words of model ``member`` of an imputer; user ``overrides`` come last and
    win, but for the seeds: model k's ``run.seed`` / ``data.seed`` is the user's (else
    ``seed``) + k, so the models of an ensemble always differ (``impute_words.member_seeds``).
    ``n_records``: the store's record count (series of a file), for the series budget."""
    budget = [f"train.auto_epochs={series_epochs(n_records)}"] if domain == "timeseries" else []
    experiments, overrides = user_experiments(overrides)
    overrides, first = member_seeds(overrides, seed)
    return [f"experiment=[{','.join(['impute', *experiments])}]", f"domain={domain}", f"data.store={store}",
            f"run.dir={run_dir}", f"run.seed={first['run.seed'] + member}",
            f"data.seed={first['data.seed'] + member}", f"train.progress={str(progress).lower()}",
            "train.plot=false",  # a temporary run: its loss.png cost a matplotlib import and ~0.3 s
            *DOMAIN_OVERRIDES.get(domain, ()), *budget, *overrides]


def user_experiments(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """The user's ``experiment=<name>`` (or ``=[a,b]``; the last word wins, as for any key)
    and the other words. The names are composed after ``impute`` (Hydra merges a group's
    list of options in order): the user's experiment sets its keys over the imputer's
    defaults and keeps the rest, where one ``experiment=`` word replaced them all. A value
    that names no option (a sweep, ``null``) stays a word, for the config's own error."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    names: list[str] = []
    rest: list[str] = []
    parser = OverridesParser.create()
    for word in map(str, overrides):
        if word.lstrip("+").split("=", 1)[0] != "experiment":
            rest.append(word)
            continue
        try:
            value = parser.parse_overrides([word.lstrip("+")])[0].value()
        except Exception:  # the grammar's errors, whatever their type: Hydra reports them
            value = None
        items = value if isinstance(value, list) else [value]
        if all(isinstance(v, str) and v for v in items):
            names = [v for v in items if v != "impute"]
        else:
            rest.append(word)
    return names, rest


def fit_models(domain: str, store: str, work_dir: str | Path, *, seed: int = 0, n_models: int = 1,
               overrides: Sequence[str] = (), progress: bool = False, device: str = "cpu") -> list:
    """Pretrain ``n_models`` models on ``store`` (seeds ``seed + k``, or the user's ``run.seed`` /
    ``data.seed`` + k), under ``work_dir/model<k>``; return them loaded (``encoderkit.infer.Pretrained``)."""
    from encoderkit.data.store import RecordStore
    from encoderkit.infer import load
    from encoderkit.train import pretrain

    n_records = len(RecordStore(store))
    models = []
    for k in range(n_models):
        run_dir = Path(work_dir) / f"model{k}"
        words = pretrain_overrides(domain, store, str(run_dir), seed, progress, overrides, n_records, member=k)
        with warnings_kept():
            if k:  # the same words for every model: an option that cannot take effect said once
                warnings.filterwarnings("ignore", message=r".* has no effect in this run", category=UserWarning)
            run = pretrain(words)
        models.append(load(run, device=device))
    return models


def ensemble_infill(models: Sequence[Any], data: Any, return_std: bool = False,
                    infill: Callable[[Any, Callable], Any] | None = None,
                    watch: Callable[[Callable], Callable] | None = None,
                    predict: Callable | None = None) -> tuple[Any, Any]:
    """Fill ``data`` with the average of the models' predictions (domain-free: every head
    output is averaged over the models before the domain decodes it). With ``return_std``,
    also the per-cell spread: the standard deviation over the models' own fills for
    numeric cells, the share of models whose own fill differs from the returned one for
    other cells, 0 where nothing was filled. Returns ``(filled, spread or None)``.
    ``infill(data, predict)``: the fill to run (default: the domain's ``infill``); ``watch``:
    a wrapper of the averaged ``predict`` it is given (impute's bar, ``impute_progress``;
    not with ``return_std``); ``predict``: that averaged ``predict`` (a ``RememberedPredict`` of
    impute's step) instead of a new one (not with ``return_std``)."""
    domain = models[0].infill_domain({})  # the run's infill window where the domain has one
    fill = infill or domain.infill
    if not return_std:
        predict = predict or averaged_predict(models)
        return fill(data, watch(predict) if watch else predict), None
    calls: list[list[list[dict[str, np.ndarray]]]] = [[] for _ in models]
    own = []
    for k, m in enumerate(models):
        def record(examples, m=m, k=k):
            out = m.predict(examples)
            calls[k].append(out)
            return out
        own.append(fill(data, record))
    if len(models) == 1:
        filled = own[0]
    else:
        turn = iter(range(len(calls[0])))

        def averaged(examples):
            i = next(turn)
            return [{key: np.mean([calls[k][i][e][key] for k in range(len(models))], axis=0)
                     for key in calls[0][i][e]} for e in range(len(examples))]
        filled = fill(data, averaged)
    return filled, (spread(data, filled, own) if return_std else None)


class RememberedPredict:
    """A ``predict`` that answers a batch of examples it has answered before with the outputs
    it gave then, once (then forgets them), and calls the models for any other. impute's
    steps fill the same data twice with the same models: the domain's fill, then its
    ``infill_candidates``, whose ``encoder`` (the encoder alone) runs the same pass on the same
    examples (the table's: 24 of 129 s CPU at 20,000 rows; ``candidate_fills``). Batches are
    matched by their content (``examples_key``), never by their place, so a pass on other
    examples (a series domain's fallbacks) calls the models as before: the outputs are the
    ones the models give for those examples either way. Held for one step of impute (its
    outputs are as large as one pass's). ``models``: loaded models (their ``averaged_predict``,
    made at the first call), or a ``predict`` itself."""

    def __init__(self, models: Sequence[Any] | Callable) -> None:
        self.models = models
        self.predict: Callable | None = models if callable(models) else None
        self.answered: dict[bytes, Any] = {}
        self.calls = 0  # batches the models were run on (the tests count them)

    def __call__(self, examples: Sequence[Any]) -> Any:
        key = examples_key(examples)
        out = self.answered.pop(key, None)
        if out is None:
            if self.predict is None:
                self.predict = averaged_predict(self.models)
            out = self.predict(examples)
            self.calls += 1
            self.answered[key] = out
        return out


def examples_key(examples: Sequence[Any]) -> bytes:
    """A digest of what a model reads of each example (its input fields, positions and the
    tokens it predicts at), in order."""
    import hashlib

    h = hashlib.blake2b(digest_size=20)
    for e in examples:
        h.update(b"|")
        for name, a in (*sorted(e.inputs.items()), ("positions", e.positions), ("predict", e.predict)):
            a = np.ascontiguousarray(a)
            h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
            h.update(a.data)
    return h.digest()


def averaged_predict(models: Sequence[Any]) -> Callable:
    """A ``predict`` for ``Domain.infill``: every head output averaged over the models."""
    if len(models) == 1:
        return models[0].predict

    def predict(examples):
        outs = [m.predict(examples) for m in models]
        return [{key: np.mean([o[e][key] for o in outs], axis=0) for key in outs[0][e]}
                for e in range(len(examples))]
    return predict



def spread(data: Any, filled: Any, own: Sequence[Any]) -> Any:
    """Per-cell spread of the models' fills ``own`` around ``filled`` (see ``ensemble_infill``)."""
    if isinstance(data, pd.DataFrame):
        out = pd.DataFrame(0.0, index=data.index, columns=data.columns)
        for c in data.columns:
            miss = data[c].isna().to_numpy() & filled[c].notna().to_numpy()
            if not miss.any():
                continue
            if pd.api.types.is_numeric_dtype(filled[c].dtype) and not pd.api.types.is_bool_dtype(filled[c].dtype):
                vals = np.stack([o[c].to_numpy(dtype=np.float64)[miss] for o in own])
                out.loc[miss, c] = vals.std(axis=0)
            else:
                ref = filled[c].to_numpy(dtype=object)[miss]
                differ = np.stack([o[c].to_numpy(dtype=object)[miss] != ref for o in own])
                out.loc[miss, c] = differ.mean(axis=0)
        return out
    if isinstance(data, Mapping):
        return {k: spread(data[k], filled[k], [o[k] for o in own]) for k in data}
    if isinstance(data, (list, tuple)):
        return [spread(d, f, [o[i] for o in own]) for i, (d, f) in enumerate(zip(data, filled))]
    x = np.asarray(data, dtype=np.float64)
    vals = np.stack([np.asarray(o, dtype=np.float64) for o in own])
    out = np.where(~np.isfinite(x), vals.std(axis=0), 0.0)
    return np.nan_to_num(out)


def check_overrides(domain: str, seed: int, overrides: Sequence[str]) -> None:
    """Compose the pretrain config now (a ``ConfigError``, i.e. a ``UsageError``, on a typo)."""
    from encoderkit.train.config import compose

    compose(pretrain_overrides(domain, "store.zarr", "run", seed, False, overrides))
