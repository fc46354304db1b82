"""Infill of a raw file into an output file: ``encoderkit infill`` and, from Python,
``Pretrained.infill(path, output=...)``, one code path so both write the same bytes.

A domain with the optional ``infill_file`` hook (genomic) streams the file through its
fill (a genome is never held as text or tokens); any other is read whole with
``read_input``, filled in memory and written with ``write_output``, every cell the fill
left alone kept as the file holds it (a table's ``as_written``)."""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from encoderkit.session_state import warnings_kept
from encoderkit.errors import (DataError, EncoderkitError, InputNotFoundError, UsageError, data_error, reading,
                               refuse_stream)

if TYPE_CHECKING:
    from encoderkit.infer.pretrained import Pretrained


def named(error: EncoderkitError, source: Path) -> EncoderkitError:
    """A data error raised without a file came from the input: name it."""
    if error.file is None and isinstance(error, DataError):
        error.file = str(source)
    return error


@contextmanager
def warnings_named(source: Path) -> Iterator[None]:
    """Warnings raised inside, re-issued naming ``source`` where they do not: the domain's
    infill reads data, not files, so its word on a cell ("3 cells that are not numbers")
    did not say which file."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings_kept(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:  # also when the fill fails: what was said before the error still counts
        for w in caught:
            text = str(w.message)
            warnings.warn(text if str(source) in text else f"{source}: {text}", w.category, stacklevel=3)


def read_delimiter(domain: Any) -> str | None:
    """The delimiter a domain reads text tables with when its ingest was told one (the
    tabular ``delimiter=`` option, kept among the schema's ingest options; the series
    domain's, among its options, taken from its schema); None: by the file's name, as every
    other reader does."""
    options = domain.schema.get("ingest_options") if isinstance(domain.schema, Mapping) else None
    if not isinstance(options, Mapping):
        options = getattr(domain, "options", None)
    return options.get("delimiter") if isinstance(options, Mapping) else None


def _shown(path: str) -> str:
    """A path for a message: a long string given as data (a sequence) cut short."""
    return path if len(path) <= 120 else f"{path[:60]}... ({len(path)} characters)"


def check_infill_paths(source: str | os.PathLike, output: str | os.PathLike,
                       overwrite: bool) -> tuple[Path, Path]:
    """``(input, output)`` as paths, refused before any work: an input that is no file, an
    output that is the input, exists without ``overwrite`` (which replaces a single file
    only) or names a codec that is not installed."""
    from encoderkit.data.textfiles import check_codec
    from encoderkit.outputs import check_output, same_file

    text = os.fspath(source)
    path = Path(text).expanduser()
    if not path.exists():
        raise InputNotFoundError("input does not exist", file=_shown(str(text)), key="input")
    if path.is_dir():
        raise DataError("is a directory; infill reads one file", file=text, key="input")
    refuse_stream(text, key="input")  # a pipe (<(zcat x.gz)) is read more than once
    target = Path(output).expanduser()
    if same_file(target, path):  # a link or another name of it too, before any work
        raise UsageError("output is the input file; write the infilled data elsewhere",
                         file=str(output), key="output")
    check_output(target, overwrite, what="a single file", file_ok=True)
    check_codec(str(target))
    return path, target


def infill_to_file(model: Pretrained, source: Path, output: Path, options: Mapping[str, Any]) -> Path:
    """Fill what is missing in the file ``source`` with ``model`` (``options``: the domain's
    infill options) and write it to ``output`` in the input's format; the paths as
    ``check_infill_paths`` returns them. Returns ``output``."""
    from encoderkit.outputs import write_error

    model.check_infill_options(options)  # before reading: a typo fails fast
    if hasattr(model.domain, "infill_file"):  # a domain that streams the file through its fill
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            with warnings_named(source):
                model.infill_domain(options).infill_file(str(source), str(output), model.predict,
                                                         model.max_tokens)
        except EncoderkitError as e:
            raise named(e, source)
        except (ValueError, KeyError) as e:  # the domain's word on records it cannot use
            raise data_error(e, source) from e
        except OSError as e:
            raise write_error(e, output) from e
        return output
    _fill_in_memory(model, source, output, options)
    return output


def _fill_in_memory(model: Pretrained, source: Path, output: Path, options: Mapping[str, Any]) -> None:
    """``write_output(infill(read_input(source)), output)``, with the checks and the
    messages of the command."""
    import pandas as pd

    from encoderkit.impute_cells import as_written, filled_infinite, warn_infinite
    from encoderkit.outputs import write_error

    # read and written with this call's own copy of the domain: ``read_input`` keeps what it
    # read of the file on the domain (its line end, byte-order mark, decimal mark, a Parquet
    # file's index and schema) for ``write_output``, and the loaded run's domain is shared by
    # the threads of a service: another thread's read during this fill wrote this output with
    # that file's line ends and no byte-order mark
    reader = copy.copy(model.domain)
    with reading(source):
        data = reader.read_input(str(source))
    if hasattr(data, "__len__") and len(data) == 0:
        raise DataError("holds no records to fill", file=source)
    reader.check_output_name(data, str(output))  # before the fill: a name it would not write as
    try:
        with warnings_named(source):
            filled = _filled(model, data, options)
    except EncoderkitError as e:
        raise named(e, source)
    except (ValueError, KeyError) as e:  # the domain's word on records it cannot use
        raise data_error(e, source) from e
    # what ingest and impute say of the infinite values a series fill reads as missing
    warn_infinite(str(source), filled_infinite(data, filled))
    if isinstance(data, pd.DataFrame) and isinstance(filled, pd.DataFrame):
        # every cell the fill left alone as the file holds it (1.50 stays 1.50), as impute writes it
        filled = as_written(str(source), str(output), data, filled, read_delimiter(reader),
                            getattr(reader, "read_decimal", "."))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        reader.write_output(filled, str(output))
    except OSError as e:
        raise write_error(e, output) from e


def _filled(model: Pretrained, data: Any, options: Mapping[str, Any]) -> Any:
    """``model.infill(data, **options)`` through the domain's ``infill_batched``, given the
    model's token budget: a domain whose fill calls the model a batch at a time (a table)
    does not hold a large file's rows as examples and predictions all at once (the same
    batches, the same fills); any other fills as ``infill`` (the base class's default). The
    domain is readied as ``Pretrained.infill`` readies it (the run's training store, for the
    imputers fitted on it; ``data`` is not empty: ``_fill_in_memory`` refused that)."""
    from encoderkit.infer.pretrained import Pretrained

    domain = model.infill_domain(options)
    if type(model).infill is not Pretrained.infill:
        return model.infill(data, **options)  # a fine-tuned run says it has no infill head
    if domain is model.domain:  # the run's own domain stays as loaded
        domain = copy.copy(domain)
    domain.training_store = model.training_store(options)
    domain.training_inputs = getattr(model, "store_inputs", None)
    domain.run_dir = model.run_dir()
    return domain.infill_batched(data, model.predict, model.max_tokens)
