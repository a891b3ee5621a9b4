"""The fairness bound of task arithmetic (Proposition 1), drawn with an estimated L.

Stated form (REFERENCE.md, "The bound"): for an L-Lipschitz score,

    DPD(θ(λ)) ≤ 2 L Σ_g |λ_g − 1| ‖τ_g‖,

the deviation measured from the fully merged point ``θ(1) = θ_0 + Σ_g τ_g`` (for
``normalize="mean"`` the fully merged point is ``θ_0 + 1/G Σ_g τ_g`` and the
coefficients are ``λ_g / G``). The constant L is not known: :func:`estimate_lipschitz`
gives an empirical *lower* estimate from exactly evaluated points, so the curve drawn is
the bound's **shape**, not a guarantee. See :data:`ASSUMPTION` (shown next to the curve)
and :data:`EOD_NOTE` (why the EOD bound is not drawn).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "ASSUMPTION",
    "EOD_NOTE",
    "ESTIMATOR_NOTE",
    "LipschitzEstimate",
    "dpd_bound",
    "dpd_bound_curve",
    "estimate_lipschitz",
    "gram_matrix",
    "param_distance",
]

ASSUMPTION = (
    "Assumes the classifier's score (here the softmax probability of the positive class) "
    "is L-Lipschitz in the weights, uniformly over inputs, along the merge path; the bound "
    "DPD(θ(λ)) ≤ 2L Σ_g |λ_g − 1|·‖τ_g‖ measures the deviation from the fully merged point "
    "θ(1) and, as stated, treats that point as (near) parity: add DPD(θ(1)) (offset) for the "
    "triangle-inequality form |DPD(θ(λ)) − DPD(θ(1))| ≤ 2L Σ_g |λ_g − 1|·‖τ_g‖. L is "
    "estimated from evaluated points, a lower estimate of the true constant: the curve "
    "shows the bound's shape, not a guarantee. Predictions are thresholded, which the "
    "score-based bound does not model."
)

ESTIMATOR_NOTE = (
    "L̂ = max over pairs of exactly evaluated points (a, b) (default: adjacent grid points) "
    "of max_x |s_a(x) − s_b(x)| / ‖θ_a − θ_b‖, where s is the softmax probability of the "
    "positive class and ‖θ_a − θ_b‖ = ‖Σ_g (c_a,g − c_b,g) τ_g‖ comes from the Gram matrix "
    "of the task vectors. The true L is a supremum over all inputs and all weight pairs, "
    "so L̂ ≤ L: a lower estimate. With estimator='group_mean' the numerator is the largest "
    "change of a group's mean score instead (smaller still; the quantity DPD moves with)."
)

EOD_NOTE = (
    "The EOD bound adds 4·sqrt((B0 + B1)·U) to twice the DPD-style term; the constants B0, "
    "B1 and U are not given in the sources available here, so the EOD bound is not drawn."
)


def gram_matrix(
    vectors: Mapping, names: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """``(names, G)`` with ``G[i, j] = <τ_i, τ_j>`` in float64 (``(k, k)``)."""
    names = list(vectors if names is None else names)
    k = len(names)
    gram = np.zeros((k, k))
    for i in range(k):
        for j in range(i, k):
            gram[i, j] = gram[j, i] = vectors[names[i]].dot(vectors[names[j]])
    return names, gram


def param_distance(
    a: Mapping[str, float], b: Mapping[str, float], names: Sequence[str], gram: np.ndarray
) -> float:
    """``‖Σ_g (a_g − b_g) τ_g‖`` for effective coefficient dicts (missing = 0)."""
    d = np.array([a.get(n, 0.0) - b.get(n, 0.0) for n in names], dtype=np.float64)
    return float(math.sqrt(max(float(d @ gram @ d), 0.0)))


def _scores(logits: np.ndarray) -> np.ndarray:
    """Softmax probability of class 1, float64 ``(n,)``."""
    z = np.asarray(logits, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(z[:, 0] - z[:, 1]))


@dataclass(frozen=True)
class LipschitzEstimate:
    """An empirical lower estimate of L and where it was attained."""

    L: float
    estimator: str
    n_pairs: int
    pair: tuple[int, int] | None
    ratios: list[float] = field(default_factory=list)
    note: str = ESTIMATOR_NOTE


def estimate_lipschitz(
    logits: Sequence[np.ndarray],
    coeffs: Sequence[Mapping[str, float]],
    names: Sequence[str],
    gram: np.ndarray,
    *,
    pairs: str | Sequence[tuple[int, int]] = "adjacent",
    estimator: str = "per_example",
    groups=None,
) -> LipschitzEstimate:
    """Estimate L from exactly evaluated points (see :data:`ESTIMATOR_NOTE`).

    ``logits[i]``: ``(n, 2)`` at effective coefficients ``coeffs[i]`` (same rows for all
    points). ``pairs``: ``"adjacent"`` (consecutive points, the local slopes),
    ``"all"``, or explicit index pairs. ``estimator``: ``"per_example"`` (largest change
    of any row's score) or ``"group_mean"`` (largest change of a group's mean score;
    needs ``groups``, ``(n,)``, missing = no group).
    """
    if len(logits) != len(coeffs):
        raise ValueError("logits and coeffs must be aligned.")
    k = len(logits)
    if pairs == "adjacent":
        idx = [(i, i + 1) for i in range(k - 1)]
    elif pairs == "all":
        idx = [(i, j) for i in range(k) for j in range(i + 1, k)]
    else:
        idx = [tuple(p) for p in pairs]
    scores = [_scores(x) for x in logits]
    if estimator == "group_mean":
        if groups is None:
            raise ValueError("estimator='group_mean' needs groups.")
        g = pd.Series(list(groups), dtype=object)
        codes, _ = pd.factorize(g)
        if (codes < 0).all():
            raise ValueError("No row belongs to a group.")
        keep = codes >= 0
        counts = np.bincount(codes[keep])
        scores = [np.bincount(codes[keep], weights=s[keep]) / counts for s in scores]
    elif estimator != "per_example":
        raise ValueError(f"Unknown estimator {estimator!r}: use per_example or group_mean.")
    best, best_pair, ratios = 0.0, None, []
    for i, j in idx:
        dist = param_distance(coeffs[i], coeffs[j], names, gram)
        if dist <= 0:
            continue
        r = float(np.abs(scores[i] - scores[j]).max()) / dist
        ratios.append(r)
        if r > best:
            best, best_pair = r, (i, j)
    return LipschitzEstimate(best, estimator, len(ratios), best_pair, ratios)


def _norm_list(vector_norms, n_groups_hint=None) -> list[float]:
    if isinstance(vector_norms, Mapping):
        return [float(v) for v in vector_norms.values()]
    return [float(v) for v in vector_norms]


def dpd_bound(
    coeffs: Mapping[str, float],
    vector_norms: Mapping[str, float],
    L: float,
    normalize: str = "sum",
    offset: float = 0.0,
) -> float:
    """``offset + 2 L Σ_g |c_g − c*_g| ‖τ_g‖`` for one per-vector setting.

    ``coeffs``: the setting's coefficients as given to the merger; ``c*`` is the fully
    merged point (1 for every vector, divided by G under ``"mean"``).
    """
    scale = 1.0 / len(vector_norms) if normalize == "mean" and vector_norms else 1.0
    dev = sum(
        abs(float(coeffs.get(g, 0.0)) - 1.0) * scale * float(nrm) for g, nrm in vector_norms.items()
    )
    return float(offset + 2.0 * float(L) * dev)


def dpd_bound_curve(
    lams: Sequence[float],
    vector_norms,
    L: float,
    normalize: str = "sum",
    offset: float = 0.0,
) -> pd.DataFrame:
    """The bound along a global-λ task-addition curve: DataFrame ``lam, bound``.

    ``bound(λ) = offset + 2 L |λ − 1| s Σ_g ‖τ_g‖`` with ``s = 1`` (``"sum"``) or
    ``1/G`` (``"mean"``). ``vector_norms``: ``{group: ‖τ_g‖}`` or a list. ``offset = 0``
    is the stated form; ``offset = DPD(θ(1))`` the triangle-inequality form.
    """
    norms = _norm_list(vector_norms)
    if normalize not in ("sum", "mean"):
        raise ValueError(f"Unknown normalisation {normalize!r}.")
    scale = 1.0 / len(norms) if normalize == "mean" and norms else 1.0
    total = scale * sum(norms)
    lam = np.asarray(list(lams), dtype=np.float64)
    return pd.DataFrame({"lam": lam, "bound": offset + 2.0 * float(L) * np.abs(lam - 1.0) * total})
