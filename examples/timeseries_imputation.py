"""Fill the gaps of a time series with a small pretrained encoder.

Series with gaps in, filled series and a plot out, on statsmodels' bundled weekly
Mauna Loa CO2 record:

1. write the bundled sample series as CSV (``TimeSeriesDomain.sample_sources``),
2. ``encoderkit ingest`` them into a record store,
3. pretrain a tiny masked encoder for a few hundred steps,
4. infill four years of the CO2 record with a missing week and a ten-week gap
   (plus the record's own missing weeks), write the filled CSV and a plot.

Usage: python examples/timeseries_imputation.py [--out runs/timeseries_example]
       [--steps 300] [--plot filled.png]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="runs/timeseries_example", help="working directory")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--plot", default=None, help="PNG path (default <out>/filled.png)")
    args = ap.parse_args(argv)

    from domains.timeseries import TimeSeriesDomain, plot_infill
    from encoderkit.data.ingest import ingest
    from encoderkit.infer.load import load
    from encoderkit.train import pretrain

    os.makedirs(args.out, exist_ok=True)
    paths, options = TimeSeriesDomain.sample_sources(os.path.join(args.out, "raw"))
    store = os.path.join(args.out, "store")
    ingest("timeseries", paths, store, overwrite=True, progress=False, **options)
    run = pretrain([
        "domain=timeseries", f"data.store={store}", f"run.dir={os.path.join(args.out, 'run')}",
        f"train.steps={args.steps}", "train.log_every=50", "train.eval_every=0",
        "data.max_seqlen=32", "data.max_tokens=512", "domain.patch=8",
        "domain.masker={gap: 0.5, random: 0.25, span: 0.25}", "domain.infill_max_seqlen=32",
        "domain.baseline=seasonal",  # a model meant to fill gaps refines the seasonal fill
        "model.hidden_size=64", "model.num_layers=3", "model.num_heads=4",
        "model.intermediate_size=128", "model.local_window=32", "optim.lr=3e-3"])

    model = load(run)
    series = model.domain.sample_infill_input()  # [L] with NaN gaps
    frame = pd.DataFrame({"time": np.arange(len(series)), "co2": series})
    gaps_csv = os.path.join(args.out, "co2_with_gaps.csv")
    frame.to_csv(gaps_csv, index=False)

    # the same path as `encoderkit infill checkpoint=<run> input=<csv> output=<csv>`; the
    # "time" column is not a channel (the domain knows it from the ingest options)
    filled = model.infill(model.domain.read_input(gaps_csv))
    out_csv = os.path.join(args.out, "co2_filled.csv")
    model.domain.write_output(filled, out_csv)
    plot = args.plot or os.path.join(args.out, "filled.png")
    plot_infill(series, filled["co2"].to_numpy(), plot, title="weekly CO2 (ppm): filled gaps")
    miss = np.isnan(series)
    print(f"filled {int(miss.sum())} missing weeks; observed values unchanged: "
          f"{np.array_equal(filled['co2'].to_numpy()[~miss], series[~miss])}")
    print(f"filled series: {out_csv}\nplot: {plot}\nrun: {run}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
