"""The results of ``benchmarks/imputation_lodo.py``: errors relative to the best classical
method, the leave-one-dataset-out choice, and the markdown for RESULTS.md (``--report``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmarks.imputation_lodo_data import series_sets
from benchmarks.imputation_lodo_series import holed_series, score_series
from domains.timeseries.seasonal import detect_period

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
