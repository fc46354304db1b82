"""Time-series imputation: encoderkit's patch encoder against linear interpolation and a
seasonal-naive fill.

Data (all bundled with installed packages, nothing downloaded):
- ``co2``: statsmodels' weekly Mauna Loa CO2, 1958-2001 (2284 weeks, 59 real gaps;
  period 52 weeks), patch 8.
- ``sunspots``: statsmodels' yearly sunspot numbers, 1700-2008 (309 years; the ~11-year
  cycle is not a fixed period, so no seasonal-naive fill), patch 4.
- ``italy``: the UCR ItalyPowerDemand set bundled in ``aeon`` (1096 days x 24 hourly
  loads; one day per series, so no earlier period inside a series), patch 4.

Protocol (inductive: the model never sees the evaluation values): co2 and sunspots are
cut in time, the first 70% pretrains the model (as overlapping crops, so every phase of
the patch grid is seen), the last 30% is the evaluation series;
ItalyPowerDemand pretrains on its TRAIN split plus the first 500 TEST days and is
evaluated on the remaining 529 TEST days. For each gap kind and seed, gaps are hidden
(set to NaN) in the evaluation series, never at its first or last sample so the
interpolation has anchors on both sides, and never overlapping or touching:
``single`` = about 5% of the samples as one-sample gaps; ``span1``/``span2``/``span3`` =
gaps of 1, 2, 3 patch lengths at random (not patch-aligned) offsets, about 15% of the
samples (italy: one gap per day); the single co2 / sunspots evaluation series gets 10 / 20
independent gap placements per seed. MSE on the hidden samples in original units.

Baselines: ``linear`` = numpy.interp over the visible samples; ``seasonal`` = the value
one period earlier (else one period later) when visible, else linear.

Model (fixed for every data set, nothing tuned on the evaluation gaps): hidden 64,
3 layers, 4 heads, GeGLU 128, local window 32; windows of 32 patch tokens (training and
infill); linear-interpolation baseline input with a residual head (``baseline: linear``);
masker mixture {gap: 0.5, random: 0.25, span: 0.25}, mask rate 0.3, partial_mask 0.3;
StableAdamW lr 3e-3 with the WSD schedule; STEPS steps (default 400) of 1024-token batches, trained through ``encoderkit.train.pretrain`` and
applied through ``encoderkit.infer.load(run).infill``.

Usage: python benchmarks/timeseries_imputation.py [--seeds 3] [--steps 400]
       [--datasets co2,sunspots,italy] [--plot out.png] [--append]
(``--append`` adds the table under "## Time-series imputation" in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

if not __package__:  # run as a file: benchmarks.environment importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from domains.timeseries.seasonal import linear_fill  # shared with benchmarks/imputation_lodo.py

GAPS = ("single", "span1", "span2", "span3")


def crops(x: np.ndarray, length: int, stride: int) -> list[np.ndarray]:
    """Overlapping training records of the training part. A stride that is not a multiple
    of the patch length shows the model every phase of the patch grid."""
    return [x[i:i + length] for i in range(0, max(1, len(x) - length + 1), stride)]


def load_dataset(name: str) -> dict:
    import statsmodels.api as sm

    if name == "co2":
        x = sm.datasets.co2.load_pandas().data["co2"].to_numpy(np.float64)
        cut = int(0.7 * len(x))
        return {"train": crops(x[:cut], 256, 37), "eval": [x[cut:]], "patch": 8, "period": 52,
                "repeats": 10}
    if name == "sunspots":
        x = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
        cut = int(0.7 * len(x))
        return {"train": crops(x[:cut], 96, 7), "eval": [x[cut:]], "patch": 4, "period": None,
                "repeats": 20}
    if name == "italy":
        try:
            from aeon.datasets import load_italy_power_demand
        except ImportError as e:
            raise SystemExit(f"italy needs the aeon package ({e}); pip install aeon, or drop it "
                             f"with --datasets co2,sunspots") from None
        tr, _ = load_italy_power_demand(split="train")
        te, _ = load_italy_power_demand(split="test")
        tr, te = np.asarray(tr, np.float64)[:, 0], np.asarray(te, np.float64)[:, 0]
        return {"train": list(tr) + list(te[:500]), "eval": list(te[500:]), "patch": 4,
                "period": None}
    raise SystemExit(f"unknown dataset {name!r}; choose from co2, sunspots, italy")


def make_gaps(x: np.ndarray, kind: str, patch: int, rng: np.random.Generator,
              per_series_one: bool) -> np.ndarray:
    """Boolean [L]: samples to hide. Gaps avoid the ends, existing NaNs and each other
    (one visible sample at least between two gaps)."""
    n = len(x)
    hide = np.zeros(n, dtype=bool)
    blocked = np.isnan(x).copy()
    length = 1 if kind == "single" else patch * int(kind[-1])
    target = 1 if per_series_one else max(1, int((0.05 if kind == "single" else 0.15) * n / length))
    placed, tries = 0, 0
    while placed < target and tries < 200 * target:
        tries += 1
        s = int(rng.integers(1, n - length))  # [1, n - length - 1]: never the first/last sample
        lo, hi = s - 1, s + length + 1
        if blocked[lo:hi].any() or hide[lo:hi].any():
            continue
        hide[s:s + length] = True
        placed += 1
    return hide


def seasonal_fill(x: np.ndarray, period: int) -> np.ndarray:
    out = linear_fill(x)
    for t in np.flatnonzero(~np.isfinite(x)):
        for s in (t - period, t + period):
            if 0 <= s < len(x) and np.isfinite(x[s]):
                out[t] = x[s]
                break
    return out


def train_model(data: dict, steps: int, workdir: str, seed: int = 0) -> str:
    from domains.timeseries import TimeSeriesDomain
    from encoderkit.train import pretrain

    store = os.path.join(workdir, "store")
    TimeSeriesDomain.ingest_arrays(data["train"], store, overwrite=True)
    run = pretrain([
        "domain=timeseries", f"data.store={store}", f"run.dir={os.path.join(workdir, 'run')}",
        f"train.steps={steps}", "train.log_every=50", "train.progress=false", "train.eval_every=0",
        "train.checkpoint_every=0", "data.val_fraction=0.01", "data.max_seqlen=32",
        "data.max_tokens=1024", f"run.seed={seed}",
        f"domain.patch={data['patch']}", "domain.masker={gap: 0.5, random: 0.25, span: 0.25}",
        "domain.mask_rate=0.3", "domain.partial_mask=0.3", "domain.infill_max_seqlen=32",
        "model.hidden_size=64", "model.num_layers=3", "model.num_heads=4",
        "model.intermediate_size=128", "model.local_window=32", "optim.lr=3e-3"])
    return str(run)


def evaluate(name: str, data: dict, model, seeds: int) -> tuple[list[dict], dict]:
    rows, example = [], {}
    one = name == "italy"
    for kind in GAPS:
        sums = {"model": [], "linear": [], "seasonal": []}
        for seed in range(seeds):
            rng = np.random.default_rng(1000 * seed + GAPS.index(kind))
            holed, hides, truths = [], [], []
            # a single evaluation series gets several independent gap placements per seed
            for x in data["eval"] * data.get("repeats", 1):
                h = make_gaps(x, kind, data["patch"], rng, one)
                y = x.copy()
                y[h] = np.nan
                holed.append(y)
                hides.append(h)
                truths.append(x)
            filled = model.infill(np.stack(holed)[:, None, :] if one else holed)
            if one:
                filled = list(filled[:, 0, :])
            err = {k: [] for k in sums}
            for x, y, h, f in zip(truths, holed, hides, filled):
                assert np.array_equal(f[~np.isnan(y)], y[~np.isnan(y)])  # observed untouched
                err["model"].append((f[h] - x[h]) ** 2)
                err["linear"].append((linear_fill(y)[h] - x[h]) ** 2)
                if data["period"]:
                    err["seasonal"].append((seasonal_fill(y, data["period"])[h] - x[h]) ** 2)
            for k, v in err.items():
                if v:
                    sums[k].append(float(np.concatenate(v).mean()))
            if seed == 0 and kind == "span2":
                example = {"data": holed[0], "filled": filled[0], "truth": data["eval"][0]}
        row = {"dataset": name, "gaps": kind, "hidden": int(sum(h.sum() for h in hides))}
        for k, v in sums.items():
            row[k] = (float(np.mean(v)), float(np.std(v))) if v else None
        rows.append(row)
    return rows, example


def fmt(v: tuple[float, float] | None) -> str:
    if v is None:
        return "—"
    m, s = v
    return f"{m:.4g} ± {s:.2g}"


def table(rows: list[dict]) -> str:
    out = ["| dataset | gaps | hidden samples / seed | encoderkit MSE | linear MSE | seasonal-naive MSE "
           "| encoderkit / linear |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["model"][0] / r["linear"][0]
        out.append(f"| {r['dataset']} | {r['gaps']} | {r['hidden']} | {fmt(r['model'])} | "
                   f"{fmt(r['linear'])} | {fmt(r['seasonal'])} | **{ratio:.2f}** |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--datasets", default="co2,sunspots,italy")
    ap.add_argument("--plot", default=None, help="PNG: the co2 (else first) evaluation series "
                    "with 2-patch gaps: observed, filled, truth")
    ap.add_argument("--append", action="store_true", help="append to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    import torch

    from encoderkit.infer.load import load

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    rows, examples, timings = [], {}, {}
    load_avg = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets.split(","):
            data = load_dataset(name)
            t0 = time.perf_counter()
            run = train_model(data, args.steps, os.path.join(tmp, name))
            t1 = time.perf_counter()
            model = load(run)
            r, ex = evaluate(name, data, model, args.seeds)
            timings[name] = (t1 - t0, time.perf_counter() - t1)
            rows += r
            examples[name] = ex
            print(table(r), flush=True)
    text = table(rows)
    print(text)
    if args.plot:
        from domains.timeseries import plot_infill

        name = "co2" if "co2" in examples else next(iter(examples))
        ex = examples[name]
        plot_infill(ex["data"], ex["filled"], args.plot, truth=ex["truth"],
                    title=f"{name}: gaps of 2 patches, seed 0 (black observed, red filled, "
                          f"blue dashed truth)")
        print(f"plot: {args.plot}")
    if args.append:
        from benchmarks.environment import describe  # the kernel the Kalman baselines ran on

        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        tm = ", ".join(f"{k}: train {a:.0f} s, impute {b:.0f} s" for k, (a, b) in timings.items())
        section = (
            f"\n## Time-series imputation\n\n"
            f"`benchmarks/timeseries_imputation.py --seeds {args.seeds} --steps {args.steps}` "
            f"({stamp}, CPU, python {sys.version.split()[0]}). Inductive protocol: the model "
            f"pretrains on the first 70% of co2/sunspots (italy: TRAIN + 500 TEST days) and "
            f"imputes gaps in the held-out rest; MSE in original units on the hidden samples, "
            f"mean ± std over {args.seeds} gap seeds; one pretrained model per data set "
            f"(hidden 64, 3 layers, {args.steps} steps). Patch: co2 8, sunspots 4, italy 4; "
            f"spanK = gaps of K patch lengths. Seasonal-naive only where a fixed period exists "
            f"(co2: 52 weeks).\n\n{text}\n\n"
            f"- time ({tm}); load average at start {load_avg:.1f} on 2 shared cores.\n"
            f"- BLAS / OpenMP: {describe()}.\n")
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
        with open(path, "a") as fh:
            fh.write(section)
        print(f"appended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
