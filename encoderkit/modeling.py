"""A domain's embedder + the core ``Encoder`` + the domain's head, as one module.

Training and inference both build their model here. The head runs only at the
predicted tokens (sparse prediction), so a batch with 15% masking pays the head's
cost on 15% of its tokens.
"""

from __future__ import annotations

from torch import Tensor, nn

from encoderkit.batch import PackedBatch
from encoderkit.core import Encoder, EncoderConfig
from encoderkit.domain import Domain, HeadOutput


class MaskedEncoderModel(nn.Module):
    def __init__(self, domain: Domain, config: EncoderConfig) -> None:
        super().__init__()
        if config.rope_axes != domain.rope_axes:
            raise ValueError(f"model.rope_axes={config.rope_axes} but domain {domain.name!r} "
                             f"uses {domain.rope_axes} position axes; set model.rope_axes="
                             f"{domain.rope_axes}")
        self.config = config
        self.embedder = domain.embedder(config)
        self.encoder = Encoder(config)
        self.head = domain.head(config, self.embedder)

    def compile(self, *args, **kwargs) -> None:  # noqa: D401 - nn.Module.compile signature
        """``torch.compile`` the encoder layers (see ``Encoder.compile``).

        The embedder and head are domain code (they may branch on data) and stay eager,
        as does per-batch planning; compiling the whole model would graph-break there.
        """
        self.encoder.compile(*args, **kwargs)

    def encode(self, batch: PackedBatch) -> Tensor:
        """Hidden states ``[T, d]`` for every token of the batch."""
        hidden = self.embedder(batch.inputs)  # [T, d]
        return self.encoder(hidden, batch.positions, batch.cu_seqlens, batch.max_seqlen,
                            cu_seqlens_host=batch.cu_seqlens_host)

    def forward(self, batch: PackedBatch, with_targets: bool = True) -> HeadOutput:
        hidden, weights = gather_predicted(self.encode(batch), batch)
        return self.head(hidden, batch.targets if with_targets else None, weights)


def gather_predicted(hidden: Tensor, batch: PackedBatch) -> tuple[Tensor, Tensor | None]:
    """Hidden states ``[P, d]`` and loss weights ``[P]`` (or None) of the predicted tokens."""
    idx = batch.predict_index
    if idx is not None:  # precomputed on the host: gather without a device read
        return (hidden.index_select(0, idx),
                batch.weights.index_select(0, idx) if batch.weights is not None else None)
    # boolean indexing counts the predicted tokens on the device (a sync on CUDA)
    return hidden[batch.predict], batch.weights[batch.predict] if batch.weights is not None else None
