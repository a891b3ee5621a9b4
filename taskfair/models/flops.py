"""Counting a vision model's FLOPs per image, for benchmarks' GFLOP/s figures.

Forward hooks on every ``Conv2d`` and ``Linear`` read the real output shapes of one
forward pass, so the count holds for any input size and for any module built from those
layers (EfficientNet-Lite0, a transformers vision model).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["conv_flops"]


def conv_flops(model: nn.Module, image_size: int, in_channels: int = 3) -> int:
    """FLOPs (2 × multiply-accumulates) of Conv2d and Linear layers for one image of
    ``image_size × image_size``. BatchNorm, activations, pooling and additions are not
    counted (they are a few percent of the total and memory-bound anyway).
    """
    macs = [0]

    def conv_hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        kh, kw = mod.kernel_size
        macs[0] += out[0].numel() * (mod.in_channels // mod.groups) * kh * kw

    def linear_hook(mod: nn.Linear, _inp, out: torch.Tensor) -> None:
        macs[0] += out[0].numel() * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    param = next(model.parameters())
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            x = torch.zeros(
                (1, in_channels, image_size, image_size), dtype=param.dtype, device=param.device
            )
            # Keyword call: works for EfficientNetLite0 and transformers vision models.
            model(pixel_values=x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return 2 * macs[0]
