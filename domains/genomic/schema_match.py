"""Fine-tuning a pretrained DNA encoder: whether this run's tokens are the pretraining run's
(``Domain.pretrained_schema_differences``).

The store holds base codes of one fixed alphabet (``tokens.BASES``, its schema's
``alphabet``); the token ids the embedding and the head index come from the options
``tokens``, ``k`` and ``iupac`` (``tokens.Vocabulary``: specials, single bases, then the
k-mers). Finetune takes those options from the checkpoint, but ``domain.<option>=`` on the
command line changes them: ``domain.iupac=keep`` renumbers every k-mer in a table of the same
padded size, with no shape to tell. So these must match: the store's alphabet and the token
strings in id order (the ``[unused]`` padding rows are no token). Base counts and the ingest
options that only choose which sequences are read (``min_length``, ``max_n_run``) are no
difference.
"""

from __future__ import annotations

from typing import Any, Mapping

from encoderkit.domain import order_differences

from .tokens import Vocabulary

TOKENISATION = ("tokens", "k", "iupac")


def _real_tokens(vocab: Vocabulary) -> list[str]:
    return vocab.token_strings()[: vocab.size]


def pretrained_schema_differences(domain: Any, pretrained: Mapping[str, Any]) -> list[str]:
    """``GenomicDomain.pretrained_schema_differences``: the alphabet, then the tokenisation
    options that differ and the first tokens they renumber."""
    found: list[str] = []
    alphabet = domain.schema.get("alphabet")
    alphabet_then = (pretrained.get("schema") or {}).get("alphabet")
    if None not in (alphabet, alphabet_then) and alphabet != alphabet_then:
        found.append(f"the store's bases are coded {alphabet!r}, the pretraining store's "
                     f"{alphabet_then!r}")
    options = pretrained.get("options") or {}
    try:
        then = Vocabulary(str(options["tokens"]), int(options["k"]), str(options["iupac"]))
    except (KeyError, TypeError, ValueError):  # a checkpoint that did not record them
        return found
    if then == domain.vocab:  # the same options: the same vocabulary (a 4**8 one is 0.3 s to spell)
        return found
    tokens, tokens_then = _real_tokens(domain.vocab), _real_tokens(then)
    if tokens == tokens_then:  # k alone differs, with single-base tokens
        return found
    now = {"tokens": domain.vocab.tokens, "k": domain.vocab.k, "iupac": domain.vocab.iupac}
    said = [f"domain.{key}={now[key]!r} in this run, {getattr(then, key)!r} in pretraining"
            for key in TOKENISATION if now[key] != getattr(then, key)]
    return found + said + order_differences("token", tokens_then, tokens, where="this run's vocabulary")
