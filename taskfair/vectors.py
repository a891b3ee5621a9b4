"""Task vectors: ``tau = theta_finetuned - theta_base``, key by key.

A :class:`TaskVector` is a dict of floating tensors plus JSON metadata. Only floating
entries of a state dict are kept (parameters and float buffers such as batch-norm
running statistics); integer buffers (``position_ids``, ``token_type_ids``,
``num_batches_tracked``) are not weights and are skipped on purpose.

On disk a vector is one safetensors file; its metadata (base fingerprint, dataset,
subgroup, seed, hyper-parameters) is stored as JSON under the ``taskfair`` key of the
safetensors header. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from taskfair.errors import VectorError
from taskfair.io import atomic_path

__all__ = ["TaskVector", "VectorError", "read_header"]

_META_KEY = "taskfair"
# A safetensors header is JSON; anything bigger than this is not one of ours.
_MAX_HEADER = 100 * 1024 * 1024


class TaskVector:
    """A dict of weight differences with arithmetic.

    ``tensors`` maps state-dict keys to floating tensors; ``meta`` is a JSON-able dict
    (``base_fingerprint``, ``name``, ``kind``, ``group``, ``seed``, ``hparams``, ...).
    Arithmetic returns new vectors; metadata of the left operand is kept minus the
    fields that no longer describe the result.
    """

    __slots__ = ("tensors", "meta")

    def __init__(self, tensors: Mapping[str, torch.Tensor], meta: Mapping | None = None):
        bad = [k for k, v in tensors.items() if not torch.is_floating_point(v)]
        if bad:
            raise VectorError(
                f"Task vectors hold floating tensors only; got integer entries {bad[:3]}."
            )
        self.tensors: dict[str, torch.Tensor] = dict(tensors)
        self.meta: dict = dict(meta or {})

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_state_dicts(
        cls, base_sd: Mapping, finetuned_sd: Mapping, meta: Mapping | None = None
    ) -> TaskVector:
        """``finetuned - base`` over the floating entries both share.

        Raises :class:`VectorError` when the floating keys or shapes differ: the two
        models are not the same architecture.
        """
        base_f = {k: v for k, v in base_sd.items() if torch.is_floating_point(v)}
        ft_f = {k: v for k, v in finetuned_sd.items() if torch.is_floating_point(v)}
        if base_f.keys() != ft_f.keys():
            only_b = sorted(base_f.keys() - ft_f.keys())[:3]
            only_f = sorted(ft_f.keys() - base_f.keys())[:3]
            raise VectorError(
                f"Base and fine-tuned state dicts differ in keys (only in base: {only_b}, only in "
                f"fine-tuned: {only_f}): both must be the same architecture."
            )
        out = {}
        for k, b in base_f.items():
            f = ft_f[k]
            if b.shape != f.shape:
                raise VectorError(
                    f"Shape mismatch at {k}: base {tuple(b.shape)} vs fine-tuned {tuple(f.shape)}."
                )
            out[k] = f.detach().to(b.device, b.dtype) - b.detach()
        return cls(out, meta)

    @classmethod
    def from_models(
        cls, base: torch.nn.Module, finetuned: torch.nn.Module, meta: Mapping | None = None
    ) -> TaskVector:
        return cls.from_state_dicts(base.state_dict(), finetuned.state_dict(), meta)

    # -- mapping protocol ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tensors)

    def __iter__(self):
        return iter(self.tensors)

    def __contains__(self, key) -> bool:
        return key in self.tensors

    def __getitem__(self, key) -> torch.Tensor:
        return self.tensors[key]

    def keys(self):
        return self.tensors.keys()

    def items(self):
        return self.tensors.items()

    @property
    def num_params(self) -> int:
        return sum(t.numel() for t in self.tensors.values())

    def __repr__(self) -> str:
        name = self.meta.get("name", "")
        return f"TaskVector({name!r}, {len(self)} tensors, {self.num_params:,} values, norm={self.norm():.4g})"

    # -- arithmetic ----------------------------------------------------------------
    def _check_same_keys(self, other: TaskVector) -> None:
        if self.tensors.keys() != other.tensors.keys():
            diff = sorted(self.tensors.keys() ^ other.tensors.keys())[:3]
            raise VectorError(
                f"Vectors have different keys (e.g. {diff}): they come from different architectures."
            )
        for k, t in self.tensors.items():
            if t.shape != other.tensors[k].shape:
                raise VectorError(
                    f"Shape mismatch at {k}: {tuple(t.shape)} vs {tuple(other.tensors[k].shape)}."
                )

    def _derived_meta(self) -> dict:
        keep = ("base_fingerprint", "dataset", "architecture")
        return {k: self.meta[k] for k in keep if k in self.meta}

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:  # makes sum() work
            return self
        if not isinstance(other, TaskVector):
            return NotImplemented
        self._check_same_keys(other)
        return TaskVector(
            {k: t + other.tensors[k] for k, t in self.tensors.items()}, self._derived_meta()
        )

    __radd__ = __add__

    def __neg__(self):
        return TaskVector({k: -t for k, t in self.tensors.items()}, self._derived_meta())

    def __sub__(self, other):
        if not isinstance(other, TaskVector):
            return NotImplemented
        return self + (-other)

    def __mul__(self, scalar):
        if not isinstance(scalar, (int, float)):
            return NotImplemented
        return TaskVector(
            {k: t * float(scalar) for k, t in self.tensors.items()}, self._derived_meta()
        )

    __rmul__ = __mul__

    def __truediv__(self, scalar):
        if not isinstance(scalar, (int, float)):
            return NotImplemented
        return self * (1.0 / float(scalar))

    @staticmethod
    def sum(vectors: Iterable[TaskVector]) -> TaskVector:
        vectors = list(vectors)
        if not vectors:
            raise VectorError("Cannot sum an empty list of task vectors.")
        total = vectors[0]
        for v in vectors[1:]:
            total = total + v
        return total

    # -- geometry ------------------------------------------------------------------
    def layer_norms(self) -> dict[str, float]:
        """L2 norm of each tensor (computed in float64)."""
        return {k: float(t.detach().double().norm()) for k, t in self.tensors.items()}

    def norm(self) -> float:
        """Total L2 norm over all tensors."""
        return math.sqrt(
            sum(float(t.detach().double().pow(2).sum()) for t in self.tensors.values())
        )

    def dot(self, other: TaskVector) -> float:
        self._check_same_keys(other)
        return sum(
            float((t.double() * other.tensors[k].double()).sum()) for k, t in self.tensors.items()
        )

    def cosine(self, other: TaskVector) -> float:
        """Cosine similarity of the flattened vectors; NaN if either is zero."""
        denom = self.norm() * other.norm()
        return self.dot(other) / denom if denom > 0 else float("nan")

    def to(self, device=None, dtype=None) -> TaskVector:
        return TaskVector(
            {k: t.to(device=device, dtype=dtype) for k, t in self.tensors.items()}, self.meta
        )

    def apply_to(self, state_dict: Mapping, scale: float = 1.0) -> dict[str, torch.Tensor]:
        """A new state dict ``state_dict + scale * self`` (keys not in the vector copied)."""
        self.check_compatible(state_dict)
        return {
            k: (v + scale * self.tensors[k].to(v.device, v.dtype)) if k in self.tensors else v
            for k, v in state_dict.items()
        }

    def check_compatible(self, model_or_sd, base_fingerprint: str | None = None) -> None:
        """Raise :class:`VectorError` unless this vector fits the model key by key.

        When ``base_fingerprint`` is given, the vector's recorded base must match it:
        a vector from another base moves the weights in a meaningless direction.
        """
        sd = model_or_sd.state_dict() if isinstance(model_or_sd, torch.nn.Module) else model_or_sd
        missing = [k for k in self.tensors if k not in sd]
        if missing:
            raise VectorError(
                f"The vector {self.meta.get('name', '')!r} has {len(missing)} keys the model lacks "
                f"(e.g. {missing[:3]}): it was built for another architecture."
            )
        for k, t in self.tensors.items():
            if tuple(sd[k].shape) != tuple(t.shape):
                raise VectorError(
                    f"The vector {self.meta.get('name', '')!r} does not fit the model at {k}: "
                    f"vector {tuple(t.shape)} vs model {tuple(sd[k].shape)}. It was built for "
                    "another model (size or architecture): use vectors built from this bundle's "
                    "base (rerun the build)."
                )
        mine = self.meta.get("base_fingerprint")
        if base_fingerprint and mine and mine != base_fingerprint:
            raise VectorError(
                f"The vector {self.meta.get('name', '')!r} was built from another base model "
                f"(base {mine[:12]}, this model {base_fingerprint[:12]}). Use vectors from the same bundle."
            )

    # -- I/O -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike, meta: Mapping | None = None) -> Path:
        """Write the vector as safetensors, atomically; ``meta`` updates the stored metadata."""
        if meta:
            self.meta.update(meta)
        path = Path(path)
        tensors = {k: t.detach().to("cpu").contiguous() for k, t in self.tensors.items()}
        header = {_META_KEY: json.dumps(self.meta, sort_keys=True, default=str)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=header)
        return path

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        expect_base_fingerprint: str | None = None,
    ) -> TaskVector:
        """Read a vector written by :meth:`save`, refusing anything that is not safetensors."""
        path = Path(path)
        meta = read_header(path)
        try:
            tensors = load_file(str(path), device=str(device))
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise VectorError(
                f"{path} could not be read as safetensors ({exc}); rebuild it."
            ) from exc
        bad = _non_finite(tensors)
        if bad is not None:
            key, count, total = bad
            raise VectorError(
                f"{path.name} holds NaN or infinite values ({count:,} of {total:,} values, e.g. "
                f"at {key}): the file was damaged or its training diverged, and a merge with it "
                "would give meaningless numbers. Delete it and rerun the build to restore it."
            )
        vec = cls(tensors, meta)
        fp = meta.get("base_fingerprint")
        if expect_base_fingerprint and fp and fp != expect_base_fingerprint:
            raise VectorError(
                f"{path.name} was built from another base model (base {fp[:12]}, expected "
                f"{expect_base_fingerprint[:12]}). Use vectors from the same bundle."
            )
        return vec


def _non_finite(tensors: Mapping[str, torch.Tensor]) -> tuple[str, int, int] | None:
    """``(first key, non-finite values, values)`` of tensors holding NaN or inf, else None."""
    first, count, total = None, 0, 0
    for k, t in tensors.items():
        total += t.numel()
        n = int((~torch.isfinite(t)).sum()) if torch.is_floating_point(t) else 0
        if n:
            first = first or k
            count += n
    return None if first is None else (first, count, total)


def read_header(path: str | os.PathLike) -> dict:
    """Validate a safetensors file's framing and return its taskfair metadata.

    Catches the cases a user can cause before any tensor is read: a missing file, a
    pickle (or any other file) renamed ``.safetensors``, a truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise VectorError(f"No task vector file at {path}.")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise VectorError(f"{path.name} is not a safetensors file (only {size} bytes).")
        (n,) = struct.unpack("<Q", head)
        if n <= 0 or n > min(_MAX_HEADER, size - 8):
            kind = (
                " It looks like a torch pickle; taskfair never loads pickles."
                if head[:2] in (b"\x80\x02", b"\x80\x04", b"PK")
                else ""
            )
            raise VectorError(
                f"{path.name} is not a valid safetensors file (bad header length).{kind} "
                "Export the weights with safetensors."
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VectorError(
            f"{path.name} has a corrupt safetensors header; rebuild the file."
        ) from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise VectorError(
            f"{path.name} is truncated ({size} bytes, header promises {8 + n + end}); "
            "the write was interrupted. Delete it and rebuild."
        )
    meta_raw = (header.get("__metadata__") or {}).get(_META_KEY)
    try:
        return json.loads(meta_raw) if meta_raw else {}
    except json.JSONDecodeError as exc:
        raise VectorError(f"{path.name} has unreadable taskfair metadata.") from exc
