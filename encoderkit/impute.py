"""One-call imputation: ``encoderkit impute input=<table or series file> output=<filled file>``.

Transductive, like scikit-learn's imputers: the model is fitted on the observed values
of the file it fills. Steps: read the file through the domain; hold back a small random
share of the observed cells (``holdout``); ingest the rest into a temporary store;
pretrain (``experiment=impute``: a small model, ``train.steps=auto``); fill the held-back
cells and score them next to a simple baseline (column mean / mode for tables, linear
interpolation in time for series); with ``select=auto`` (default), also score classical
candidate fills on them and keep, per column / channel, the model unless a candidate wins
clearly (``encoderkit/selection.py``), and score the fill so assembled, the one written;
fill the file's missing cells (held-back cells visible again); write the output
atomically; print a summary.

``n_models > 1`` trains that many models with different seeds and averages their
predictions (multiple imputation); ``ensemble_infill`` also returns the per-cell spread.
The domain is reached through the registry by name; this module reads only user data
(DataFrames and numpy arrays) and, for tables, the column kinds of the store's schema.

This module runs the steps in order (``impute``); its parts are modules of their own:
``impute_cli`` (usage and arguments), ``impute_layout`` (the file's layout guessed from its
head), ``impute_read`` (the input as the domain reads it), ``impute_holed`` (the held-back
copy trained on), ``impute_models`` (pretrain words, fitting, the averaged fill),
``impute_words`` (the user's pretraining words against impute's own parameters),
``impute_heldback`` (the held-back cells of a table filled as the file's holes will be),
``impute_candidates`` (the fills ``select=auto`` compares), ``impute_regions`` (a series'
interior and leading / trailing gaps), ``impute_cells`` (cells, held-back draws, choices),
``impute_date_text`` (date-time fills in the file's own form), ``impute_scores`` (the
held-back cells' errors and verdict), ``impute_progress`` (what is shown of the long steps),
``impute_report`` (the summary). Their names used by ``encoderkit.cli``, the tests
and ``EncoderImputer`` stay importable from here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from encoderkit.session_state import warnings_kept
from encoderkit.cliutil import check_device, say as say_line
from encoderkit.data import textfiles
from encoderkit.errors import (DataError, EncoderkitError, InputNotFoundError, UsageError, UnusedColumnWarning,
                               without_unknown_values)
from encoderkit.impute_candidates import assemble, candidate_fills
from encoderkit.impute_cells import (Channel, Choice, Score, baseline_fill, channels, draw_holdout, is_missing,
                                     score_holdout, select_fills, series_baselines, warn_infinite, with_hidden)
from encoderkit.impute_cli import USAGE, parse, run
from encoderkit.impute_holed import holed_error, holed_options, readable_holdout
from encoderkit.impute_layout import (dated_column, guess_columns, guess_domain, infer_domain, series_column,
                                      time_column)
# ensemble_infill is looked up here by the steps below (held_back, the fill): a test patches it here
from encoderkit.impute_models import (DOMAIN_OVERRIDES, RememberedPredict, check_overrides, ensemble_infill,
                                      fit_models, pretrain_overrides)
from encoderkit.impute_progress import QUIET, Shown, model_fill_words
from encoderkit.impute_read import ReadInput, keep_empty, read_input, refuse_empty, writable
from encoderkit.impute_regions import (fill_ends, holdout_shortfall, scored_cells, split_hide, unscored,
                                       with_ends, written_channels)
from encoderkit.impute_report import ImputeReport, unfilled_columns
from encoderkit.impute_scores import score_written
from encoderkit.impute_words import SEED_KEYS, Param, refuse_contradictions
from encoderkit.outputs import atomic_write, check_output, write_error
from encoderkit.input_reads import one_command
from encoderkit.plausible_fills import deferred, plausible_channels, plausible_fills
from encoderkit.selection import SELECT
from encoderkit.train.run_dir import RunFolder

# The names other modules and the tests import from here (``encoderkit.cli`` runs ``run``),
# wherever they are defined now.
__all__ = ["impute", "ImputeReport", "USAGE", "parse", "run", "check_run_dir", "RUN_DIR_MARKER", "held_back",
           "pretrain_overrides", "fit_models", "ensemble_infill", "assemble", "infer_domain", "time_column",
           "series_column", "dated_column"]

OUTPUT_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".parquet", ".pq", ".npy", ".npz")
TEXT_SUFFIXES = textfiles.TEXT_TABLE_SUFFIXES  # those written compressed by a .gz / .bz2 / .xz / .zip name


# written into a kept run_dir: a later impute may replace that folder (overwrite=true), and
# no other (the user's own files: the holed copy is written there under the input's kind)
RUN_DIR_MARKER = "encoderkit-impute.json"


def check_run_dir(run_dir: Path, overwrite: bool, files: Sequence[str] = ()) -> None:
    """Refuse a ``run_dir`` that holds anything but an earlier impute's run (its marker file),
    and that one without ``overwrite=true`` (then emptied): impute writes ``holed.<kind>``,
    ``input.zarr``, ``train.zarr`` and ``model<k>`` there, which would replace a user's files
    of those names, the input among them. The checks a trainer's ``run.dir`` gets (a file in
    its place, a folder that cannot be made, links) are the shared ``train.run_dir`` ones."""
    from encoderkit.train.run_dir import check_run_dir as check_folder, empty_run_dir

    if not check_folder(run_dir, IMPUTE_RUN):
        return
    if not overwrite:
        raise UsageError(f"The 'run_dir' {run_dir} holds an earlier impute's run; pass overwrite=true "
                         f"to replace it, or name a new folder", key="run_dir")
    inside = [f for f in files
              if "://" not in str(f) and run_dir.resolve() in Path(f).expanduser().resolve().parents]
    if inside:
        raise UsageError(f"The 'run_dir' {run_dir} holds {inside[0]}, which this impute reads or "
                         f"writes: replacing the folder would remove it; name another folder", key="run_dir")
    empty_run_dir(run_dir)


def _not_an_imputes(run_dir: Path) -> str | None:
    """What in ``run_dir`` no impute wrote (None: it is an impute's run). Without
    ``RUN_DIR_MARKER`` (an impute from before it was written): only what an impute writes, a
    ``holed.<kind>`` file, the folders ``input.zarr`` (and ``train.zarr``) and ``model<k>``,
    and at least a holed copy and an input store, so a user's folder is never taken for one."""
    from encoderkit.train.run_dir import named_entries

    if (run_dir / RUN_DIR_MARKER).is_file():
        return None
    names = {p.name: p for p in run_dir.iterdir()}
    holed = [n for n, p in names.items() if n.startswith("holed.") and p.is_file()]
    stores = [n for n in ("input.zarr", "train.zarr") if n in names and names[n].is_dir()]
    models = [n for n, p in names.items() if n.startswith("model") and n[5:].isdigit() and p.is_dir()]
    if len(holed) == 1 and "input.zarr" in stores and len(names) == len(holed) + len(stores) + len(models):
        return None
    own = {*holed, *stores, *models}
    return named_entries([n for n in names if n not in own] or list(names))


# the shared run-folder check (``train.run_dir.check_run_dir``) in impute's flavour
IMPUTE_RUN = RunFolder("run_dir", "an impute's run", "impute's work (holed copy, stores, models)", _not_an_imputes)


def held_back(models: Sequence[Any], holed: Any, truth: Sequence[Any], hide: Mapping[str, np.ndarray],
              columns: Sequence[str] | None, categorical: Sequence[str], series: bool,
              select: bool, series_column: Any = None, show: Shown = QUIET, data: Any = None,
              store: str | None = None, plotted: dict | None = None) -> tuple[list[Score], dict[str, Choice]]:
    """The scores of the models' fill of ``holed`` (``truth`` with the cells ``hide`` held
    back) next to the baseline, and with ``select``, the fill used per column / channel
    (``select_fills`` among ``candidate_fills``) and the score of the fill so assembled, the
    one written (``Score.written``: where a candidate replaced the model, the model's own
    figure is not the output's). A function of its own so that the fills it makes (a copy
    of the data each) are freed before the file itself is filled.
    ``series_column``: a long table's series ids, for the baseline (``channels``). ``show``:
    the steps' lines and the encoder's bar (``impute_progress``). ``data``: the file as read
    (held-back cells visible) and ``store`` the models' training store: given for a table,
    each held-back cell is filled from its row as given by imputers fitted on the held-back
    copy (``impute_heldback``), as the file's holes will be; else every fill is of ``holed``.
    ``plotted`` (``plot=``): given a dict, the scored cells are put there per column / channel
    with the fill written on them (``impute_plot.HeldBack``), for the picture."""
    from encoderkit.impute_heldback import held_back_table, layered
    from encoderkit.impute_plot import held_back_cells

    by_rows = data is not None and layered(data, hide, series, store)
    n = int(sum(m.sum() for m in hide.values()))
    with show.phase(f"filling the {n} held-back cell(s) with the model ({model_fill_words(models)}) "
                    f"and the baseline, to score them",
                    "held-back cells filled and scored"):
        # the models' pass, answered again for the candidates' own encoder pass (select)
        predict = RememberedPredict(models) if select and not by_rows else None
        # by_rows: every candidate made now, each held-back cell from its row as given (``impute_heldback``)
        made = held_back_table(models, data, hide, columns, categorical, store, select, show.watch(models)) \
            if by_rows else {}
        guess = made["model"] if by_rows else \
            ensemble_infill(models, holed, watch=show.watch(models), predict=predict)[0]
        # scored per region (a series' end gaps apart: ``impute_regions``), only channels with
        # something to fill
        regions = scored_cells(truth, hide, series)
        chans = list(channels(holed, columns, categorical, series_column))
        visible = [~is_missing(ch.values) for ch in chans]
        # a series file's channels interpolated in one call (a call each was ~8 s at 20k series)
        lines = series_baselines(chans, visible) if series else \
            [baseline_fill(ch, vis, False) for ch, vis in zip(chans, visible)]
        base = {ch.name: line for ch, line in zip(chans, lines)}
        mine = list(channels(guess, columns, categorical))
        scores = [replace(s, region=r) for r, cells in regions.items()
                  for s in score_holdout(truth, mine, base, cells)]
    if not select:
        if plotted is not None:
            plotted.update(held_back_cells(truth, mine, mine, regions, {}))
        return scores, {}
    del base
    with show.phase("select=auto: the candidate fills of the held-back cells (classical imputers, "
                    "interpolation, the encoder alone), compared per column / channel",
                    "select=auto: fill chosen per column / channel"):
        cands = made or candidate_fills(models, holed, guess, series, columns, categorical, series_column,
                                        watch=show.watch(models), predict=predict)
        del made
        del predict  # its outputs, a pass's worth
        fills = {k: list(channels(v, columns, categorical)) for k, v in cands.items()}
        # a series' end gaps chosen for on the held-back samples next to its ends, its interior
        # gaps on the others: an end gap was filled by whatever interpolated best inside
        inner, past = split_hide(truth, hide) if series else (hide, {})
        choices = select_fills(truth, fills, inner, series)
        if past:
            ends = select_fills([ch for ch in truth if ch.name in past], fills, past, series)
            choices = with_ends(choices, ends)
        by = {k: {ch.name: ch for ch in v} for k, v in fills.items()}
        # scored as written: fills the held-back copy's values bound (plausible_fills, as ``_fill``)
        written = plausible_channels(chans, written_channels(mine, by, choices, past))
    if plotted is not None:
        plotted.update(held_back_cells(truth, mine, written, regions, choices))
    return [score_written([s], truth, mine, written, regions[s.region])[0] for s in scores], choices


def _copy_atomic(src: str, dst: str) -> None:
    atomic_write(writable(dst), lambda tmp: shutil.copyfile(src, tmp))


# ---------------------------------------------------------------- the command, step by step

def _check_parameters(input: str, output: str, holdout: float, n_models: int, seed: int, select: str,
                      overwrite: bool, device: str, plot: str | None = None) -> None:
    """Refuse a parameter out of range, and an output impute cannot write, before any work."""
    if not os.path.exists(input):
        raise InputNotFoundError(f"input file {input!r} does not exist", file=input, key="input")
    from encoderkit.outputs import same_file

    if same_file(input, output):  # a link to the input, or another name of it, too
        raise UsageError("The 'output' parameter must differ from 'input' (the input is never "
                         "modified)", key="output")
    if not (isinstance(holdout, (int, float)) and not isinstance(holdout, bool) and 0 <= holdout < 0.5):
        raise UsageError(f"The 'holdout' parameter must be a float in [0, 0.5). Got {holdout!r} instead.",
                         key="holdout")
    if isinstance(n_models, bool) or not isinstance(n_models, int) or n_models < 1:
        raise UsageError(f"The 'n_models' parameter must be an int in the range [1, inf). "
                         f"Got {n_models!r} instead.", key="n_models")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**31:
        # numpy's generators refuse a negative seed, torch one past 64 bits: both failed mid-run
        raise UsageError(f"The 'seed' parameter must be an int in [0, 2**31). Got {seed!r} instead.",
                         key="seed")
    if select not in SELECT:
        raise UsageError(f"The 'select' parameter must be one of {list(SELECT)}. Got {select!r} instead.",
                         key="select")
    # refused before any work: an existing output without overwrite=true, a directory, an
    # unwritable place (encoderkit.outputs, shared by every command that writes)
    check_output(output, overwrite, what="a filled file", file_ok=True)
    textfiles.check_codec(output)
    packed = textfiles.compression(output)
    fmt = Path(textfiles.plain_name(output)).suffix.lower()
    if fmt not in OUTPUT_SUFFIXES:
        raise UsageError(f"The 'output' parameter must be a table or series file "
                         f"({', '.join(OUTPUT_SUFFIXES)}), like the input. Got {output!r}.", key="output")
    if packed and fmt not in TEXT_SUFFIXES:  # a .npy written plain under a .gz name would not read back
        raise UsageError(f"The 'output' parameter {output!r} names a compressed {fmt} file; only text "
                         f"tables ({', '.join(TEXT_SUFFIXES)}) are written compressed: drop the "
                         f"compression suffix", key="output")
    if plot is not None:  # a .png impute may write, by the output's rules (``impute_plot``)
        from encoderkit.impute_plot import check_plot

        check_plot(plot, overwrite, input, output)
    from encoderkit.infer.load import pick_device

    check_device(pick_device(device))  # auto: as every other command (a GPU if torch has one)


def _params(input: str, seed: Any, progress: Any, run_dir: str | None) -> list[Param]:
    """impute's parameters that pretraining words could set too (``impute_words``)."""
    return [Param("seed", seed, 0, SEED_KEYS, why="the models' seeds (model k's: the first's + k)"),
            Param("progress", progress, True, ("train.progress",), why="the training progress bar"),
            Param("run_dir", run_dir, None, ("run.dir",), owned=True,
                  why="each model's run folder, model<k> under the 'run_dir' parameter's folder"),
            Param("input", input, None, ("data.store",), owned=True,
                  why="the training store, made from the 'input' file's observed cells")]


def _domain_class(domain: str) -> type:
    """The registered domain class ``domain``: tabular or timeseries, the two impute fills."""
    from encoderkit.registry import available_domains, get_domain

    if domain not in available_domains():
        raise UsageError(f"The 'domain' parameter must be a registered domain "
                         f"({', '.join(available_domains())}). Got {domain!r} instead.", key="domain")
    if domain not in ("tabular", "timeseries"):  # the two the usage names; others read no tables
        raise UsageError(f"impute fills tables and series (domain=tabular or timeseries). Got "
                         f"domain={domain!r}; use `encoderkit pretrain` then `encoderkit infill` for it",
                         key="domain")
    return get_domain(domain)


def _work_dir(run_dir: str | None, overwrite: bool, input: str, output: str, plot: str | None = None) -> Path:
    """The folder impute works in: ``run_dir`` (checked, marked as an impute's) or a new
    temporary one. ``plot``: written too, so refused inside a ``run_dir`` replaced as the output is."""
    from encoderkit.outputs import make_work_dir  # the next impute removes one a SIGKILL left

    folder = Path(run_dir).expanduser() if run_dir else None  # ~ as the trainer's run.dir (not a folder named ~)
    if folder is not None:
        check_run_dir(folder, overwrite, [input, output] + ([plot] if plot is not None else []))
    try:
        work = folder if folder is not None else make_work_dir("encoderkit-impute-")
    except OSError as e:  # a full or read-only temporary directory
        import tempfile

        raise scratch_error(e, Path(tempfile.gettempdir())) from None
    try:
        work.mkdir(parents=True, exist_ok=True)
        if folder is not None:
            (work / RUN_DIR_MARKER).write_text(json.dumps({"command": "impute", "input": str(input)}) + "\n")
    except OSError as e:  # a file or a dangling link in the path: named, exit 2, as the trainer's
        from encoderkit.train.run_dir import run_dir_error

        if folder is not None:
            raise run_dir_error(folder, e, key="run_dir") from None
        raise DataError(f"cannot create the run_dir: {e.strerror or e}", file=run_dir, key="run_dir") from None
    return work


def scratch_error(exc: OSError, path: Path) -> DataError:
    """A failed write of one of impute's own working files (the work folder, the held-back
    copy of the input) as one line naming it, as a failed write of the output is."""
    return DataError(f"cannot write impute's working file: {exc.strerror or exc} (impute works in the "
                     f"temporary directory, or in run_dir=: point TMPDIR or run_dir at a folder with room)",
                     file=path)


def _fit_and_score(inp: ReadInput, truth: Sequence[Channel], report: ImputeReport, work: Path, suffix: str, *,
                   holdout: float, seed: int, n_models: int, select: str, overrides: Sequence[str],
                   progress: bool, device: str, say: Callable[[str], None], show: Shown = QUIET,
                   keep_cells: bool = False) -> list:
    """Hold back some observed cells of ``truth`` (the channels of ``inp.data``), ingest the
    rest, fit the models, and score their fill of the held-back cells (``held_back``) into
    ``report`` (``keep_cells``: and the scored cells, ``report.heldback``, for ``plot=``); return
    the models. A function of its own so that the held-back copy, its
    cells and the fills scored are freed before the file is filled (the fill and the text
    written after it make copies of the table of their own)."""
    from encoderkit.data.ingest import ingest

    # 2. hold back some observed cells (none the model trained without could not read back),
    # ingest the rest as the input was read (``impute_holed``)
    hide = draw_holdout(truth, holdout, seed, runs=inp.series, ends=inp.series) if holdout > 0 else {}
    if hide and not inp.series:
        hide = readable_holdout(truth, hide)
    report.holdout_cells = int(sum(m.sum() for m in hide.values()))
    report.unscored = unscored(truth, hide)
    if not report.holdout_cells:
        report.no_holdout = holdout_shortfall(truth, holdout, inp.series)
    holed = with_hidden(inp.data, hide, inp.columns) if report.holdout_cells else inp.data
    holed_file = work / f"holed{suffix}"
    try:  # in the file's row order (a series is held in time order): its rows are the file's
        inp.reader.write_output(holed if inp.order is None else holed.iloc[np.argsort(inp.order)], str(holed_file))
    except OSError as e:  # a full TMPDIR, a file-size limit: one line, as for the output
        raise scratch_error(e, holed_file) from None
    store = str(work / "train.zarr")
    options = holed_options(inp.schema, inp.ingest_options, inp.domain, str(holed_file),
                            getattr(inp.reader, "read_decimal", "."))
    with warnings_kept():  # the holed copy's ingest warnings repeat the first read's
        warnings.simplefilter("ignore")
        try:
            ingest(inp.domain, [str(holed_file)], store, overwrite=True, progress=False, verbose=False, **options)
        except EncoderkitError as e:  # said of the user's file, not of impute's temporary copy
            raise holed_error(e, inp.path, str(holed_file), report.holdout_cells) from None

    # 3. fit (progress bar from the trainer), score the held-back cells
    say(f"impute: fitting {n_models} model(s) on the observed cells "
        f"({report.holdout_cells} held back for validation)")
    models = fit_models(inp.domain, store, work, seed=seed, n_models=n_models, overrides=overrides,
                        progress=progress, device=device)
    report.steps = int(models[0].step)
    if report.holdout_cells:
        with deferred():  # the rule once, on the fill scored as written (held_back: plausible_channels)
            report.scores, report.choices = held_back(models, holed, truth, hide, inp.columns, inp.categorical,
                                                      inp.series, select == "auto", inp.series_column, show=show,
                                                      data=inp.data, store=store,
                                                      plotted=report.heldback if keep_cells else None)
    return models


def _fill(models: Sequence[Any], inp: ReadInput, report: ImputeReport, missing: Mapping[str, int],
          show: Shown = QUIET) -> Any:
    """``inp.data`` filled by the models, with each column / channel whose chosen fill
    (``report.choices``) is another candidate's taken from it; the cells filled per column /
    channel into ``report``. A fill that leaves a missing cell is refused."""
    columns, cats = inp.columns, inp.categorical
    # the domain's fill leaves the plausible-fills rule to the end, where the fill is final
    # (plausible_fills module doc: applied twice, a table's column of < 10 values was clipped)
    with show.phase(f"filling the {sum(missing.values())} missing cell(s) of {inp.path} with the model "
                    f"({model_fill_words(models)})", "file filled"), deferred():
        used = {k: c.used for k, c in report.choices.items()}
        at_ends = {k: c.ends.used for k, c in report.choices.items() if c.ends is not None}
        others = any(u != "model" for u in (*used.values(), *at_ends.values()))
        # the models' pass, answered again for the candidates' own encoder pass (others chosen)
        predict = RememberedPredict(models) if others else None
        filled, _ = ensemble_infill(models, inp.data, watch=show.watch(models), predict=predict)
        if others:
            cands = candidate_fills(models, inp.data, filled, inp.series, columns, cats, inp.series_column,
                                    wanted=set(used.values()) | set(at_ends.values()), watch=show.watch(models),
                                    predict=predict)
            del predict
            filled = assemble(cands, used, inp.data, columns, cats)
            if at_ends:  # a series' leading / trailing gaps: their own choice (``impute_regions``)
                filled = fill_ends(cands, at_ends, filled, inp.data, columns, cats, inp.series_column)
            del cands
        # every fill final (the models', a candidate's): the file's own values bound it (plausible_fills)
        filled = plausible_fills(inp.data, filled, columns, cats, inp.series_column)
    after = {ch.name: int(is_missing(ch.values).sum()) for ch in channels(filled, columns, cats)}
    report.filled = {k: missing[k] - after.get(k, missing[k]) for k in missing}
    left = {k: n for k, n in after.items() if n and k in missing}
    if left:  # a fill that came back NaN would be written as a hole with exit 0: refuse it
        name, n = next(iter(left.items()))
        from encoderkit.overrides import option_word

        what = "column" if inp.domain == "tabular" else "channel"
        hint = f"exclude the column ({option_word('exclude', [name])})" if inp.domain == "tabular" else \
            "fill it another way"
        raise DataError(f"{what} {name!r}: {n} missing cell(s) got no finite fill "
                        f"({sum(left.values())} in {len(left)} {what}(s)); no output written: "
                        f"please report it, and {hint} meanwhile", file=inp.path)
    return filled


# impute fills the very file it trained on: a category seen only in the rows ingest held
# out for validation is no news to the user
def _domain_word(word: str) -> bool:
    """A Hydra word that sets a ``domain.*`` option (or the domain group)."""
    from encoderkit.train.compose_errors import word_key

    return word_key(word).lstrip("+~").split(".")[0] == "domain"


@without_unknown_values
@one_command  # the files it reads are this call's inputs only (input_reads)
def impute(input: str, output: str, *, domain: str | None = None, holdout: float = 0.05, seed: int = 0,
           n_models: int = 1, select: str = "auto", overrides: Sequence[str] = (),
           run_dir: str | None = None, overwrite: bool = False, progress: bool = True, device: str = "cpu",
           plot: str | None = None, log: Callable[[str], None] | None = None,
           **ingest_options: Any) -> ImputeReport:
    """Fill every missing cell of the file ``input`` and write ``output`` (see the module doc).
    ``plot``: a .png path; the picture of the fill (``impute_plot``) is written there too."""
    t0 = time.perf_counter()
    say = log or (lambda msg: say_line(msg) if progress else None)
    input, output = str(input), str(output)
    plot = None if plot is None else os.fspath(plot) if isinstance(plot, os.PathLike) else plot
    # the pretraining words checked before the input is looked at (a missing input was said
    # instead of a typo): composed once, as a table's where the domain is not known yet (its
    # keys are the same for either domain; its options, domain.*, are the domain's to check),
    # and words that contradict impute's own parameters refused
    checked = domain if domain in DOMAIN_OVERRIDES else "tabular"
    # a domain not named yet: its domain.* words wait for the guess (a series masker's rate was
    # refused with the table's reason, review r2)
    early = list(overrides) if domain is not None else [w for w in overrides if not _domain_word(w)]
    check_overrides(checked, 0, early)
    refuse_contradictions(overrides, _params(input, seed, progress, run_dir), "impute")
    _check_parameters(input, output, holdout, n_models, seed, select, overwrite, device, plot)
    guessed = domain is None
    if guessed:
        domain = guess_domain(input, ingest_options, say)
    ingest_options, time_guess, numbered = guess_columns(input, domain, ingest_options, guessed, say)
    cls = _domain_class(domain)
    if domain != checked or len(early) != len(overrides):  # the guessed domain's own words, composed
        check_overrides(domain, seed, overrides)  # (a typo fails now, not after ingest)
    work = _work_dir(run_dir, overwrite, input, output, plot)
    # the holed copy keeps the input's kind and compression (x.csv.zip -> holed.csv.zip)
    plain = textfiles.plain_name(input)
    suffix = Path(plain).suffix + input[len(plain):].lower()
    quiet = contextlib.ExitStack()  # closed with the work directory
    try:
        if numbered:  # the series reader names the row numbers "not a channel" at every fill
            quiet.enter_context(warnings_kept())
            warnings.simplefilter("ignore", UnusedColumnWarning)
        # 1. read the file as the domain reads it (the schema of a first ingest tells how)
        inp = read_input(cls, domain, input, output, work, ingest_options, time_guess, say)
        truth = list(channels(inp.data, inp.columns, inp.categorical, inp.series_column))
        missing = {ch.name: int(is_missing(ch.values).sum()) for ch in truth}
        warn_infinite(input, {ch.name: int(np.isinf(ch.values).sum())
                              for ch in truth if ch.values.dtype != object and not ch.temporal},
                      stacklevel=2)  # a date has no infinity (np.isinf refuses date objects)
        keep_empty(inp)  # a table's empty column: kept as it is, said once
        refuse_empty(inp, truth)
        report = ImputeReport(domain=domain, output=output, pools={ch.name: ch.group for ch in truth})

        if sum(missing.values()) == 0:
            try:  # the input byte for byte where the output is the same kind of file
                if "".join(Path(input).suffixes).lower() == "".join(Path(output).suffixes).lower():
                    _copy_atomic(input, output)
                else:
                    inp.write(inp.data, output)
            except OSError as e:
                raise write_error(e, output) from None
            report.nothing_missing = True
            report.unfilled = unfilled_columns(inp.data, inp.columns, inp.schema)
            if plot is not None:  # a file there (overwrite=true) is not this run's picture: said, not removed
                earlier = "; the file there is an earlier one, left as it was" \
                    if os.path.lexists(os.path.expanduser(plot)) else ""
                report.plot_note = f"none written to {plot}: no cell was filled{earlier}"
            report.seconds = time.perf_counter() - t0
            return report

        # after training, each step said as it starts and ends, the encoder's passes with a bar
        show = Shown(say, bars=progress, unit="row" if domain == "tabular" else "window")
        # 2.-3. hold back, fit and score
        models = _fit_and_score(inp, truth, report, work, suffix, holdout=holdout, seed=seed, n_models=n_models,
                                select=select, overrides=overrides, progress=progress, device=device, say=say,
                                show=show, keep_cells=plot is not None)
        del truth  # freed before the file is filled, as the held-back copy (``_fit_and_score``)
        filled = _fill(models, inp, report, missing, show)
        with show.phase(f"writing {output}", f"wrote {output}"):
            try:
                inp.write(filled, output)
            except OSError as e:
                raise write_error(e, output) from None
        if plot is not None:  # once the output is written: drawing (and matplotlib's import) delays no fill
            from encoderkit.impute_figure import draw

            with show.phase(f"drawing {plot}", f"wrote {plot}"):
                t_plot = time.perf_counter()
                report.plot_note = draw(plot, inp, filled, report.heldback)
                report.plot = plot
                report.plot_note += f"; drawn in {time.perf_counter() - t_plot:.1f} s"
    finally:
        quiet.close()
        if not run_dir:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report
