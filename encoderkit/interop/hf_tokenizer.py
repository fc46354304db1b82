"""What an export writes beside ``config.json`` in ``TOKENIZER_FILE`` (``interop/hf.py``): how
a transformers user builds the model's ``input_ids`` from a record, worked out by asking the
domain itself (``tokenizer_description``)."""

from __future__ import annotations

import contextlib
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from encoderkit.interop.hf_config import special_token_ids

_CHARACTERS = "".join(chr(c) for c in range(33, 127))  # printable ASCII, one at a time


def _token_ids(domain: Any, text: str) -> list[int] | None:
    """The token ids encoderkit gives the record ``text`` (``to_records`` + ``featurize``), or
    None where the domain does not read it."""
    try:
        records = domain.to_records([text])
        if len(records) != 1:
            return None
        return [int(i) for i in domain.featurize(records[0]).fields["ids"]]
    except Exception:  # noqa: BLE001 - a character the domain refuses is simply not in the table
        return None


def _added_token(domain: Any, singles: Mapping[str, list[int] | None],
                 vocab: list[str] | None) -> tuple[int, int, str] | None:
    """(index in input_ids, id, name) of the [CLS] element the domain puts into every record
    at ``cls_position``: the id at that index of every one-character record it reads
    (``singles``), else its ``cls`` special id; None without a ``cls_position``."""
    at = getattr(domain, "cls_position", None)
    if at is None:
        return None
    seen = {ids[at] for ids in singles.values() if ids is not None and len(ids) > at}
    cls = seen.pop() if len(seen) == 1 else special_token_ids(domain).get("cls")
    if cls is None:
        return None
    name = vocab[cls] if vocab and 0 <= cls < len(vocab) else "[CLS]"
    return int(at), int(cls), name


def _sample_text(domain: Any, table: Mapping[str, int]) -> str:
    """A short text to show the domain's ids on: the start of its own infill sample where that
    is text, else the characters it reads."""
    try:
        sample = domain.sample_infill_input()
        sample = sample if isinstance(sample, str) else sample[0]
    except (NotImplementedError, TypeError, KeyError, IndexError):  # no text sample: the characters
        sample = None
    return sample[:16] if isinstance(sample, str) and sample else "".join(table)[:16]


def tokenizer_description(domain: Any, max_seqlen: int | None, run: Any = None) -> dict[str, Any]:
    """What ``TOKENIZER_FILE`` holds: how a transformers user builds ``input_ids`` for the
    export. ``vocab`` (token strings in id order, where the domain names them);
    ``special_tokens_added``: the [CLS] element the domain puts at ``cls_position`` of every
    record (its index, id and name), or none; and, where the domain tokenizes one character
    at a time around it (checked: a string of every character it reads gives the
    concatenation of their single ids), ``char_to_id``, so that ``[char_to_id[c] for c in
    text]`` (with the [CLS] id inserted at its index) is the whole tokenizer. Otherwise the
    ids come from encoderkit itself (``python``), with one ``example`` the domain tokenized."""
    out: dict[str, Any] = {"domain": domain.name,
                           "options": {k: v for k, v in dict(getattr(domain, "options", {}) or {}).items()
                                       if isinstance(v, (str, int, float, bool)) or v is None}}
    vocab = getattr(getattr(domain, "vocab", None), "token_strings", None)
    if callable(vocab):
        with contextlib.suppress(NotImplementedError, TypeError, ValueError):  # described without it
            out["vocab"] = [str(t) for t in vocab()]
    singles = {c: _token_ids(domain, c) for c in _CHARACTERS}  # one-character records
    added = _added_token(domain, singles, out.get("vocab"))
    out["special_tokens_added"] = ([{"token": added[2], "id": added[1], "index": added[0]}]
                                   if added else [])

    def own(ids: list[int] | None) -> list[int] | None:  # a record's own tokens: no [CLS]
        if ids is None or added is None:
            return ids
        at, cls, _ = added
        return ids[:at] + ids[at + 1:] if len(ids) > at and ids[at] == cls else None

    table = {}
    for c in _CHARACTERS:  # the characters the domain reads on their own
        ids = own(singles[c])
        if ids is not None and len(ids) == 1:
            table[c] = ids[0]
    base = "".join(table) * 2
    before = own(_token_ids(domain, base)) if table else None
    for c in _CHARACTERS:  # and those it reads among them (a DNA reader refuses "R" alone)
        ids = own(_token_ids(domain, base + c)) if before is not None and c not in table else None
        if ids is not None and len(ids) == len(before) + 1 and ids[:-1] == before:
            table[c] = ids[-1]
    text = "".join(base + c for c in table)
    whole = own(_token_ids(domain, text)) if table else None
    python = ("import encoderkit; m = encoderkit.load(<run>); "
              "input_ids = m.domain.featurize(m.domain.to_records([text])[0]).fields['ids']")
    if whole is not None and whole == [table[c] for c in text]:
        out["char_to_id"] = table
        if added is None:
            recipe = "input_ids = [char_to_id[c] for c in text], nothing added around the record"
        else:
            at, cls, name = added
            recipe = (f"ids = [char_to_id[c] for c in text]; input_ids = ids[:{at}] + [{cls}] + ids[{at}:] "
                      f"({name}, id {cls}, at index {at} of every record)")
        out["how"] = (f"{recipe}: one token per character; a character not in char_to_id is not "
                      f"read by this model")
    else:
        sample = _sample_text(domain, table)
        ids = _token_ids(domain, sample) if sample else None
        if ids is not None:
            out["example"] = {"text": sample, "input_ids": ids}
            names = out.get("vocab")
            if names and all(0 <= i < len(names) for i in ids):  # what each id stands for
                out["example"]["tokens"] = [names[i] for i in ids]
        out["how"] = ("the domain's tokens are not one per character (ids as in vocab"
                      + (", e.g. example" if ids is not None else "")
                      + ("" if added is None else f"; {added[2]} id {added[1]} at index {added[0]}")
                      + "); build input_ids with encoderkit")
    out["python"] = python
    if max_seqlen:
        out["max_length"] = int(max_seqlen)
        out["long_records"] = (f"encoderkit cuts a record longer than {int(max_seqlen)} tokens into "
                               "windows and pools them; transformers runs the whole input at once, "
                               "so only records up to that length give encoderkit's outputs")
    if run is not None:
        out["run"] = run_name(run)
    return out


def run_name(checkpoint: Any) -> str:
    """The checkpoint an export came from, named from its run folder down (``run/best``,
    ``run/checkpoints/000100``; a checkpoint folder elsewhere by its own name): the file is
    meant to be published, and an absolute path told where the user keeps their runs and
    what their account is called. Nothing reads it back."""
    path = Path(checkpoint)
    if path.parent.name == "checkpoints":  # <run>/checkpoints/<step>
        return PurePosixPath(path.parent.parent.name, path.parent.name, path.name).as_posix()
    if path.name == "best":  # <run>/best, a fine-tuned run's (infer/run_files.py BEST)
        return PurePosixPath(path.parent.name, path.name).as_posix()
    return path.name
