"""What ``encoderkit impute`` shows of its long steps after training (the fill of the
held-back cells, the candidate fills of ``select=auto``, the fill of the file, the write):
a line as each step starts and one with its time as it ends (``cliutil.phase``), and a bar
with an ETA over each pass of the encoder, the one part of those steps with a count here
(a table's rows with a hole, a series' windows). The classical fills (IterativeImputer,
the forest, interpolation) run inside the domain and have no count impute can see: their
step's two lines say them. A 200k-row table spent 7.5 minutes after training without a
line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ContextManager, Iterator, Sequence

from encoderkit.cliutil import phase, progress_bar

PredictFn = Callable[[Sequence[Any]], list]

# a pass of the encoder advances its bar a run of whole batches at a time: about this many
# runs a pass (each one call of ``predict``; a call costs far less than a batch)
BAR_UPDATES = 50
# a pass shorter than this draws no bar (a small file: its step's two lines say enough)
BAR_DELAY_S = 2.0


@dataclass(frozen=True)
class Shown:
    """How impute shows its steps: ``tell`` says a line (on stderr, or the caller's log;
    nothing with ``progress=false``); with ``bars`` each encoder pass gets a bar of the
    ``unit``s it predicts."""

    tell: Callable[[str], None]
    bars: bool = False
    unit: str = "example"

    def phase(self, start: str, done: str) -> ContextManager[None]:
        """``start`` said now, ``done`` with the step's seconds once it ends (``cliutil.phase``)."""
        return phase(self.tell, f"impute: {start}", f"impute: {done}")

    def watch(self, models: Sequence[Any]) -> Callable[[PredictFn], PredictFn] | None:
        """The wrapper ``ensemble_infill`` / ``candidate_fills`` put around the ``predict``
        a domain's infill calls, drawing the bar (``barred``); None without bars."""
        if not self.bars:
            return None
        budget = common_budget(models)
        return lambda predict: barred(predict, budget, self.unit)


QUIET = Shown(lambda _line: None)


def model_fill_words(models: Sequence[Any]) -> str:
    """What the model's fill runs, for a step's line: the encoder's pass (the bar), then,
    for a table whose domain blends it with classical imputers (``infill_blend``), those,
    which take most of the step and have no bar."""
    options = getattr(getattr(models[0], "domain", None), "options", None) if models else None
    blend = options.get("infill_blend") if isinstance(options, dict) else None
    if isinstance(blend, str) and blend != "none":
        return f"the encoder, then the classical imputers blended with it: infill_blend={blend}"
    return "the encoder"


def common_budget(models: Sequence[Any]) -> int | None:
    """The token budget every model's ``predict`` packs its batches under
    (``Pretrained.max_tokens``); None when they differ or one has none."""
    budgets = {getattr(m, "max_tokens", None) for m in models}
    budget = budgets.pop() if len(budgets) == 1 else None
    return int(budget) if isinstance(budget, int) else None


def barred(predict: PredictFn, budget: int | None, unit: str) -> PredictFn:
    """``predict`` that draws a bar of the examples predicted (``cliutil.progress_bar``: a
    line a redraw in a log), calling ``predict`` a run of whole batches at a time
    (``whole_batches``): the same predictions, bit for bit, as one call."""
    def run(examples: Sequence[Any]) -> list:
        examples = list(examples)
        out: list = []
        with progress_bar(total=len(examples), desc="encoder", unit=unit, delay=BAR_DELAY_S) as bar:
            for part in whole_batches(examples, budget):
                out += predict(part)
                bar.update(len(part))
        return out
    return run


def whole_batches(examples: list, budget: int | None) -> Iterator[list]:
    """``examples`` in consecutive runs of about 1 / ``BAR_UPDATES`` of them, each cut where
    ``predict_examples`` starts a batch (``pack_in_order`` under ``budget``): a call on a run
    packs the very batches one call on them all packs, so the predictions are the same, bit
    for bit (a batch's make-up moves the last bits of its rows'). One run when the budget is
    not known (models of different ``max_tokens``) or an example is longer than it (each
    call's budget is then its own longest example, which a run may not hold)."""
    from encoderkit.infer.embed import pack_in_order

    if budget is None or not examples or max(len(e) for e in examples) > budget:
        yield examples
        return
    size = max(1, -(-len(examples) // BAR_UPDATES))
    run: list = []
    for group in pack_in_order(examples, len, budget):
        run += group
        if len(run) >= size:
            yield run
            run = []
    if run:
        yield run
