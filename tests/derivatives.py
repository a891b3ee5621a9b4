"""Checking a forward-mode derivative against finite differences, robustly.

A central difference over a step that crosses a kink (ReLU6, a clamp) estimates a mix
of the one-sided slopes, not the derivative; where kinks fall depends on the CPU's
rounding, so a fixed large step passes on one machine and fails on another. Here the
function is evaluated in float64 (rounding noise ~1e-16 / h, negligible), at two small
steps a decade apart: where the two central differences agree, the function is smooth
around the anchor at that element (the truncation error of a central difference is
O(h²)) and the derivative must match it tightly; where they disagree a kink lies inside
the step and the element is left out. Most elements must be smooth, so a test cannot
pass by leaving everything out.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["assert_directional_derivative"]


def assert_directional_derivative(
    f: Callable[[float], np.ndarray],
    derivative: np.ndarray,
    *,
    steps: tuple[float, float] = (1e-4, 1e-5),
    rtol: float = 1e-3,
    atol: float = 1e-5,
    min_smooth: float = 0.9,
) -> float:
    """Assert ``derivative == d f(t) / dt at t = 0`` wherever ``f`` is smooth there.

    ``f(t)`` returns a float64 array (the same shape as ``derivative``) at offset ``t``
    from the anchor. ``atol`` is relative to the largest |derivative| (so it reads the
    same for any scale). Returns the share of elements found smooth.
    """
    big, small = steps
    assert big > small > 0
    fd = {
        h: (np.asarray(f(h), np.float64) - np.asarray(f(-h), np.float64)) / (2 * h) for h in steps
    }
    for h, v in fd.items():
        assert v.dtype == np.float64 and v.shape == derivative.shape, (h, v.dtype, v.shape)
    derivative = np.asarray(derivative, np.float64)
    scale = max(float(np.abs(fd[small]).max()), 1e-12)
    assert float(np.abs(derivative).max()) > 0 or scale < 1e-9, "the derivative is all zero"
    tol = atol * scale + rtol * np.abs(fd[small])
    smooth = np.abs(fd[big] - fd[small]) <= tol
    share = float(smooth.mean())
    assert share >= min_smooth, (
        f"only {share:.1%} of elements are smooth at steps {steps}: the anchor sits on "
        "kinks, pick another anchor or smaller steps"
    )
    np.testing.assert_allclose(derivative[smooth], fd[small][smooth], rtol=rtol, atol=atol * scale)
    return share
