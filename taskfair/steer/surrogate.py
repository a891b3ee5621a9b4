"""The cheap surrogate the search screens candidates with: previews of a mix's logits.

Two previews of :mod:`taskfair.sweep.preview`, combined:

* on the diagonal (every λ_g equal, a point of the method's global-λ curve) inside the
  exact grid's range: the curve's interpolation between its two nearest exact points;
* elsewhere: a first-order preview ``logits(e) + Σ_g (λ_g − e_g)·s·J_g`` at ``e``, the
  nearest *exact* point (distance ``‖Σ_g (λ_g − e_g) τ_g‖`` through the vectors' Gram
  matrix), with the JVPs ``J_g`` taken once at the search's anchor (the best global λ)
  and ``s`` the normalisation's scale (1, or 1/G for ``mean``). Re-anchoring at the
  nearest exact point keeps the preview exact wherever the search has been; the
  derivative is the anchor's.

Predictions are scored by :class:`taskfair.steer.certify.CountMetrics` (the metrics'
own rules, from count tables), so a population of a few hundred mixes costs
milliseconds. Coordinates ``x`` are raw λ_g in the order of ``names``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from taskfair.steer.certify import CountMetrics

__all__ = ["Surrogate"]

#: Two coordinates closer than this are one point (λ are rounded to 10 decimals).
_TOL = 1e-9


class Surrogate:
    """Previewed metrics of per-vector mixes (see the module docstring).

    ``names``: the subgroup vectors, in coordinate order; ``jvps``: ``{name: (n, 2)}``,
    the derivative of the logits along each (transformed) vector with respect to its
    *effective* coefficient, at the anchor; ``scale``: effective coefficient per raw λ
    (1.0 for ``sum``, ``1/G`` for ``mean``); ``gram``: ``(G, G)`` inner products of
    the directions (None: Euclidean distance in λ); ``labels``/``groups``: the split's.
    """

    def __init__(
        self,
        names: Sequence[str],
        jvps: Mapping[str, np.ndarray] | None,
        labels,
        groups,
        *,
        scale: float = 1.0,
        gram: np.ndarray | None = None,
    ):
        self.names = list(names)
        self.scale = float(scale)
        self.jacobian = (
            None if jvps is None else np.stack([np.asarray(jvps[n], np.float32) for n in names])
        )
        self.gram = None if gram is None else np.asarray(gram, dtype=np.float64)
        self.scorer = CountMetrics(labels, groups)
        self._x: list[np.ndarray] = []
        self._logits: list[np.ndarray] = []

    @property
    def n_exact(self) -> int:
        return len(self._x)

    def add(self, x: Sequence[float], logits: np.ndarray) -> None:
        """Record an exact point's logits ``(n, 2)`` at coordinates ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if any(np.allclose(x, e, atol=_TOL, rtol=0) for e in self._x):
            return
        self._x.append(x)
        self._logits.append(np.asarray(logits, dtype=np.float32))

    def _distances(self, X: np.ndarray) -> np.ndarray:
        d = X[:, None, :] - np.stack(self._x)[None, :, :]  # (p, e, G)
        if self.gram is None:
            return np.einsum("peg,peg->pe", d, d)
        return np.einsum("peg,gh,peh->pe", d, self.gram, d)

    def _diagonal(self, X: np.ndarray) -> list[tuple[int, int, int, float] | None]:
        """For each row of X on the diagonal inside the exact diagonal points' range:
        ``(row, lo, hi, weight)`` indices of the bracketing exact points."""
        diag = [(float(e[0]), i) for i, e in enumerate(self._x) if np.ptp(e) <= _TOL]
        diag.sort()
        out = []
        for r, x in enumerate(X):
            if np.ptp(x) > _TOL or len(diag) < 2:
                continue
            v = float(x[0])
            below = [(a, i) for a, i in diag if a <= v + _TOL]
            above = [(a, i) for a, i in diag if a >= v - _TOL]
            if not below or not above:
                continue
            (a, i), (b, j) = below[-1], above[0]
            w = 0.0 if b - a <= _TOL else (v - a) / (b - a)
            out.append((r, i, j, w))
        return out

    def logits(self, X: np.ndarray) -> np.ndarray:
        """Previewed logits ``(p, n, 2)`` float32 at coordinates ``X`` ``(p, G)``."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if not self._x:
            raise ValueError("The surrogate has no exact point yet.")
        nearest = self._distances(X).argmin(axis=1)
        base = np.stack(self._logits)[nearest]  # (p, n, 2)
        out = base.copy()
        if self.jacobian is not None:
            delta = (X - np.stack(self._x)[nearest]) * self.scale  # (p, G) effective
            out += np.einsum("pg,gnc->pnc", delta.astype(np.float32), self.jacobian)
        for r, i, j, w in self._diagonal(X):
            out[r] = (1 - np.float32(w)) * self._logits[i] + np.float32(w) * self._logits[j]
        return out

    def metrics(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Previewed metrics (:meth:`CountMetrics.of_predictions`) at ``X`` ``(p, G)``."""
        return self.scorer.of_predictions(self.logits(X).argmax(axis=2))
