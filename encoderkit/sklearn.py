"""``EncoderImputer``: the tabular encoder as a scikit-learn imputer.

    from encoderkit.sklearn import EncoderImputer
    filled = EncoderImputer(random_state=0).fit_transform(frame_with_nans)

``fit`` trains (transductively, like scikit-learn's imputers) on the observed cells of
``X``: ``X`` goes through the tabular domain's ingest into a temporary record store, then
``encoderkit.train.pretrain`` with ``experiment=impute`` trains ``n_models`` models;
the fitted weights stay in memory (``run_dir`` keeps the runs on disk as well, one
subdirectory per fit).
``transform`` fills the missing cells of any rows with the fitted models, no refit:
observed cells come back bit-identical. A DataFrame keeps its columns and dtypes
(categorical columns are imputed as categories); a numpy array is read as numeric columns
and comes back as float64. A column with no observed cell at fit has nothing to learn
from: as in scikit-learn's imputers (``keep_empty_features=False``), ``transform`` leaves
it out of its output (``get_feature_names_out`` says which remain);
``keep_empty_features=True`` keeps it in place, its cells still missing.

Selection (``select='auto'``, default): ``fit`` holds back 5% of the observed cells,
trains on the rest, and keeps per column the ``blend`` setting's fill unless the encoder
alone or one classical imputer alone wins clearly on the held-back cells
(``encoderkit/selection.py``, the rule of ``encoderkit impute``); ``selection_`` records
the choice, ``transform`` applies it.

An ensemble: ``n_models`` models with seeds ``seed, seed + 1, ...`` whose head outputs
are averaged before decoding; ``transform(X, return_std=True)`` also returns a per-cell
standard deviation: the models' spread combined with the column's held-back error (0 at
observed cells; without held-back cells, ``select='model'``, the spread alone, which
measures how much the seeds disagree, far less than the error).

Pickling (scikit-learn's ``clone`` does not pickle; ``joblib`` with several processes
and ``pickle.dumps`` do): ``__getstate__`` stores each fitted model as safetensors bytes
plus its JSON description (domain, config), and ``__setstate__`` rebuilds the models
from them; no torch object goes through pickle. Unpickling any pickle runs code from
its producer, as for every scikit-learn estimator: load only pickles you trust.
"""

from __future__ import annotations

import math
import numbers
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from encoderkit.cliutil import check_device
from encoderkit.errors import DataError, UnknownValueWarning, UsageError, without_unknown_values
from encoderkit.selection import SELECT

DOMAIN = "tabular"
HOLDOUT = 0.05  # share of the observed cells select='auto' holds back (as encoderkit impute)
# the forest's share in the categorical vote for each select='auto' choice
FOREST_WEIGHT = {"blend": 0.5, "encoder": 0.0, "forest": 1.0}


# auto_wrap_output_keys=None: ``transform`` applies ``set_output`` itself (``_as_configured``)
class EncoderImputer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Impute missing cells with a masked encoder fitted on the observed cells.

    Parameters
    ----------
    model : str, default="impute"
        Model preset (a ``configs/model`` name: ``impute`` = hidden 64, 3 layers; ``tiny``,
        ``small``, ...).
    steps : int or "auto", default="auto"
        Optimizer steps per model; ``auto`` derives them from the table's size
        (``train.steps=auto``, see ``encoderkit/train/budget.py``).
    n_models : int, default=1
        Models trained with different seeds and averaged (an ensemble; ``transform(X,
        return_std=True)`` gives their spread combined with each column's held-back error,
        see ``transform``).
    random_state : int, RandomState instance or None, default=None
        Seeds the model initialisation and the training masks; an int makes ``fit``
        deterministic.
    overrides : sequence of str, default=()
        Further pretraining overrides in Hydra syntax, e.g. ``("optim.lr=1e-3",
        "domain.numeric_decode=regression", "model.num_layers=2")``.
    ingest_options : dict or None, default=None
        Tabular ingest options (``categorical_threshold``, ``columns``, ``num_bins``, ...).
        Numpy columns are always numeric.
    device : str, default="cpu"
    run_dir : str or None, default=None
        Keep the training runs under this directory, each fit in a new subdirectory
        ``fit-*`` (``run_dir_``) (default: a temporary one, removed).
    progress : bool, default=False
        Show the training progress bar.
    blend : {"iterative+forest", "iterative", "none"}, default="iterative+forest"
        ``iterative+forest``: numeric fills are the mean of the encoder's, of scikit-learn's
        ``IterativeImputer`` (standardised columns, BayesianRidge; categorical columns enter
        as their codes and one indicator per category) and of a MissForest-style
        ``IterativeImputer`` (30 extra trees, 5 rounds; left out on tables of more than 100
        numeric columns), all fitted on the same ``X`` at ``fit`` (the ensemble every
        leave-one-dataset-out fold chose, see benchmarks/RESULTS.md); ``iterative``: the
        encoder and BayesianRidge; ``none``: the encoder alone. With ``iterative+forest`` a
        categorical cell is the most probable category of the mean of the encoder's and a
        random forest classifier's probabilities (one forest of 100 trees per categorical
        column, fitted at ``fit``; the other blends keep the encoder's category). The
        models are fitted once,
        so ``transform`` imputes each row from what ``fit`` learned, independently of the
        other rows.
    select : {"auto", "model"}, default="auto"
        ``auto``: ``fit`` holds back 5% of the observed cells, trains the encoder on the
        rest, and chooses per numeric column among the encoder alone, each classical
        imputer alone and their mean (``blend``), and per categorical column with a forest
        (``blend='iterative+forest'``) among the soft vote (``blend``), the encoder alone
        and the forest alone: the ``blend`` setting's fill unless another wins clearly on
        the held-back cells (the rule of ``encoderkit/selection.py``; the same candidates as
        ``encoderkit impute select=auto``). A categorical cell whose value would then be
        seen nowhere else in its column is not held back. The classical imputers and forests
        are then refitted on every observed cell; the encoder keeps the 95% it was trained
        on. ``model``: always the ``blend`` setting's fill, the encoder trained on every
        observed cell.

    keep_empty_features : bool, default=False
        A column with no observed value at ``fit`` is left out of ``transform``'s output
        (False, scikit-learn's default), or kept in place with its cells missing (True).
    missing_values : int, float, str, np.nan, None or pandas.NA, default=np.nan
        The placeholder for missing cells, as in scikit-learn's imputers: every cell equal
        to it is missing, at ``fit`` and at ``transform``, and is filled (never written
        back as the placeholder; a cell ``transform`` cannot fill, in a column kept by
        ``keep_empty_features``, comes back as NaN / NA). NaN, None, ``pd.NA`` and ``NaT``
        cells are missing whatever the placeholder. A string marks cells of text and
        categorical columns (refused when ``X`` holds only numbers, as scikit-learn
        refuses it); a number compares equal to numeric cells (``-1`` matches ``-1.0``)
        and to equal objects, never to text (``'-1'``). An integer or boolean column with
        such cells is filled as its nullable kind and comes back in its own dtype.

    Attributes
    ----------
    selection_ : dict
        Column name -> the fill ``transform`` uses there: numeric columns ``encoder``,
        ``iterative``, ``forest`` or ``blend``; categorical columns with a forest
        ``encoder``, ``forest`` or ``blend`` (the soft vote).
    fill_error_ : dict
        Numeric column name -> the held-back RMSE of its fill in the column's units
        (``select='auto'``; absent for a column without held-back cells): part of
        ``transform(X, return_std=True)``.
    selection_errors_ : dict
        Column name -> {candidate: NRMSE (numeric) or error rate (categorical) on the
        held-back cells} (``select='auto'``; empty for a column with no held-back cell).
    category_forests_ : CategoryForests or None
        The categorical columns' random forests (``blend='iterative+forest'`` and a
        categorical column; ``domains/tabular/blend.py``).
    empty_features_ : list of str
        Columns with no observed value at ``fit`` (see ``keep_empty_features``).
    frame_columns_ : list or None
        The DataFrame's column labels at ``fit`` as given (ints, tuples, ...; None for an
        array). ``transform`` takes a DataFrame with these columns in this order (labels
        compared as text: ``0`` and ``'0'`` are one name), as scikit-learn takes string names.
    run_dir_ : str or None
        The directory holding this fit's runs (under ``run_dir``; None without it).
    """

    def __init__(self, *, model: str = "impute", steps: int | str = "auto", n_models: int = 1,
                 random_state: Any = None, overrides: Sequence[str] = (),
                 ingest_options: dict | None = None, device: str = "cpu",
                 run_dir: str | None = None, progress: bool = False, blend: str = "iterative+forest",
                 select: str = "auto", keep_empty_features: bool = False,
                 missing_values: Any = np.nan) -> None:
        self.model = model
        self.steps = steps
        self.n_models = n_models
        self.random_state = random_state
        self.overrides = overrides
        self.ingest_options = ingest_options
        self.device = device
        self.run_dir = run_dir
        self.progress = progress
        self.blend = blend
        self.select = select
        self.keep_empty_features = keep_empty_features
        self.missing_values = missing_values

    # ------------------------------------------------------------ scikit-learn protocol
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.non_deterministic = self.random_state is None
        return tags

    def _check_params(self) -> None:
        if self.steps != "auto" and (isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer))
                                     or self.steps < 1):
            raise UsageError(f"The 'steps' parameter of EncoderImputer must be an int in the range "
                             f"[1, inf) or 'auto'. Got {self.steps!r} instead.", key="steps")
        if isinstance(self.n_models, bool) or not isinstance(self.n_models, (int, np.integer)) \
                or self.n_models < 1:
            raise UsageError(f"The 'n_models' parameter of EncoderImputer must be an int in the range "
                             f"[1, inf). Got {self.n_models!r} instead.", key="n_models")
        from domains.tabular.blend import BLENDS

        if self.blend not in BLENDS:
            raise UsageError(f"The 'blend' parameter of EncoderImputer must be one of {list(BLENDS)}. "
                             f"Got {self.blend!r} instead.", key="blend")
        if self.select not in SELECT:
            raise UsageError(f"The 'select' parameter of EncoderImputer must be one of {list(SELECT)}. "
                             f"Got {self.select!r} instead.", key="select")
        if not isinstance(self.keep_empty_features, (bool, np.bool_)):
            raise UsageError(f"The 'keep_empty_features' parameter of EncoderImputer must be True or "
                             f"False. Got {self.keep_empty_features!r} instead.", key="keep_empty_features")
        if not isinstance(self.model, str):
            raise UsageError(f"The 'model' parameter of EncoderImputer must be a model preset name "
                             f"(impute, tiny, small, ...). Got {self.model!r} instead.", key="model")
        if isinstance(self.overrides, str) or not all(isinstance(o, str) and "=" in o
                                                      for o in self.overrides):
            raise UsageError(f"The 'overrides' parameter of EncoderImputer must be a sequence of "
                             f"'key=value' strings. Got {self.overrides!r} instead.", key="overrides")
        rs = self.random_state
        if not (rs is None or isinstance(rs, np.random.RandomState)
                or (isinstance(rs, (int, np.integer)) and not isinstance(rs, bool) and rs >= 0)):
            raise UsageError(f"The 'random_state' parameter of EncoderImputer must be an int in the range "
                             f"[0, inf), a numpy RandomState instance or None. Got {rs!r} instead.",
                             key="random_state")
        if not (self.ingest_options is None or isinstance(self.ingest_options, Mapping)):
            raise UsageError(f"The 'ingest_options' parameter of EncoderImputer must be a dict of tabular "
                             f"ingest options or None. Got {self.ingest_options!r} instead.",
                             key="ingest_options")
        if not (self.run_dir is None or isinstance(self.run_dir, (str, PathLike))) or \
                (self.run_dir and Path(self.run_dir).exists() and not Path(self.run_dir).is_dir()):
            raise UsageError(f"The 'run_dir' parameter of EncoderImputer must be a directory path or None. "
                             f"Got {self.run_dir!r} instead.", key="run_dir")
        mv = self.missing_values
        if not (_is_nan_marker(mv) or (isinstance(mv, (numbers.Real, str))
                                       and not isinstance(mv, (bool, np.bool_)))):
            raise UsageError(f"The 'missing_values' parameter of EncoderImputer must be an int, a float, "
                             f"a str, np.nan, None or pd.NA. Got {mv!r} instead.", key="missing_values")
        check_device(self.device, "EncoderImputer")

    def _placeholder(self) -> Any:
        """``missing_values`` where it marks cells beyond the usual missing ones (NaN,
        None, NA, NaT), else None."""
        return None if _is_nan_marker(self.missing_values) else self.missing_values

    def _frame(self, X: Any, reset: bool) -> tuple[pd.DataFrame, bool]:
        """``X`` as a DataFrame whose columns are named as at fit (by position, once
        ``_check_names`` has seen they are fit's, in fit's order); whether it came as a
        DataFrame."""
        if isinstance(X, pd.DataFrame):
            names = list(X.columns)  # as given: 1 and '1' are scikit-learn's mixed-type error below
            twice = [c for i, c in enumerate(names) if c in names[:i]]
            if twice:  # a cell would have two columns to go to (scikit-learn's check fails deep inside)
                raise DataError(f"column {str(twice[0])!r} appears more than once in X; columns need "
                                f"distinct names")
            if not reset:
                self._check_names(X)
            # names and width only: check_array would cast a mixed-dtype frame to one dtype
            validate_data(self, X, reset=reset, skip_check_array=True)
            _check_frame(X, min_samples=2 if reset else 1)
            frame = X.copy() if self._placeholder() is None else _mask_frame(X, self._placeholder())
            is_frame = True
        else:
            if self._placeholder() is not None and not sp.issparse(X):
                X = _mask_array(X, self._placeholder())
            try:
                x = validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan",
                                  ensure_min_samples=2 if reset else 1)
            except ValueError:
                _text_in_array(X)  # scikit-learn said only "could not convert string to float"
                raise
            frame = pd.DataFrame(x)
            is_frame = False
        if reset:
            self.columns_ = [str(c) for c in X.columns] if is_frame else [f"c{i}" for i in range(frame.shape[1])]
            self.frame_columns_ = X.columns.tolist() if is_frame else None  # 0, not np.int64(0)
        frame.columns = self.columns_
        frame.index = pd.RangeIndex(len(frame))
        if not reset and is_frame:
            frame = self._as_at_fit(frame)
        return frame, is_frame

    def _check_names(self, X: pd.DataFrame) -> None:
        """Refuse a DataFrame at ``transform`` whose columns are not fit's, in fit's order.
        scikit-learn checks all-string names (its error stands); names of other types (ints
        from ``pd.DataFrame(array)``, floats, tuples of a MultiIndex) it leaves unchecked, and
        columns reordered were read by position: proline's holes filled ~1,000 off. They are
        refused as scikit-learn refuses string names in another order, not reordered: the
        output in the caller's order would feed a next step that reads by position."""
        fitted = getattr(self, "frame_columns_", None)
        if fitted is None or (hasattr(self, "feature_names_in_") and all(isinstance(c, str) for c in X.columns)):
            return  # fitted on an array (columns by position), or scikit-learn's check
        names = [str(c) for c in X.columns]
        if names == self.columns_:
            return
        i = next((i for i, (a, b) in enumerate(zip(names, self.columns_)) if a != b), min(len(names), len(fitted)))
        at = (f"X's column {i} is {X.columns.tolist()[i]!r}" if i < len(names) else f"X has {len(names)} columns") + \
            (f", fit's was {fitted[i]!r}" if i < len(fitted) else f", fit had {len(fitted)}")
        shown = fitted if len(fitted) <= 8 else [*fitted[:8], "..."]
        if sorted(names) == sorted(self.columns_):
            raise ValueError(f"X has the columns of fit in another order ({at}); EncoderImputer, as "
                             f"scikit-learn estimators, takes them in fit's order {shown}: pass "
                             f"X[imputer.frame_columns_]")
        given, known = set(names), set(self.columns_)
        absent = [c for c, n in zip(fitted, self.columns_) if n not in given]
        new = [c for c, n in zip(X.columns.tolist(), names) if n not in known]
        what = "; ".join(([f"fit's column {absent[0]!r} is not in X"] if absent else []) +
                         ([f"column {new[0]!r} was not in X at fit"] if new else [])) or at
        raise ValueError(f"X's columns are not those of fit ({what}); fit's columns: {shown}")

    def _as_at_fit(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` (at ``transform``) with each column of text or categories at fit that now
        holds numbers (or booleans) as object: its values as given, read as (unseen)
        categories, its holes filled with categories seen at fit (a numeric column cannot
        hold them)."""
        for col in self.models_[0].domain.schema["columns"]:
            c = col["name"]
            if col["kind"] == "numeric" or c not in frame.columns or \
                    not pd.api.types.is_numeric_dtype(frame[c].dtype):
                continue
            try:
                was_number = pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(col["dtype"]))
            except TypeError:
                continue
            if not was_number:
                frame[c] = frame[c].astype(object)
        return frame

    # fit fills X itself (held-back cells): a category seen only in the rows ingest held out
    # for validation is no news to the user
    @without_unknown_values
    def fit(self, X: Any, y: Any = None) -> "EncoderImputer":
        """Train on the observed cells of ``X`` (``y`` is ignored)."""
        from encoderkit.impute import fit_models
        from encoderkit.impute_cells import channels, draw_holdout, with_hidden

        self._check_params()
        frame, is_frame = self._frame(X, reset=True)
        options = dict(self.ingest_options or {})
        if not is_frame:  # numpy columns are numbers, even when integral with few values
            options["columns"] = {**{c: "numeric" for c in frame.columns}, **options.get("columns", {})}
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1)) \
            if not isinstance(self.random_state, (int, np.integer)) else int(self.random_state)
        numeric = _numeric_columns(frame)
        # held back: numeric cells where two numeric columns give the classical imputers
        # something to regress on; other columns' cells where the forests vote on categories
        held = (numeric if len(numeric) >= 2 else []) + \
            ([c for c in frame.columns if c not in numeric and frame[c].notna().any()]
             if "forest" in self.blend else [])
        hide = _keep_categories_seen(frame, draw_holdout(list(channels(frame, held)), HOLDOUT, seed)) \
            if self.select == "auto" and held else {}
        self.empty_features_ = [c for c in frame.columns if frame[c].isna().all()]
        hidden = any(m.any() for m in hide.values())
        fit_frame = with_hidden(frame, hide, held) if hidden else frame
        if self.run_dir:  # each fit its own subdirectory: a refit (cross_val_score, ...) never meets a
            Path(self.run_dir).mkdir(parents=True, exist_ok=True)  # finished run's checkpoints
            work = Path(tempfile.mkdtemp(prefix="fit-", dir=self.run_dir))
        else:
            from encoderkit.outputs import make_work_dir  # the next fit removes a killed fit's
            work = make_work_dir("encoderkit-imputer-")
        self.run_dir_ = str(work) if self.run_dir else None
        try:
            store = str(work / "fit.zarr")
            _ingest_frame(fit_frame, store, options)
            # the domain's own (transductive) blend is off: the estimator blends with a
            # second model fitted here, so transform never refits on the rows it fills
            words = [f"model={self.model}", f"train.steps={self.steps}", "domain.infill_blend=none",
                     *self.overrides]
            self.models_ = fit_models(DOMAIN, store, work, seed=seed, n_models=int(self.n_models),
                                      overrides=words, progress=bool(self.progress), device=self.device)
        finally:
            if not self.run_dir:
                shutil.rmtree(work, ignore_errors=True)
        self.blend_columns_, self.blend_model_ = self._fit_blend(fit_frame)
        default = "encoder" if self.blend == "none" else "blend"
        self.selection_ = {c: default for c in self.blend_columns_}
        self.selection_errors_: dict[str, dict[str, float]] = {}
        encoder = None
        if hidden and self.blend_model_ is not None and any(hide.get(c, np.zeros(1)).any()
                                                            for c in self.blend_columns_):
            encoder = self._select(frame, fit_frame, hide, default)
            self.blend_columns_, self.blend_model_ = self._fit_blend(frame)  # every observed cell
            self.selection_ = {c: self.selection_.get(c, default) for c in self.blend_columns_}
        if hidden:
            self._select_categories(frame, fit_frame, hide, encoder)
        self.category_forests_ = self._fit_categories(frame)
        self.fill_error_ = self._fill_errors(frame)
        return self

    def _fill_errors(self, frame: pd.DataFrame) -> dict[str, float]:
        """Numeric column -> the held-back RMSE of the fill ``transform`` uses there, in the
        column's units (``selection_errors_``' NRMSE times the observed cells' standard
        deviation, the unit the selection scores in); columns without held-back cells are
        absent. ``return_std`` adds it to the models' spread: the spread alone measures how
        much the seeds disagree, not how far a fill is from the truth (on a survey of
        diabetes cells, 3 models: the error was within 2 spreads for 37% of the cells)."""
        from encoderkit.numerics import finite_mean_std

        out = {}
        numeric = set(_numeric_columns(frame))  # categorical columns' errors are error rates
        for c, errors in self.selection_errors_.items():
            used = self.selection_.get(c)
            if used not in errors or c not in numeric:
                continue
            values = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
            sd = finite_mean_std(values[np.isfinite(values)])[1] or 1.0  # cell_errors' unit
            if np.isfinite(sd) and np.isfinite(errors[used]):
                out[c] = float(errors[used]) * float(sd)
        return out

    def _fit_categories(self, frame: pd.DataFrame) -> Any:
        """The random forests whose class probabilities ``transform`` averages with the
        encoder's on categorical cells (``blend`` with ``forest``; None without a
        categorical column, or on a table too wide for the forest)."""
        from domains.tabular.blend import CategoryForests, forest_fits
        from domains.tabular.schema import encode_frame

        domain = self.models_[0].domain
        lay = domain.layout
        if "forest" not in self.blend or lay.is_numeric.all() or not forest_fits(len(domain.columns)):
            return None
        enc = encode_frame(frame, domain.schema)
        return CategoryForests(lay.is_numeric, np.asarray(lay.cat_sizes) - 1).fit(enc.num, enc.cat, enc.observed)

    def _select(self, frame: pd.DataFrame, fit_frame: pd.DataFrame, hide: dict,
                default: str) -> pd.DataFrame:
        """``selection_`` of the numeric columns from the held-back cells ``hide`` of
        ``frame`` (hidden in ``fit_frame``); returns the encoder's own fill of ``fit_frame``."""
        from encoderkit.impute import ensemble_infill
        from encoderkit.impute_cells import channels, select_fills

        cols = self.blend_columns_
        encoder, _ = ensemble_infill(self.models_, fit_frame)
        est = self._estimates(fit_frame)  # once for every variant
        variants = {name: self._apply_blend(fit_frame, encoder, {c: name for c in cols}, est)[0]
                    for name in ("blend", "encoder", *self.blend_model_)}
        fills = {"model": variants[default], **{k: v for k, v in variants.items() if k != default}}
        choices = select_fills(list(channels(frame, cols)),
                               {k: list(channels(v, cols)) for k, v in fills.items()}, hide, runs=False)
        name = lambda k: default if k == "model" else k  # noqa: E731
        self.selection_ = {c: name(ch.used) for c, ch in choices.items()}
        self.selection_errors_ = {c: {name(k): e for k, e in ch.errors.items()} for c, ch in choices.items()}
        return encoder

    def _select_categories(self, frame: pd.DataFrame, fit_frame: pd.DataFrame, hide: dict,
                           encoder: pd.DataFrame | None) -> None:
        """``selection_`` of the categorical columns that get a forest, from their held-back
        cells: the soft vote (``blend``), the encoder alone or the forest alone, by the rule
        of ``encoderkit impute select=auto`` (error rates; ``encoderkit/selection.py``).
        The forests are fitted on ``fit_frame`` here, on every observed cell afterwards."""
        from encoderkit.impute import ensemble_infill
        from encoderkit.impute_cells import channels, select_fills

        forests = self._fit_categories(fit_frame)
        if forests is None or not forests.forests_:
            return
        domain = self.models_[0].domain
        cols = [domain.columns[j]["name"] for j in forests.forests_]
        if not any(hide.get(c, np.zeros(1)).any() for c in cols):
            return
        if encoder is None:
            encoder, _ = ensemble_infill(self.models_, fit_frame)

        def voted(weight: float) -> pd.DataFrame:
            share = {j: weight for j in forests.forests_}
            return ensemble_infill(self.models_, fit_frame, infill=lambda data, predict:
                                   domain.infill_voting(data, predict, forests, share))[0]

        fills = {"model": voted(FOREST_WEIGHT["blend"]), "encoder": encoder,
                 "forest": voted(FOREST_WEIGHT["forest"])}
        choices = select_fills(list(channels(frame, cols, categorical=cols)),
                               {k: list(channels(v, cols, categorical=cols)) for k, v in fills.items()},
                               hide, runs=False)
        name = lambda k: "blend" if k == "model" else k  # noqa: E731
        for c, ch in choices.items():
            self.selection_[c] = name(ch.used)
            self.selection_errors_[c] = {name(k): e for k, e in ch.errors.items()}

    def _forest_weight(self) -> dict[int, float]:
        """The forest's share of each categorical column's vote (``infill_voting``), by
        schema column index, from ``selection_`` (the vote where it names none)."""
        names = {c["name"]: j for j, c in enumerate(self.models_[0].domain.columns) if c["kind"] != "numeric"}
        return {names[c]: FOREST_WEIGHT[used] for c, used in self.selection_.items()
                if c in names and used in FOREST_WEIGHT}

    def _fit_blend(self, frame: pd.DataFrame) -> tuple[list[str], dict[str, Any] | None]:
        """The classical imputers ({kind: fitted pipeline}) on the numeric columns that have
        an observed value (None without two such columns: nothing to regress on), for a
        ``blend`` other than ``none`` or ``select='auto'`` (IterativeImputer always; the
        forest where ``blend`` has it and the table is narrow enough). Categorical columns
        are predictors, as in ``encoderkit impute`` (``_design``)."""
        if self.blend == "none" and self.select != "auto":
            return [], None
        from sklearn.pipeline import make_pipeline

        from domains.tabular.blend import REPLAY_ROUNDS, classical_imputer, fill_bounds, forest_fits

        cols = _numeric_columns(frame)
        if len(cols) < 2:
            return [], None
        domain = self.models_[0].domain
        observed = {str(c): frame[c].notna().any() for c in frame.columns}
        self.blend_columns_ = cols
        self.blend_categories_ = [c["name"] for c in domain.columns
                                  if c["kind"] != "numeric" and observed.get(c["name"], False)]
        kinds = ["iterative"] + (["forest"] if "forest" in self.blend and forest_fits(len(cols), say=True) else [])
        design = self._design(frame)
        models = {}
        for kind in kinds:
            x = design[kind]
            scaler = FiniteStandardScaler().fit(x)
            # past the numeric blend columns: categories' codes and indicators
            bounds = fill_bounds(scaler.transform(x), np.arange(x.shape[1]) >= len(cols))
            imputer = classical_imputer(kind, len(x), 0, bounds)
            if kind == "iterative":  # transform replays the rounds on new rows (blend.REPLAY_ROUNDS)
                imputer.set_params(max_iter=REPLAY_ROUNDS)
            models[kind] = make_pipeline(scaler, imputer)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence notices: a fixed number of rounds
                models[kind].fit(x)
        return cols, models

    def _design(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each classical imputer's inputs (by kind): the ``blend_columns_``, then the codes
        of the categorical columns that are not among them (text, booleans) and, for the
        linear chain, every categorical column's indicators
        (``domains.tabular.blend.linear_design``, the same inputs as ``encoderkit impute``'s);
        codes are the schema's (fixed at fit). Categorical columns: ``blend_categories_``,
        those with an observed cell at fit."""
        from domains.tabular.blend import linear_design
        from domains.tabular.schema import encode_frame

        x = _numbers(frame, self.blend_columns_)
        domain = self.models_[0].domain
        names = getattr(self, "blend_categories_", [])
        categorical = [j for j, c in enumerate(domain.columns) if c["name"] in names]
        if not categorical:
            return {"iterative": x, "forest": x}
        enc = encode_frame(frame[[domain.columns[j]["name"] for j in categorical]], domain.schema)
        cat = enc.cat[:, categorical]
        known = enc.observed[:, categorical] & (cat > 0)
        new = [i for i, j in enumerate(categorical) if domain.columns[j]["name"] not in self.blend_columns_]
        x = np.column_stack([x, np.where(known[:, new], cat[:, new], np.nan)])
        indicators = linear_design(np.empty((len(x), 0)), cat, known, np.zeros(len(categorical), dtype=bool),
                                   np.asarray(domain.layout.cat_sizes)[categorical] - 1)
        return {"iterative": np.column_stack([x, indicators]), "forest": x}

    def _estimates(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Each fitted classical imputer's fill ``[N, C]`` of the ``blend_columns_`` of ``frame``."""
        n = len(self.blend_columns_)
        design = self._design(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {k: m[0].inverse_transform(m[1].transform(m[0].transform(design[k])))[:, :n]
                    for k, m in self.blend_model_.items()}

    def _weights(self, name: str) -> np.ndarray:
        """Weights over ``SOURCES`` of the fill ``name`` (``blend``: the ``blend``
        setting's mean, of the imputers fitted)."""
        from domains.tabular.blend import SOURCES

        if name == "blend":
            used = ["encoder"] + ([] if self.blend == "none" else
                                  [k for k in self.blend_model_ if k in self.blend.split("+")])
            return np.array([1.0 / len(used) if s in used else 0.0 for s in SOURCES])
        return np.array([1.0 if s == name else 0.0 for s in SOURCES])

    def _apply_blend(self, frame: pd.DataFrame, filled: pd.DataFrame,
                     selection: dict[str, str] | None = None,
                     est: dict[str, np.ndarray] | None = None) -> tuple[pd.DataFrame, np.ndarray | None]:
        """``filled`` (the encoder's) with each numeric column's missing cells from the fill
        ``selection`` (default ``selection_``) names there: the encoder's, a classical
        imputer's or their mean; also the weight ``[N, C]`` on the classical imputers of
        every cell. ``est``: the ``_estimates`` of ``frame``, if already computed."""
        from domains.tabular.blend import SOURCES

        if getattr(self, "blend_model_", None) is None:
            return filled, None
        cols = self.blend_columns_
        selection = self.selection_ if selection is None else selection
        from domains.tabular.schema import fill_column

        mine = _numbers(filled, cols)
        est = self._estimates(frame) if est is None else est
        # columns the schema reads as categories (few distinct whole numbers: codes) keep the
        # encoder's fill, a category seen at fit; an average of codes is none
        schema = {c["name"]: c for c in self.models_[0].domain.schema["columns"]}
        numeric = np.array([schema.get(c, {}).get("kind") == "numeric" for c in cols])
        # missing in the caller's frame (a text mark such as 'oops' in a numeric column is
        # observed: it stays, though the models read it as missing)
        missing = frame[cols].isna().to_numpy() & ~np.isnan(mine) & numeric[None, :]
        weights = np.stack([self._weights(selection[c]) for c in cols])  # [C, sources]
        mix = weights[None, :, 0] * mine
        for s, kind in enumerate(SOURCES[1:], start=1):
            if kind in est:
                mix = mix + weights[None, :, s] * est[kind]
        mine[missing] = mix[missing]
        w = np.where(missing, 1.0 - weights[None, :, 0], 0.0)
        # a column of whole numbers (integer dtype, or float with NaN holes) gets whole numbers
        # (as the encoder's own fill is rounded: domains/tabular/schema.py, decode_numeric)
        whole = np.array([bool(schema.get(c, {}).get("integer")) or pd.api.types.is_integer_dtype(filled[c])
                          for c in cols])
        mine[:, whole] = np.round(mine[:, whole])
        out = filled.copy()
        for j, c in enumerate(cols):
            if missing[:, j].any():  # every cell the encoder filled, written in the caller's dtype
                fill = mine[missing[:, j], j]  # (text, category, Int64, float32, ...)
                cats = getattr(frame[c].dtype, "categories", None)
                if whole[j] and cats is not None and pd.api.types.is_integer_dtype(cats.dtype):
                    fill = fill.astype(cats.dtype)  # integer categories stay integers
                out[c] = fill_column(frame[c], fill, missing[:, j])
        return out, w

    def transform(self, X: Any, return_std: bool = False) -> Any:
        """Fill the missing cells of ``X`` with the fitted model(s); with ``return_std``,
        return ``(filled, spread)``: at a filled numeric cell, the square root of the models'
        variance there (their standard deviation) plus the column's held-back squared error
        (``fill_error_``, where the fit held cells back: ``select='auto'``), so that it
        measures how far the fill may be from the truth, not only how much the seeds
        disagree; for categorical cells the share of models that disagree with the fill;
        0 at observed cells."""
        from encoderkit.impute import ensemble_infill

        check_is_fitted(self, "models_")
        frame, is_frame = self._frame(X, reset=False)
        forests = getattr(self, "category_forests_", None)
        share = self._forest_weight()
        infill = None if forests is None else \
            (lambda data, predict: self.models_[0].domain.infill_voting(data, predict, forests, share))
        filled, spread = ensemble_infill(self.models_, frame, return_std=return_std, infill=infill)
        filled, w = self._apply_blend(frame, filled)
        if spread is not None and w is not None:
            # a fill with weight w on the classical imputers moves by (1 - w) of what the encoder
            # ensemble moves: so does its spread
            for j, c in enumerate(self.blend_columns_):
                spread[c] = spread[c].to_numpy() * (1 - w[:, j])
        if spread is not None:  # the fill's own error, measured on the held-back cells
            for c, err in getattr(self, "fill_error_", {}).items():
                if c in spread.columns:
                    filled_here = frame[c].isna().to_numpy() & filled[c].notna().to_numpy()
                    spread.loc[filled_here, c] = np.sqrt(spread[c].to_numpy()[filled_here] ** 2 + err ** 2)
        keep = self._kept()
        if not keep.all():  # columns with nothing observed at fit: out, as scikit-learn's imputers do
            filled = filled.loc[:, keep]
            spread = None if spread is None else spread.loc[:, keep]
        if is_frame:  # the caller's column names and index back
            filled.columns, filled.index = X.columns[keep], X.index
            if self._placeholder() is not None:
                filled = _restore_dtypes(filled, list(X.dtypes[keep]))
            if spread is not None:
                spread.columns, spread.index = X.columns[keep], X.index
        else:
            filled = filled.to_numpy(dtype=np.float64)
            spread = None if spread is None else spread.to_numpy(dtype=np.float64)
        filled = self._as_configured(filled, X)  # the spread as it is, as scikit-learn's wrapper did
        return (filled, spread) if return_std else filled

    def fit_transform(self, X: Any, y: Any = None, return_std: bool = False) -> Any:
        # what reading X warns of (a column of text numbers, cells read as missing) was said
        # by fit: transform of the same X says it once more only if it says something new
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            self.fit(X, y)
        for w in said:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        seen = {(w.category, str(w.message)) for w in said}
        with warnings.catch_warnings(record=True) as again:
            warnings.simplefilter("always")
            out = self.transform(X, return_std=return_std)
        for w in again:  # X is the table fit trained on: its categories are no news (see fit)
            if (w.category, str(w.message)) not in seen and not issubclass(w.category, UnknownValueWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The output columns' names: a DataFrame's column names at ``fit`` as text (int
        names ``0`` -> ``'0'``, where scikit-learn's rule, for names that are not all strings,
        says ``x0``: that named no column the user has), an array's ``x0``, ``x1``, ..."""
        from sklearn.utils.validation import _check_feature_names_in

        check_is_fitted(self, "n_features_in_")
        if input_features is None and getattr(self, "frame_columns_", None) is not None:
            return np.asarray(self.columns_, dtype=object)[self._kept()]
        return _check_feature_names_in(self, input_features)[self._kept()]

    def set_output(self, *, transform: str | None = None) -> "EncoderImputer":
        """Set the output container of ``transform`` and ``fit_transform``: ``"default"``,
        ``"pandas"`` or ``"polars"`` (None: unchanged), as scikit-learn's ``set_output``.
        ``transform`` applies it itself: scikit-learn's wrapper renamed a DataFrame's
        columns to ``get_feature_names_out()``, int column labels to text; a DataFrame keeps
        its own labels and index here."""
        if transform is None:
            return self
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config = {}
        self._sklearn_output_config["transform"] = transform
        return self

    def _as_configured(self, out: Any, X: Any) -> Any:
        """``transform``'s output ``out`` in the container ``set_output`` (or scikit-learn's
        ``transform_output`` config) asks for. Fitted on a DataFrame, pandas output is the
        DataFrame as it is (its columns are fit's, ``_check_names``); fitted on an array, its
        columns are renamed ``x0``, ... as scikit-learn's wrapper does."""
        from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config

        dense = _get_output_config("transform", self)["dense"]
        if dense == "default" or (dense == "pandas" and isinstance(out, pd.DataFrame)
                                  and getattr(self, "frame_columns_", None) is not None):
            return out
        return ADAPTERS_MANAGER.adapters[dense].create_container(out, X, columns=self.get_feature_names_out)

    def _kept(self) -> np.ndarray:
        """Which input columns ``transform`` returns (bool ``[n_features_in_]``)."""
        empty = set(getattr(self, "empty_features_", ()))
        return np.array([self.keep_empty_features or c not in empty for c in self.columns_], dtype=bool)

    # ------------------------------------------------------------ pickling without torch pickles
    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        if "models_" in state:
            state["models_"] = [_to_bytes(m) for m in state["models_"]]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "models_" in state:
            state["models_"] = [_from_bytes(b) for b in state["models_"]]
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)


class FiniteStandardScaler(TransformerMixin, BaseEstimator):
    """``StandardScaler`` for the classical imputers' inputs, whose statistics stay finite
    for any finite column (``encoderkit.numerics.finite_mean_std``): scikit-learn's
    variance of values beyond ~1e154 overflows to NaN, the scaled column becomes all NaN,
    IterativeImputer drops it and the inverse transform fails on the narrower array.
    NaN cells are ignored at fit and kept; a constant column is scaled by 1."""

    def fit(self, X: np.ndarray, y: Any = None) -> "FiniteStandardScaler":
        from encoderkit.numerics import finite_mean_std

        mean, std = finite_mean_std(X, axis=0)
        self.mean_ = np.where(np.isfinite(mean), mean, 0.0)  # a column with no value
        self.scale_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) * self.scale_ + self.mean_


def _ingest_frame(frame: pd.DataFrame, store: str, options: dict[str, Any]) -> None:
    """``frame`` -> a tabular record store, dtypes as they are (a file in between would
    refuse an object column of mixed types, or read it back with other types)."""
    from encoderkit.data.store import StoreWriter
    from encoderkit.domain import IngestReport
    from encoderkit.registry import get_domain

    report = IngestReport()
    with StoreWriter(store, DOMAIN, overwrite=True) as writer:
        schema = get_domain(DOMAIN).ingest_frame(frame, writer, report, **options)
        writer.finalize(schema, {"files": [], "options": options, "command": "EncoderImputer.fit",
                                 "source": f"DataFrame {frame.shape[0]}x{frame.shape[1]}"})


def _keep_categories_seen(frame: pd.DataFrame, hide: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``hide`` without the held-back cells of a non-numeric column whose value would then
    be seen nowhere else in the column: the encoder trains once, on what is not held back,
    and a category it never saw is one it can never fill, nor read at ``transform``."""
    numeric = set(_numeric_columns(frame))
    out = dict(hide)
    for c, mask in hide.items():
        if c in numeric or not mask.any():
            continue
        values = frame[c].to_numpy(dtype=object)
        seen = set(map(str, values[frame[c].notna().to_numpy() & ~mask]))
        rare = np.array([str(v) not in seen for v in values])
        out[c] = mask & ~rare
    return out


def _is_nan_marker(value: Any) -> bool:
    """Whether ``missing_values`` names the cells that are missing anyway (NaN, None, NA)."""
    return (value is None or value is pd.NA
            or (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
                and math.isnan(value)))


def _only_numbers_refused(value: Any, dtype: Any) -> None:
    """A string placeholder cannot mark a cell of numbers: scikit-learn's imputers refuse it."""
    if isinstance(value, str):
        raise ValueError(f"missing_values={value!r} is a string, but X holds only numbers "
                         f"({dtype}); a string marks cells of text columns: give a number "
                         f"(e.g. missing_values=-1) or np.nan")


def _equal_cells(column: pd.Series, value: Any) -> np.ndarray:
    """Cells of ``column`` equal to ``value`` (bool ``[N]``); never a missing cell."""
    try:
        hit = column == value
    except TypeError:  # a dtype that cannot be compared with it holds no such cell
        return np.zeros(len(column), dtype=bool)
    return hit.fillna(False).to_numpy(dtype=bool) if isinstance(hit, pd.Series) else np.asarray(hit, bool)


def _mask_frame(X: pd.DataFrame, value: Any) -> pd.DataFrame:
    """A copy of ``X`` with every cell equal to ``value`` missing: NaN in a float or object
    column, NA in an integer or boolean column (its nullable kind, so observed cells stay
    integers), a category ``value`` removed from a categorical column."""
    if all(pd.api.types.is_numeric_dtype(d) for d in X.dtypes):
        _only_numbers_refused(value, "every column numeric")
    out = X.copy()
    for j in range(out.shape[1]):
        s = out.iloc[:, j]
        hit = _equal_cells(s, value)
        if not hit.any():
            continue
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.cat.remove_categories([c for c in s.cat.categories if c == value])
            s = s.mask(hit)  # a number equal to a category of another type (1.0 and 1)
        elif pd.api.types.is_bool_dtype(s.dtype):
            s = s.astype("boolean").mask(hit)
        elif pd.api.types.is_integer_dtype(s.dtype) and isinstance(s.dtype, np.dtype):
            s = s.astype(f"{'U' if s.dtype.kind == 'u' else ''}Int{8 * s.dtype.itemsize}").mask(hit)
        else:
            s = s.mask(hit)
        out.isetitem(j, s)
    return out


def _mask_array(X: Any, value: Any) -> np.ndarray:
    """``X`` as an array with every cell equal to ``value`` NaN (float, or object for text)."""
    arr = np.asarray(X)
    if arr.dtype.kind == "c":
        return arr  # refused by validate_data, as without a placeholder
    if arr.dtype.kind in "biuf":
        _only_numbers_refused(value, f"dtype {arr.dtype}")
        hit = arr == value
        arr = arr.astype(np.float64)
    else:
        hit = np.frompyfunc(lambda v: _same(v, value), 1, 1)(arr).astype(bool)
        arr = arr.astype(object)
    arr[hit] = np.nan
    return arr


def _same(cell: Any, value: Any) -> bool:
    """``cell == value`` as scikit-learn compares an object array's cells (False where the
    comparison is not a plain truth value: a missing cell, an array)."""
    try:
        return bool(cell == value)
    except (TypeError, ValueError):
        return False


def _text_in_array(X: Any) -> None:
    """Raise a ``ValueError`` naming the first cell of text (not a number) in the array
    ``X``, if any: scikit-learn's "could not convert string to float" did not say that an
    array is read as numbers, nor that text columns need a DataFrame."""
    try:
        arr = np.asarray(X, dtype=object)
    except (ValueError, TypeError):  # ragged: scikit-learn's own error
        return
    if arr.ndim != 2:
        return
    for j in range(arr.shape[1]):
        for v in arr[:, j]:
            if isinstance(v, (str, bytes)):
                try:
                    float(v)
                except ValueError:
                    raise ValueError(f"X is an array holding text (column {j}, e.g. {v!r}), and EncoderImputer "
                                     f"reads an array as numeric columns: give text columns in a DataFrame "
                                     f"with column names (pd.DataFrame(X, columns=[...])), where it reads "
                                     f"them as categories") from None


def _restore_dtypes(filled: pd.DataFrame, dtypes: Sequence[Any]) -> pd.DataFrame:
    """Integer and boolean columns that ``_mask_frame`` made nullable back in the caller's
    ``dtypes`` (one per column of ``filled``), where no cell is left missing."""
    for j, want in enumerate(dtypes):
        col = filled.iloc[:, j]
        if isinstance(want, np.dtype) and want.kind in "biu" and col.dtype != want and col.notna().all():
            filled.isetitem(j, col.astype(want))
    return filled


def _check_frame(X: pd.DataFrame, min_samples: int) -> None:
    """Refuse, as scikit-learn's ``check_array`` refuses an array, a DataFrame without rows
    or columns, or with a sparse or complex column (named)."""
    if len(X) < min_samples:
        raise ValueError(f"Found array with {len(X)} sample(s) (shape={X.shape}) while a "
                         f"minimum of {min_samples} is required by EncoderImputer.")
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 "
                         f"is required by EncoderImputer.")
    for c, dtype in X.dtypes.items():
        if isinstance(dtype, pd.SparseDtype):
            raise TypeError(f"column {str(c)!r} has a sparse dtype ({dtype}); EncoderImputer needs "
                            f"dense data, as for a scipy sparse matrix: pass X.sparse.to_dense()")
        if pd.api.types.is_complex_dtype(dtype):
            raise ValueError(f"column {str(c)!r} holds complex numbers ({dtype}); EncoderImputer, "
                             f"as scikit-learn's imputers, does not support complex data")


def _numbers(frame: pd.DataFrame, cols: Sequence[str]) -> np.ndarray:
    """``frame[cols]`` as float64 ``[N, C]`` whatever their dtypes (nullable, text of numbers,
    category, object); a cell that is not a number is NaN (missing to the models)."""
    from domains.tabular.schema import numeric_values

    out = np.empty((len(frame), len(cols)))
    for j, c in enumerate(cols):
        s = frame[c]
        out[:, j] = numeric_values(s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s)
    return out


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric (not bool) columns with an observed value: those IterativeImputer works on."""
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c]) and frame[c].notna().any()]


def _to_bytes(model: Any) -> dict[str, Any]:
    """A loaded model -> safetensors bytes + JSON-able description."""
    from safetensors.torch import save

    from encoderkit.train.checkpoint import model_state

    return {"weights": save(model_state(model.model)), "domain": model.domain.describe(),
            "model_config": model.config.to_dict(), "max_seqlen": model.max_seqlen, "step": model.step}


def _from_bytes(blob: dict[str, Any]) -> Any:
    from safetensors.torch import load

    from encoderkit.core import EncoderConfig
    from encoderkit.infer.pretrained import Pretrained
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.registry import build_domain
    from encoderkit.train.checkpoint import load_model_state

    domain = build_domain(blob["domain"])
    config = EncoderConfig.from_dict(blob["model_config"])
    model = MaskedEncoderModel(domain, config)
    load_model_state(model, load(blob["weights"]))
    return Pretrained(model=model, domain=domain, config=config, step=int(blob["step"]),
                      max_seqlen=int(blob["max_seqlen"]))
