"""The datasets of ``benchmarks/imputation_lodo.py``: the tables (scikit-learn, statsmodels; the
mixed, small, fresh small and held-out ones) and the series (statsmodels, aeon's bundled data),
each as the benchmark reads it (see that file's docstring for the protocol)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd


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
