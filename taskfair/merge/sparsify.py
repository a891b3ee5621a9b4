"""The one sparsifier: which entries of a tensor a magnitude trim keeps, which DARE drops.

TIES, DARE and magnitude pruning (:mod:`taskfair.merge.transforms`) and the compression
of task vectors (:mod:`taskfair.compress.methods`) all take their masks from here, so a
density or a drop rate means the same entries whichever of them applies it.

* :func:`magnitude_mask` keeps ``ceil(density · numel)`` entries (at least one), the
  largest in magnitude. **Ties** go to the lower flat (row-major) index: a stable sort of
  the magnitudes puts equal values in index order, so the kept set never depends on the
  kernel, the device or the CPU.
* :func:`drop_mask` marks each entry dropped with probability ``p``, from a CPU
  generator seeded by :func:`mask_seed` (sha256 of the seed and the labels that name the
  tensor), so a seed always gives the same mask whatever else is computed, on every
  device.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import torch

__all__ = ["MASK_VERSION", "drop_mask", "magnitude_mask", "mask_seed"]

#: The masks' rule. Bump it when a mask changes: the sweep keys of the merge methods that
#: transform vectors include it, so their cached points are then evaluated again (2: ties
#: in :func:`magnitude_mask` go to the lower index; before, to the kernel's choice).
MASK_VERSION = 2


def magnitude_mask(tensor: torch.Tensor, density: float) -> torch.Tensor:
    """Boolean mask (``tensor``'s shape and device) of the ``ceil(density · numel)``
    entries largest in magnitude, at least one; ``density`` in (0, 1], 1 keeps every
    entry. Equal magnitudes are kept in flat-index order (the lower index wins)."""
    density = float(density)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], not {density!r}.")
    n = tensor.numel()
    keep = min(n, max(1, math.ceil(density * n)))
    if keep >= n:
        return torch.ones(tensor.shape, dtype=torch.bool, device=tensor.device)
    flat = tensor.detach().reshape(-1).abs()
    order = torch.sort(flat, descending=True, stable=True).indices[:keep]
    mask = torch.zeros(n, dtype=torch.bool, device=tensor.device)
    mask[order] = True
    return mask.reshape(tensor.shape)


def mask_seed(seed: int, *labels: str) -> int:
    """The generator seed of one drop mask: the first 8 bytes (little-endian) of
    ``sha256("seed␟label␟…")``, halved to fit a signed 64-bit seed. (The CPU generator,
    mt19937, uses the low 32 bits of it.)"""
    text = "\x1f".join([str(int(seed)), *labels])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def drop_mask(shape: Sequence[int] | torch.Size, p: float, seed: int, *labels: str) -> torch.Tensor:
    """Boolean CPU mask of ``shape``, True where an entry is dropped (probability ``p`` in
    [0, 1)); the generator is seeded by :func:`mask_seed` of ``seed`` and ``labels`` (the
    names of the tensor: a key, or a vector's name and a key). ``p = 0`` drops nothing."""
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"The drop rate p must be in [0, 1), not {p!r}.")
    gen = torch.Generator(device="cpu").manual_seed(mask_seed(seed, *labels))
    return torch.rand(tuple(shape), generator=gen) < p
