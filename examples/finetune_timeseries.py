"""Fine-tuning on labelled time series: aeon's bundled UCR sets ItalyPowerDemand
(daily electricity demand, 24 hourly values, winter vs summer; 67 train / 1029 test),
ArrowHead (arrowhead outlines as 251-sample series, 3 classes; 36 / 175), GunPoint (a
hand's x position, 150 samples, gun drawn or pointed; 50 / 150) and OSULeaf (leaf outlines,
427 samples, 6 species; 200 / 242; these two were added as sets no default was chosen on), and two
multichannel UEA sets: BasicMotions (6 accelerometer / gyroscope channels x 100
samples, 4 activities; 40 / 40) and JapaneseVowels (12 cepstral channels, 7-26
samples, 9 speakers; 270 / 370), with the archive's own train/test splits; and two
regression sets of the Monash archive that aeon bundles, scored by R^2: Covid3Month (a
country's daily Covid cases over 84 days -> its death rate in the next 3 months; 140 / 61)
and CardanoSentiment (2 channels x 24 hours of the Cardano price and volume -> a sentiment
score; 74 / 33). Two more UCR sets, added after every series default was chosen, to check
that the defaults transfer: ACSF1 (a home appliance's power draw over a day, 1,460 samples,
10 appliance types; 100 / 100) and PickupGestureWiimoteZ (a Wii remote's z acceleration
during 10 gestures, 29-361 samples; 50 / 50).

    .venv/bin/python examples/finetune_timeseries.py [--out runs/finetune-timeseries] [--seeds 0 1 2]

Compared side by side (see ``finetune_common.py`` for the protocol): the fine-tuned
pretrained encoder, the same from scratch, frozen-embedding probes (masked-LM and
contrastive), and ROCKET (aeon's ``RocketClassifier``, 10,000 random kernels + ridge),
the classical tool for series classification (multichannel kernels on BasicMotions and
JapaneseVowels, whose unequal lengths ROCKET gets padded with each series' last value).

Every series is one record; the patch is the domain's default, ``patch=auto`` (2 samples
for series under 64 samples on average, 4 under 512: a 24-sample day makes 12 tokens, an
arrowhead 63, a vowel 4-13 per channel). ``domain.patch=8`` was the setting of the results
before it (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from finetune_common import Task, example_main, logreg_anchor

DATASETS = ("ItalyPowerDemand", "ArrowHead", "GunPoint", "OSULeaf", "BasicMotions", "JapaneseVowels",
            "Covid3Month", "CardanoSentiment", "ACSF1", "PickupGestureWiimoteZ")
REGRESSION = ("Covid3Month", "CardanoSentiment")
OVERRIDES: list[str] = []  # the domain's defaults (patch=auto)


def load_ucr(name: str) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """(series, each [C, L] float64; labels [N] str, or float for a regression set; test
    mask [N]) with the archive's split."""
    import warnings

    from functools import partial

    from aeon.datasets import (load_arrow_head, load_basic_motions, load_cardano_sentiment,
                               load_classification, load_covid_3month, load_gunpoint,
                               load_italy_power_demand, load_japanese_vowels, load_osuleaf)

    loader = {"ACSF1": partial(load_classification, "ACSF1"),
              "PickupGestureWiimoteZ": partial(load_classification, "PickupGestureWiimoteZ"),
              "ItalyPowerDemand": load_italy_power_demand, "ArrowHead": load_arrow_head,
              "GunPoint": load_gunpoint, "OSULeaf": load_osuleaf,
              "BasicMotions": load_basic_motions, "JapaneseVowels": load_japanese_vowels,
              "Covid3Month": load_covid_3month, "CardanoSentiment": load_cardano_sentiment}[name]
    with warnings.catch_warnings():  # aeon marks its bundled OSULeaf loader deprecated
        warnings.simplefilter("ignore", FutureWarning)
        X_train, y_train = loader(split="train")
        X_test, y_test = loader(split="test")
    series = [np.asarray(x, dtype=np.float64) for x in [*X_train, *X_test]]
    y = np.concatenate([y_train, y_test]).astype(np.float64 if name in REGRESSION else str)
    test = np.zeros(len(y), dtype=bool)
    test[len(y_train):] = True
    return series, y, test


def edge_padded(series: list[np.ndarray]) -> np.ndarray:
    """``[N, C, L_max]``: each series padded with its last value (ROCKET needs one length)."""
    length = max(x.shape[1] for x in series)
    return np.stack([np.pad(x, ((0, 0), (0, length - x.shape[1])), mode="edge") for x in series])


def rocket(X: np.ndarray, y: np.ndarray, regression: bool = False):
    def anchor(train: np.ndarray, test: np.ndarray, seed: int) -> np.ndarray:
        if regression:
            from aeon.regression.convolution_based import RocketRegressor as Rocket
        else:
            from aeon.classification.convolution_based import RocketClassifier as Rocket

        model = Rocket(n_kernels=10_000, random_state=seed, n_jobs=1)
        model.fit(X[train], y[train])
        return model.predict(X[test])
    return anchor


def make_task(name: str, workdir: Path) -> Task:
    from domains.timeseries import TimeSeriesDomain

    series, y, test = load_ucr(name)
    ids = np.asarray([f"{name}-{i:04d}" for i in range(len(y))])
    store = workdir / f"{name}.zarr"
    if not store.exists():
        TimeSeriesDomain.ingest_arrays(series, str(store), ids=list(ids))
    lengths = sorted({x.shape[1] for x in series})
    length = f"length {lengths[0]}" if len(lengths) == 1 else f"length {lengths[0]}-{lengths[-1]}"
    regression = name in REGRESSION
    X = edge_padded(series)
    anchors = {"ROCKET (aeon, 10k kernels)": rocket(X, y, regression)}
    if regression:  # ridge on the raw values, the other thing a user would try
        anchors["ridge on raw values (standardised, CV)"] = logreg_anchor(X.reshape(len(X), -1), y, "regression")
    return Task(name=name, domain="timeseries", store=str(store), ids=ids, labels=y, test=test,
                pretrain_store=str(store), overrides=list(OVERRIDES), anchors=anchors,
                seeded_anchors=("ROCKET (aeon, 10k kernels)",),
                kind="regression" if regression else "classification",
                notes=f"{series[0].shape[0]} channel(s), {length}, "
                      + ("regression (R^2)" if regression else f"{len(np.unique(y))} classes")
                      + ", archive split")


def main() -> None:
    example_main(__doc__, "runs/finetune-timeseries", lambda out, names: [make_task(n, out) for n in names], DATASETS)


if __name__ == "__main__":
    main()
