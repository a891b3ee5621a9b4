"""Dense entries to compact ones: truncated SVD, top-k magnitude, DARE (drop and rescale).

:func:`compress_vector` applies a :class:`~taskfair.compress.CompressSpec` to every
dense entry of a :class:`~taskfair.vectors.TaskVector` that is large enough, keeping
the others (and entries already compact) as they are. Every function is deterministic:
the SVD is computed in float64, and top-k and DARE take their masks from the one
sparsifier the merge methods use (:mod:`taskfair.merge.sparsify`: ties in top-k go to the
lower index; DARE's generator is seeded by the spec's seed and the key), so neither the
order of the keys nor the device changes which entries survive.
"""

from __future__ import annotations

import torch

from taskfair.compress.spec import CompressSpec
from taskfair.merge.sparsify import drop_mask, magnitude_mask
from taskfair.vectors import TaskVector
from taskfair.vectors.forms import Entry, LowRank, Sparse

__all__ = ["compress_entry", "compress_vector", "dare", "low_rank", "top_k"]


def low_rank(
    delta: torch.Tensor, rank: int | None = None, energy: float | None = None
) -> LowRank | None:
    """The truncated SVD of ``delta`` as ``(m, r) @ (r, n)``, ``m`` its first dimension;
    at ``rank``, or at the smallest rank whose singular values keep ``energy`` of the
    squared Frobenius norm. None when the factors would not be smaller than the matrix
    (or ``delta`` is not at least 2-D)."""
    if delta.dim() < 2:
        return None
    m = delta.shape[0]
    mat = delta.detach().reshape(m, -1)
    n = mat.shape[1]
    u, s, vh = torch.linalg.svd(mat.double(), full_matrices=False)
    if rank is None:
        total = float((s * s).sum())
        if total == 0.0:
            r = 1
        else:
            cum = torch.cumsum(s * s, 0) / total
            r = int(torch.searchsorted(cum, torch.tensor(float(energy), dtype=cum.dtype))) + 1
    else:
        r = int(rank)
    r = max(1, min(r, s.numel()))
    if r * (m + n) >= m * n:
        return None
    up = (u[:, :r] * s[:r]).to(delta.dtype)
    down = vh[:r].to(delta.dtype).contiguous()
    return LowRank(up.contiguous(), down, 1.0, tuple(delta.shape))


def top_k(delta: torch.Tensor, density: float) -> Sparse:
    """The ``ceil(density · numel)`` entries (at least one) largest in magnitude, indices
    ascending (int32 when they fit): :func:`~taskfair.merge.sparsify.magnitude_mask`."""
    flat = delta.detach().reshape(-1)
    index = torch.nonzero(magnitude_mask(flat, density)).reshape(-1)
    return Sparse(_index_dtype(index, flat.numel()), flat[index].clone(), tuple(delta.shape))


def dare(delta: torch.Tensor, drop: float, seed: int, key: str) -> Sparse:
    """DARE: each entry dropped with probability ``drop``, survivors scaled by
    ``1 / (1 - drop)`` (so the expected difference is unchanged). The mask is
    :func:`~taskfair.merge.sparsify.drop_mask` seeded by ``seed`` and ``key``."""
    flat = delta.detach().reshape(-1)
    keep = ~drop_mask(flat.shape, drop, seed, key)
    index = torch.nonzero(keep).reshape(-1).to(flat.device)
    values = flat[index] / (1.0 - float(drop))
    return Sparse(_index_dtype(index, flat.numel()), values, tuple(delta.shape))


def _index_dtype(index: torch.Tensor, n: int) -> torch.Tensor:
    return index.to(torch.int32) if n < 2**31 else index.to(torch.int64)


def compress_entry(key: str, entry: Entry, spec: CompressSpec) -> Entry:
    """One entry under ``spec``: compact entries and small tensors are kept (cast to the
    storage dtype); a large dense one is compressed, or kept dense when its compact form
    would not be smaller."""
    dtype = spec.torch_dtype
    if not isinstance(entry, torch.Tensor):
        return entry
    if spec.form == "dense" or entry.numel() < spec.min_numel:
        return entry.to(dtype)
    if spec.form == "lowrank":
        got = low_rank(entry, spec.rank, spec.energy)
        return entry.to(dtype) if got is None else got.to(dtype=dtype)
    if spec.form == "topk":
        got = top_k(entry, spec.density)
    else:
        got = dare(entry, spec.drop, spec.seed, key)
    # Sparse entries pay an index per value: at more than about half the entries (int32
    # index, float32 values) the dense tensor is smaller.
    sparse = got.to(dtype=dtype)
    dense_bytes = entry.numel() * torch.empty((), dtype=dtype).element_size()
    stored = sparse.values.numel() * sparse.values.element_size()
    stored += sparse.index.numel() * sparse.index.element_size()
    return sparse if stored < dense_bytes else entry.to(dtype)


def compress_vector(vec: TaskVector, spec: CompressSpec) -> TaskVector:
    """``vec`` with every entry under ``spec`` (see :func:`compress_entry`); its metadata
    records the setting under ``compression``."""
    out = {k: compress_entry(k, e, spec) for k, e in vec.entries.items()}
    meta = dict(vec.meta, compression=spec.to_dict() if not spec.is_identity else None)
    if meta["compression"] is None:
        meta.pop("compression")
    return TaskVector(out, meta)
