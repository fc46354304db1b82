"""Classical imputers averaged with the encoder at infill (``infill_blend``).

Why: on the LODO benchmark (benchmarks/RESULTS.md, "Imputation that transfers") the
encoder alone and scikit-learn's best imputer are close on numeric cells, and their
errors are only partly correlated, so their mean beats each on most tables (an
ensemble, the "several models at infill" of issue 15). Two classical imputers, both
fitted transductively on the table being filled, like the encoder:

- ``iterative``: IterativeImputer with BayesianRidge (chained linear regressions);
- ``forest``: IterativeImputer with extremely randomised trees (MissForest-style: catches
  the non-linear and interaction structure the linear chain misses).

``infill_blend``: ``iterative+forest`` (numeric cells = mean of the encoder and both;
the three-way mean was chosen by every leave-one-dataset-out fold over the two-way
ones), ``iterative`` (the encoder and BayesianRidge), ``none`` (the encoder alone).

Works in the encoder's normalised numeric space (``schema.encode_frame``'s ``num``);
categorical columns enter the regressions as their integer codes (unknown / missing -> NaN)
and, in the linear chain, also as one indicator per category (``linear_design``: a slope
on a code fits an ordinal scale, an intercept per category a nominal one; measured in
benchmarks/RESULTS.md, "Tables: categories as indicators in the linear chain").

Categorical cells: ``forest`` also has MissForest's classification step
(``category_proba``): a random forest per categorical column, on the rows where it is
observed, gives class probabilities; with ``iterative+forest`` a categorical cell is the
most probable category of the mean of the encoder's and the forest's probabilities (a soft
vote). Why: the encoder alone lost categorical accuracy to scikit-learn's imputers on
iris and fair (benchmarks/RESULTS.md, "Tables: a forest imputer in the blend"); the vote
is measured in "Tables: categories from a soft vote".
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from typing import Any, Sequence

import numpy as np

# the filters these sections set hold the session lock: two fits in two threads (a thread
# pool) left them in the caller's filters for good with catch_warnings alone
from encoderkit.session_state import held, warnings_kept

BLENDS = ("none", "iterative", "iterative+forest")
ESTIMATORS = ("iterative", "forest")
SOURCES = ("encoder", *ESTIMATORS)  # what a blended numeric fill averages
# The forest's cost grows with rows x columns^2 (one forest per column and round): each
# tree sees at most FOREST_MAX_ROWS rows (a bootstrap sample above that), and a table
# with more than FOREST_MAX_COLUMNS columns skips the forest (its blend falls back to
# ``iterative``): the encoder has the data there, and the forest would take hours.
FOREST_TREES = 30
FOREST_ROUNDS = 5
FOREST_MAX_ROWS = 1000
FOREST_MAX_COLUMNS = 100
# a chain's numeric fill stays within this many widths of its column's observed range
GUARD_WIDTHS = 10.0
# A classifier's trees hold one probability per category in every node: a column with more
# known categories than CLASSIFIER_MAX_CATEGORIES keeps the encoder's fill (at 64, one
# forest on the capped rows is ~65 MB; at the schema's cap of 256 it would be ~260 MB).
CLASSIFIER_TREES = 100
CLASSIFIER_MAX_CATEGORIES = 64
# The linear chain reads a categorical column as its code and as indicators
# (``linear_design``); indicators cost one more regression each per round, so they are
# added for columns of at most ONEHOT_MAX_CATEGORIES categories, ONEHOT_MAX_COLUMNS in all.
ONEHOT_MAX_CATEGORIES = 16
ONEHOT_MAX_COLUMNS = 100
# The linear chain fits one BayesianRidge per column and round on all other columns: time
# grows with columns^3 and, as each fit kept its k x k posterior covariance, memory too (3000
# columns x 200 rows passed 11 GB; 1000 columns 3 GB). Above ITERATIVE_MAX_PREDICTORS + 1
# columns (the regression inputs, indicators included) each regression takes the
# ITERATIVE_MAX_PREDICTORS columns scikit-learn draws by correlation (``n_nearest_features``);
# narrower tables, every benchmarked one among them, are fitted as before.
ITERATIVE_MAX_PREDICTORS = 100

# estimates of the last tables seen: one `encoderkit impute` fills the same table as the
# blend and as each candidate alone, and the fits are deterministic
_CACHE: OrderedDict[str, Any] = OrderedDict()
_CACHE_SIZE = 4


def _copied(value: Any) -> Any:
    return {j: p.copy() for j, p in value.items()} if isinstance(value, dict) else value.copy()


# Read and written under the session's lock (``session_state.held``): threads of one process
# share the cache, and one's eviction between another's ``in`` and its read was a KeyError.
def _recalled(key: str) -> Any:
    """A copy of the cached estimate ``key`` (now the newest), or None."""
    with held():
        if key not in _CACHE:
            return None
        _CACHE.move_to_end(key)
        return _copied(_CACHE[key])


def _remember(key: str, value: Any) -> None:
    with held():
        _CACHE[key] = _copied(value)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


_SAID_TOO_WIDE: set[int] = set()
_SAID_MANY_CATEGORIES: set[tuple[str, int]] = set()


def forest_fits(n_columns: int, say: bool = False) -> bool:
    """Whether the forest runs on a table with ``n_columns`` columns. ``say``: a blend that
    asked for the forest and does not get it says so (once per width and process): a table
    of 101 columns is filled by another method than one of 100, numeric cells without the
    forest and categorical cells without the classifiers' vote, and a user must not learn
    that only from the per-column table."""
    fits = n_columns <= FOREST_MAX_COLUMNS
    if not fits and say and n_columns not in _SAID_TOO_WIDE:
        _SAID_TOO_WIDE.add(n_columns)
        warnings.warn(f"the table has {n_columns} columns, more than {FOREST_MAX_COLUMNS}: the random-forest "
                      f"imputer is left out of the blend (its cost grows with columns squared), so numeric "
                      f"cells are the encoder's and the iterative imputer's fill and categorical cells the "
                      f"encoder's alone (no classifier vote)", stacklevel=3)
    return fits


def _say_many_categories(column: str, n_categories: int) -> None:
    """A categorical column of more than ``CLASSIFIER_MAX_CATEGORIES`` known categories gets
    no classifier (``_fit_classifier``): its fills are the encoder's, not the soft vote the
    docs describe for categorical cells. Said once per column and process, as ``forest_fits``."""
    if n_categories <= CLASSIFIER_MAX_CATEGORIES or (column, n_categories) in _SAID_MANY_CATEGORIES:
        return
    _SAID_MANY_CATEGORIES.add((column, n_categories))
    warnings.warn(f"categorical column {column}: {n_categories} known categories, more than "
                  f"{CLASSIFIER_MAX_CATEGORIES}: no random-forest classifier vote (its trees would hold a "
                  f"probability per category in every node), so its cells are the encoder's fill alone",
                  stacklevel=4)


def _lean_ridge():
    """A BayesianRidge that drops its ``sigma_`` (k x k) once fitted: IterativeImputer keeps
    every round's regressions, and only ``predict(return_std=True)`` (``sample_posterior``,
    never used here) reads it. Its fills are BayesianRidge's, bit for bit."""
    return __getattr__("LeanBayesianRidge")()


def __getattr__(name: str) -> Any:
    """``LeanBayesianRidge``, defined on first use: scikit-learn is imported only when a
    blend runs, and a pickled ``EncoderImputer`` finds the class here by name."""
    if name in globals():
        return globals()[name]
    if name != "LeanBayesianRidge":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sklearn.linear_model import BayesianRidge

    class LeanBayesianRidge(BayesianRidge):
        def fit(self, X, y, sample_weight=None):
            super().fit(X, y, sample_weight=sample_weight)
            self.__dict__.pop("sigma_", None)
            return self

    LeanBayesianRidge.__module__, LeanBayesianRidge.__qualname__ = __name__, name
    globals()[name] = LeanBayesianRidge
    return LeanBayesianRidge


def _digest(kind: str, seed: int, *arrays: np.ndarray) -> str:
    h = hashlib.sha1(f"{kind}:{seed}".encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def classical_imputer(kind: str, n_rows: int, seed: int,
                      bounds: tuple[np.ndarray, np.ndarray] | None = None):
    """The unfitted scikit-learn imputer of ``kind`` for a table of ``n_rows`` rows (also
    ``EncoderImputer``'s, so both imputers blend the same models). ``bounds``: the lowest
    and highest value each column's fills may take (``fill_bounds``)."""
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    lo, hi = bounds if bounds is not None else (-np.inf, np.inf)
    if kind == "iterative":
        wide = np.size(lo) - 1 > ITERATIVE_MAX_PREDICTORS  # the bounds give the column count
        return IterativeImputer(estimator=_lean_ridge(), max_iter=10, random_state=seed,
                                n_nearest_features=ITERATIVE_MAX_PREDICTORS if wide else None,
                                min_value=lo, max_value=hi)
    from sklearn.ensemble import ExtraTreesRegressor

    big = n_rows > FOREST_MAX_ROWS
    # a share, not a count: a column is fitted on its observed rows only, which can be fewer
    # than FOREST_MAX_ROWS (older scikit-learn refuses a count above the rows fitted)
    trees = ExtraTreesRegressor(n_estimators=FOREST_TREES, max_features=0.5, min_samples_leaf=2,
                                bootstrap=big, max_samples=FOREST_MAX_ROWS / n_rows if big else None,
                                n_jobs=1, random_state=seed)
    return IterativeImputer(estimator=trees, max_iter=FOREST_ROUNDS, random_state=seed,
                            min_value=lo, max_value=hi)


def fill_bounds(z: np.ndarray, exact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of ``z`` (NaN = missing), the lowest and highest fill the chains may give:
    the observed range for the ``exact`` columns (a category's code or indicator, which
    cannot mean anything outside it), that range widened by ``GUARD_WIDTHS`` of its width on
    each side for the others (numbers may lie beyond what was seen; the guard only stops
    an overflow).

    Why: the linear chain regresses each column on the others' current fills. A category's
    code and indicators are collinear (with each other and the intercept); on a long table
    BayesianRidge's penalty vanishes, the coefficients of that exact relation grow to ~1e16,
    and rows where the category is missing (their indicators filled with means, which break
    the relation) get fills that grow round after round: a 50,000-row table reached 1e102
    in the first round, then NaN, and the command crashed after training. Bounding only the
    category's columns keeps every numeric fill of the bundled tables as it was (measured)."""
    with warnings_kept():
        warnings.simplefilter("ignore")  # a column with no observed value: no bound
        lo, hi = np.nanmin(z, axis=0), np.nanmax(z, axis=0)
    width = np.where(exact, 0.0, GUARD_WIDTHS) * (hi - lo)
    lo, hi = lo - width, hi + width
    # scikit-learn refuses min >= max: a constant column (nothing to bound) and an empty one
    # stay open
    open_ = ~(hi > lo)
    lo[open_], hi[open_] = -np.inf, np.inf
    return lo, hi


def classical_estimate(kind: str, num: np.ndarray, cat: np.ndarray, observed: np.ndarray,
                       is_numeric: np.ndarray, seed: int = 0) -> np.ndarray:
    """``kind`` (``iterative`` or ``forest``) estimates ``[N, C]`` of every cell in the
    encoder's numeric space (meaningful for numeric columns only)."""
    if kind not in ESTIMATORS:
        raise ValueError(f"unknown classical imputer {kind!r}; one of {list(ESTIMATORS)}")
    x = _regression_matrix(num, cat, observed, is_numeric)
    key = _digest(kind, seed, x)
    if (known := _recalled(key)) is not None:
        return known
    if kind == "iterative":
        x = linear_design(x, cat, observed & (cat > 0), is_numeric, cat.max(axis=0, initial=0))
    keep = ~np.isnan(x).all(axis=0)  # a column with no observed cell: nothing to learn
    out = np.zeros_like(x)
    if keep.sum() > 0:
        mu = np.nanmean(x[:, keep], axis=0)
        sd = np.nanstd(x[:, keep], axis=0)
        sd[~(sd > 0)] = 1.0
        with warnings_kept():
            warnings.simplefilter("ignore")  # convergence notices: a fixed number of rounds
            z = (x[:, keep] - mu) / sd
            exact = np.arange(x.shape[1]) >= len(is_numeric)  # indicators
            exact[:len(is_numeric)] = ~is_numeric  # codes
            z = classical_imputer(kind, len(x), seed, fill_bounds(z, exact[keep])).fit_transform(z)
        out[:, keep] = z * sd + mu
    out = out[:, :len(is_numeric)]
    _remember(key, out)
    return out


# Rounds of the linear chain fitted for other rows: ``transform`` replays every round's
# regressions on rows they were not fitted on, and on collinear columns the replay drifts
# round after round (breast_cancer's held-out rows, BayesianRidge alone: NRMSE 0.396 / 0.358 /
# 0.380 / 0.555 / 0.727 after 1 / 2 / 3 / 5 / 10 rounds); on seven other tables 3 rounds is
# within 0.012 of 10 (benchmarks/RESULTS.md, "Unusual inputs, eleventh sweep", its first
# "Silent wrong results fixed" item).
REPLAY_ROUNDS = 3


class FittedImputers:
    """The classical imputers of a blend fitted on one table and applied to others row by
    row: ``encoderkit infill`` (and ``encoderkit.load(run).infill``) with a trained run fits
    them on the run's training rows, as the encoder learnt from those rows. Why: fitted on
    the rows being filled (``classical_estimate``), a row's fill depended on the rows beside
    it (wine: 308 of 330 fills moved when the file's rows were reversed) and a row filled
    alone came out two thirds its column's mean (nothing to regress on). ``impute`` fills the
    table it trained on and keeps ``classical_estimate`` (the same rows either way).
    ``estimate`` is ``classical_estimate``'s for rows the imputers were not fitted on;
    ``forests`` MissForest's categorical step fitted on the same rows."""

    def __init__(self, kinds: list[str], is_numeric: np.ndarray, n_categories: np.ndarray,
                 seed: int = 0, names: Sequence[str] | None = None) -> None:
        self.kinds = [k for k in kinds if k in ESTIMATORS]
        self.names = names  # column names, for what the categorical step says
        self.is_numeric = np.asarray(is_numeric, dtype=bool)
        self.n_categories = np.asarray(n_categories, dtype=np.int64)
        self.seed = seed

    def _design(self, kind: str, num: np.ndarray, cat: np.ndarray, observed: np.ndarray) -> np.ndarray:
        x = _regression_matrix(num, cat, observed, self.is_numeric)
        if kind == "iterative":  # indicators of the categories the fit saw, in both tables
            x = linear_design(x, cat, observed & (cat > 0), self.is_numeric, self.codes_)
        return x

    def fit(self, num: np.ndarray, cat: np.ndarray, observed: np.ndarray) -> "FittedImputers":
        self.codes_ = cat.max(axis=0, initial=0)
        self.models_: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, Any]] = {}
        for kind in self.kinds:
            x = self._design(kind, num, cat, observed)
            keep = ~np.isnan(x).all(axis=0)
            if not keep.any():
                continue
            mu = np.nanmean(x[:, keep], axis=0)
            sd = np.nanstd(x[:, keep], axis=0)
            sd[~(sd > 0)] = 1.0
            exact = np.arange(x.shape[1]) >= len(self.is_numeric)  # indicators
            exact[:len(self.is_numeric)] = ~self.is_numeric  # codes
            z = (x[:, keep] - mu) / sd
            imputer = classical_imputer(kind, len(x), self.seed, fill_bounds(z, exact[keep]))
            if kind == "iterative":
                imputer.set_params(max_iter=REPLAY_ROUNDS)
            with warnings_kept():
                warnings.simplefilter("ignore")  # convergence notices: a fixed number of rounds
                imputer.fit(z)
            self.models_[kind] = (keep, mu, sd, imputer)
        # the categorical step's forests, each fitted when a fill first needs its column (one
        # forest per categorical column of a wide table is most of the fit otherwise)
        self.forests = _ForestsOnDemand(CategoryForests(self.is_numeric, self.n_categories, self.seed, self.names),
                                        num, cat, observed) if "forest" in self.kinds else None
        return self

    @classmethod
    def joined(cls, parts: Sequence["FittedImputers"]) -> "FittedImputers":
        """The imputers of ``parts`` (each fitted on the same table, with the same columns and
        seed) as one: a blend's kinds fitted one at a time, so that a fill asking for one of
        them alone reuses its fit (``filling._FITTED``)."""
        first = parts[0]
        out = cls([k for p in parts for k in p.kinds], first.is_numeric, first.n_categories, first.seed, first.names)
        out.codes_ = first.codes_
        out.models_ = {k: m for p in parts for k, m in p.models_.items()}
        out.forests = next((p.forests for p in parts if p.forests is not None), None)
        return out

    def estimate(self, kind: str, num: np.ndarray, cat: np.ndarray, observed: np.ndarray) -> np.ndarray:
        """``[N, C]`` estimates of every cell of the rows given, each row on its own (the
        fitted imputers' ``transform``; zeros for a column the fit never saw observed)."""
        x = self._design(kind, num, cat, observed)
        out = np.zeros_like(x)
        if kind in self.models_:
            keep, mu, sd, imputer = self.models_[kind]
            with warnings_kept():
                warnings.simplefilter("ignore")
                out[:, keep] = imputer.transform((x[:, keep] - mu) / sd) * sd + mu
        return out[:, :len(self.is_numeric)]


class _ForestsOnDemand:
    """``CategoryForests`` fitted on one table, column by column as ``predict_proba`` needs them."""

    def __init__(self, forests: "CategoryForests", num: np.ndarray, cat: np.ndarray,
                 observed: np.ndarray) -> None:
        self.forests, self.table, self.fitted = forests, (num, cat, observed), set()
        forests.forests_ = {}

    def predict_proba(self, num: np.ndarray, cat: np.ndarray, observed: np.ndarray,
                      cells: np.ndarray) -> dict[int, np.ndarray]:
        f = self.forests
        need = [int(j) for j in np.flatnonzero(cells.any(axis=0) & ~f.is_numeric) if int(j) not in self.fitted]
        if need:
            more = CategoryForests(f.is_numeric, f.n_categories, f.seed, f.names).fit(*self.table, columns=np.asarray(need))
            f.forests_.update(more.forests_)
            self.fitted.update(need)
        return f.predict_proba(num, cat, observed, cells)


def linear_design(x: np.ndarray, cat: np.ndarray, known: np.ndarray, is_numeric: np.ndarray,
                  n_categories: np.ndarray) -> np.ndarray:
    """The linear chain's inputs: ``x`` (numeric values, categorical codes) followed by one
    indicator column per known category of each categorical column with at most
    ``ONEHOT_MAX_CATEGORIES`` categories, while the indicators added stay within
    ``ONEHOT_MAX_COLUMNS`` (NaN where the category is missing). Why both: a code is a
    useful slope for an ordinal scale (1-7 ratings) and meaningless for a nominal one (a
    firm, a species), where a regression needs one intercept per category."""
    extra, budget = [], ONEHOT_MAX_COLUMNS
    for j in np.flatnonzero(~is_numeric):
        k = int(n_categories[j])
        if k < 2 or k > ONEHOT_MAX_CATEGORIES or k > budget:
            continue
        ind = (cat[:, j, None] == np.arange(1, k + 1)[None, :]).astype(np.float64)
        ind[~known[:, j]] = np.nan
        extra.append(ind)
        budget -= k
    return np.concatenate([x, *extra], axis=1) if extra else x


def _regression_matrix(num: np.ndarray, cat: np.ndarray, observed: np.ndarray,
                       is_numeric: np.ndarray) -> np.ndarray:
    """The cells the classical imputers see: numeric values, categorical codes; NaN where
    missing or an unknown category."""
    x = np.where(is_numeric[None, :], num.astype(np.float64), cat.astype(np.float64))
    return np.where(observed & (is_numeric[None, :] | (cat > 0)), x, np.nan)


def _fit_classifier(features: np.ndarray, y: np.ndarray, n_categories: int, seed: int):
    """A random forest on one categorical column's observed rows (``features`` without that
    column); None when there is nothing to learn (one category, or no other column) or
    the column has too many categories (``CLASSIFIER_MAX_CATEGORIES``)."""
    from sklearn.ensemble import RandomForestClassifier

    if np.unique(y).size < 2 or features.shape[1] == 0 or n_categories > CLASSIFIER_MAX_CATEGORIES:
        return None
    big = len(y) > FOREST_MAX_ROWS
    forest = RandomForestClassifier(n_estimators=CLASSIFIER_TREES, max_features="sqrt",
                                    bootstrap=True, max_samples=FOREST_MAX_ROWS if big else None,
                                    n_jobs=1, random_state=seed)
    with warnings_kept():
        # a column of many categories (ids): each tree would say its y "could represent a
        # regression problem" (~200 notices a fit); these are classifiers by design
        warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
        return forest.fit(features, y)


def _proba(forest, features: np.ndarray, n_categories: int) -> np.ndarray:
    """``[len(features), n_categories]`` probabilities of codes ``1..n_categories`` (0 for
    a code the forest never saw)."""
    out = np.zeros((len(features), n_categories))
    if len(features):
        out[:, forest.classes_ - 1] = forest.predict_proba(features)
    return out


def category_proba(num: np.ndarray, cat: np.ndarray, observed: np.ndarray, is_numeric: np.ndarray,
                   n_categories: np.ndarray, cells: np.ndarray, seed: int = 0,
                   names: Sequence[str] | None = None) -> dict[int, np.ndarray]:
    """MissForest's categorical step, transductive (fitted on the table it fills): for each
    categorical column ``j`` with a cell in ``cells`` (``[N, C]`` bool), the probabilities
    ``[cells[:, j].sum(), n_categories[j]]`` of its known categories at those cells' rows
    (``CategoryForests`` fitted on this table's columns with such a cell); cached."""
    key = _digest("category", seed, _regression_matrix(num, cat, observed, is_numeric), np.asarray(cells))
    if (known := _recalled(key)) is not None:
        return known
    columns = np.flatnonzero(cells.any(axis=0) & ~is_numeric)
    out = CategoryForests(is_numeric, n_categories, seed, names).fit(num, cat, observed, columns) \
        .predict_proba(num, cat, observed, cells)
    _remember(key, out)
    return out


class CategoryForests:
    """MissForest's categorical step: one random forest per categorical column, fitted on
    the rows where that column is observed (``category_proba`` on the table it fills;
    ``EncoderImputer`` at ``fit``, applied to other rows without refitting). Features: the
    other columns as the regressions see them (numeric values, categorical codes), missing
    cells left missing: the trees route them at each split (scikit-learn >= 1.4), so the
    vote does not depend on any other imputer's fill. A column with nothing to learn
    (``_fit_classifier``) gets no forest: the caller keeps its own fill."""

    def __init__(self, is_numeric: np.ndarray, n_categories: np.ndarray, seed: int = 0,
                 names: Sequence[str] | None = None) -> None:
        self.is_numeric = np.asarray(is_numeric, dtype=bool)
        self.n_categories = np.asarray(n_categories, dtype=np.int64)
        self.seed = seed
        self.names = names  # the columns' names, for what ``fit`` says (else their positions)

    def fit(self, num: np.ndarray, cat: np.ndarray, observed: np.ndarray,
            columns: np.ndarray | None = None) -> "CategoryForests":
        """Forests for the categorical ``columns`` (default: every categorical column)."""
        x = _regression_matrix(num, cat, observed, self.is_numeric)
        known = observed & (cat > 0)
        self.forests_: dict[int, Any] = {}
        for j in (np.flatnonzero(~self.is_numeric) if columns is None else columns):
            rows = known[:, j]
            _say_many_categories(repr(self.names[j]) if self.names is not None else f"at position {int(j)}",
                                 int(self.n_categories[j]))
            forest = _fit_classifier(np.delete(x, j, axis=1)[rows], cat[rows, j].astype(np.int64),
                                     int(self.n_categories[j]), self.seed)
            if forest is not None:
                self.forests_[int(j)] = forest
        return self

    def predict_proba(self, num: np.ndarray, cat: np.ndarray, observed: np.ndarray,
                      cells: np.ndarray) -> dict[int, np.ndarray]:
        """Per column with a forest and a cell in ``cells``: ``[cells[:, j].sum(),
        n_categories[j]]`` probabilities of codes ``1..K`` (column ``k - 1``)."""
        x = _regression_matrix(num, cat, observed, self.is_numeric)
        return {j: _proba(forest, np.delete(x, j, axis=1)[cells[:, j]], int(self.n_categories[j]))
                for j, forest in self.forests_.items() if cells[:, j].any()}
