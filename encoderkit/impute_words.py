"""The user's pretraining words (``encoderkit impute ... train.steps=8``, ``EncoderImputer(
overrides=...)``) read against the imputer's own parameters.

The imputer writes its own words (``run.seed=``, ``train.steps=``, ``run.dir=``, ...) and the
user's come after them, so a user's word for the same key silently won: every model of an
ensemble got the user's ``run.seed`` (identical weights, a spread of 0 at every cell), and
``EncoderImputer(steps=5, overrides=("train.steps=8",))`` trained 8 steps. Two rules here:

- ``member_seeds``: a user's ``run.seed`` / ``data.seed`` is the first model's seed and model k
  gets it + k, as the imputer's own ``seed`` is, so the members always differ and a word that
  works with one model keeps its meaning with several (refusing it would break such a
  command for ``n_models=2``).
- ``refuse_contradictions``: a word that sets what one of the imputer's parameters sets, to
  another value, is a usage error naming both, where the parameter was set (not at its
  default: then the word is how the user chose the value, as before); a word for a key the
  imputer must own (its runs' folder, its training store) is refused whatever it says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from encoderkit.errors import UsageError

SEED_KEYS = ("run.seed", "data.seed")


@dataclass(frozen=True)
class Word:
    """One ``key=value`` word as Hydra's grammar reads it (``deleted``: ``~key``, value None)."""

    text: str
    key: str
    value: Any
    deleted: bool = False


def read_words(words: Sequence[str]) -> list[Word]:
    """The words Hydra's grammar reads, each with its key and value; a word it cannot read (a
    typo of the grammar) is left out: composing the config reports it, naming it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from encoderkit.overrides import readable

    parser = OverridesParser.create()
    out = []
    for text, quoted in zip(map(str, words), readable(list(map(str, words)))):
        try:
            o = parser.parse_overrides([quoted])[0]
        except Exception:  # the grammar's errors, whatever their type
            continue
        out.append(Word(text, o.key_or_group, None if o.is_delete() else o.value(), o.is_delete()))
    return out


def member_seeds(words: Sequence[str], seed: int) -> tuple[list[str], dict[str, int]]:
    """``words`` without the user's ``run.seed`` / ``data.seed``, and the first model's value of
    each: the user's where the last word for it gives an int, else ``seed`` (model k adds k).
    A word whose value is no int (``null``, text) stays, for the config's own error; ``~key``
    (back to the config's value) gives ``seed``."""
    read = read_words(words)
    bases: dict[str, int] = {}
    drop: set[str] = set()
    for key in SEED_KEYS:
        mine = [w for w in read if w.key == key]
        last = mine[-1] if mine else None
        if last is None or last.deleted:
            bases[key] = seed
        elif isinstance(last.value, int) and not isinstance(last.value, bool):
            bases[key] = int(last.value)
        else:  # not a seed: the word stays and the config refuses it
            bases[key] = seed
            continue
        drop |= {w.text for w in mine}
    return [w for w in map(str, words) if w not in drop], bases


@dataclass(frozen=True)
class Param:
    """One of the imputer's parameters and the pretraining keys it sets. ``value`` / ``default``:
    its value and default (a word for its keys is refused only where the two differ and the
    word says otherwise); ``owned``: the imputer must set the keys itself, so any word for them
    is refused but one of ``agree`` (values that change nothing); ``why``: what the keys set
    (``owned``: and from which parameter), said with the refusal."""

    name: str
    value: Any
    default: Any
    keys: tuple[str, ...]
    owned: bool = False
    agree: tuple[Any, ...] = ()
    why: str = ""


def _same(a: Any, b: Any) -> bool:
    """Two values alike as a user reads them (``5`` and ``np.int64(5)``, ``'auto'`` and ``auto``)."""
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)
    return text(a) == text(b)


def refuse_contradictions(words: Sequence[str], params: Sequence[Param], owner: str) -> None:
    """A ``UsageError`` (a ``ValueError``) naming the first word of ``words`` that contradicts
    one of ``params`` and that parameter (see the module doc); ``owner``: who the parameters
    are of, as the message names them (``EncoderImputer``, ``impute``)."""
    for word in read_words(words):
        for p in params:
            if word.key not in p.keys:
                continue
            if p.owned:
                if any(_same(word.value, a) for a in p.agree):
                    continue
                raise UsageError(f"The override {word.text!r} sets what {owner} sets itself ({p.why}): "
                                 f"drop the override", key=p.name)
            if _same(p.value, p.default) or _same(word.value, p.value):
                continue
            raise UsageError(f"The {p.name!r} parameter of {owner} ({p.name}={p.value!r}) and the override "
                             f"{word.text!r} both set {p.why}; set it once: drop the override, or leave "
                             f"{p.name} at its default ({p.default!r})", key=p.name)
