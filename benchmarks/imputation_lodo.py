"""Imputation that transfers: one fixed set of defaults on many datasets, scored
leave-one-dataset-out (LODO) against the classical imputers, in one run.

Protocol (issue 15). Every dataset runs with the same settings; the only per-dataset
choices are derived from the data by a fixed rule (column kinds from the schema
inference; series patch length from the series length; the seasonal period from the
visible samples). Transductive, as the scikit-learn imputers are: the model trains on
the holed data and fills it; only the hidden cells are scored.

- tables (scikit-learn, statsmodels; mixed numeric + categorical ones): hide 20% of the
  observed cells completely at random. NRMSE on numeric cells (RMSE / column sd),
  accuracy on categorical cells. Baselines: mean/mode (SimpleImputer), KNNImputer (k=5),
  IterativeImputer with BayesianRidge, IterativeImputer with a random forest
  (MissForest-style). Categorical outputs of the scikit-learn imputers are rounded to
  the nearest observed code.
- series (statsmodels, aeon's bundled data; single long series, many short ones, short
  multichannel ones, strongly seasonal ones): hide gaps of 1, 2 and 3 patch lengths at
  random offsets (never the first/last sample, never touching), about 15% of each
  channel (at least one gap per channel). MSE on the hidden samples, in units of the
  channel's sd over the dataset (so datasets and channels are comparable). Baselines: linear interpolation, seasonal
  naive (value one period earlier, else later, else linear), seasonal climatology +
  linearly interpolated anomaly, and Kalman smoothing of a structural model fitted per
  channel (local level / local linear trend / + seasonal, chosen by AIC:
  ``benchmarks/kalman_fill.py``, R imputeTS' ``na_kalman``); the period is detected from the
  visible samples (``domains.timeseries.seasonal.detect_period``); no period -> the two
  seasonal fills are linear, the Kalman fill tries no seasonal component.

Candidates ("defaults") are a small fixed set, several scored from one trained model
(decode-time choices cost nothing). ``ek_select`` is ``encoderkit impute``'s
``select=auto``: ``SELECT_HOLDOUT`` of the holed data's observed cells are held back
(the models of the run train without them), the default and the classical candidates fill
them, and per column / channel the rule of ``encoderkit/selection.py`` picks the fill
used for the hidden cells (the hidden truth is never used to choose). LODO: for each held-out dataset, the candidate
with the lowest mean relative error over the OTHER datasets (error / best classical
error on that dataset; categorical: (1 - accuracy) / (1 - best accuracy)) is chosen
and scored on the held-out one.

Usage: nice -n 10 python benchmarks/imputation_lodo.py [--part tables|series|both]
       [--steps-table 600] [--steps-series 200] [--seeds 1] [--only name ...]
       [--out results.json]
       python benchmarks/imputation_lodo.py --report a.json b.json ...   (markdown for RESULTS.md;
       a later file's run of a dataset and seed replaces an earlier one's; finished datasets
       are skipped when --out already holds them, so an interrupted run resumes)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

if not __package__:  # run as a file (python benchmarks/imputation_lodo.py): its parts are benchmarks.*
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the datasets, the table and series pieces of the protocol and the report live in
# imputation_lodo_*.py; their names stay importable from here
from benchmarks.environment import stamped  # noqa: E402  (each row records its BLAS kernel)
from benchmarks.imputation_lodo_data import (_single, fresh_small_tables, held_out_tables, series_sets,  # noqa: E402
                                             small_tables, tables)
from benchmarks.imputation_lodo_report import (SERIES_BASELINES, TABLE_BASELINES, _baselines, _f,  # noqa: E402
                                               _zero_residual, exact_fallbacks, lodo, relative, report)
from benchmarks.imputation_lodo_series import (auto_patch, checked_seasonal, classical_series, crops,  # noqa: E402
                                               holed_series, kalman_series, make_gaps, pad, score_series,
                                               select_series)
from benchmarks.imputation_lodo_tables import _key, blend, codes, refine, score_table, sklearn_impute  # noqa: E402
from encoderkit.impute import assemble  # noqa: E402
from encoderkit.impute_cells import channels, draw_holdout, select_fills, with_hidden  # noqa: E402

HIDE = 0.2
# share of the holed data's observed cells held back to choose a fill per column /
# channel (the `ek_select` candidate; `encoderkit impute`'s default holdout); 0 = off
SELECT_HOLDOUT = 0.05
SERIES_INPUTS = "auto"  # --series-inputs
SHIFTS: tuple[int, ...] = (1,)  # --shifts: the infill_shifts the series default is scored with
ARMS: tuple[str, ...] = ("bench",)  # --arms: bench (this protocol's models), onecall, estimator, classical
ONECALL_OVERRIDES: tuple[str, ...] = ()  # --onecall-overrides: pretrain overrides of the onecall arm
ONECALL_TAG = "ek_onecall"  # --onecall-tag: the method name of the onecall arm's rows
ONECALL_MODELS = 1  # --onecall-models: n_models of the onecall arm (multiple imputation)
ESTIMATOR_TAG = "ek_estimator"  # the estimator arm's rows (EncoderImputer, every default)


# ====================================================================== tables

def onecall_table(holed: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The fill of ``encoderkit impute`` itself, as a user runs it on a CSV: every default
    (its own held-back cells, ``select=auto``) plus ``--onecall-overrides``."""
    from encoderkit.impute import impute

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "holed.csv"), os.path.join(tmp, "filled.csv")
        holed.to_csv(src, index=False)
        # domain named: a table whose first column is "year" (macrodata) is otherwise read
        # as a series, as the message of that refusal tells a user
        report = impute(src, dst, domain="tabular", seed=seed, progress=False, overwrite=True,
                        overrides=list(ONECALL_OVERRIDES), n_models=ONECALL_MODELS)
        print(f"[table] onecall: {report.steps} steps, {report.seconds:.0f} s; " + ", ".join(
            f"{k} {c.used}" for k, c in report.by_pool()[1].items() if c.used != "model"), flush=True)
        filled = pd.read_csv(dst)
    filled.columns = holed.columns
    return filled


def estimator_table(holed: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """``EncoderImputer(random_state=seed).fit_transform`` on the holed frame, as a
    scikit-learn user runs it (every default, plus ``--onecall-overrides``), and, from the
    same fit, its fill with every categorical column's ``select=auto`` choice reset to the
    soft vote (``<tag>_vote``: what the estimator did before it chose per categorical column)."""
    from encoderkit.sklearn import EncoderImputer

    imp = EncoderImputer(random_state=seed, overrides=ONECALL_OVERRIDES).fit(holed)
    out = {ESTIMATOR_TAG: imp.transform(holed)}
    cats = {c["name"] for c in imp.models_[0].domain.columns if c["kind"] != "numeric"}
    chosen = {c: u for c, u in imp.selection_.items() if c in cats}
    print(f"[table] estimator: categorical choices {chosen}", flush=True)
    imp.selection_ = {c: ("blend" if c in cats else u) for c, u in imp.selection_.items()}
    out[ESTIMATOR_TAG + "_vote"] = imp.transform(holed)
    return out


def run_table(name: str, full: pd.DataFrame, seed: int, steps: int) -> list[dict]:
    from benchmarks.tabular_imputation import DOMAIN, make_predict, train_model
    from domains.tabular import TabularDomain

    rng = np.random.default_rng(seed)
    holes = (rng.random(full.shape) < HIDE) & full.notna().to_numpy()
    holed = full.mask(holes)
    t0 = time.perf_counter()
    # select: a share of the HOLED table's observed cells held back from training, as
    # `encoderkit impute` does (the hidden truth is never used to choose)
    hide = draw_holdout(list(channels(holed)), SELECT_HOLDOUT, seed) if SELECT_HOLDOUT else {}
    train = with_hidden(holed, hide, None) if hide else holed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        domain = TabularDomain.from_frame(train, ingest_options={"validation_fraction": 0.0}, **DOMAIN)
    categorical = [c["name"] for c in domain.columns if c["kind"] == "categorical"]
    preds, secs = {}, {}
    t_train = float("nan")
    if "bench" in ARMS:
        model = train_model(domain, train, steps, seed)
        t_train = time.perf_counter() - t0
        predict = make_predict([model])
        domain.options["numeric_decode"] = "clip"
        preds["ek_clip"] = domain.infill(holed, predict)
        domain.options["numeric_decode"] = "regression"
        preds["ek_reg"] = domain.infill(holed, predict)
        preds["ek_reg_refine"] = refine(domain, holed, preds["ek_reg"], predict, 2, np.random.default_rng(seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IterativeImputer's convergence notice
        for m in ("mean/mode", "knn", "iterative_br", "missforest"):
            t1 = time.perf_counter()
            preds[m] = sklearn_impute(holed, categorical, m, seed)
            secs[m] = time.perf_counter() - t1
    if "bench" in ARMS:
        preds["ek_reg+iterative_br"] = blend(holed, preds["ek_reg"], preds["iterative_br"], categorical=categorical)
        preds["ek_reg+missforest"] = blend(holed, preds["ek_reg"], preds["missforest"], categorical=categorical)
        preds["ek_reg+iterative_br+missforest"] = blend(
            holed, preds["ek_reg"], preds["iterative_br"], preds["missforest"], categorical=categorical)
    if hide and "bench" in ARMS:
        # the same candidates on the table with the held-back cells hidden; per numeric
        # column the default (encoder + IterativeImputer) unless another wins clearly there
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc = domain.infill(train, predict)
            it = sklearn_impute(train, categorical, "iterative_br", seed)
        cands = {"model": blend(train, enc, it, categorical=categorical), "encoder": enc, "iterative": it}
        finals = {"model": preds["ek_reg+iterative_br"], "encoder": preds["ek_reg"],
                  "iterative": preds["iterative_br"]}
        numeric = [c for c in holed.columns if c not in categorical]
        choices = select_fills(list(channels(holed, numeric)),
                               {k: list(channels(v, numeric)) for k, v in cands.items()}, hide, runs=False)
        preds["ek_select"] = assemble(finals, {k: c.used for k, c in choices.items()}, holed, numeric, [])
        print(f"[table] {name} select: " + ", ".join(
            f"{k} {c.used} ({c.cells} cells: " + " ".join(f"{n} {e:.3g}" for n, e in c.errors.items()) + ")"
            for k, c in choices.items()), flush=True)
    if "onecall" in ARMS:
        t1 = time.perf_counter()
        preds[ONECALL_TAG] = onecall_table(holed, seed)
        secs[ONECALL_TAG] = time.perf_counter() - t1
    if "estimator" in ARMS:
        t1 = time.perf_counter()
        preds.update(estimator_table(holed, seed))
        secs[ESTIMATOR_TAG] = secs[ESTIMATOR_TAG + "_vote"] = time.perf_counter() - t1
    rows = []
    for m, p in preds.items():
        nrmse, acc = score_table(full, p, holes, categorical)
        rows.append(dict(kind="table", dataset=name, seed=seed, method=m, nrmse=nrmse, accuracy=acc,
                         seconds=secs.get(m, t_train)))
    print(f"[table] {name} seed {seed} ({t_train:.0f}s train): " + ", ".join(
        f"{r['method']} {r['nrmse']:.3f}" + (f"/{r['accuracy']:.3f}" if r["accuracy"] == r["accuracy"] else "")
        for r in rows), flush=True)
    return rows


# ====================================================================== series

def series_inputs(n_series: int) -> bool:
    """channel_embedding / window_stats of a dataset's model: ``--series-inputs`` on / off,
    or (auto) the domain's rule applied to the dataset's own series: the training store
    holds crops of long series, which the rule must not count as series."""
    from domains.timeseries.domain import between_series_inputs

    if SERIES_INPUTS == "auto":
        return between_series_inputs({"n_series": n_series})
    return SERIES_INPUTS == "on"


def train_series(records: list[np.ndarray], patch: int, baseline: str, steps: int,
                 workdir: str, seed: int, n_series: int) -> str:
    from domains.timeseries import TimeSeriesDomain
    from encoderkit.train import pretrain

    store = os.path.join(workdir, "store")
    TimeSeriesDomain.ingest_arrays(records, store, overwrite=True)
    run = pretrain([
        "domain=timeseries", f"data.store={store}", f"run.dir={os.path.join(workdir, 'run')}",
        f"train.steps={steps}", "train.log_every=1000", "train.progress=false", "train.eval_every=0",
        "train.checkpoint_every=0", "data.val_fraction=0.01", "data.max_seqlen=128",
        "data.max_tokens=1024", f"run.seed={seed}", f"domain.patch={patch}",
        f"domain.baseline={baseline}",
        "domain.masker={gap: 0.5, random: 0.25, span: 0.25}", "domain.mask_rate=0.3",
        "domain.partial_mask=0.3", "domain.infill_max_seqlen=128",
        "model.hidden_size=64", "model.num_layers=3", "model.num_heads=4",
        "model.intermediate_size=128", "model.local_window=64", "optim.lr=3e-3",
        *(f"domain.{k}={str(series_inputs(n_series)).lower()}" for k in ("channel_embedding", "window_stats"))])
    return str(run)


def onecall_series(holed: list[np.ndarray], seed: int, workdir: str) -> list[np.ndarray]:
    """The fills of ``encoderkit impute`` itself, as a user runs it on the file with the
    holes: one .npz of the holed series only (a UCR set's complete TRAIN series, which the
    bench arm also trains on, are not in it), every default (``experiment=impute``,
    ``train.steps=auto``, its own held-back cells and ``select=auto``) plus
    ``--onecall-overrides``; the series read back from the output."""
    from encoderkit.impute import impute

    os.makedirs(workdir, exist_ok=True)
    src, dst = os.path.join(workdir, "holed.npz"), os.path.join(workdir, "filled.npz")
    np.savez(src, **{f"s{i:04d}": h for i, h in enumerate(holed)})
    report = impute(src, dst, seed=seed, progress=False, overwrite=True, overrides=list(ONECALL_OVERRIDES),
                    n_models=ONECALL_MODELS)
    print(f"[series] onecall: {report.steps} steps, {report.seconds:.0f} s; " + ", ".join(
        f"{k} {c.used} (" + " ".join(f"{n} {e:.3g}" for n, e in c.errors.items()) + ")"
        for k, c in report.by_pool()[1].items()), flush=True)
    with np.load(dst, allow_pickle=False) as out:
        return [np.asarray(out[f"s{i:04d}"], np.float64).reshape(h.shape) for i, h in enumerate(holed)]


def run_series(name: str, data: dict, seed: int, steps: int, tmp: str) -> list[dict]:
    from encoderkit.infer.load import load

    patch, truths, labels, holed, sd = holed_series(data, seed)
    extra = [a if a.ndim == 2 else a[None, :] for a in data["extra"]]
    if "bench" not in ARMS:  # the classical baselines and the onecall arm only
        preds = {k: [c[k] for c in cl] for cl in [[classical_series(h) for h in holed]] for k in cl[0]}
        secs: dict[str, float] = {}
        preds["kalman"], secs["kalman"] = kalman_series(holed, name)
        return _series_rows(name, seed, patch, truths, labels, holed, sd, preds, secs, tmp)
    # select: a share of the HOLED series' observed samples held back from training, in runs
    # as long as each channel's gaps (draw_holdout(runs=True)); the hidden truth is never used.
    # `encoderkit impute` also passes ends=True, which changes the draw only for a channel
    # with a leading or trailing gap; make_gaps places every gap inside the series (observed
    # samples on both sides), so the draw here is impute's wherever a dataset's own series
    # do not start or end missing
    hide = [draw_holdout(list(channels(h)), SELECT_HOLDOUT, seed * 100003 + i, runs=True)
            if SELECT_HOLDOUT else {} for i, h in enumerate(holed)]
    train = [with_hidden(h, m, None) for h, m in zip(holed, hide)]
    # training records: the holed series (long ones as overlapping crops whose stride is
    # not a multiple of the patch, so every phase of the patch grid is seen) + extra
    records = [c for h in train for c in crops(h, 48 * patch, 5 * patch + 1)] + extra
    preds: dict[str, list[np.ndarray]] = {}
    secs: dict[str, float] = {}
    defaults: dict[str, list[np.ndarray]] = {}  # per shift tag: fills of `train`
    alones: dict[str, list[np.ndarray]] = {}
    for baseline in ("linear", "seasonal"):
        t0 = time.perf_counter()
        run = train_series(records, patch, baseline, steps, os.path.join(tmp, f"{name.split()[0]}-{baseline}-{seed}"),
                           seed, len(holed) + len(extra))
        model = load(run)
        secs[baseline] = time.perf_counter() - t0
        for fb in (0, 16, 32):  # by series length only (data_fallback off)
            model.domain.options.update(short_fallback=fb, data_fallback=0)
            filled = model.infill([h.copy() for h in holed])
            preds[f"ek_{baseline}" + (f"_fb{fb}" if fb else "")] = [np.asarray(f).reshape(h.shape) for f, h in zip(filled, holed)]
        if baseline == "seasonal":
            for shifts in SHIFTS:
                # the documented default (configs/domain/timeseries.yaml): fallbacks by series
                # length and by data size; `infill_shifts` grid offsets averaged
                tag = "" if shifts == 1 else f"_s{shifts}"
                model.domain.options.update(short_fallback=16, data_fallback=32, infill_shifts=shifts)
                preds["ek_default" + tag] = [np.asarray(f).reshape(h.shape) for f, h in zip(model.infill([h.copy() for h in holed]), holed)]
                if shifts != 1:
                    model.domain.options.update(short_fallback=0, data_fallback=0)
                    preds["ek_seasonal" + tag] = [np.asarray(f).reshape(h.shape) for f, h in zip(model.infill([h.copy() for h in holed]), holed)]
                    model.domain.options.update(short_fallback=16, data_fallback=32)
                if any(m.any() for h in hide for m in h.values()):
                    # on the series with the held-back samples hidden: the default and the model
                    # without the fallbacks
                    defaults[tag] = [np.asarray(f).reshape(h.shape) for f, h in zip(model.infill([h.copy() for h in train]), train)]
                    model.domain.options.update(short_fallback=0, data_fallback=0)
                    alones[tag] = [np.asarray(f).reshape(h.shape) for f, h in zip(model.infill([h.copy() for h in train]), train)]
    cl = [classical_series(h) for h in holed]
    for k in cl[0]:
        preds[k] = [c[k] for c in cl]
    preds["kalman"], secs["kalman"] = kalman_series(holed, name)
    # the domain's own `seasonal` candidate: the period only where it wins the
    # cross-validation on the visible samples (seasonal_period), linear elsewhere
    checked = [checked_seasonal(h) for h in holed]
    preds["ek_blend"] = [(a + b) / 2 for a, b in zip(preds["ek_default"], checked)]
    if defaults:
        cl_train = [classical_series(h) for h in train]
        checked_train = [checked_seasonal(h) for h in train]
        for tag in defaults:
            cands = {"model": defaults[tag], "linear": [c["linear"] for c in cl_train],
                     "seasonal": checked_train, "naive": [c["seasonal_naive"] for c in cl_train],
                     "encoder": alones[tag]}
            finals = {"model": preds["ek_default" + tag], "linear": preds["linear"],
                      "seasonal": checked, "naive": preds["seasonal_naive"],
                      "encoder": preds["ek_seasonal" + tag]}
            preds["ek_select" + tag], choices = select_series(holed, hide, cands, finals)
            print(f"[series] {name} select{tag}: " + ", ".join(
                f"{k} {c.used} ({c.cells} cells: " + " ".join(f"{n} {e:.3g}" for n, e in c.errors.items()) + ")"
                for k, c in choices.items()), flush=True)
    return _series_rows(name, seed, patch, truths, labels, holed, sd, preds, secs, tmp)


def _series_rows(name: str, seed: int, patch: int, truths, labels, holed, sd, preds: dict,
                 secs: dict, tmp: str) -> list[dict]:
    if "onecall" in ARMS:
        t0 = time.perf_counter()
        preds[ONECALL_TAG] = onecall_series(holed, seed, os.path.join(
            tmp, f"{name.split()[0]}-onecall-{seed}"))
        secs["onecall"] = time.perf_counter() - t0
    rows = []
    for m, fills in preds.items():
        # models: their training time (bench: by baseline); of the classical fills only kalman is timed
        key = "onecall" if m == ONECALL_TAG else m.split("_")[1] if m.startswith("ek_") else m
        timed = m.startswith("ek_") or m == "kalman"
        row = dict(kind="series", dataset=name, seed=seed, method=m, patch=patch,
                   seconds=secs.get(key, float("nan")) if timed else float("nan"))
        row.update(score_series(truths, labels, holed, fills, sd))
        rows.append(row)
    print(f"[series] {name} seed {seed} patch {patch} " + ", ".join(
        f"{r['method']} {r['mse']:.4g}" for r in rows), flush=True)
    return rows


# ====================================================================== main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="both", choices=("tables", "series", "both"))
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--steps-table", type=int, default=600)
    ap.add_argument("--steps-series", type=int, default=200)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--shifts", type=int, nargs="+", default=[1],
                    help="infill_shifts values to score the series default with (1 = one pass; "
                         "others add ek_default_s<N> / ek_seasonal_s<N> / ek_select_s<N>)")
    ap.add_argument("--series-inputs", default="auto", choices=("auto", "on", "off"),
                    help="the series model's channel_embedding / window_stats: the domain's auto "
                         "rule on the dataset's series count (default, as `encoderkit impute`), "
                         "or both on / off")
    ap.add_argument("--arms", nargs="+", default=["bench"],
                    choices=("bench", "onecall", "estimator", "classical"),
                    help="series: bench = this protocol's models (ek_*); onecall = `encoderkit "
                         "impute` itself with every default on the holed data (ek_onecall); "
                         "estimator (tables) = EncoderImputer().fit_transform (ek_estimator); "
                         "classical = no model arm: the classical baselines only (they run with "
                         "every arm)")
    ap.add_argument("--onecall-overrides", nargs="*", default=[],
                    help="pretrain overrides of the onecall arm (Hydra syntax)")
    ap.add_argument("--onecall-tag", default="ek_onecall", help="method name of the onecall rows")
    ap.add_argument("--onecall-models", type=int, default=1,
                    help="n_models of the onecall arm (models averaged at infill)")
    ap.add_argument("--out", default="imputation_lodo.json")
    ap.add_argument("--report", nargs="*", default=None,
                    help="only render markdown from these result JSON files")
    args = ap.parse_args(argv)
    global SERIES_INPUTS, SHIFTS, ARMS, ONECALL_OVERRIDES, ONECALL_TAG, ONECALL_MODELS
    SERIES_INPUTS, SHIFTS = args.series_inputs, tuple(sorted({1, *args.shifts}))
    ARMS, ONECALL_OVERRIDES, ONECALL_TAG = tuple(args.arms), tuple(args.onecall_overrides), args.onecall_tag
    ONECALL_MODELS = args.onecall_models
    if args.report:
        parts = [pd.DataFrame(json.load(open(path))).assign(_src=i) for i, path in enumerate(args.report)]
        df = pd.concat(parts, ignore_index=True)
        # a later file's row of a dataset, seed and method replaces an earlier one's (reruns);
        # files with different methods (an onecall-only run) add their methods
        newest = df.groupby(["kind", "dataset", "seed", "method"])["_src"].transform("max")
        df = df[df["_src"] == newest].drop(columns="_src").reset_index(drop=True)
        print(report(df))
        return 0
    torch.set_num_threads(1)
    rows: list[dict] = []
    if os.path.exists(args.out):  # resume: keep finished datasets
        rows = json.load(open(args.out))
    done = {(r["kind"], r["dataset"], r["seed"]) for r in rows}

    def save() -> None:
        tmp = args.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(rows, fh)
        os.replace(tmp, args.out)

    if args.part in ("tables", "both"):
        for name, full in tables().items():
            if args.only and not any(o in name for o in args.only):
                continue
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                if ("table", name, seed) not in done:
                    rows += stamped(run_table(name, full, seed, args.steps_table))
                    save()
    if args.part in ("series", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in series_sets().items():
                if args.only and not any(o in name for o in args.only):
                    continue
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    if ("series", name, seed) not in done:
                        rows += stamped(run_series(name, data, seed, args.steps_series, tmp))
                        save()
    df = pd.DataFrame(rows)
    rel = relative(df)
    for kind in ("table", "series"):
        r = rel[rel.kind == kind]
        if r.empty:
            continue
        cands = [m for m in r.method.unique() if m.startswith("ek_")]
        print(r.pivot(index="dataset", columns="method", values="rel").round(3).to_string())
        if cands:  # none with --arms classical
            print(lodo(rel, kind, cands).to_string())
    return 0

if __name__ == "__main__":
    sys.exit(main())
