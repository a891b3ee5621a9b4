"""FLOPs of a BERT-style encoder's forward pass, counted on real (unpadded) tokens only.

For an encoder with ``L`` layers, hidden size ``d``, ``P_enc`` parameters in the encoder
layers and ``P_head`` in the pooler + classifier, over rows of ``ℓ_i`` tokens::

    FLOPs = Σ_i [ 2·P_enc·ℓ_i  +  4·L·d·ℓ_i²  +  2·P_head ]

(``2·P_enc`` per token for the weight matmuls, ``4·L·d·ℓ`` per token for ``QKᵀ`` and
``AV``; embeddings, softmax, layer norms and GELU are not counted). A CNN's FLOPs are
counted beside the model itself (``taskfair.models.conv_flops``).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["ENCODER_FLOPS_FORMULA", "encoder_flops", "encoder_shape"]

ENCODER_FLOPS_FORMULA = "FLOPs = Σ_rows [2·P_enc·ℓ + 4·L·d·ℓ² + 2·P_head] (real tokens ℓ only)"
_HEAD = ("pooler", "classifier", "pre_classifier")


def encoder_shape(model: torch.nn.Module) -> dict:
    """``{layers, hidden, p_enc, p_head}`` of a BERT-style classifier: its layer count,
    hidden size, and parameter counts of the encoder layers and of the pooler + classifier
    (embeddings are in neither)."""
    cfg = model.config
    layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layers
    hidden = getattr(cfg, "hidden_size", None) or cfg.dim
    p_enc = p_head = 0
    for name, p in model.named_parameters():
        if "embeddings" in name:
            continue
        if any(h in name for h in _HEAD):
            p_head += p.numel()
        else:
            p_enc += p.numel()
    return {"layers": int(layers), "hidden": int(hidden), "p_enc": p_enc, "p_head": p_head}


def encoder_flops(model: torch.nn.Module, lengths) -> float:
    """FLOPs of one forward pass over rows of the given real lengths (see
    :data:`ENCODER_FLOPS_FORMULA`); ``lengths`` is one token count per row."""
    s = encoder_shape(model)
    ell = np.asarray(lengths, dtype=np.float64)
    return float(
        (2 * s["p_enc"] * ell + 4 * s["layers"] * s["hidden"] * ell**2 + 2 * s["p_head"]).sum()
    )
