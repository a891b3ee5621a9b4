"""How much each group can tell, and the noise floor of DPD and EOD at these group sizes.

* :func:`group_info`: each group's rows, positives and negatives, and the minimum
  detectable difference (MDD) of its selection rate, TPR and FPR against the other
  grouped rows: the gap a two-sided 5% test would find with 80% power at these sizes,
  ``(z_0.975 + z_0.8) · sqrt(p (1 − p) (1/n_g + 1/n_rest))`` with ``p`` the pooled rate
  (0.5 when there is none). A group with fewer than :data:`MIN_CLASS_ROWS` positives or
  negatives is *too small for a finding*: no disparity it shows is read as one.
* :func:`noise_floor`: what DPD and EOD a predictor whose groups truly share the same
  rates would score here: the group labels are permuted among the grouped rows *within*
  each label (so every group keeps its rows, positives and negatives, and the predictor
  keeps its rates per label), and the disparity scored per permutation. Exactly the
  permutation distribution (a multivariate hypergeometric per label and seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from taskfair.metrics._counts import table_metrics

__all__ = ["MIN_CLASS_ROWS", "GroupInfo", "NoiseFloor", "group_info", "noise_floor"]

#: Fewer positives or negatives than this in a group: too small for a finding.
MIN_CLASS_ROWS = 10
_POWER_Z = float(norm.ppf(0.975) + norm.ppf(0.8))


@dataclass(frozen=True)
class GroupInfo:
    """One group's size and the smallest gap it could detect (80% power, 5% two-sided)."""

    n: int
    positives: int
    negatives: int
    mdd_selection_rate: float
    mdd_tpr: float
    mdd_fpr: float
    too_small: bool
    note: str


@dataclass(frozen=True)
class NoiseFloor:
    """DPD or EOD of a predictor whose groups share their rates: ``typical`` (median) and
    the central ``level`` band ``[lo, hi]`` over ``draws`` permutations."""

    typical: float
    lo: float
    hi: float
    level: float
    draws: int
    method: str = "group labels permuted within label"


def _mdd(p: float, n: float, rest: float) -> float:
    if n <= 0 or rest <= 0:
        return math.nan
    p = 0.5 if not 0.0 < p < 1.0 else p
    return float(_POWER_Z * math.sqrt(p * (1 - p) * (1 / n + 1 / rest)))


def group_info(t: np.ndarray, names) -> dict[str, GroupInfo]:
    """:class:`GroupInfo` per group from tables ``(S, K + 1, 2, 2)`` (seeds averaged)."""
    g = t[..., :-1, :, :].mean(axis=0)  # [group, y, ŷ]; sizes are the same for every seed
    pos, neg = g[:, 1].sum(-1), g[:, 0].sum(-1)
    n = pos + neg
    out = {}
    for i, name in enumerate(names):
        rest = [x.sum() - x[i] for x in (n, pos, neg)]
        sel = (g[:, :, 1].sum() / n.sum()) if n.sum() else math.nan
        tpr = (g[:, 1, 1].sum() / pos.sum()) if pos.sum() else math.nan
        fpr = (g[:, 0, 1].sum() / neg.sum()) if neg.sum() else math.nan
        m = (_mdd(sel, n[i], rest[0]), _mdd(tpr, pos[i], rest[1]), _mdd(fpr, neg[i], rest[2]))
        small = pos[i] < MIN_CLASS_ROWS or neg[i] < MIN_CLASS_ROWS
        if small:
            note = (
                f"too small for a finding: {int(pos[i])} positives and {int(neg[i])} "
                f"negatives (a finding needs at least {MIN_CLASS_ROWS} of each)"
            )
        else:
            worst = max(m[1], m[2])
            note = f"could detect a TPR or FPR gap of {worst:.2f} or more (80% power)"
        out[str(name)] = GroupInfo(
            int(n[i]), int(pos[i]), int(neg[i]), *m, too_small=bool(small), note=note
        )
    return out


def noise_floor(
    t: np.ndarray, level: float = 0.95, draws: int = 1000, random_state: int = 0
) -> dict[str, NoiseFloor]:
    """The :class:`NoiseFloor` of ``dpd`` and ``eod`` from tables ``(S, K + 1, 2, 2)``."""
    rng = np.random.default_rng(random_state)
    seeds, k1 = t.shape[0], t.shape[1]
    k = k1 - 1
    sims = np.zeros((draws, seeds, k1, 2, 2))
    for s in range(seeds):
        for y in (0, 1):
            sizes = t[s, :k, y].sum(-1).astype(np.int64)
            chosen = int(t[s, :k, y, 1].sum())
            if sizes.sum():
                ones = rng.multivariate_hypergeometric(sizes, chosen, size=draws)
            else:
                ones = np.zeros((draws, k), dtype=np.int64)
            sims[:, s, :k, y, 1] = ones
            sims[:, s, :k, y, 0] = sizes[None, :] - ones
    m = table_metrics(sims)
    out = {}
    q = ((1 - level) / 2, 0.5, 1 - (1 - level) / 2)
    for metric in ("dpd", "eod"):
        v = m[metric].mean(axis=1)
        v = v[~np.isnan(v)]
        lo, mid, hi = np.quantile(v, q) if len(v) else (math.nan,) * 3
        out[metric] = NoiseFloor(float(mid), float(lo), float(hi), float(level), int(len(v)))
    return out
