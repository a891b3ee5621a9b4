"""Vector transforms of the non-linear merge methods: TIES, DARE and magnitude pruning.

Each function takes the subgroup vectors ``{name: TaskVector}`` of one merge (the same
keys and shapes) and returns new vectors under the same names; the method's linear
coefficients are applied to the result afterwards (``anchor + Σ_g c_g τ'_g``), so a
transformed set merges with per-vector λ_g exactly as the raw vectors do. Nothing is
modified in place. Memory: one extra set of the given vectors (plus one tensor's stack
of them while it is computed).

* :func:`magnitude_trim` keeps each tensor's top ``k``% entries by magnitude (per
  tensor, as mergekit's ``magnitude`` sparsification does, not over the flattened
  vector), the rest set to 0. The mask is :func:`~taskfair.merge.sparsify.magnitude_mask`
  at density ``k/100`` (ties to the lower index), the one compression uses too.
* :func:`ties` trims to the top ``k``%, elects a sign per entry (the sign of the sum of
  the trimmed values, TIES's "mass" election) and keeps only the entries that agree with
  it, each divided by the number of agreeing vectors there and multiplied by ``G``:
  then ``(1/G) Σ_g τ'_g`` is TIES's disjoint mean (the ``"mean"`` normalisation is
  TIES's own merge), and where nothing is trimmed and no sign conflicts, ``τ'_g = τ_g``
  bit for bit (so TIES equals task addition there, under either normalisation).
* :func:`dare` drops each entry with probability ``p`` and rescales the kept ones by
  ``1/(1-p)`` (DARE); the mask of each (vector, tensor) is
  :func:`~taskfair.merge.sparsify.drop_mask` seeded by ``(seed, name, key)``, so a seed
  always gives the same vectors whatever other vectors are merged. ``p = 0`` returns the
  vectors unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from taskfair.errors import VectorError
from taskfair.merge.sparsify import drop_mask, magnitude_mask
from taskfair.vectors import TaskVector

__all__ = ["dare", "magnitude_trim", "ties", "top_k_mask"]


def _check(vectors: Mapping[str, TaskVector]) -> list[str]:
    if not vectors:
        raise VectorError("A merge transform needs at least one task vector.")
    names = list(vectors)
    first = vectors[names[0]]
    for n in names[1:]:
        if vectors[n].keys() != first.keys():
            raise VectorError(
                f"The vectors {names[0]!r} and {n!r} have different keys: TIES, DARE and "
                "magnitude pruning combine vectors of one architecture."
            )
    return names


def _meta(vec: TaskVector, transform: str, params: Mapping) -> dict:
    return {**vec.meta, "transform": {"name": transform, **dict(params)}}


def top_k_mask(t: torch.Tensor, k: float) -> torch.Tensor:
    """Boolean mask of the ``ceil(k/100 · numel)`` largest-magnitude entries of ``t``
    (``k`` in percent, (0, 100]; 100 keeps every entry): :func:`magnitude_mask` at
    density ``k/100``."""
    if not 0.0 < k <= 100.0:
        raise ValueError(f"k must be a percentage in (0, 100], not {k!r}.")
    return magnitude_mask(t, k / 100.0)


@torch.no_grad()
def magnitude_trim(vectors: Mapping[str, TaskVector], k: float) -> dict[str, TaskVector]:
    """Each vector with every tensor trimmed to its top ``k``% entries by magnitude."""
    names = _check(vectors)
    out = {}
    for n in names:
        vec = vectors[n]
        tensors = {
            key: torch.where(top_k_mask(t, k), t, torch.zeros_like(t))
            for key, t in vec.tensors.items()
        }
        out[n] = TaskVector(tensors, _meta(vec, "magnitude", {"k": k}))
    return out


@torch.no_grad()
def ties(vectors: Mapping[str, TaskVector], k: float) -> dict[str, TaskVector]:
    """TIES-merging's trim, elect-sign and disjoint merge, as per-vector shares.

    Returns ``τ'_g = G · m_g ⊙ trim(τ_g) / max(1, Σ_h m_h)`` with ``m_g`` the entries where
    ``trim(τ_g)`` is non-zero and has the elected sign ``sign(Σ_h trim(τ_h))``; see the
    module docstring for why this scaling.
    """
    names = _check(vectors)
    g = len(names)
    keys = list(vectors[names[0]].keys())
    shares: dict[str, dict[str, torch.Tensor]] = {n: {} for n in names}
    for key in keys:
        stack = torch.stack([vectors[n].tensors[key] for n in names])
        trimmed = torch.stack(
            [torch.where(top_k_mask(t, k), t, torch.zeros_like(t)) for t in stack]
        )
        elected = torch.sign(trimmed.sum(dim=0))
        agree = (torch.sign(trimmed) == elected) & (trimmed != 0)
        count = agree.sum(dim=0)
        # G / count is exactly 1.0 wherever every vector agrees: τ'_g = τ_g bit for bit.
        scale = torch.where(count > 0, g / count.clamp(min=1).to(stack.dtype), 0.0)
        for i, n in enumerate(names):
            shares[n][key] = torch.where(agree[i], trimmed[i] * scale, torch.zeros_like(scale))
    return {n: TaskVector(shares[n], _meta(vectors[n], "ties", {"k": k})) for n in names}


@torch.no_grad()
def dare(vectors: Mapping[str, TaskVector], p: float, seed: int) -> dict[str, TaskVector]:
    """DARE: drop each entry with probability ``p`` in [0, 1), rescale the rest by 1/(1-p).

    The masks are drawn on the CPU (so a seed gives the same vectors on every device) and
    moved to each tensor's device.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"The drop rate p must be in [0, 1), not {p!r}.")
    names = _check(vectors)
    out = {}
    for n in names:
        vec = vectors[n]
        if p == 0.0:
            out[n] = TaskVector(dict(vec.tensors), _meta(vec, "dare", {"p": p, "seed": seed}))
            continue
        tensors = {}
        for key, t in vec.tensors.items():
            keep = ~drop_mask(t.shape, p, seed, n, key)
            tensors[key] = torch.where(keep.to(t.device), t / (1.0 - p), torch.zeros_like(t))
        out[n] = TaskVector(tensors, _meta(vec, "dare", {"p": p, "seed": seed}))
    return out
