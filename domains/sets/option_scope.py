"""Where the sets domain's options take effect (``encoderkit.option_effects`` states the
rule: a value the user set that cannot take effect is refused, naming the option).

A masker's rate is read by that masker only. The coordinate options (``unit``, the
``jitter`` / ``random_rotation`` augmentation, the ``offset_bands`` embedding) act on the
rotary positions, which sets without coordinates (or with ``use_coordinates=false``) do not
have: ``SetsDomain.rope_axes`` is then 0 and each of them changes nothing. (``order`` and
``chunking=spatial`` there are refused by the domain itself, as values that cannot work.)
"""

from __future__ import annotations

from encoderkit.option_effects import Masker, OptionScope, Positions, Scope

OPTION_SCOPE = OptionScope(
    run=(Scope("domain.mask_rate", (Masker(("random",)),)),
         Scope("domain.feature_mask_rate", (Masker(("feature",)),)),
         *(Scope(f"domain.{key}", (Positions(),)) for key in ("unit", "jitter", "random_rotation", "offset_bands"))),
    no_positions="the store's sets have no coordinates, or domain.use_coordinates=false",
)
