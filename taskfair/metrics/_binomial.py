"""Closed-form intervals of proportions and their differences, vectorised over arrays.

* :func:`wilson`: the Wilson score interval of ``k / n`` (inside [0, 1], good coverage at
  small ``n``; statsmodels' ``proportion_confint(method="wilson")`` gives the same
  numbers, written here on arrays because the simulation study calls it a million times).
* :func:`newcombe`: Newcombe's hybrid score interval of ``p1 − p2`` for two independent
  proportions (method 10), built from the two Wilson intervals.
* :func:`paired_wald`: the Agresti–Min interval of ``p_a − p_b`` for two predictions on
  the same rows (half a count added to each cell of the 2 × 2 table).
* :func:`sidak_level` / :func:`z_of`: the per-look level that makes ``looks``
  simultaneous intervals hold together at ``level``, and its normal quantile.

Every function returns NaN where ``n == 0``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

__all__ = ["newcombe", "paired_wald", "sidak_level", "wilson", "z_of"]


def sidak_level(level: float, looks: int) -> float:
    """Per-look level for ``looks`` intervals that hold together at ``level`` (Šidák)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    return float(level ** (1.0 / max(int(looks), 1)))


def z_of(level: float) -> float:
    """The two-sided normal quantile of ``level`` (1.96 at 0.95)."""
    return float(norm.ppf(0.5 + level / 2.0))


def wilson(k, n, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``k / n`` at normal quantile ``z`` (arrays broadcast)."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exact at the edges (rounding must not put 0 outside [lo, hi] when k = 0)
    lo = np.where(k <= 0, 0.0, lo)
    hi = np.where(k >= n, 1.0, hi)
    return np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)


def newcombe(k1, n1, k2, n2, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's interval of ``k1/n1 − k2/n2`` (independent samples) at quantile ``z``."""
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = np.asarray(k1) / np.asarray(n1), np.asarray(k2) / np.asarray(n2)
    d = p1 - p2
    lo = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    hi = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return lo, hi


def paired_wald(n10, n01, n, z: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Agresti–Min: ``(estimate, lo, hi)`` of ``p_a − p_b`` on ``n`` shared rows, where
    ``n10`` rows have a = 1, b = 0 and ``n01`` rows a = 0, b = 1. Clipped to [−1, 1]."""
    n10, n01, n = (np.asarray(x, dtype=np.float64) for x in (n10, n01, n))
    with np.errstate(divide="ignore", invalid="ignore"):
        est = (n10 - n01) / n
        a, b = (n10 + 0.5) / (n + 2), (n01 + 0.5) / (n + 2)
        d = a - b
        half = z * np.sqrt(np.maximum(a + b - d * d, 0.0) / (n + 2))
    lo = np.where(n > 0, np.clip(np.minimum(d - half, est), -1.0, 1.0), np.nan)
    hi = np.where(n > 0, np.clip(np.maximum(d + half, est), -1.0, 1.0), np.nan)
    return np.where(n > 0, est, np.nan), lo, hi
