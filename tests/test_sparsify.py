"""The one sparsifier: its tie rule, and the same masks from the merge methods and from
compression. Every tensor here holds small integers (exact in any float format), so no
assertion depends on a CPU's rounding."""

from __future__ import annotations

import pytest
import torch

from taskfair.compress import dare as compress_dare
from taskfair.compress import top_k
from taskfair.merge.sparsify import drop_mask, magnitude_mask, mask_seed
from taskfair.merge.transforms import dare, magnitude_trim, ties
from taskfair.vectors import TaskVector


def _tied(shape, seed: int) -> torch.Tensor:
    """Non-zero integers in ±[1, 4]: many equal magnitudes, no zero."""
    gen = torch.Generator().manual_seed(seed)
    mag = torch.randint(1, 5, shape, generator=gen).float()
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0)
    return mag * sign


def test_ties_go_to_the_lower_flat_index():
    t = torch.tensor([[1.0, -1.0, 1.0], [-1.0, 2.0, -1.0]])
    # ceil(0.5 · 6) = 3 kept: the 2, then the two lowest indices among the tied 1s.
    assert magnitude_mask(t, 0.5).tolist() == [[True, True, False], [False, True, False]]
    assert magnitude_mask(t, 1.0).all()
    assert magnitude_mask(t, 1e-9).sum() == 1  # at least one entry
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="density"):
            magnitude_mask(t, bad)


def test_magnitude_mask_is_the_same_from_merge_and_compression():
    vec = TaskVector({"w": _tied((16, 12), 0), "b": _tied((40,), 1)})
    trimmed = magnitude_trim({"a": vec}, 25.0)["a"]
    # TIES of one vector is its trim (no sign conflict with itself).
    tied = ties({"a": vec}, 25.0)["a"]
    for key, t in vec.items():
        mask = magnitude_mask(t, 0.25)
        assert int(mask.sum()) == -(-t.numel() // 4)  # ceil, in integers
        assert torch.equal(trimmed[key] != 0, mask)
        assert torch.equal(tied[key] != 0, mask)
        sparse = top_k(t, 0.25)
        assert sparse.index.tolist() == torch.nonzero(mask.reshape(-1)).reshape(-1).tolist()


def test_drop_mask_is_the_same_from_merge_and_compression():
    t = _tied((30, 20), 2)
    p, seed = 0.6, 5
    merged = dare({"a": TaskVector({"w": t})}, p, seed)["a"]["w"]
    assert torch.equal(merged != 0, ~drop_mask(t.shape, p, seed, "a", "w"))
    sparse = compress_dare(t, p, seed, "w")
    want = torch.nonzero(~drop_mask(t.shape, p, seed, "w").reshape(-1)).reshape(-1)
    assert sparse.index.tolist() == want.tolist()
    # One mask: the same seed and labels give the same draw, whatever the caller.
    assert torch.equal(
        drop_mask(t.shape, p, seed, "w"), drop_mask((600,), p, seed, "w").reshape(30, 20)
    )
    assert mask_seed(seed, "a", "w") != mask_seed(seed, "w")
    assert not drop_mask((50,), 0.0, seed, "w").any()
    with pytest.raises(ValueError, match="drop rate"):
        drop_mask((3,), 1.0, 0)
