"""Instant previews between exactly evaluated points.

Two previews, both on per-example logits ``(n, 2)`` (class 1 = positive):

* :class:`InterpolationPreview` — for a one-dimensional curve (global λ of task
  addition, or λ of one injected vector): the exact logits at the grid points are kept
  and a new λ is linearly interpolated between its two neighbours. Exact at the grid
  points, O(n) per redraw (microseconds for 10,000 rows).
* :class:`FirstOrderPreview` — for per-vector mixes ``sum_g λ_g τ_g``: a first-order
  expansion around an *exactly evaluated* anchor ``a``:
  ``logits(λ) ≈ logits(a) + sum_g (λ_g - a_g) J_g`` with ``J_g = ∂logits/∂λ_g`` at the
  anchor, one forward-mode JVP per vector (the directional derivative along ``τ_g``,
  :mod:`taskfair.sweep.jvp`). The expansion is linear in the direction, so the JVPs are
  computed once per vector and combined for any mix. Taken at the base it is poor far
  from it; taken at the nearest exact point it is good nearby: use
  :func:`nearest_anchor`.

Metrics of a preview come from :class:`taskfair.metrics.PreviewScorer` (the same numbers
as fairlearn, from a count table); their measured error is in
:mod:`taskfair.sweep.preview_error`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from taskfair.merge import effective_coeffs
from taskfair.progress import report
from taskfair.sweep.jvp import jvp_logits, switch_to_eager

__all__ = ["FirstOrderPreview", "InterpolationPreview", "bracket", "nearest_anchor"]

#: Two λ closer than this are the same point (grid values are rounded to 10 decimals).
_TOL = 1e-9


def bracket(xs: Sequence[float], x: float) -> tuple[int, int] | None:
    """Indices ``(lo, hi)`` of the nearest points of the sorted ``xs`` at or below and at or
    above ``x`` (``lo == hi`` when ``x`` is one of them); None when ``x`` is outside."""
    below = [i for i, v in enumerate(xs) if v <= x + _TOL]
    above = [i for i, v in enumerate(xs) if v >= x - _TOL]
    if not below or not above:
        return None
    lo, hi = below[-1], above[0]
    return (lo, lo) if abs(xs[lo] - x) <= _TOL else (lo, hi)


# ----------------------------------------------------------------------------- interpolation


class InterpolationPreview:
    """Per-example logits along a 1-D curve, linearly interpolated between exact points.

    ``lams``: the exactly evaluated λ values (any order, distinct); ``logits_by_lam``:
    their logits, ``(n, 2)`` each, aligned with ``lams`` (or a dict ``{lam: logits}``).
    ``logits(lam)`` is exact at a grid point and refuses λ outside the grid's range
    (extrapolation has no measured error).
    """

    def __init__(self, lams, logits_by_lam=None):
        if logits_by_lam is None and isinstance(lams, Mapping):
            lams, logits_by_lam = list(lams), list(lams.values())
        elif isinstance(logits_by_lam, Mapping):
            lams = list(logits_by_lam)
            logits_by_lam = [logits_by_lam[k] for k in lams]
        lams = np.asarray(lams, dtype=np.float64)
        if lams.ndim != 1 or len(lams) < 1:
            raise ValueError("InterpolationPreview needs at least one λ.")
        stack = np.stack([np.asarray(x, dtype=np.float32) for x in logits_by_lam])
        if stack.shape[0] != len(lams) or stack.ndim != 3 or stack.shape[2] != 2:
            raise ValueError(
                f"Expected {len(lams)} logit arrays of shape (n, 2); got {stack.shape}."
            )
        order = np.argsort(lams, kind="stable")
        self.lams = lams[order]
        if np.any(np.diff(self.lams) <= 0):
            raise ValueError("λ values of an interpolation preview must be distinct.")
        self._logits = stack[order]

    @property
    def n(self) -> int:
        return int(self._logits.shape[1])

    def logits(self, lam: float) -> np.ndarray:
        """float32 ``(n, 2)`` at ``lam``."""
        lam = float(lam)
        found = bracket(self.lams.tolist(), lam)
        if found is None:
            lo, hi = self.lams[0], self.lams[-1]
            raise ValueError(f"λ={lam:g} is outside the evaluated range [{lo:g}, {hi:g}].")
        i, j = found
        if i == j:
            return self._logits[i].copy()
        a, b = self.lams[i], self.lams[j]
        w = np.float32((lam - a) / (b - a))
        return (1 - w) * self._logits[i] + w * self._logits[j]

    def neighbours(self, lam: float) -> tuple[float, float]:
        """The exact grid points that bracket ``lam``."""
        i = int(np.clip(np.searchsorted(self.lams, float(lam)), 1, len(self.lams) - 1))
        return float(self.lams[i - 1]), float(self.lams[i])


# ----------------------------------------------------------------------------- first order


class FirstOrderPreview:
    """``logits(a) + sum_g (λ_g - a_g) J_g`` around an exactly evaluated anchor ``a``.

    Coefficients here are *effective* (what the merger applies, "mean" already divided;
    see :func:`taskfair.merge.effective_coeffs`). ``anchor_logits`` ``(n, 2)``;
    ``jvps[g]`` ``(n, 2)``: the derivative of the logits along ``τ_g`` at the anchor.
    """

    def __init__(
        self,
        anchor: Mapping[str, float],
        anchor_logits: np.ndarray,
        jvps: Mapping[str, np.ndarray],
    ):
        self.anchor = {k: float(v) for k, v in anchor.items()}
        self.anchor_logits = np.asarray(anchor_logits, dtype=np.float32)
        self.jvps = {k: np.asarray(v, dtype=np.float32) for k, v in jvps.items()}
        for k, v in self.jvps.items():
            if v.shape != self.anchor_logits.shape:
                raise ValueError(
                    f"JVP of {k!r} has shape {v.shape}, logits {self.anchor_logits.shape}."
                )

    @property
    def names(self) -> list[str]:
        return list(self.jvps)

    def delta(self, coeffs: Mapping[str, float]) -> dict[str, float]:
        """``λ - a`` per vector (vectors not named are at 0); refuses directions without a JVP."""
        names = set(coeffs) | set(self.anchor)
        out = {n: float(coeffs.get(n, 0.0)) - self.anchor.get(n, 0.0) for n in names}
        missing = [n for n, d in out.items() if d != 0.0 and n not in self.jvps]
        if missing:
            raise ValueError(f"No JVP for {missing} at this anchor: the preview cannot move them.")
        return out

    def logits(self, coeffs: Mapping[str, float]) -> np.ndarray:
        """float32 ``(n, 2)`` at the effective coefficients ``coeffs``."""
        out = self.anchor_logits.copy()
        for n, d in self.delta(coeffs).items():
            if d != 0.0:
                out += np.float32(d) * self.jvps[n]
        return out

    @classmethod
    def build(
        cls,
        evaluator,
        anchor: Mapping[str, float],
        split: str,
        normalize: str = "sum",
        names: Sequence[str] | None = None,
        progress=None,
        setting=None,
    ) -> FirstOrderPreview:
        """Evaluate ``anchor`` exactly and one JVP per vector in ``names`` (default: all).

        ``evaluator`` is a :class:`taskfair.sweep.Evaluator`. Forward-mode AD is not
        implemented for the SDPA attention kernel on CPU, so the model is switched to
        eager attention for the JVPs (and back), under the merger's lock. One JVP costs
        about 3.4 forward passes. The anchor logits are the exact (SDPA) ones.

        ``setting`` (a :class:`taskfair.sweep.Setting`), when given, is the anchor instead
        of ``anchor``/``normalize``: a merge method that transforms its vectors (TIES,
        DARE) is merged with, and differentiated along, its transformed vectors.
        """
        names = list(evaluator.names if names is None else names)
        if setting is not None:
            anchor, normalize = setting.coeff_dict, setting.normalize
            anchor_logits = evaluator.setting_logits(setting, [split])[split]
            directions = evaluator.directions(setting)
            merged = evaluator.merged(setting)
        else:
            anchor_logits = evaluator.logits(anchor, split, normalize)
            directions = evaluator.vectors
            merged = evaluator.merger.merged(anchor, normalize)
        effective = effective_coeffs(anchor, normalize)
        encoded = evaluator.encoded(split)
        jvps = {}
        with merged as model:
            previous = switch_to_eager(model)
            try:
                for i, n in enumerate(names):
                    jvps[n] = jvp_logits(model, encoded, directions[n], evaluator.batch_size)
                    report(progress, i + 1, len(names), f"JVP along {n}")
            finally:
                if previous is not None:
                    model.set_attn_implementation(previous)
        return cls(effective, anchor_logits, jvps)


def nearest_anchor(
    coeffs: Mapping[str, float],
    anchors: Sequence[Mapping[str, float]],
    names: Sequence[str] | None = None,
    gram: np.ndarray | None = None,
) -> int:
    """Index of the anchor closest to ``coeffs`` in parameter space.

    With ``gram`` (``<τ_g, τ_h>`` over ``names``, see :func:`taskfair.analysis.gram_matrix`)
    the distance is ``‖sum_g (λ_g - a_g) τ_g‖``; without it, Euclidean in coefficients.
    """
    if not anchors:
        raise ValueError("No anchors to choose from.")
    names = sorted(set(coeffs).union(*anchors)) if names is None else list(names)
    lam = np.array([coeffs.get(n, 0.0) for n in names])
    best, best_d = 0, math.inf
    for i, a in enumerate(anchors):
        d = lam - np.array([a.get(n, 0.0) for n in names])
        dist = float(d @ gram @ d) if gram is not None else float(d @ d)
        if dist < best_d:
            best, best_d = i, dist
    return best
