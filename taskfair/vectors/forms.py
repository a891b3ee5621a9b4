"""The compact forms one tensor of a task vector can take besides a dense tensor.

* :class:`LowRank`: ``delta = scale * up @ down`` reshaped to ``shape``; ``up`` is
  ``(m, r)``, ``down`` ``(r, n)`` with ``m * n == prod(shape)``. A LoRA adapter is one
  (``up = B``, ``down = A``, ``scale = alpha / r``), and so is a truncated SVD.
* :class:`Sparse`: ``delta.flatten()[index] = values``, zero elsewhere; ``index`` int32
  or int64 ``(k,)``, unique, in ``[0, prod(shape))``. Top-k magnitude and DARE's random
  drop (survivors rescaled) both store this.

Each form merges into a weight in place without ever being expanded
(:meth:`LowRank.add_to_`: one ``addmm_``; :meth:`Sparse.add_to_`: one ``index_add_``),
computes inner products with other forms without expanding (:func:`inner`), and is
stored in a safetensors file as named parts (:func:`encode_entry` /
:func:`decode_entries`). A dense tensor is a plain ``torch.Tensor`` everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import torch

from taskfair.errors import VectorError

__all__ = [
    "DENSE",
    "ExpandedView",
    "FORMS",
    "Entry",
    "LowRank",
    "Sparse",
    "decode_entries",
    "dense_of",
    "encode_entry",
    "entry_nbytes",
    "entry_shape",
    "entry_to",
    "form_of",
    "inner",
    "scaled",
]

DENSE = "dense"
#: Separates a state-dict key from the name of one of its stored parts in a file
#: (``"encoder.0.weight::up"``); state-dict keys never contain it.
PART_SEP = "::"


class LowRank:
    """``scale * up @ down`` reshaped to ``shape`` (see the module docstring)."""

    kind = "lowrank"
    __slots__ = ("up", "down", "scale", "shape")

    def __init__(self, up: torch.Tensor, down: torch.Tensor, scale: float = 1.0, shape=None):
        if up.dim() != 2 or down.dim() != 2 or up.shape[1] != down.shape[0]:
            raise VectorError(
                f"A low-rank entry needs up (m, r) and down (r, n); got {tuple(up.shape)} and "
                f"{tuple(down.shape)}. Rebuild the vector."
            )
        shape = tuple(
            int(s) for s in (shape if shape is not None else (up.shape[0], down.shape[1]))
        )
        if math.prod(shape) != up.shape[0] * down.shape[1]:
            raise VectorError(
                f"A low-rank entry of {tuple(up.shape)} x {tuple(down.shape)} cannot have shape "
                f"{shape}. Rebuild the vector."
            )
        self.up, self.down, self.scale, self.shape = up, down, float(scale), shape

    @property
    def rank(self) -> int:
        return int(self.up.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.up.dtype

    @property
    def device(self) -> torch.device:
        return self.up.device

    def numel(self) -> int:
        """Values the dense tensor would hold."""
        return math.prod(self.shape)

    def stored_numel(self) -> int:
        return self.up.numel() + self.down.numel()

    def dense(self) -> torch.Tensor:
        return (torch.mm(self.up, self.down) * self.scale).reshape(self.shape)

    def to(self, device=None, dtype=None) -> LowRank:
        return LowRank(
            self.up.to(device=device, dtype=dtype),
            self.down.to(device=device, dtype=dtype),
            self.scale,
            self.shape,
        )

    def add_to_(self, target: torch.Tensor, alpha: float) -> None:
        """``target += alpha * delta`` in place: one fused ``addmm_`` in the target's dtype.

        The product is formed in the kernel's accumulator, never as a tensor of its own."""
        target.view(self.up.shape[0], -1).addmm_(self.up, self.down, alpha=alpha * self.scale)

    def __repr__(self) -> str:
        return f"LowRank(rank={self.rank}, shape={self.shape}, scale={self.scale:g})"


class Sparse:
    """``delta.flatten()[index] = values`` (see the module docstring)."""

    kind = "sparse"
    __slots__ = ("index", "values", "shape")

    def __init__(self, index: torch.Tensor, values: torch.Tensor, shape):
        shape = tuple(int(s) for s in shape)
        if index.dim() != 1 or values.dim() != 1 or index.shape != values.shape:
            raise VectorError(
                f"A sparse entry needs index and values of one length; got {tuple(index.shape)} "
                f"and {tuple(values.shape)}. Rebuild the vector."
            )
        if index.dtype not in (torch.int32, torch.int64):
            raise VectorError(f"A sparse entry's index must be int32 or int64, not {index.dtype}.")
        n = math.prod(shape)
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n):
            raise VectorError(
                f"A sparse entry's index leaves [0, {n}) for shape {shape}: the file is damaged. "
                "Rebuild the vector."
            )
        self.index, self.values, self.shape = index, values, shape

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    @property
    def device(self) -> torch.device:
        return self.values.device

    @property
    def density(self) -> float:
        return self.values.numel() / max(1, self.numel())

    def numel(self) -> int:
        return math.prod(self.shape)

    def stored_numel(self) -> int:
        return self.values.numel() + self.index.numel()

    def dense(self) -> torch.Tensor:
        out = torch.zeros(self.numel(), dtype=self.values.dtype, device=self.values.device)
        out[self.index.long()] = self.values
        return out.reshape(self.shape)

    def to(self, device=None, dtype=None) -> Sparse:
        return Sparse(
            self.index.to(device=device), self.values.to(device=device, dtype=dtype), self.shape
        )

    def add_to_(self, target: torch.Tensor, alpha: float) -> None:
        """``target += alpha * delta`` in place: one ``index_add_`` over the stored values
        (indices are unique, so the result does not depend on the order of the adds)."""
        target.view(-1).index_add_(0, self.index, self.values, alpha=alpha)

    def __repr__(self) -> str:
        return f"Sparse(density={self.density:.3g}, shape={self.shape})"


#: One stored entry of a vector: a dense tensor or a compact form.
Entry = torch.Tensor | LowRank | Sparse
FORMS = (DENSE, LowRank.kind, Sparse.kind)


def form_of(entry: Entry) -> str:
    return DENSE if isinstance(entry, torch.Tensor) else entry.kind


def dense_of(entry: Entry) -> torch.Tensor:
    """The dense tensor an entry stands for (a dense entry is returned as is)."""
    return entry if isinstance(entry, torch.Tensor) else entry.dense()


def entry_shape(entry: Entry) -> tuple[int, ...]:
    return tuple(entry.shape)


def entry_to(entry: Entry, device=None, dtype=None) -> Entry:
    """The entry on ``device`` in ``dtype`` (a sparse index keeps its integer type)."""
    if isinstance(entry, torch.Tensor):
        return entry.detach().to(device=device, dtype=dtype)
    return entry.to(device=device, dtype=dtype)


def entry_nbytes(entry: Entry) -> int:
    """Bytes the entry's tensors hold (what it costs in memory and, about, on disk)."""
    if isinstance(entry, torch.Tensor):
        return entry.numel() * entry.element_size()
    if isinstance(entry, LowRank):
        return sum(t.numel() * t.element_size() for t in (entry.up, entry.down))
    return sum(t.numel() * t.element_size() for t in (entry.index, entry.values))


def scaled(entry: Entry, factor: float) -> Entry:
    """``factor * entry`` in the same form."""
    if isinstance(entry, torch.Tensor):
        return entry * factor
    if isinstance(entry, LowRank):
        return LowRank(entry.up, entry.down, entry.scale * factor, entry.shape)
    return Sparse(entry.index, entry.values * factor, entry.shape)


def _flat64(entry: Entry) -> torch.Tensor:
    """The entry expanded in float64 (a low-rank product formed in float64, not rounded
    to the factors' precision first), flattened."""
    if isinstance(entry, torch.Tensor):
        return entry.detach().reshape(-1).double()
    return entry.to(dtype=torch.float64).dense().detach().reshape(-1)


def inner(a: Entry, b: Entry) -> float:
    """``<a, b>`` (sum of elementwise products) in float64, without expanding a low-rank
    or sparse entry where a cheaper identity exists:
    ``<s1 U1 V1, s2 U2 V2> = s1 s2 sum((U1ᵀU2) ∘ (V1 V2ᵀ))`` and a sparse entry reads
    only its own positions of the other."""
    if isinstance(a, Sparse) or isinstance(b, Sparse):
        sp, other = (a, b) if isinstance(a, Sparse) else (b, a)
        if isinstance(other, Sparse):
            o = torch.zeros(other.numel(), dtype=torch.float64, device=other.device)
            o[other.index.long()] = other.values.double()
        else:
            o = _flat64(other)
        picked = o[sp.index.long().to(o.device)]
        return float((sp.values.double().to(o.device) * picked).sum())
    if (
        isinstance(a, LowRank)
        and isinstance(b, LowRank)
        and a.shape == b.shape
        and a.up.shape[0] == b.up.shape[0]
    ):
        u = a.up.double().T @ b.up.double().to(a.up.device)
        v = a.down.double() @ b.down.double().to(a.down.device).T
        return float(a.scale * b.scale * (u * v).sum())
    if isinstance(a, LowRank) != isinstance(b, LowRank):
        lr, d = (a, b) if isinstance(a, LowRank) else (b, a)
        dm = dense_of(d).detach().double().reshape(lr.up.shape[0], -1).to(lr.up.device)
        return float(lr.scale * (lr.up.double() * (dm @ lr.down.double().T)).sum())
    fa = _flat64(a)
    return float((fa * _flat64(b).to(fa.device)).sum())


# ----------------------------------------------------------------------------- storage


def encode_entry(key: str, entry: Entry) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The named tensors a file stores for one entry, and its form record (None when
    dense: the tensor is stored under ``key`` itself)."""
    if isinstance(entry, torch.Tensor):
        return {key: entry}, None
    if isinstance(entry, LowRank):
        parts = {f"{key}{PART_SEP}up": entry.up, f"{key}{PART_SEP}down": entry.down}
        return parts, {"form": entry.kind, "shape": list(entry.shape), "scale": entry.scale}
    parts = {f"{key}{PART_SEP}index": entry.index, f"{key}{PART_SEP}values": entry.values}
    return parts, {"form": entry.kind, "shape": list(entry.shape)}


def decode_entries(
    tensors: Mapping[str, torch.Tensor], forms: Mapping[str, Mapping], where: str
) -> dict[str, Entry]:
    """Entries back from a file's named tensors and form records; ``where`` names the
    file in errors. Every stored part must belong to a recorded form and vice versa."""
    out: dict[str, Entry] = {}
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if PART_SEP in name:
            key, part = name.split(PART_SEP, 1)
            parts.setdefault(key, {})[part] = t
        else:
            out[name] = t
    if set(parts) != set(forms):
        odd = sorted(set(parts) ^ set(forms))[:3]
        raise VectorError(
            f"{where}: the compact entries and their records disagree (e.g. {odd}): the file "
            "is damaged or was written by another tool. Rebuild it."
        )
    for key, rec in forms.items():
        got, form = parts[key], rec.get("form")
        try:
            if form == LowRank.kind:
                out[key] = LowRank(got["up"], got["down"], rec.get("scale", 1.0), rec["shape"])
            elif form == Sparse.kind:
                out[key] = Sparse(got["index"], got["values"], rec["shape"])
            else:
                raise VectorError(
                    f"{where}: unknown form {form!r} at {key}; this taskfair reads "
                    f"{', '.join(FORMS)}. Upgrade taskfair or rebuild the vector."
                )
        except KeyError as exc:
            raise VectorError(
                f"{where}: the {form} entry {key} lacks its part {exc}: the file is damaged. "
                "Rebuild it."
            ) from None
    return out


class ExpandedView(Mapping):
    """``key -> dense tensor`` over a vector's entries, compact ones expanded on access
    (nothing is kept: a caller that needs one key pays for one key)."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, Entry]):
        self._entries = entries

    def __getitem__(self, key: str) -> torch.Tensor:
        return dense_of(self._entries[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
