"""Task vectors: ``tau = theta_finetuned - theta_base``, key by key.

A :class:`TaskVector` is a dict of floating tensors plus JSON metadata. Only floating
entries of a state dict are kept (parameters and float buffers such as batch-norm
running statistics); integer buffers (``position_ids``, ``token_type_ids``,
``num_batches_tracked``) are not weights and are skipped on purpose.

A vector need not hold every key: an absent key is a zero difference (a frozen tensor
of its run), and merging, arithmetic and geometry treat it so. An entry may also be a
compact form of :mod:`taskfair.vectors.forms` (a LoRA adapter's factors, a truncated SVD,
a sparse top-k or DARE selection) instead of a dense tensor; ``tensors`` then expands
entries on access, while the merger and the geometry use the forms directly.

On disk a vector is one safetensors file (:mod:`taskfair.vectors.files`); nothing is
ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from taskfair.errors import VectorError
from taskfair.vectors.files import (
    VECTOR_FORMAT,
    read_forms,
    read_header,
    read_vector_file,
    write_vector_file,
)
from taskfair.vectors.forms import (
    DENSE,
    Entry,
    ExpandedView,
    LowRank,
    Sparse,
    dense_of,
    encode_entry,
    entry_nbytes,
    entry_to,
    form_of,
    inner,
    scaled,
)

__all__ = ["VECTOR_FORMAT", "TaskVector", "VectorError", "read_forms", "read_header"]


class TaskVector:
    """A dict of weight differences with arithmetic.

    ``tensors`` maps state-dict keys to floating tensors (compact entries expanded on
    access); ``entries`` to what is stored, a dense tensor or a
    :class:`~taskfair.vectors.forms.LowRank` / :class:`~taskfair.vectors.forms.Sparse`
    form. A key the vector lacks is a zero difference. ``meta`` is a JSON-able dict
    (``base_fingerprint``, ``name``, ``kind``, ``group``, ``seed``, ``hparams``, ...).
    Arithmetic returns new vectors; metadata of the left operand is kept minus the
    fields that no longer describe the result.
    """

    __slots__ = ("_dense", "factors", "meta")

    def __init__(self, tensors: Mapping[str, Entry], meta: Mapping | None = None):
        dense, factors = {}, {}
        for k, v in tensors.items():
            if isinstance(v, (LowRank, Sparse)):
                factors[k] = v
            elif isinstance(v, torch.Tensor) and torch.is_floating_point(v):
                dense[k] = v
            else:
                bad = [k for k, v in tensors.items() if not _is_float_entry(v)]
                raise VectorError(
                    f"Task vectors hold floating tensors only; got integer entries {bad[:3]}."
                )
        self._dense: dict[str, torch.Tensor] = dense
        self.factors: dict[str, LowRank | Sparse] = factors
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

    def compacted(self, factors: Mapping[str, Entry] | None = None) -> TaskVector:
        """The same vector without its all-zero entries (the tensors its run did not
        train: absent means zero), with ``factors`` (e.g. a LoRA run's adapters)
        replacing the entries of their keys. Shares tensors with this vector."""
        factors = dict(factors or {})
        unknown = sorted(set(factors) - set(self.entries))
        if unknown:
            raise VectorError(f"Compact entries for keys the vector lacks: {unknown[:3]}.")
        kept = {
            k: factors.get(k, e)
            for k, e in self.entries.items()
            if k in factors or not _all_zero(e)
        }
        return TaskVector(kept, self.meta)

    # -- mapping protocol ----------------------------------------------------------
    @property
    def tensors(self) -> Mapping[str, torch.Tensor]:
        """``key -> dense tensor``: the stored dict itself when every entry is dense
        (callers may edit it), else a read-only view expanding compact entries."""
        return self._dense if not self.factors else ExpandedView(self.entries)

    @property
    def entries(self) -> dict[str, Entry]:
        """``key -> stored entry`` (dense tensor or compact form), in key order of storage."""
        if not self.factors:
            return self._dense
        return {**self._dense, **self.factors}

    def entry(self, key: str) -> Entry:
        return self.factors[key] if key in self.factors else self._dense[key]

    def __len__(self) -> int:
        return len(self._dense) + len(self.factors)

    def __iter__(self):
        return iter(self.entries)

    def __contains__(self, key) -> bool:
        return key in self._dense or key in self.factors

    def __getitem__(self, key) -> torch.Tensor:
        return dense_of(self.entry(key))

    def keys(self):
        return self.entries.keys()

    def items(self):
        return self.tensors.items()

    @property
    def num_params(self) -> int:
        """Values of the (expanded) difference; see :attr:`stored_numel` for what is stored."""
        return sum(e.numel() for e in self.entries.values())

    @property
    def stored_numel(self) -> int:
        return sum(
            e.numel() if isinstance(e, torch.Tensor) else e.stored_numel()
            for e in self.entries.values()
        )

    @property
    def nbytes(self) -> int:
        """Bytes the stored entries hold (the file adds only its JSON header)."""
        return sum(entry_nbytes(e) for e in self.entries.values())

    def form_counts(self) -> dict[str, int]:
        """How many entries are stored in each form (``dense``, ``lowrank``, ``sparse``)."""
        out: dict[str, int] = {}
        for e in self.entries.values():
            out[form_of(e)] = out.get(form_of(e), 0) + 1
        return out

    @property
    def form(self) -> str:
        """``dense`` when every entry is, else the compact form(s) in use, joined by ``+``."""
        compact = sorted({form_of(e) for e in self.factors.values()})
        return "+".join(compact) if compact else DENSE

    def __repr__(self) -> str:
        name = self.meta.get("name", "")
        return f"TaskVector({name!r}, {len(self)} tensors, {self.num_params:,} values, norm={self.norm():.4g})"

    # -- arithmetic ----------------------------------------------------------------
    def _check_same_keys(self, other: TaskVector) -> None:
        """Keys both hold must have one shape; a key only one holds is zero in the other."""
        mine, theirs = self.entries, other.entries
        for k in mine.keys() & theirs.keys():
            if tuple(mine[k].shape) != tuple(theirs[k].shape):
                raise VectorError(
                    f"Shape mismatch at {k}: {tuple(mine[k].shape)} vs {tuple(theirs[k].shape)}."
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
        mine, theirs = self.tensors, other.tensors
        keys = list(dict.fromkeys([*mine, *theirs]))  # absent = zero
        out = {
            k: mine[k] + theirs[k]
            if k in mine and k in theirs
            else (mine[k] if k in mine else theirs[k])
            for k in keys
        }
        return TaskVector(out, self._derived_meta())

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, TaskVector):
            return NotImplemented
        return self + (-other)

    def __mul__(self, scalar):
        if not isinstance(scalar, (int, float)):
            return NotImplemented
        return TaskVector(
            {k: scaled(e, float(scalar)) for k, e in self.entries.items()}, self._derived_meta()
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
        return {k: math.sqrt(max(_sq_norm(e), 0.0)) for k, e in self.entries.items()}

    def norm(self) -> float:
        """Total L2 norm over all tensors."""
        return math.sqrt(max(sum(_sq_norm(e) for e in self.entries.values()), 0.0))

    def dot(self, other: TaskVector) -> float:
        """``<self, other>`` over the keys both hold (an absent key is zero), float64;
        compact entries are not expanded where an identity avoids it."""
        self._check_same_keys(other)
        mine, theirs = self.entries, other.entries
        return sum(
            float((mine[k].double() * theirs[k].double().to(mine[k].device)).sum())
            if isinstance(mine[k], torch.Tensor) and isinstance(theirs[k], torch.Tensor)
            else inner(mine[k], theirs[k])
            for k in mine
            if k in theirs
        )

    def cosine(self, other: TaskVector) -> float:
        """Cosine similarity of the flattened vectors; NaN if either is zero."""
        denom = self.norm() * other.norm()
        return self.dot(other) / denom if denom > 0 else float("nan")

    def to(self, device=None, dtype=None) -> TaskVector:
        return TaskVector(
            {k: entry_to(e, device, dtype) for k, e in self.entries.items()}, self.meta
        )

    def apply_to(self, state_dict: Mapping, scale: float = 1.0) -> dict[str, torch.Tensor]:
        """A new state dict ``state_dict + scale * self`` (keys not in the vector copied)."""
        self.check_compatible(state_dict)
        tensors = self.tensors
        return {
            k: (v + scale * tensors[k].to(v.device, v.dtype)) if k in self else v
            for k, v in state_dict.items()
        }

    def check_compatible(self, model_or_sd, base_fingerprint: str | None = None) -> None:
        """Raise :class:`VectorError` unless this vector fits the model key by key.

        When ``base_fingerprint`` is given, the vector's recorded base must match it:
        a vector from another base moves the weights in a meaningless direction.
        """
        sd = model_or_sd.state_dict() if isinstance(model_or_sd, torch.nn.Module) else model_or_sd
        entries = self.entries
        missing = [k for k in entries if k not in sd]
        if missing:
            raise VectorError(
                f"The vector {self.meta.get('name', '')!r} has {len(missing)} keys the model lacks "
                f"(e.g. {missing[:3]}): it was built for another architecture."
            )
        for k, t in entries.items():
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

    def fingerprint(self) -> str:
        """sha256 of what is stored: for an all-dense vector the same as
        :func:`taskfair.models.state_fingerprint` of its tensors; a compact entry hashes
        its form, shape and parts, so another form of the same vector is another key."""
        h = hashlib.sha256()
        for key, e in sorted(self.entries.items()):
            parts, record = encode_entry(key, e)
            if record is not None:
                h.update(f"{key}|{json.dumps(record, sort_keys=True)}\n".encode())
            for name, t in parts.items():
                t = t.detach().to("cpu").contiguous()
                h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
                h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        return h.hexdigest()

    # -- I/O -----------------------------------------------------------------------
    def save(self, path: str | os.PathLike, meta: Mapping | None = None) -> Path:
        """Write the vector as safetensors, atomically; ``meta`` updates the stored metadata
        (:func:`taskfair.vectors.files.write_vector_file`)."""
        if meta:
            self.meta.update(meta)
        return write_vector_file(path, self.entries, self.meta)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        device: str | torch.device = "cpu",
        expect_base_fingerprint: str | None = None,
        dtype: torch.dtype | None = None,
    ) -> TaskVector:
        """Read a vector written by :meth:`save`, refusing anything that is not safetensors.

        Tensors are read through safetensors' memory map one at a time onto ``device``
        and, when ``dtype`` is given, converted there (integer parts keep their type): a
        large vector never exists twice in memory."""
        path = Path(path)
        entries, meta = read_vector_file(path, device, dtype)
        fp = meta.get("base_fingerprint")
        if expect_base_fingerprint and fp and fp != expect_base_fingerprint:
            raise VectorError(
                f"{path.name} was built from another base model (base {fp[:12]}, expected "
                f"{expect_base_fingerprint[:12]}). Use vectors from the same bundle."
            )
        return cls(entries, meta)


def _is_float_entry(v) -> bool:
    return isinstance(v, (LowRank, Sparse)) or (
        isinstance(v, torch.Tensor) and torch.is_floating_point(v)
    )


def _all_zero(e: Entry) -> bool:
    # A compact entry is kept: it was made from a trained tensor.
    return isinstance(e, torch.Tensor) and not bool(e.detach().any())


def _sq_norm(e: Entry) -> float:
    return float(e.detach().double().pow(2).sum()) if isinstance(e, torch.Tensor) else inner(e, e)
