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
(categorical columns are imputed as categories); polars, pyarrow and other tables
(``__arrow_c_stream__``, ``__dataframe__``) are read as pandas (``encoderkit/frames.py``)
and come back as pandas (``set_output(transform="polars")``: polars). An array (a tensor, a
list of rows; a DataFrame given to an estimator fitted on an array) is read as numeric
columns and comes back as an array in its own float dtype (float16, float32 or float64, as
scikit-learn's imputers return it; float64 for integers and other dtypes). A masked array's
masked cells are missing (scikit-learn's imputers read the values under the mask). A
column with no observed cell at fit has nothing to learn from: as in scikit-learn's
imputers (``keep_empty_features=False``), ``transform`` leaves it out of its output
(``get_feature_names_out`` says which remain); ``keep_empty_features=True`` keeps it in
place, its cells still missing. An ``X`` with no
observed cell at all (a ``ColumnTransformer``'s empty columns) trains no model: ``transform``
then returns no column, or ``X``'s columns as given (``keep_empty_features=True``).

Selection (``select='auto'``, default): ``fit`` holds back 5% of the observed cells,
trains on the rest, and keeps per column the ``blend`` setting's fill unless the encoder
alone, one classical imputer alone or the column's mean wins clearly on the held-back cells
(``encoderkit/selection.py``, the rule and candidates of ``encoderkit impute``); ``selection_`` records
the choice, ``transform`` applies it.

An ensemble: ``n_models`` models with seeds ``seed, seed + 1, ...`` whose head outputs
are averaged before decoding; ``transform(X, return_std=True)`` also returns a per-cell
standard deviation: the models' spread combined with the column's held-back error (for a
numeric column one figure per column, calibrated so that ``± 1.96 std`` holds ~95% of the
errors: ``fill_std_``, ``encoderkit/sklearn_calibrate.py``), each column as the domain fills it (numbers, codes, categories: ``transform``; 0 at observed
cells, NaN at cells left missing; without held-back cells, ``select='model'``, the spread
alone, which measures how much the seeds disagree, far less than the error; with one model
as well, NaN, said).

Pickling (scikit-learn's ``clone`` does not pickle; ``joblib`` with several processes
and ``pickle.dumps`` do): ``__getstate__`` stores each fitted model as safetensors bytes
plus its JSON description (domain, config), and ``__setstate__`` rebuilds the models
from them; no torch object goes through pickle. Unpickling any pickle runs code from
its producer, as for every scikit-learn estimator: load only pickles you trust.

The estimator's parts are modules of their own: ``sklearn_inputs`` (``X`` checked, its
placeholders made missing, read as a DataFrame named as at fit), ``sklearn_blend`` (the
classical imputers beside the encoder), ``sklearn_select`` (``select='auto'``),
``sklearn_params`` (the parameters checked, overrides that contradict them refused),
``sklearn_output`` (``transform``'s output: columns kept, names, dtypes, ``set_output``'s
container, ``get_feature_names_out``), ``sklearn_pickle`` (pickling); this module holds the
estimator's parameters, ``fit`` and ``transform``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from encoderkit.cliutil import phase, say
from encoderkit.errors import UnknownValueWarning, without_unknown_values
from encoderkit.session_state import held, warnings_kept
from encoderkit.sklearn_blend import BlendMixin, FiniteStandardScaler, _numeric_columns
from encoderkit.sklearn_inputs import InputMixin
from encoderkit.sklearn_output import OutputMixin
from encoderkit.sklearn_params import ParamsMixin
from encoderkit.sklearn_pickle import PickleMixin
from encoderkit.sklearn_select import (FOREST_WEIGHT, SelectionMixin, _keep_categories_seen, ensemble_spread,
                                       unfilled_spread)
from encoderkit.sklearn_warnings import caller_level, empty_features_message, unknown_value_messages

# The names the tests import from here, wherever they are defined now (FOREST_WEIGHT: the
# one dict the selection reads, which a test changes in place).
__all__ = ["EncoderImputer", "FiniteStandardScaler", "FOREST_WEIGHT", "_keep_categories_seen"]

DOMAIN = "tabular"
HOLDOUT = 0.05  # share of the observed cells select='auto' holds back (as encoderkit impute)


# auto_wrap_output_keys=None: ``transform`` applies ``set_output`` itself (``_as_configured``)
# The mixins hold the parameter checks, the reading of X, the classical imputers, the
# selection, the output's shape and container, and pickling (modules above).
class EncoderImputer(ParamsMixin, InputMixin, BlendMixin, SelectionMixin, OutputMixin, PickleMixin,
                     TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
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
        return_std=True)`` gives their spread combined with each column's calibrated held-back
        error, see ``transform``; next to that error the spread is small: its median was
        2-5% of it on iris, wine and breast cancer, 2 tiny models, and it moved no coverage
        figure).
    random_state : int, RandomState instance or None, default=None
        Seeds the model initialisation and the training masks; an int makes ``fit``
        deterministic.
    overrides : sequence of str, default=()
        Further pretraining overrides in Hydra syntax, e.g. ``("optim.lr=1e-3",
        "domain.numeric_decode=regression", "model.num_layers=2")``. One that sets what a
        parameter not at its default sets (``model=``, ``train.steps=``, ``run.seed=`` /
        ``data.seed=`` for ``random_state``, ``train.progress=``) to another value is refused at
        ``fit``, and so is any for ``domain.infill_blend`` (but ``none``: see ``blend``),
        ``run.dir`` or ``data.store``. With ``random_state=None``, ``run.seed=`` / ``data.seed=``
        seed the first model and model k gets that + k.
    ingest_options : dict or None, default=None
        Tabular ingest options (``categorical_threshold``, ``columns``, ``num_bins``, ...).
        Numpy columns are always numeric.
    device : str, default="cpu"
        Where the fitted models fill (``transform``, and the held-back cells at ``fit``): a
        torch device (``cpu``, ``cuda``, ``cuda:0``, ``mps``) or ``auto`` (a CUDA GPU when
        there is one). Training runs on the pretraining key ``run.device`` (default ``auto``: a CUDA GPU when there is one, else
        the CPU); ``overrides=("run.device=cpu",)`` keeps it on the CPU.
    run_dir : str or None, default=None
        Keep the training runs under this directory, each fit in a new subdirectory
        ``fit-*`` (``run_dir_``) (default: a temporary one, removed).
    progress : bool, default=False
        Show the training progress bar and, on stderr, a line as each later step of ``fit``
        starts (the classical imputers, ``select='auto'``'s comparisons, the category
        forests) and one with its time as it ends.
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
        column of at most 64 known categories, fitted at ``fit``; a column with more keeps
        the encoder's category, said once; the other blends keep the encoder's category). The
        models are fitted once,
        so ``transform`` imputes each row from what ``fit`` learned, independently of the
        other rows (an all-missing row too: alone, it gets the fill it gets in any batch).
    select : {"auto", "model"}, default="auto"
        ``auto``: ``fit`` holds back 5% of the observed cells, trains the encoder on the
        rest, and chooses per numeric column among the encoder alone, each classical
        imputer alone, their mean (``blend``) and the column's mean (``mean``, of its
        observed cells at fit: where nothing predicts a column, its best fill), and per categorical column with a forest
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
        (False, scikit-learn's default), or kept in place with its cells missing (True; where
        scikit-learn's imputers write 0 or their initial fill, the cells stay missing, their
        ``return_std`` NaN). ``fit`` says which, by the names ``get_feature_names_out`` gives.
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
        ``iterative``, ``forest``, ``blend`` or ``mean`` (the column's mean at fit);
        categorical columns (as the domain reads
        them: a column of codes 1.0 / 2.0 too) with a forest ``encoder``, ``forest`` or
        ``blend`` (the soft vote), other categorical columns with held-back cells ``encoder``.
    fill_error_ : dict
        Column name -> the held-back RMSE of its fill in the column's units, for the columns
        whose values are numbers (``select='auto'``; absent for a column without held-back
        cells): numeric columns, and categorical columns of number codes, whose RMSE is that
        of the class values filled (a miss in a 1 / 2 column is 1 away), not the error rate;
        a column of text categories has its error rate in ``selection_errors_``. Part of
        ``transform(X, return_std=True)`` for the code columns; the numeric columns' part is
        ``fill_std_``.
    held_errors_ : dict
        Column name -> the errors (fill - truth, in the column's units) of the fill
        ``transform`` uses, on the column's held-back cells (numeric columns, ``select='auto'``).
    fill_std_ : dict
        Column name -> the standard deviation ``transform(X, return_std=True)`` gives the
        column's filled cells before the models' spread joins it (numeric columns with
        held-back cells): one figure per column, calibrated on ``held_errors_`` pooled over the
        columns so that ``fill ± 1.96 std`` holds about 95% of the errors on unseen cells
        (split conformal, each column's scale its held-back RMSE shrunk toward the table's;
        ``encoderkit/sklearn_calibrate.py``). The raw RMSE (``fill_error_``) from ~8 cells
        held 86-94% at 1.96. A column filled with its mean (``selection_``): the standard
        deviation of its observed values at fit, the spread of the cells around that fill.
    selection_errors_ : dict
        Column name -> {candidate: NRMSE (numeric) or error rate (categorical, codes
        included) on the held-back cells} (``select='auto'``; empty for a column with no
        held-back cell).
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
        The directory holding this fit's runs, absolute (under ``run_dir``; None without it, or when
        ``X`` had no observed cell and no model was trained).
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

    def fit(self, X: Any, y: Any = None) -> "EncoderImputer":
        """Train on the observed cells of ``X`` (``y`` is ignored). A fit that fails or is
        interrupted (a bad override, Ctrl-C) leaves the estimator as the previous fit left it
        (or unfitted). The fitted attributes are set one after the other: a refit that stopped
        half-way left the new ``n_features_in_`` beside the old ``models_``, and ``transform``
        failed deep inside."""
        previous = _fitted_attributes(self)
        try:
            with held():  # fits and transforms in several threads take turns (session_state)
                return self._fit(X)
        except BaseException:
            for name in _fitted_attributes(self):
                delattr(self, name)
            self.__dict__.update(previous)
            raise

    # fit fills X itself (held-back cells): a category seen only in the rows ingest held out
    # for validation is no news to the user
    @without_unknown_values
    def _fit(self, X: Any) -> "EncoderImputer":
        from domains.tabular.identifiers import near_unique, row_numbers
        from domains.tabular.schema import entirely_missing_message
        from encoderkit.impute import fit_models
        from encoderkit.impute_cells import channels, draw_holdout, with_hidden

        self._check_params()
        frame, source = self._frame(X, reset=True)
        is_frame = isinstance(source, pd.DataFrame) and self.frame_columns_ is not None
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
        # an identifier column (ingest's rule) is left out of the model: none of its cells held
        # back, so its message counts the column's cells as given
        held = [c for c in held if c in numeric or c in options.get("columns", {}) or near_unique(frame[c]) is None]
        # so are row numbers as a first column (``Unnamed: 0`` of pd.read_csv of df.to_csv()):
        # a cell held back of them made a hole, and the fit modelled them after all
        held = [c for c in held if c != frame.columns[0] or c in options.get("columns", {})
                or not row_numbers(frame[c], str(c))]
        hide = _keep_categories_seen(frame, draw_holdout(list(channels(frame, held)), HOLDOUT, seed)) \
            if self.select == "auto" and held else {}
        self.empty_features_ = [c for c in frame.columns if frame[c].isna().all()]
        if self.empty_features_:  # in the user's names and words (ingest's: "'c3' ... dropped")
            names = self._user_names()
            warnings.warn(empty_features_message([names[c] for c in self.empty_features_],
                                                 bool(self.keep_empty_features),
                                                 len(self.empty_features_) == frame.shape[1]),
                          UserWarning, stacklevel=caller_level())
        if len(self.empty_features_) == frame.shape[1]:
            return self._fit_nothing()
        hidden = any(m.any() for m in hide.values())
        fit_frame = with_hidden(frame, hide, held) if hidden else frame
        if self.run_dir:  # each fit its own subdirectory: a refit (cross_val_score, ...) never meets a
            Path(self.run_dir).mkdir(parents=True, exist_ok=True)  # finished run's checkpoints
            work = Path(tempfile.mkdtemp(prefix="fit-", dir=self.run_dir))
        else:
            from encoderkit.outputs import make_work_dir  # the next fit removes a killed fit's
            work = make_work_dir("encoderkit-imputer-")
        # absolute: a later chdir (a notebook, a pipeline step) must not move where it points
        self.run_dir_ = str(work.absolute()) if self.run_dir else None
        try:
            store = str(work / "fit.zarr")
            with warnings_kept():  # said above, in the user's words
                for c in self.empty_features_:
                    warnings.filterwarnings("ignore", message=re.escape(entirely_missing_message(c)) + r"\Z")
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
        # the steps after training, each said as it starts and ends (progress=True): they took
        # a minute without a line on 50,000 rows
        tell = (lambda line: say(f"EncoderImputer.fit: {line}")) if self.progress else (lambda _line: None)
        n_held = int(sum(m.sum() for m in hide.values()))
        with phase(tell, f"fitting the classical imputers (blend={self.blend!r})", "classical imputers fitted"):
            self.blend_columns_, self.blend_model_ = self._fit_blend(fit_frame)
        default = "encoder" if self.blend == "none" else "blend"
        self.selection_ = {c: default for c in self.blend_columns_}
        self.selection_errors_: dict[str, dict[str, float]] = {}
        self.held_errors_: dict[str, np.ndarray] = {}  # _select's; return_std's calibration reads them
        encoder = None
        if hidden and self.blend_model_ is not None and any(hide.get(c, np.zeros(1)).any()
                                                            for c in self.blend_columns_):
            with phase(tell, f"select='auto': the encoder, the classical imputers and their blend compared on "
                             f"the numeric columns' held-back cells (of {n_held}), then refitted on every "
                             f"observed cell", "numeric columns' fill chosen"):
                encoder = self._select(frame, fit_frame, hide, default)
                self.blend_columns_, self.blend_model_ = self._fit_blend(frame)  # every observed cell
                self.selection_ = {c: self.selection_.get(c, default) for c in self.blend_columns_}
        coded: dict[str, float] = {}
        if hidden:
            with phase(tell, f"select='auto': the categorical columns' fills compared on their held-back "
                             f"cells (of {n_held})", "categorical columns' fill chosen"):
                coded = self._select_categories(frame, fit_frame, hide, encoder)
        voting = "forest" in self.blend and not self.models_[0].domain.layout.is_numeric.all()
        with phase(tell if voting else (lambda _line: None), "fitting the category forests on every observed cell",
                   "category forests fitted"):
            self.category_forests_ = self._fit_categories(frame)
        self.fill_error_ = self._fill_errors(frame, coded)
        return self

    def _fit_nothing(self) -> "EncoderImputer":
        """``fit`` on an ``X`` with no observed cell (a ``ColumnTransformer``'s columns all
        missing): nothing to learn, no model trained. As scikit-learn's imputers do,
        ``transform`` then returns no column (``keep_empty_features=False``, its warning
        said) or ``X``'s columns as given, their missing cells missing (True)."""
        self.run_dir_ = None
        self.models_: list[Any] = []
        self.blend_columns_, self.blend_model_ = [], None
        self.selection_, self.selection_errors_, self.fill_error_ = {}, {}, {}
        self.held_errors_, self.fill_std_ = {}, {}
        self.category_forests_ = None
        return self

    def transform(self, X: Any, return_std: bool = False) -> Any:
        """Fill the missing cells of ``X`` with the fitted model(s); with ``return_std``,
        return ``(filled, spread)``, each column taken as the domain fills it (its schema
        kind, not its dtype): 0 at observed cells; NaN at cells left missing (a column kept by
        ``keep_empty_features``); at a filled numeric cell, the square root
        of the models' variance there (their standard deviation, per cell) plus the square of
        the column's calibrated error (``fill_std_``, one figure per column, where the fit held
        cells back: ``select='auto'``; ``± 1.96 std`` then holds about 95% of the errors, see
        README), so that it measures how far the fill may be from the truth, not only how much
        the seeds disagree; at a categorical cell of numbers (codes), the same sum in the column's
        units (``fill_error_``, the held-back RMSE of the classes, uncalibrated), the models'
        part being the root mean square distance of their own classes from the fill; at a cell of text categories, ``1 - (1 - d) * (1 - r)``: ``d`` the
        share of models that disagree with the fill, ``r`` the column's held-back error rate
        (``selection_errors_``), the chance that the fill is wrong. One model has no spread:
        the held-back error alone; a cell without one either (``select='model'``, or no cell
        of the column held back) is NaN, said in a warning: a 0 would claim the fill exact."""
        check_is_fitted(self, "models_")
        with held():  # fits and transforms in several threads take turns (session_state)
            return self._transform(X, return_std)

    def _transform(self, X: Any, return_std: bool) -> Any:
        frame, X = self._frame(X, reset=False)  # X as read: a pandas DataFrame, or an array
        if self.models_:
            # values with no category: said once per column here, in transform's words (the
            # encoder, each model of return_std and the classical imputers read them alike)
            domain = self.models_[0].domain
            news = unknown_value_messages(frame, domain.columns, self._user_names(),
                                          domain.options.get("drop_columns", ()))
            with warnings_kept():
                warnings.simplefilter("ignore", UnknownValueWarning)
                filled, spread = self._fill(frame, return_std)
            for message in news:
                warnings.warn(message, UnknownValueWarning, stacklevel=caller_level())
        else:  # nothing observed at fit (_fit_nothing): every cell as given
            filled, spread = frame.copy(), (unfilled_spread(frame) if return_std else None)
        filled, spread = self._as_output(filled, spread, X)
        return (filled, spread) if return_std else filled

    def _fill(self, frame: pd.DataFrame, return_std: bool) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """``frame`` (``X`` read as at fit) filled, and with ``return_std`` its figure per cell
        (``ensemble_spread``, moved as the blend moves the fill, with the held-back error)."""
        from encoderkit.impute import ensemble_infill

        forests = getattr(self, "category_forests_", None)
        share = self._forest_weight()
        infill = None if forests is None else \
            (lambda data, predict: self.models_[0].domain.infill_voting(data, predict, forests, share))
        if return_std:  # the spread by the kind the domain fills each column as (not its dtype)
            categorical = {c["name"] for c in self.models_[0].domain.columns if c["kind"] != "numeric"}
            filled, spread = ensemble_spread(self.models_, frame, infill, categorical)
        else:
            filled, spread = ensemble_infill(self.models_, frame, infill=infill)
        filled, w = self._apply_blend(frame, filled)
        if spread is not None and w is not None:
            # a fill with weight w on the classical imputers moves by (1 - w) of what the encoder
            # ensemble moves: so does its spread
            for j, c in enumerate(self.blend_columns_):
                spread[c] = spread[c].to_numpy() * (1 - w[:, j])
        if spread is not None:  # the fill's own error, measured on the held-back cells
            spread = self._with_errors(frame, filled, spread)
        return filled, spread

    def fit_transform(self, X: Any, y: Any = None, return_std: bool = False) -> Any:
        # what reading X warns of (a column of text numbers, cells read as missing) was said
        # by fit: transform of the same X says it once more only if it says something new
        # one section under the session lock (session_state): another thread's fit neither
        # comes in between nor adds to what is recorded, and the caller's filters are as
        # they were after
        with held():
            with warnings_kept(record=True) as said:
                warnings.simplefilter("always")
                self.fit(X, y)
            for w in said:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            seen = {(w.category, str(w.message)) for w in said}
            with warnings_kept(record=True) as again:
                warnings.simplefilter("always")
                out = self.transform(X, return_std=return_std)
            for w in again:  # X is the table fit trained on: its categories are no news (see fit)
                if (w.category, str(w.message)) not in seen and not issubclass(w.category, UnknownValueWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return out


def _fitted_attributes(estimator: Any) -> dict[str, Any]:
    """What ``fit`` sets: scikit-learn's fitted attributes, named with a trailing ``_``."""
    return {k: v for k, v in vars(estimator).items() if k.endswith("_") and not k.startswith("_")}


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
