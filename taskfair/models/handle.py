"""What every classifier shares, whatever its backbone: the handle, the device and dtype
choice, the logits of a forward, and the float state that task vectors and fingerprints
are made of.

The bottom of :mod:`taskfair.models`: it imports no other module of the package, so every
loader (and every layer above: evaluate, train, sweep) can use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from taskfair.errors import ModelLoadError

__all__ = [
    "ModelHandle",
    "float_state",
    "logits_of",
    "resolve_device",
    "resolve_dtype",
    "safetensors_fingerprint",
    "state_fingerprint",
]


@dataclass
class ModelHandle:
    """A two-class classifier and what it needs to read raw inputs.

    ``model(**inputs)`` returns logits ``(batch, 2)`` (directly or as ``.logits``).
    ``processor`` is a tokenizer (``modality == "text"``) or a callable image
    preprocessor (``modality == "image"``). ``spec`` is JSON-able and is what a bundle
    records about the model.
    """

    model: torch.nn.Module
    processor: Any
    modality: str
    spec: dict = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """cuda > mps > cpu, unless ``device`` or ``TASKFAIR_DEVICE`` says otherwise."""
    choice = device if device is not None else os.environ.get("TASKFAIR_DEVICE") or None
    if choice not in (None, "auto"):
        dev = torch.device(choice)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError(
                f"Device {choice!r} was asked for but CUDA is not available; use 'cpu'."
            )
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    # For checks, not for speed: derivatives against finite differences, kernel agreement.
    "float64": torch.float64,
    "fp64": torch.float64,
}


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """A torch dtype from a name (``float32``/``fp32``, ``float16``, ``bfloat16``,
    ``float64``) or a dtype; None means float32."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ModelLoadError(f"Unknown dtype {dtype!r}: use one of {sorted(_DTYPES)}.") from None


def logits_of(output) -> torch.Tensor:
    """The logits tensor of a model's forward output (transformers or plain module)."""
    return output if isinstance(output, torch.Tensor) else output.logits


def float_state(model_or_sd) -> dict[str, torch.Tensor]:
    """The floating-point entries of a state dict: parameters and float buffers.

    Integer buffers (position ids, token type ids, batch-norm ``num_batches_tracked``)
    are not weights and are skipped on purpose.
    """
    sd = model_or_sd.state_dict() if isinstance(model_or_sd, torch.nn.Module) else model_or_sd
    return {k: v for k, v in sd.items() if torch.is_floating_point(v)}


def _hash_tensor(h, key: str, t: torch.Tensor) -> None:
    t = t.detach().to("cpu").contiguous()
    h.update(f"{key}|{t.dtype}|{tuple(t.shape)}\n".encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def state_fingerprint(model_or_sd) -> str:
    """sha256 over the sorted float tensors' names, dtypes, shapes and bytes.

    Two models share a fingerprint exactly when their weights are bit-identical.
    """
    h = hashlib.sha256()
    for key, t in sorted(float_state(model_or_sd).items()):
        _hash_tensor(h, key, t)
    return h.hexdigest()


def safetensors_fingerprint(files: Iterable[str | os.PathLike]) -> tuple[str, set[str]]:
    """:func:`state_fingerprint` of the float tensors stored in ``files`` (one model's
    safetensors shards), read through the memory map one tensor at a time, and the keys
    it covered. Equal to the fingerprint of a model loaded from them whenever the
    model's float state has exactly these keys (the caller checks)."""
    where: dict[str, Path] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                where[key] = Path(f)
    h = hashlib.sha256()
    covered: set[str] = set()
    with contextlib.ExitStack() as stack:
        handles = {
            f: stack.enter_context(safe_open(str(f), framework="pt")) for f in set(where.values())
        }
        for key in sorted(where):
            t = handles[where[key]].get_tensor(key)
            if torch.is_floating_point(t):
                _hash_tensor(h, key, t)
                covered.add(key)
    return h.hexdigest(), covered
