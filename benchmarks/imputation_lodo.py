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
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from domains.timeseries.seasonal import detect_period, linear_fill, seasonal_fill, seasonal_naive
from encoderkit.impute import assemble
from encoderkit.impute_cells import channels, draw_holdout, select_fills, with_hidden

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

def tables() -> dict[str, pd.DataFrame]:
    """name -> full table. Ids are dropped; text / category columns stay text."""
    import statsmodels.api as sm
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine

    from domains.tabular import sample_frame

    iris = load_iris(as_frame=True)
    iris_f = iris.data.copy()
    iris_f["species"] = pd.Categorical(np.asarray(iris.target_names)[iris.target])
    fair = sm.datasets.fair.load_pandas().data.sample(n=800, random_state=0).reset_index(drop=True)
    grun = sm.datasets.grunfeld.load_pandas().data
    grun["firm"] = grun["firm"].astype(str)
    mode = sm.datasets.modechoice.load_pandas().data.drop(columns=["individual"])
    return {"wine": load_wine(as_frame=True).data,
            "breast_cancer": load_breast_cancer(as_frame=True).data,
            "diabetes": load_diabetes(as_frame=True).data,
            "iris (mixed)": iris_f,
            "anes96 (mixed)": sample_frame(),
            "fair (mixed)": fair,
            "star98": sm.datasets.star98.load_pandas().data,
            "grunfeld (mixed)": grun,
            "modechoice (mixed)": mode,
            **held_out_tables(), **small_tables(), **fresh_small_tables()}


def small_tables() -> dict[str, pd.DataFrame]:
    """Small real tables (8-235 rows) added on 2026-12-06 after a user's first runs on them
    found the encoder behind the column mean or IterativeImputer (benchmarks/RESULTS.md,
    "Small tables"): statsmodels' cpunish (17 states), china_smoking (8 cities, the city
    names dropped), scotland (32 council areas), engel (235 households, 2 columns), copper
    (25 years), strikes (62 quarters, 2 columns), heart (69 patients; the censoring flag is
    a category) and scikit-learn's linnerud (20 men, 6 integer columns)."""
    import statsmodels.api as sm
    from sklearn.datasets import load_linnerud

    ds = sm.datasets
    heart = ds.heart.load_pandas().data
    heart["censors"] = heart["censors"].map({0.0: "no", 1.0: "yes"})
    cpunish = ds.cpunish.load_pandas().data
    cpunish["SOUTH"] = cpunish["SOUTH"].map({0.0: "no", 1.0: "yes"})
    return {"cpunish (small)": cpunish,
            "china_smoking (small)": ds.china_smoking.load_pandas().data.reset_index(drop=True),
            "scotland (small)": ds.scotland.load_pandas().data,
            "engel (small)": ds.engel.load_pandas().data,
            "copper (small)": ds.copper.load_pandas().data,
            "strikes (small)": ds.strikes.load_pandas().data,
            "heart (small)": heart,
            "linnerud (small)": load_linnerud(as_frame=True).frame.astype(int)}


def fresh_small_tables() -> dict[str, pd.DataFrame]:
    """Seven more small statsmodels tables (16-301 rows), added on 2026-12-06 to check on
    tables no setting was looked at with what the first small tables suggested (names end
    "(fresh small)"): longley (16 years of US macro figures), stackloss (21 plant runs),
    committee (20 House committees), spector (32 students), elnino (61 years x 12 months of
    sea temperature), danish_data (55 quarters) and cancer (301 counties, 2 columns)."""
    import statsmodels.api as sm

    names = ("longley", "stackloss", "committee", "spector", "elnino", "danish_data", "cancer")
    return {f"{n} (fresh small)": getattr(sm.datasets, n).load_pandas().data.reset_index(drop=True)
            for n in names}


def held_out_tables() -> dict[str, pd.DataFrame]:
    """Tables added on 2026-12-05 after every default was chosen, scored as held out (no
    default was chosen with them in the set): a health-insurance survey sample (randhie, 800
    of 20,190 rows, integer codes and floats), US quarterly macro series read as a table
    (macrodata, year and quarter included), US state crime rates (statecrime, 51 rows),
    World Bank fertility rates 1960-2011 by country (fertility: 219 rows, its own missing
    cells left missing, the names and the two mostly empty last years dropped), credit-card
    spending (ccard, 72 rows)."""
    import statsmodels.api as sm

    ds = sm.datasets
    randhie = ds.randhie.load_pandas().data.sample(n=800, random_state=0).reset_index(drop=True)
    fertility = ds.fertility.load_pandas().data.select_dtypes("number")
    fertility = fertility.loc[:, fertility.notna().mean() >= 0.5]  # 2012-2013: mostly not yet reported
    return {"randhie (held out)": randhie,
            "macrodata table (held out)": ds.macrodata.load_pandas().data,
            "statecrime (held out)": ds.statecrime.load_pandas().data.reset_index(drop=True),
            "fertility (held out)": fertility,
            "ccard (held out)": ds.ccard.load_pandas().data}


def codes(frame: pd.DataFrame, categorical: list[str]) -> tuple[np.ndarray, dict[str, list]]:
    """Float matrix for scikit-learn: categorical columns as integer codes (NaN kept)."""
    x = np.empty(frame.shape)
    levels = {}
    for j, c in enumerate(frame.columns):
        if c in categorical:
            lv = sorted(frame[c].dropna().unique().tolist(), key=str)
            levels[c] = lv
            m = {v: i for i, v in enumerate(lv)}
            x[:, j] = [m[v] if v in m else np.nan for v in frame[c]]
        else:
            x[:, j] = pd.to_numeric(frame[c], errors="coerce").to_numpy(np.float64)
    return x, levels


def sklearn_impute(holed: pd.DataFrame, categorical: list[str], method: str, seed: int) -> pd.DataFrame:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

    x, levels = codes(holed, categorical)
    cat = np.array([c in categorical for c in holed.columns])
    mu, sd = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
    sd[~(sd > 0)] = 1.0
    z = (x - mu) / sd
    if method == "mean/mode":
        out = z.copy()
        if (~cat).any():
            out[:, ~cat] = SimpleImputer(strategy="mean").fit_transform(z[:, ~cat])
        if cat.any():
            out[:, cat] = SimpleImputer(strategy="most_frequent").fit_transform(z[:, cat])
    elif method == "knn":
        out = KNNImputer(n_neighbors=5).fit_transform(z)
    elif method == "iterative_br":
        out = IterativeImputer(max_iter=10, random_state=seed).fit_transform(z)
    elif method == "missforest":
        rf = RandomForestRegressor(n_estimators=50, min_samples_leaf=1, max_features=0.5,
                                   n_jobs=1, random_state=seed)
        out = IterativeImputer(estimator=rf, max_iter=5, random_state=seed).fit_transform(z)
    else:
        raise ValueError(method)
    out = out * sd + mu
    res = holed.copy()
    for j, c in enumerate(holed.columns):
        miss = holed[c].isna().to_numpy()
        if not miss.any():
            continue
        col = out[:, j]
        if cat[j]:  # nearest observed category
            k = np.clip(np.rint(col), 0, len(levels[c]) - 1).astype(int)
            vals = pd.Series([levels[c][i] for i in k], index=holed.index)
        else:
            vals = pd.Series(col, index=holed.index)
        s = res[c].astype(object) if cat[j] else res[c].astype(np.float64)
        s[miss] = vals[miss]
        res[c] = s
    return res


def _key(v) -> str:
    """Cell value for comparison: 3, 3.0 and "3" are the same category."""
    try:
        return repr(float(v))
    except (TypeError, ValueError):
        return str(v)


def score_table(truth: pd.DataFrame, pred: pd.DataFrame, holes: np.ndarray,
                categorical: list[str]) -> tuple[float, float]:
    sq, hit, n_num, n_cat = 0.0, 0, 0, 0
    for j, c in enumerate(truth.columns):
        h = holes[:, j]
        if not h.any():
            continue
        if c in categorical:
            t = truth[c].to_numpy()[h]
            p = pred[c].to_numpy()[h]
            hit += int(sum(_key(a) == _key(b) for a, b in zip(t, p)))
            n_cat += int(h.sum())
        else:
            tv = truth[c].to_numpy(np.float64)
            sd = float(np.nanstd(tv)) or 1.0  # a table may have missing cells of its own
            p = pred[c].to_numpy(np.float64)[h]
            sq += float((((p - tv[h]) / sd) ** 2).sum())
            n_num += int(h.sum())
    return (math.sqrt(sq / n_num) if n_num else float("nan"), hit / n_cat if n_cat else float("nan"))


def refine(domain, holed: pd.DataFrame, first: pd.DataFrame, predict, rounds: int,
           rng: np.random.Generator) -> pd.DataFrame:
    """Iterative refinement: re-predict each missing cell with the current fill of the
    row's OTHER missing cells visible (each round: two disjoint halves of the missing
    cells, each re-hidden and predicted given the rest)."""
    miss = holed.isna().to_numpy()
    cur = first.copy()
    for _ in range(rounds):
        half = rng.random(miss.shape) < 0.5
        nxt = cur.copy()
        for part in (half, ~half):
            sel = miss & part
            if not sel.any():
                continue
            pred = domain.infill(cur.mask(sel), predict)
            for j, c in enumerate(holed.columns):
                if sel[:, j].any():
                    s = nxt[c].copy()
                    s[sel[:, j]] = pred[c][sel[:, j]]
                    nxt[c] = s
        cur = nxt
    return cur


def blend(holed: pd.DataFrame, a: pd.DataFrame, *others: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Mean of the imputations on numeric cells; ``a``'s categories."""
    out = a.copy()
    for c in holed.columns:
        if c not in categorical and holed[c].isna().any():
            out[c] = sum(f[c].astype(np.float64) for f in (a, *others)) / (1 + len(others))
    return out


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

def auto_patch(length: int) -> int:
    """Patch length from the typical series length: about 16+ patches per series."""
    return 2 if length < 64 else 4 if length < 512 else 8


def _single(x: np.ndarray) -> dict:
    x = np.asarray(x, np.float64)
    return {"eval": [x[None, :] if x.ndim == 1 else x], "extra": []}


def series_sets() -> dict[str, dict]:
    """name -> {"eval": [C, L] arrays holed and scored, "extra": unholed arrays that
    only train the model (the TRAIN split of a UCR set)}."""
    import statsmodels.api as sm
    from aeon import datasets as ad

    warnings.simplefilter("ignore", FutureWarning)  # aeon's deprecation notices
    out = {"airline": _single(np.asarray(ad.load_airline(), np.float64)),
           "co2": _single(sm.datasets.co2.load_pandas().data["co2"].to_numpy(np.float64)),
           "sunspots": _single(sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"]),
           "nile": _single(sm.datasets.nile.load_pandas().data["volume"]),
           "macrodata (4ch)": _single(sm.datasets.macrodata.load_pandas().data[
               ["realgdp", "realcons", "realinv", "unemp"]].to_numpy(np.float64).T),
           "lynx": _single(np.asarray(ad.load_lynx(), np.float64)),
           "shampoo": _single(np.asarray(ad.load_shampoo_sales(), np.float64)),
           "uschange (5ch)": _single(np.asarray(ad.load_uschange(), np.float64))}

    def ucr(loader, n_eval: int, n_extra: int) -> dict:
        te, _ = loader(split="test")
        tr, _ = loader(split="train")
        te = [np.asarray(a, np.float64) for a in te][:n_eval]
        tr = [np.asarray(a, np.float64) for a in tr][:n_extra]
        return {"eval": te, "extra": tr}

    out["japanese_vowels (12ch, short)"] = ucr(ad.load_japanese_vowels, 100, 100)
    out["italy_power"] = ucr(ad.load_italy_power_demand, 200, 67)
    out["acsf1"] = ucr(ad.load_acsf1, 20, 20)
    out["arrowhead"] = ucr(ad.load_arrow_head, 60, 36)
    out["basic_motions (6ch)"] = ucr(ad.load_basic_motions, 20, 20)
    out["osuleaf"] = ucr(ad.load_osuleaf, 40, 40)
    # three long recordings aeon bundles for anomaly detection / segmentation, added after
    # the defaults were chosen (held out: no default was chosen with them in the set)
    data = Path(ad.__file__).parent / "data"
    daphnet = pd.read_csv(data / "Daphnet_S06R02E0" / "S06R02E0.csv")
    out["daphnet (9ch, held out)"] = _single(
        daphnet.drop(columns=["timestamp", "is_anomaly"]).to_numpy(np.float64).T)
    out["bleeding (held out)"] = _single(pd.read_csv(
        data / "KDD-TSAD_135" / "135_UCR_Anomaly_InternalBleeding16_TEST.csv")["value"])
    out["electric_devices (held out)"] = _single(pd.read_csv(
        data / "segmentation" / "ElectricDevices.csv", header=None)[1])
    # added on 2026-12-05, after every default above was chosen: held out as well
    out["gunpoint (held out)"] = ucr(ad.load_gunpoint, 60, 50)
    out["covid3month (held out)"] = ucr(ad.load_covid_3month, 61, 140)
    m1 = ad.load_from_tsf_file(str(data / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"))
    m1 = (m1[0] if isinstance(m1, tuple) else m1)["series_value"]
    years = [np.asarray(v, np.float64)[None, :] for v in m1]
    out["m1_yearly (181 short, held out)"] = {"eval": years[:100], "extra": years[100:]}
    elnino = sm.datasets.elnino.load_pandas().data.drop(columns=["YEAR"]).to_numpy(np.float64)
    out["elnino (held out)"] = _single(elnino.ravel())
    out["pbs (held out)"] = _single(np.asarray(ad.load_PBS_dataset(), np.float64))
    out["solar (held out)"] = _single(np.asarray(ad.load_solar(), np.float64))
    return out


def make_gaps(x: np.ndarray, patch: int, rng: np.random.Generator) -> np.ndarray:
    """int [C, L]: 0 = not hidden, k = hidden in a gap of k patch lengths (k in 1..3)."""
    c, n = x.shape
    lab = np.zeros((c, n), dtype=np.int64)
    for ch in range(c):
        obs = np.isfinite(x[ch])
        want = max(1, int(0.15 * obs.sum() / (2 * patch)))
        placed = tries = 0
        while placed < want and tries < 200 * want:
            tries += 1
            k = int(rng.integers(1, 4))
            length = k * patch
            if n - length < 2:
                continue
            s = int(rng.integers(1, n - length))
            lo, hi = s - 1, s + length + 1
            if (~obs[lo:hi]).any() or lab[ch, lo:hi].any():
                continue
            lab[ch, s:s + length] = k
            placed += 1
    return lab


def classical_series(y: np.ndarray) -> dict[str, np.ndarray]:
    """Per channel: linear, seasonal naive, climatology + anomaly (detected period)."""
    out = {k: np.empty_like(y) for k in ("linear", "seasonal_naive", "climatology+anomaly")}
    for ch in range(y.shape[0]):
        p = detect_period(y[ch])
        out["linear"][ch] = linear_fill(y[ch])
        out["seasonal_naive"][ch] = seasonal_naive(y[ch], p)
        out["climatology+anomaly"][ch] = seasonal_fill(y[ch], p)[0]
    return out


def kalman_series(holed: list[np.ndarray], name: str) -> tuple[list[np.ndarray], float]:
    """The Kalman baseline of every series of a dataset, and its wall time (s); prints the
    channels' outcomes (specification chosen, or linear interpolation and why)."""
    from benchmarks.kalman_fill import KalmanStats, kalman_fill

    t0 = time.perf_counter()
    stats = KalmanStats()
    fills = [kalman_fill(h, stats) for h in holed]
    secs = time.perf_counter() - t0
    print(f"[series] {name} kalman: {secs:.1f} s, {stats.channels} channels, {stats.fallbacks} "
          f"to linear ({stats.line()})", flush=True)
    return fills, secs


def checked_seasonal(y: np.ndarray) -> np.ndarray:
    """Per channel, ``seasonal_fill`` with the period only where it passes the
    cross-validation (what the time-series domain's `seasonal` candidate uses)."""
    return np.stack([seasonal_fill(ch)[0] for ch in y])


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


def crops(x: np.ndarray, length: int, stride: int) -> list[np.ndarray]:
    n = x.shape[1]
    if n <= length:
        return [x]
    return [x[:, i:i + length] for i in range(0, n - length + 1, stride)] + [x[:, n - length:]]


def holed_series(data: dict, seed: int):
    """The protocol's gaps for one dataset and seed: patch, truths, gap labels, holed
    series, per channel sd [C, 1] (deterministic in the seed)."""
    rng = np.random.default_rng(seed)
    lengths = [a.shape[-1] for a in data["eval"]]
    patch = auto_patch(int(np.median(lengths)))
    truths = [a if a.ndim == 2 else a[None, :] for a in data["eval"]]
    labels = [make_gaps(x, patch, rng) for x in truths]
    holed = [np.where(lab > 0, np.nan, x) for x, lab in zip(truths, labels)]
    # per channel sd over the dataset: multichannel errors in comparable units
    sd = np.nanstd(np.concatenate(truths, axis=1), axis=1)[:, None]  # [C, 1]
    sd[~(sd > 0)] = 1.0
    return patch, truths, labels, holed, sd


def score_series(truths, labels, holed, fills, sd) -> dict:
    """``mse``: squared error in units of each channel's sd over the whole dataset (one
    scale for every series). ``mse_scaled``: in units of each series' own channel sd, so a
    collection of series on different scales (M1, Covid3Month: sds over four orders of
    magnitude, one series holds 90-99% of ``mse``) counts every series alike, as
    ``encoderkit impute``'s held-back scores do (``cell_errors``) and as scaled errors
    (MASE) do in forecasting. The two agree on a single series and on z-normalised sets."""
    errs = {k: [] for k in (1, 2, 3)}
    scaled = []
    for x, lab, h, f in zip(truths, labels, holed, fills):
        ok = np.isfinite(h)
        assert np.array_equal(f[ok], h[ok])  # observed samples untouched
        for k in errs:
            errs[k].append((((f - x) / sd)[lab == k]) ** 2)
        own = np.nanstd(x, axis=1, keepdims=True)
        own[~(own > 0)] = 1.0
        scaled.append((((f - x) / own)[lab > 0]) ** 2)
    allerr = np.concatenate([np.concatenate(v) for v in errs.values()])
    out = {"mse": float(allerr.mean()), "hidden": int(allerr.size),
           "mse_scaled": float(np.concatenate(scaled).mean())}
    for k, v in errs.items():
        e = np.concatenate(v)
        out[f"mse_gap{k}"] = float(e.mean()) if e.size else float("nan")
    return out


def _zero_residual(masked):
    return [{"values": np.zeros((int(m.predict.sum()), m.inputs["values"].shape[1]))} for m in masked]


def exact_fallbacks(df: pd.DataFrame, sets: dict) -> pd.DataFrame:
    """Recompute the ``ek_<baseline>_fb<K>`` rows with the current domain code.

    A series shorter than K patches is filled by the baseline alone, which does not
    depend on the trained model, so these rows need no training: a dataset whose series
    are all shorter than K gets the domain's baseline fill (zero residual), one whose
    series are all longer gets the ``ek_<baseline>`` row. (Also fills in K values a run
    did not compute.)"""
    from domains.timeseries import TimeSeriesDomain

    s = df[df.kind == "series"]
    if s.empty:
        return df
    rows = [r for r in df.to_dict("records") if not (r["kind"] == "series" and "_fb" in r["method"])]
    for (ds, seed), g in s.groupby(["dataset", "seed"], sort=False):
        patch, truths, labels, holed, sd = holed_series(sets[ds], int(seed))
        n = np.array([math.ceil(x.shape[1] / patch) for x in truths])
        for baseline in ("linear", "seasonal"):
            if not (g.method == f"ek_{baseline}").any():  # a run without the bench arm (onecall only)
                continue
            base = g[g.method == f"ek_{baseline}"].iloc[0].to_dict()
            for k in (16, 32):
                row = dict(base, method=f"ek_{baseline}_fb{k}")
                if (n < k).all():
                    dom = TimeSeriesDomain({}, patch=patch, baseline=baseline, short_fallback=k,
                                           infill_max_seqlen=128)
                    fills = [np.asarray(f).reshape(h.shape)
                             for f, h in zip(dom.infill([h.copy() for h in holed], _zero_residual), holed)]
                    row.update(score_series(truths, labels, holed, fills, sd))
                elif not (n >= k).all():
                    raise ValueError(f"{ds}: series on both sides of {k} patches")
                rows.append(row)
    return pd.DataFrame(rows)


def pad(arrays: list[np.ndarray], fill=np.nan) -> np.ndarray:
    """[C, L_i] arrays -> [N, C, max L] (padding ``fill``)."""
    n = max(a.shape[1] for a in arrays)
    return np.stack([np.pad(a, ((0, 0), (0, n - a.shape[1])), constant_values=fill) for a in arrays])


def select_series(holed: list[np.ndarray], hide: list[dict], cands: dict[str, list[np.ndarray]],
                  finals: dict[str, list[np.ndarray]]) -> tuple[list[np.ndarray], dict]:
    """Per channel (over all the dataset's series), the candidate ``encoderkit impute``'s
    select=auto would use, chosen on the held-back samples ``hide`` (per series, channel
    name -> mask) from the candidates' fills ``cands`` of the series with them hidden; the
    fills ``finals`` of ``holed`` assembled accordingly."""
    n_ch = holed[0].shape[0]
    masks = pad([np.stack([h.get(f"channel {c}", np.zeros(x.shape[1], bool)) for c in range(n_ch)])
                 for h, x in zip(hide, holed)], False)
    truth = list(channels(pad(holed)))
    choices = select_fills(truth, {k: list(channels(pad(v))) for k, v in cands.items()},
                           {f"channel {c}": masks[:, c] for c in range(n_ch)}, runs=True)
    used = {k: c.used for k, c in choices.items()}
    out = [assemble({k: v[i] for k, v in finals.items()}, used, x, None, []) for i, x in enumerate(holed)]
    return out, choices


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
    # select: a share of the HOLED series' observed samples held back from training (runs
    # as long as the gaps), as `encoderkit impute` does; the hidden truth is never used
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


# ====================================================================== LODO

TABLE_BASELINES = ("mean/mode", "knn", "iterative_br", "missforest")
SERIES_BASELINES = ("linear", "seasonal_naive", "climatology+anomaly", "kalman")


def _baselines(m: pd.DataFrame, names: tuple[str, ...]) -> list[str]:
    """The baselines a dataset's rows hold (results written before ``kalman`` existed lack it;
    they are compared with the three they have)."""
    return [b for b in names if b in m.index]


def relative(df: pd.DataFrame, series_metric: str = "mse") -> pd.DataFrame:
    """Per dataset and method: error relative to the best classical method (mean over
    seeds first); < 1 beats every baseline. Tables: mean of NRMSE ratio and
    (1 - accuracy) ratio where both exist. Series: ``series_metric`` (``mse`` or
    ``mse_scaled``, see ``score_series``)."""
    rows = []
    for (kind, ds), g in df.groupby(["kind", "dataset"], sort=False):
        m = g.groupby("method").mean(numeric_only=True)
        if kind == "table":
            base = m.loc[list(TABLE_BASELINES)]
            parts = []
            if m["nrmse"].notna().any():
                parts.append(m["nrmse"] / base["nrmse"].min())
            if m["accuracy"].notna().any():
                parts.append((1 - m["accuracy"]) / max(1e-9, (1 - base["accuracy"]).min()))
            rel = sum(parts) / len(parts)
        else:
            if series_metric not in m or m[series_metric].isna().all():
                continue  # rows of a run before the metric existed
            base = m.loc[_baselines(m, SERIES_BASELINES)]
            rel = m[series_metric] / base[series_metric].min()
        for meth, v in rel.items():
            rows.append(dict(kind=kind, dataset=ds, method=meth, rel=float(v)))
    return pd.DataFrame(rows)


def lodo(rel: pd.DataFrame, kind: str, candidates: list[str]) -> pd.DataFrame:
    r = rel[(rel.kind == kind) & rel.method.isin(candidates)]
    piv = r.pivot(index="dataset", columns="method", values="rel")
    out = []
    for ds in piv.index:
        others = piv.drop(index=ds)
        chosen = others.mean().idxmin() if len(others) else candidates[0]
        out.append(dict(dataset=ds, chosen=chosen, rel=float(piv.loc[ds, chosen])))
    return pd.DataFrame(out)


def _f(v: float, digits: int = 3) -> str:
    return "—" if v != v else f"{v:.{digits}f}"


def report(df: pd.DataFrame) -> str:
    """Markdown: per-dataset tables, relative errors, LODO choices and scores."""
    out: list[str] = []
    t = df[df.kind == "table"]
    if not t.empty:
        meths = list(dict.fromkeys(t.method))
        m = t.groupby(["dataset", "method"], sort=False).mean(numeric_only=True)
        out += ["### Tables: hidden cells (20% MCAR), seed mean", "",
                "| dataset | metric | " + " | ".join(meths) + " |", "|---|---|" + "---:|" * len(meths)]
        for ds in dict.fromkeys(t.dataset):
            for key, lab in (("nrmse", "NRMSE ↓"), ("accuracy", "accuracy ↑")):
                vals = [m.loc[(ds, k), key] for k in meths]
                if all(v != v for v in vals):
                    continue
                base = [m.loc[(ds, k), key] for k in TABLE_BASELINES]
                best = np.nanmin(base) if key == "nrmse" else np.nanmax(base)
                cells = [("**" + _f(v) + "**") if (v == v and ((key == "nrmse" and v <= best + 1e-12)
                         or (key == "accuracy" and v >= best - 1e-12))) else _f(v) for v in vals]
                out.append(f"| {ds} | {lab} | " + " | ".join(cells) + " |")
        out += ["", "Bold: at least as good as the best scikit-learn imputer on that row.", ""]
    s = df[df.kind == "series"]
    if not s.empty:
        meths = list(dict.fromkeys(s.method))
        m = s.groupby(["dataset", "method"], sort=False).mean(numeric_only=True)
        sets = series_sets()  # the period each dataset's first series shows (unholed)
        df = exact_fallbacks(df, sets)
        s = df[df.kind == "series"]
        meths = sorted(dict.fromkeys(s.method), key=lambda k: (not k.startswith("ek_"), k))
        m = s.groupby(["dataset", "method"], sort=False).mean(numeric_only=True)
        periods = {k: float(detect_period(np.atleast_2d(v["eval"][0])[0]) or float("nan"))
                   for k, v in sets.items()}
        out += ["### Series: gaps of 1-3 patches, MSE in units of each channel's sd, seed mean", "",
                "| dataset | patch | period (ch 0) | " + " | ".join(meths) + " |",
                "|---|---:|---:|" + "---:|" * len(meths)]
        for ds in dict.fromkeys(s.dataset):
            base = min(m.loc[(ds, k), "mse"] for k in _baselines(m.loc[ds], SERIES_BASELINES))
            cells = [("**" + _f(m.loc[(ds, k), "mse"], 4) + "**") if m.loc[(ds, k), "mse"] <= 0.7 * base
                     else _f(m.loc[(ds, k), "mse"], 4) for k in meths]
            per = periods.get(ds, float("nan"))
            out.append(f"| {ds} | {int(m.loc[(ds, meths[0]), 'patch'])} | {_f(per, 0)} | "
                       + " | ".join(cells) + " |")
        out += ["", "Bold: at least 30% below the best classical baseline (the target).", ""]
    rel = relative(df)
    for kind, lab in (("table", "Tables"), ("series", "Series")):
        r = rel[rel.kind == kind]
        if r.empty:
            continue
        cands = [c for c in dict.fromkeys(r.method) if c.startswith("ek_")]
        if not cands:  # a run of the classical baselines alone (--arms classical): nothing to choose
            continue
        piv = r.pivot(index="dataset", columns="method", values="rel")
        lo = lodo(rel, kind, cands)
        out += [f"### {lab}: error relative to the best classical method (< 1 = better than all), "
                "and the leave-one-dataset-out choice", "",
                "| dataset | " + " | ".join(cands) + " | LODO choice | LODO relative error |",
                "|---|" + "---:|" * (len(cands) + 2)]
        for _, row in lo.iterrows():
            out.append(f"| {row.dataset} | " + " | ".join(_f(piv.loc[row.dataset, c]) for c in cands)
                       + f" | {row.chosen} | **{_f(row.rel)}** |")
        means = piv[cands].mean()
        out.append("| **mean** | " + " | ".join(_f(v) for v in means) + f" | | **{_f(lo.rel.mean())}** |")
        wins = int((lo.rel <= 1.0 + 1e-12).sum())
        out += ["", f"LODO: the held-out dataset's error is at or below the best classical method's "
                f"on {wins} of {len(lo)} datasets.", ""]
    scaled = relative(df, "mse_scaled")
    scaled = scaled[scaled.kind == "series"]
    if not scaled.empty:
        # the models' rows, or (a classical-only run) the baselines' own
        cands = ([c for c in dict.fromkeys(scaled.method) if c.startswith("ek_")]
                 or [c for c in SERIES_BASELINES if c in set(scaled.method)])
        piv = scaled.pivot(index="dataset", columns="method", values="rel")
        out += ["### Series, scale-free: MSE in units of each series' own sd, relative to the best "
                "classical method (differs from the table above only on collections of series on "
                "different scales)", "", "| dataset | " + " | ".join(cands) + " |",
                "|---|" + "---:|" * len(cands)]
        out += [f"| {ds} | " + " | ".join(_f(piv.loc[ds, c]) for c in cands) + " |" for ds in piv.index]
        out.append("")
    return "\n".join(out)


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
                    rows += run_table(name, full, seed, args.steps_table)
                    save()
    if args.part in ("series", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in series_sets().items():
                if args.only and not any(o in name for o in args.only):
                    continue
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    if ("series", name, seed) not in done:
                        rows += run_series(name, data, seed, args.steps_series, tmp)
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
