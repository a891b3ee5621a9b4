"""Search strategies over per-vector coefficients: which point to evaluate exactly next.

Every strategy works in the box ``[lower, upper]`` of raw λ_g (rounded to
``resolution``), starts from the best exact point of the starting grid, and is driven
by :func:`taskfair.steer.driver.steer` through two calls: :meth:`Strategy.propose`
(the next point to evaluate exactly, or None when it has converged) and
:meth:`Strategy.observe` (that point's exact score). ``preview(X)`` scores ``(p, G)``
points on the surrogate (:mod:`taskfair.steer.surrogate`, milliseconds); a strategy that
does not use it gets None. Each keeps its whole state in :meth:`Strategy.state` (JSON),
so a stopped search resumes where it stood.

* ``coordinate`` — pattern search: poll ``x ± step·e_g``, the previews ranking the
  polls, at most :attr:`Coordinate.polls` exact polls per step; halve the step when none
  improves.
* ``trust_region`` — minimise the preview inside a box of radius ``r`` around the best
  exact point (CMA-ES on the surrogate, a few hundred previews), evaluate its minimiser
  exactly; widen ``r`` when the exact gain is at least half the predicted one, halve it
  when there is no gain.
* ``cmaes`` — CMA-ES on exact evaluations only (no surrogate): the baseline that says
  what the previews buy.

:class:`CMAES` is a compact (μ/μ_w, λ)-CMA-ES in numpy (Hansen's tutorial, 2016), with
box bounds by clipping plus a quadratic penalty on the clipped distance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["CMAES", "STRATEGIES", "Coordinate", "ExactCMAES", "Strategy", "TrustRegion", "make"]

Preview = Callable[[np.ndarray], np.ndarray]


def _rng(state: dict | None, seed: int) -> np.random.Generator:
    rng = np.random.default_rng(seed)
    if state is not None:
        rng.bit_generator.state = state
    return rng


class CMAES:
    """(μ/μ_w, λ)-CMA-ES minimising over a box; :meth:`ask` then :meth:`tell` per generation."""

    def __init__(
        self,
        mean: Sequence[float],
        sigma: float,
        lower: Sequence[float],
        upper: Sequence[float],
        seed: int = 0,
        popsize: int | None = None,
    ):
        self.mean = np.asarray(mean, dtype=np.float64).copy()
        self.sigma = float(sigma)
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        n = self.n = len(self.mean)
        self.lam = int(popsize or 4 + math.floor(3 * math.log(max(n, 1))))
        self.mu = self.lam // 2
        w = math.log(self.mu + 0.5) - np.log(np.arange(1, self.mu + 1))
        self.w = w / w.sum()
        self.mueff = 1.0 / float((self.w**2).sum())
        self.cs = (self.mueff + 2) / (n + self.mueff + 5)
        self.ds = 1 + 2 * max(0.0, math.sqrt((self.mueff - 1) / (n + 1)) - 1) + self.cs
        self.cc = (4 + self.mueff / n) / (n + 4 + 2 * self.mueff / n)
        self.c1 = 2 / ((n + 1.3) ** 2 + self.mueff)
        self.cmu = min(
            1 - self.c1, 2 * (self.mueff - 2 + 1 / self.mueff) / ((n + 2) ** 2 + self.mueff)
        )
        self.chin = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
        self.C, self.ps, self.pc = np.eye(n), np.zeros(n), np.zeros(n)
        self.gen = 0
        self.rng = np.random.default_rng(seed)

    def _eig(self):
        vals, B = np.linalg.eigh((self.C + self.C.T) / 2)
        return B, np.sqrt(np.clip(vals, 1e-20, None))

    def ask(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)``: the generation's points clipped to the box ``(λ, n)`` and their
        unclipped steps ``Y`` (``x = mean + σ·y``) for :meth:`tell`."""
        B, D = self._eig()
        Z = self.rng.standard_normal((self.lam, self.n))
        Y = Z @ (B * D).T
        X = np.clip(self.mean + self.sigma * Y, self.lower, self.upper)
        return X, Y

    def penalty(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Quadratic penalty on how far the unclipped points left the box."""
        raw = self.mean + self.sigma * Y
        return ((raw - X) ** 2).sum(axis=1)

    def tell(self, Y: np.ndarray, f: Sequence[float]) -> None:
        order = np.argsort(np.asarray(f, dtype=np.float64), kind="stable")[: self.mu]
        yw = self.w @ Y[order]
        self.mean = np.clip(self.mean + self.sigma * yw, self.lower, self.upper)
        B, D = self._eig()
        inv_sqrt = (B / D) @ B.T
        self.ps = (1 - self.cs) * self.ps + math.sqrt(self.cs * (2 - self.cs) * self.mueff) * (
            inv_sqrt @ yw
        )
        self.gen += 1
        hs = float(
            np.linalg.norm(self.ps) / math.sqrt(1 - (1 - self.cs) ** (2 * self.gen))
            < (1.4 + 2 / (self.n + 1)) * self.chin
        )
        self.pc = (1 - self.cc) * self.pc + hs * math.sqrt(
            self.cc * (2 - self.cc) * self.mueff
        ) * yw
        rank_mu = (Y[order].T * self.w) @ Y[order]
        self.C = (
            (1 - self.c1 - self.cmu) * self.C
            + self.c1 * (np.outer(self.pc, self.pc) + (1 - hs) * self.cc * (2 - self.cc) * self.C)
            + self.cmu * rank_mu
        )
        self.sigma *= math.exp((self.cs / self.ds) * (np.linalg.norm(self.ps) / self.chin - 1))
        span = float(np.max(self.upper - self.lower)) or 1.0
        self.sigma = min(self.sigma, span)

    def state(self) -> dict:
        return {
            "mean": self.mean.tolist(),
            "sigma": self.sigma,
            "C": self.C.tolist(),
            "ps": self.ps.tolist(),
            "pc": self.pc.tolist(),
            "gen": self.gen,
            "rng": self.rng.bit_generator.state,
        }

    def restore(self, state: dict) -> CMAES:
        self.mean = np.asarray(state["mean"], float)
        self.sigma = float(state["sigma"])
        self.C = np.asarray(state["C"], float)
        self.ps, self.pc = np.asarray(state["ps"], float), np.asarray(state["pc"], float)
        self.gen = int(state["gen"])
        self.rng.bit_generator.state = state["rng"]
        return self


def minimise_preview(
    preview: Preview,
    center: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    seed: int,
    generations: int = 25,
    popsize: int = 16,
) -> tuple[np.ndarray, float]:
    """The best point CMA-ES finds for ``preview`` inside ``[lower, upper]`` starting at
    ``center`` (``generations × popsize`` previews, plus the coordinate polls)."""
    radius = float(np.max(upper - lower)) / 2 or 1e-3
    es = CMAES(center, radius / 2, lower, upper, seed=seed, popsize=popsize)
    polls = [center]
    for g in range(len(center)):
        for s in (-1, 1):
            p = center.copy()
            p[g] = np.clip(p[g] + s * radius, lower[g], upper[g])
            polls.append(p)
    polls = np.stack(polls)
    f = preview(polls)
    best_i = int(np.argmin(f))
    best_x, best_f = polls[best_i], float(f[best_i])
    for _ in range(generations):
        X, Y = es.ask()
        f = preview(X)
        es.tell(Y, f + es.penalty(X, Y))
        i = int(np.argmin(f))
        if f[i] < best_f:
            best_x, best_f = X[i].copy(), float(f[i])
    return best_x, best_f


class Strategy:
    """A search strategy (see the module docstring). ``x0``/``f0``: the starting exact
    point and its score; ``lower``/``upper``: the box; ``resolution``: λ rounding."""

    name = ""
    uses_preview = True

    def __init__(self, x0, f0, lower, upper, resolution: float, seed: int = 0):
        self.x = np.asarray(x0, dtype=np.float64)
        self.f = float(f0)
        self.lower, self.upper = np.asarray(lower, float), np.asarray(upper, float)
        self.resolution = float(resolution)
        self.seed = int(seed)

    def round(self, x: np.ndarray) -> np.ndarray:
        q = np.round(np.clip(x, self.lower, self.upper) / self.resolution) * self.resolution
        return np.round(np.clip(q, self.lower, self.upper), 10)

    def propose(self, preview: Preview | None) -> np.ndarray | None:
        raise NotImplementedError

    def observe(self, x: np.ndarray, f: float) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        return {"x": self.x.tolist(), "f": self.f}

    def restore(self, state: dict) -> Strategy:
        self.x, self.f = np.asarray(state["x"], float), float(state["f"])
        return self


class Coordinate(Strategy):
    """Pattern search with preview-ranked polls (see the module docstring)."""

    name = "coordinate"
    polls = 2

    def __init__(self, *args, step: float | None = None, **kw):
        super().__init__(*args, **kw)
        span = float(np.max(self.upper - self.lower))
        self.step = float(step if step is not None else max(span / 4, self.resolution))
        self.tried: list[list[float]] = []

    def _polls(self) -> list[np.ndarray]:
        out = []
        for g in range(len(self.x)):
            for s in (-1, 1):
                p = self.x.copy()
                p[g] += s * self.step
                p = self.round(p)
                seen = [self.x, *self.tried, *out]
                if not any(np.allclose(p, t) for t in seen):
                    out.append(p)
        return out

    def propose(self, preview: Preview | None) -> np.ndarray | None:
        while self.step >= self.resolution - 1e-12:
            polls = self._polls()
            if polls and len(self.tried) < (self.polls if preview is not None else 2 * len(self.x)):
                if preview is not None:
                    polls = [polls[i] for i in np.argsort(preview(np.stack(polls)), kind="stable")]
                return polls[0]
            self.step /= 2
            self.tried = []
        return None

    def observe(self, x: np.ndarray, f: float) -> None:
        if f < self.f - 1e-12:
            self.x, self.f, self.tried = np.asarray(x, float), float(f), []
        else:
            self.tried.append(list(map(float, x)))

    def state(self) -> dict:
        return {**super().state(), "step": self.step, "tried": self.tried}

    def restore(self, state: dict) -> Coordinate:
        super().restore(state)
        self.step, self.tried = float(state["step"]), [list(t) for t in state["tried"]]
        return self


class TrustRegion(Strategy):
    """Minimise the preview in a trust region, confirm exactly (see the module docstring)."""

    name = "trust_region"

    def __init__(self, *args, radius: float | None = None, **kw):
        super().__init__(*args, **kw)
        span = float(np.max(self.upper - self.lower))
        self.radius = float(radius if radius is not None else max(span / 4, self.resolution))
        self.max_radius = span
        self.predicted: float | None = None  # the preview's gain at the proposed point
        self.tried: list[list[float]] = []
        self.calls = 0

    def propose(self, preview: Preview | None) -> np.ndarray | None:
        if preview is None:
            raise ValueError("The trust-region search needs the preview surrogate.")
        while self.radius >= self.resolution - 1e-12:
            lo = np.maximum(self.lower, self.x - self.radius)
            hi = np.minimum(self.upper, self.x + self.radius)
            self.calls += 1
            best, _ = minimise_preview(preview, self.x.copy(), lo, hi, self.seed + self.calls)
            best = self.round(best)
            # The preview's own gain (its score at x uses the normal approximation of the
            # accuracy's interval, the exact one a bootstrap: compare like with like).
            here, there = preview(np.stack([self.x, best]))
            stale = np.allclose(best, self.x) or any(np.allclose(best, t) for t in self.tried)
            if stale or there >= here - 1e-12:
                self.radius /= 2
                continue
            self.predicted = float(here - there)
            return best
        return None

    def observe(self, x: np.ndarray, f: float) -> None:
        predicted_gain = self.predicted or 0.0
        gain = self.f - f
        self.tried.append(list(map(float, x)))
        if gain > 1e-12:
            self.x, self.f = np.asarray(x, float), float(f)
            if predicted_gain > 0 and gain >= 0.5 * predicted_gain:
                self.radius = min(2 * self.radius, self.max_radius)
        else:
            self.radius /= 2
        self.predicted = None

    def state(self) -> dict:
        return {
            **super().state(),
            "radius": self.radius,
            "predicted": self.predicted,
            "tried": self.tried,
            "calls": self.calls,
        }

    def restore(self, state: dict) -> TrustRegion:
        super().restore(state)
        self.radius, self.predicted = float(state["radius"]), state["predicted"]
        self.tried, self.calls = [list(t) for t in state["tried"]], int(state["calls"])
        return self


class ExactCMAES(Strategy):
    """CMA-ES on exact evaluations only (see the module docstring)."""

    name = "cmaes"
    uses_preview = False

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        span = float(np.max(self.upper - self.lower))
        self.es = CMAES(self.x, span / 5, self.lower, self.upper, seed=self.seed)
        self.pending: list[list[float]] = []
        self.steps: list[list[float]] = []
        self.scores: list[float | None] = []

    def propose(self, preview: Preview | None) -> np.ndarray | None:
        if self.es.sigma < self.resolution / 2:
            return None
        if not self.pending:
            X, Y = self.es.ask()
            self.pending = [list(map(float, self.round(x))) for x in X]
            self.steps = Y.tolist()
            self.scores = [None] * len(self.pending)
            self._penalty = self.es.penalty(X, Y).tolist()
        i = next(i for i, s in enumerate(self.scores) if s is None)
        return np.asarray(self.pending[i])

    def observe(self, x: np.ndarray, f: float) -> None:
        i = next(i for i, s in enumerate(self.scores) if s is None)
        self.scores[i] = float(f)
        if f < self.f - 1e-12:
            self.x, self.f = np.asarray(x, float), float(f)
        if all(s is not None for s in self.scores):
            pen = np.asarray(self._penalty)
            self.es.tell(np.asarray(self.steps), np.asarray(self.scores) + pen)
            self.pending, self.steps, self.scores = [], [], []

    def state(self) -> dict:
        return {
            **super().state(),
            "es": self.es.state(),
            "pending": self.pending,
            "steps": self.steps,
            "scores": self.scores,
            "penalty": getattr(self, "_penalty", []),
        }

    def restore(self, state: dict) -> ExactCMAES:
        super().restore(state)
        self.es.restore(state["es"])
        self.pending, self.steps = state["pending"], state["steps"]
        self.scores, self._penalty = state["scores"], state["penalty"]
        return self


#: name -> strategy class.
STRATEGIES: dict[str, type[Strategy]] = {s.name: s for s in (TrustRegion, Coordinate, ExactCMAES)}


def make(name: str, *args, **kw) -> Strategy:
    """A new strategy by name (``ValueError`` naming the known ones otherwise)."""
    if name not in STRATEGIES:
        raise ValueError(f"Unknown search {name!r}: use one of {list(STRATEGIES)}.")
    return STRATEGIES[name](*args, **kw)
