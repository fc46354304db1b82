"""Whether a domain's model can be a ModernBERT at all, asked before an import builds it.

``encoderkit import-hf ... domain=timeseries`` first advised ``model.rope_axes=2`` (the
domain's axes), and that advice, taken, ended in an *export* error listing five problems: a
domain whose embedder, head or positions ModernBERT cannot hold is not importable whatever
the overrides, so that is said first, in import's words (``check_importable_domain``).
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from encoderkit.errors import UsageError
from encoderkit.session_state import warnings_kept
from encoderkit.interop.hf_names import embedder_problems, head_problems, ours_to_hf_name


def domain_problems(domain: Any, config: Any) -> list[str]:
    """What keeps ``domain``'s model from being a ModernBERT: positions other than 1-D, an
    embedder other than one token embedding, a head other than dense -> GELU -> norm ->
    decoder. The embedder and head are built on the meta device (shapes only)."""
    from encoderkit.train.model_size import meta_parameters

    axes = getattr(domain, "rope_axes", 1)
    problems = []
    if axes != 1:
        problems.append("its tokens are unordered (rope_axes=0)" if axes == 0 else
                        f"its positions have {axes} axes (rope_axes={axes})")
    def build() -> nn.Module:
        parts = nn.Module()
        parts.embedder = domain.embedder(config)
        parts.head = domain.head(config, parts.embedder)
        return parts

    try:
        with warnings_kept():  # the real build says them; none before a refusal
            warnings.simplefilter("ignore")
            parts, _ = meta_parameters(build)
    except (ValueError, TypeError, KeyError, AttributeError):
        return problems  # the full build says what is wrong with the config itself
    problems += embedder_problems(parts.embedder) + head_problems(parts.head)
    unmapped = sorted(n for n, _ in parts.named_parameters() if ours_to_hf_name(n) is None)
    if unmapped:
        problems.append(f"parameters with no ModernBERT counterpart: {unmapped[:8]}")
    return problems


def check_importable_domain(domain: Any, config: Any) -> None:
    """Refuse, before any model is built, a domain whose model cannot be a ModernBERT."""
    problems = domain_problems(domain, config)
    if problems:
        raise UsageError(
            f"domain {domain.name!r} cannot be imported from Hugging Face ModernBERT: its model cannot "
            f"be a ModernBERT ({'; '.join(problems)}); import-hf takes a token-id domain with 1-D "
            "positions whose head is dense -> GELU -> norm -> decoder (the genomic domain, or a plug-in "
            "domain built alike)", key="domain")
