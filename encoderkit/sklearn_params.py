"""``EncoderImputer``'s parameters checked at ``fit``: each in its range, and no pretraining
override that contradicts one of them (``impute_words``). A mixin of the estimator (it reads
the parameters as attributes); split out of ``encoderkit/sklearn.py``, so each module keeps
one job.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

import numpy as np

from encoderkit.cliutil import check_device
from encoderkit.errors import UsageError
from encoderkit.impute_words import SEED_KEYS, Param, refuse_contradictions
from encoderkit.selection import SELECT
from encoderkit.sklearn_inputs import _is_nan_marker

class ParamsMixin:
    """The parameter checks of ``EncoderImputer``."""

    def _check_params(self) -> None:
        """Each parameter in its range, and no override that contradicts one (``_check_overrides``)."""
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
        from encoderkit.infer.load import pick_device

        check_device(pick_device(self.device), "EncoderImputer")  # auto: as the commands
        self._check_overrides()

    def _check_overrides(self) -> None:
        """Refuse an override that sets what one of the estimator's parameters sets, to another
        value, naming both (it won silently: ``steps=5`` with ``train.steps=8`` trained 8 steps),
        and one for a key the estimator owns: the domain's own blend (``fit`` turns it off on
        purpose), the runs' folder, the training store."""
        # a parameter at its default lets an override choose the value, as before
        default = {k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()}
        params = [
            Param("model", self.model, default["model"], ("model",), why="the model preset"),
            Param("steps", self.steps, default["steps"], ("train.steps",), why="the optimizer steps per model"),
            Param("random_state", self.random_state, default["random_state"], SEED_KEYS,
                  why="the models' seeds (model k's: the first's + k)"),
            Param("progress", self.progress, default["progress"], ("train.progress",),
                  why="the training progress bar"),
            Param("blend", self.blend, None, ("domain.infill_blend",), owned=True, agree=("none",),
                  why=f"fit turns the domain's blend off: it would fit its imputers on the rows transform "
                      f"fills; the estimator blends with imputers fitted at fit, as its 'blend' parameter "
                      f"says (blend={self.blend!r})"),
            Param("run_dir", self.run_dir, None, ("run.dir",), owned=True,
                  why="each model's run folder, under the 'run_dir' parameter's folder"),
            Param("X", None, None, ("data.store",), owned=True, why="the training store, made from fit's X"),
        ]
        refuse_contradictions(self.overrides, params, "EncoderImputer")
