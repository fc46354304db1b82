"""Asking a domain for its other fills (``Domain.infill_candidates``) with or without
``only=``: an override written before ``only`` existed (a plug-in's) is called without it.
``Domain.__init_subclass__`` records per class which it is (``_takes_only``)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Callable, Collection

if TYPE_CHECKING:
    from encoderkit.domain import Domain
    from encoderkit.domain_types import PredictFn


def _takes_only(method: Callable[..., Any]) -> bool:
    """Whether ``method`` accepts the keyword ``only`` by name (a ``**kwargs`` catch-all is
    not taken for it: such a method may hand its keywords to code that has no ``only``)."""
    try:
        param = inspect.signature(method).parameters.get("only")
    except (TypeError, ValueError):  # no signature to read (a builtin): call it the old way
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def candidates_of(domain: Domain, data: Any, predict: PredictFn,
                  only: Collection[str] | None = None) -> dict[str, Any]:
    """``domain.infill_candidates(data, predict, only=only)``, for every domain: nothing is
    made when ``only`` is empty, and an override without ``only`` (a plug-in written before
    it) is called without it and makes all of its fills, which the caller picks from."""
    if only is None:
        return domain.infill_candidates(data, predict)
    if not only:
        return {}
    if type(domain)._candidates_take_only:
        return domain.infill_candidates(data, predict, only=only)
    return domain.infill_candidates(data, predict)
