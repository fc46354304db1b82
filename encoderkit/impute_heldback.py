"""The held-back cells of a table filled, for ``encoderkit impute``'s scores and ``select=auto``,
as the file's own holes will be: each from its row as given (``held_back_table``).

Why: impute holds back ~5% of every column's observed cells at once, so a held-back cell's
row had lost on average ~2 more cells, cells the final fill has (breast_cancer with 5% of
its cells missing: 822 held back). On collinear columns that is most of a linear imputer's
error: IterativeImputer's held-back NRMSE on ``mean_radius`` was 0.33 (0.029 now; its error
on the file's real holes 0.017), and ``select=auto`` kept the forest there, 4x worse on the
real holes (8 of 30 choices changed; true NRMSE pooled 0.466 -> 0.457). ``EncoderImputer``
had the same gap (``encoderkit/heldback_rows.py``).

The models are still fitted with every held-back cell missing: the encoder trained on the
held-back copy of the file, and the domain's classical imputers (a table's IterativeImputer,
forest, category forests) are fitted once on that copy, the run's training store
(``Domain.training_store``: the imputers fitted on the run's rows, applied to other rows
row by row, as ``encoderkit infill`` of a trained run), once each for the blend and every
candidate alone. Only the fills are made layer by layer (``heldback_rows.held_back_fills``),
so none of them sees the cell it is scored on. Those fits are released once the held-back
cells are filled (the domain's ``release_training_imputers``), before the file's fill.
The fill of the file's own holes is untouched: it fits the imputers on the file, as before.
Scored so, IterativeImputer replays the ``REPLAY_ROUNDS`` rounds of a fit for other rows
(``domains/tabular/blend.py``), where the file's fill runs all of its rounds on the file.
Filling the file with the held-back copy's fits instead (one fit a run, the scored procedure
used) was measured and left (session 54, 20% of cells hidden): the file's NRMSE moved by more
than the imputers' own seed noise, breast_cancer 0.397 -> 0.403 (noise 0.0004), grunfeld
0.488 -> 0.503 (0.003), star98 0.633 -> 0.638 (0.001); the fits it saves are ~1-7 s a run.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from encoderkit.heldback_rows import held_back_fills
from encoderkit.impute_candidates import candidate_fills
from encoderkit.impute_models import RememberedPredict, ensemble_infill


def fitted_domain(models: Sequence[Any], store: str) -> Any:
    """A copy of the models' fill domain whose classical imputers are fitted on ``store``
    (the records the models trained on) and fill every other table row by row; the models'
    own domain, which fills the file, keeps fitting them on the table it fills."""
    domain = copy.copy(models[0].infill_domain({}))
    domain.training_store = store
    domain.training_inputs = getattr(models[0], "store_inputs", None)
    return domain


def held_back_table(models: Sequence[Any], data: pd.DataFrame, hide: Mapping[str, np.ndarray],
                    columns: Sequence[str] | None, categorical: Sequence[str], store: str, select: bool,
                    watch: Callable[[Callable], Callable] | None = None) -> dict[str, pd.DataFrame]:
    """Per fill of the held-back cells ``hide`` of the table ``data`` (as given, held-back
    cells visible): ``model`` (the models' fill) and, with ``select``, every candidate of
    ``candidate_fills``; each the table ``data`` with its held-back cells taken from that
    fill of their rows, one layer of them hidden at a time (``held_back_fills``), by the
    imputers fitted on ``store`` (``fitted_domain``). Cells not held back are ``data``'s."""
    domain = fitted_domain(models, store)

    def fills(part: pd.DataFrame) -> dict[str, pd.DataFrame]:
        # the models' pass, answered again for the candidates' own encoder pass (select)
        predict = RememberedPredict(models) if select else None
        model, _ = ensemble_infill(models, part, infill=domain.infill, watch=watch, predict=predict)
        if not select:
            return {"model": model}
        return candidate_fills(models, part, model, False, columns, categorical, watch=watch, predict=predict,
                               domain=domain)

    try:  # every layer in one call: each fitted imputer replays its rounds once (``at_once``)
        return held_back_fills(fills, data, hide, at_once=True)
    finally:  # the file's fill fits its own: a domain's fits of ``store`` are not kept beside them
        release = getattr(domain, "release_training_imputers", None)
        if release is not None:
            release()


def layered(data: Any, hide: Mapping[str, np.ndarray], series: bool, store: str | None) -> bool:
    """Whether ``held_back_table`` fills the held-back cells: a table (not a series file)
    whose training store is known, every held-back channel one of its columns by name."""
    return store is not None and not series and isinstance(data, pd.DataFrame) \
        and all(name in data.columns for name in hide)
