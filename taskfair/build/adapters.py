"""A trained LoRA adapter as compact vector entries: ``B·A`` and its scale per target module.

peft keeps, for each adapted module, ``lora_A`` (``(r, in)``, or a ``(r, in, kh, kw)``
convolution) and ``lora_B`` (``(out, r)``, or ``(out, r, 1, 1)``), and merges
``scale · B @ A`` (transposed for GPT-2's ``Conv1D``) into the module's weight. Read before
the merge, they are the vector's entries for those weights in factored form
(:class:`~taskfair.vectors.forms.LowRank`): ``r · (in + out)`` values instead of
``in · out``, and the merger adds them with one ``addmm_`` without expanding them. A module
whose adapter has another shape (a grouped convolution, an embedding adapter) gives its
dense difference instead, from peft's own ``get_delta_weight``.
"""

from __future__ import annotations

import torch

from taskfair.vectors.forms import Entry, LowRank

__all__ = ["PEFT_PREFIX", "lora_entries"]

#: What peft puts in front of the wrapped model's own module names.
PEFT_PREFIX = "base_model.model."


def lora_entries(peft_model: torch.nn.Module, adapter: str = "default") -> dict[str, Entry]:
    """``{weight key of the unwrapped model: entry}`` for every module ``adapter`` adapts.

    Call it before ``merge_and_unload``; the factors are detached copies (float32 on the
    CPU when the model was), so the merge cannot change them."""
    out: dict[str, Entry] = {}
    for name, mod in peft_model.named_modules():
        a, b = getattr(mod, "lora_A", None), getattr(mod, "lora_B", None)
        if a is None or b is None or adapter not in a or adapter not in b:
            continue
        key = name.removeprefix(PEFT_PREFIX) + ".weight"
        base_w = mod.get_base_layer().weight
        wa = a[adapter].weight.detach().clone()
        wb = b[adapter].weight.detach().clone()
        scale = float(mod.scaling[adapter])
        out[key] = _factored(mod, base_w, wa, wb, scale) or mod.get_delta_weight(adapter).detach()
    return out


def _factored(mod, base_w: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor, scale: float):
    """The LowRank entry of one adapted module, or None when its adapter is not a plain
    ``B @ A`` of the weight's shape (then the caller takes the dense difference)."""
    if getattr(mod, "use_dora", {}) and any(mod.use_dora.values()):
        return None  # DoRA rescales the merged weight: not a low-rank difference
    if base_w.dim() == 2 and wa.dim() == 2 and wb.dim() == 2:
        if getattr(mod, "fan_in_fan_out", False):
            # The weight is stored (in, out): delta = (B @ A)ᵀ = Aᵀ @ Bᵀ.
            return LowRank(wa.T.contiguous(), wb.T.contiguous(), scale, tuple(base_w.shape))
        return LowRank(wb, wa, scale, tuple(base_w.shape))
    conv_ok = (
        base_w.dim() == 4
        and wa.dim() == 4
        and wb.dim() == 4
        and tuple(wb.shape[2:]) == (1, 1)
        and getattr(mod.get_base_layer(), "groups", 1) == 1
    )
    if conv_ok:
        # delta[o, i, y, x] = scale · Σ_r B[o, r] · A[r, i, y, x]
        return LowRank(wb.flatten(1), wa.flatten(1), scale, tuple(base_w.shape))
    return None
