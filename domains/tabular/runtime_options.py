"""The tabular domain's runtime options (the Hydra ``domain`` group less ``name``): their
defaults and allowed values, checked by ``TabularDomain.__init__``; importable from
``domain`` as before. The ingest options are ``options.py``'s.

Two sources of defaults, on purpose. A run composed by a command (pretrain, finetune, impute,
EncoderImputer) gets ``configs/domain/tabular.yaml``'s values, the documented ones: with
``domain=tabular``, and also with ``domain.name=tabular`` or ``finetune checkpoint=none`` with
the domain read from the store, which compose as ``domain=tabular`` (``encoderkit.train.config.
_documented_domain``, ``finetune_config.compose_finetune``). The values here are what a domain
built without them gets: a saved run that predates an option (it loads as it was trained and
used: ``infill_blend`` none, ``numeric_decode`` clip, both the yaml's before benchmarks moved
it) and ``TabularDomain(schema)`` in Python. Three differ: ``masker``, ``numeric_decode``,
``infill_blend``. Both lists hold the same option names (a test checks).
"""

from __future__ import annotations

from typing import Any, Mapping

# Runtime options (the Hydra `domain` group minus `name`): name -> default.
OPTION_DEFAULTS: dict[str, Any] = {
    "masker": "random",  # random | column | {name: weight}
    "mask_rate": 0.3,  # `random`: share of observed cells hidden
    "column_max_fraction": 0.5,  # `column`: hide 1 .. this share of the observed columns
    "column_positions": False,  # true: 1-D rotary position = column index (rope_axes 1)
    "cat_weight": 1.0,  # loss weight of categorical cells
    "num_weight": 1.0,  # loss weight of numeric cells (bin CE + reg_weight * MSE)
    "reg_weight": 1.0,  # weight of the regression MSE within the numeric loss
    "window_overlap": 0,  # only for rows with more columns than max_seqlen
    # numeric infill: `clip` = regression value clipped to the most probable quantile bin
    # (a value typical of the likeliest bin); `regression` = the regression value (the
    # conditional-mean estimate, lowest squared error) clipped to the training range.
    "numeric_decode": "clip",
    # columns left out of the inputs (`encoderkit finetune task.label_column=<column>` adds
    # the label column here, so a fine-tuned model never sees its target)
    "drop_columns": [],
    # infill: `iterative+forest` = numeric cells are the mean of the encoder's value,
    # scikit-learn's IterativeImputer (BayesianRidge) and a MissForest-style IterativeImputer
    # (extra trees), both fitted on the same table; `iterative` = the encoder and
    # BayesianRidge; `none` = the encoder alone (see domains/tabular/blend.py).
    "infill_blend": "none",
}
NUMERIC_DECODE = ("clip", "regression")
MASKERS = ("random", "column")


def _check_float(options: Mapping[str, Any], key: str, low: float, high: float | None) -> float:
    v = options[key]
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v >= low and (high is None or v <= high)
    if not ok:
        rng = f"[{low}, {high}]" if high is not None else f"[{low}, inf)"
        raise ValueError(f"The {key!r} option of the tabular domain must be a float in {rng}. "
                         f"Got {v!r} instead.")
    return float(v)
