"""``EncoderImputer`` pickled without torch pickles: ``__getstate__`` stores each fitted
model as safetensors bytes plus its JSON description (domain, config), ``__setstate__``
rebuilds the models from them. A mixin of the estimator; split out of
``encoderkit/sklearn.py``, so each module keeps one job.
"""

from __future__ import annotations

from typing import Any

from encoderkit.session_state import model_build


class PickleMixin:
    """``EncoderImputer``'s pickling: its fitted models as bytes, no torch object pickled."""

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        if "models_" in state:
            state["models_"] = [_to_bytes(m) for m in state["models_"]]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "models_" in state:
            state["models_"] = [_from_bytes(b) for b in state["models_"]]
        if hasattr(super(), "__setstate__"):
            super().__setstate__(state)
        else:
            self.__dict__.update(state)


def _to_bytes(model: Any) -> dict[str, Any]:
    """A loaded model -> safetensors bytes + JSON-able description."""
    from safetensors.torch import save

    from encoderkit.train.checkpoint import model_state

    return {"weights": save(model_state(model.model)), "domain": model.domain.describe(),
            "model_config": model.config.to_dict(), "max_seqlen": model.max_seqlen, "step": model.step}


def _from_bytes(blob: dict[str, Any]) -> Any:
    from safetensors.torch import load

    from encoderkit.core import EncoderConfig
    from encoderkit.infer.pretrained import Pretrained
    from encoderkit.modeling import MaskedEncoderModel
    from encoderkit.registry import build_domain
    from encoderkit.train.checkpoint import load_model_state

    domain = build_domain(blob["domain"])
    config = EncoderConfig.from_dict(blob["model_config"])
    with model_build():  # float32 whatever the default dtype; the caller's generators untouched
        model = MaskedEncoderModel(domain, config)
    load_model_state(model, load(blob["weights"]))
    return Pretrained(model=model, domain=domain, config=config, step=int(blob["step"]),
                      max_seqlen=int(blob["max_seqlen"]))
