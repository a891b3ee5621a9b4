"""Intervals of DPD and EOD (and of their paired differences) by projection.

DPD is the largest gap ``|p_g − p_h|`` between two groups' selection rates, EOD the
largest gap of TPR or FPR. Its plug-in is biased upward when a group is small and the
bootstrap of a maximum fails near ties, so the interval is built from intervals of every
pairwise gap (Newcombe's score interval of ``p_g − p_h``): the true maximum lies above
the largest lower bound of ``|gap|`` when every gap's interval holds (Šidák over the gaps
compared) and below the largest upper bound when the true largest gap's interval holds. That is valid at a true
disparity of 0 and at ties, and conservative elsewhere (see docs/STATISTICS.md).

A paired difference ``DPD(a) − DPD(b)`` on the same rows uses three families at once: the
gaps of ``a``, the gaps of ``b`` and the paired gap changes ``e_gh = (p^a_g − p^b_g) −
(p^a_h − p^b_h)`` (each group's change from the discordant rows, Agresti–Min). With
``(g*, h*)`` the pair where ``a``'s gap is largest and ``σ*`` its sign, ``DPD(a) −
DPD(b) ≤ σ*·e_{g*h*}``; with ``b``'s largest pair, ``≥ σ'·e_{g'h'}``. The pairs and signs
that can be largest are read off the simultaneous intervals; the bound is intersected
with ``[lo(a) − hi(b), hi(a) − lo(b)]``.

Several seeds: the bounds of each seed (all seeds' gaps in one simultaneous family) are
averaged, which bounds the seed mean drawn on the pages.
"""

from __future__ import annotations

import numpy as np

from taskfair.metrics._binomial import newcombe, sidak_level, z_of

__all__ = ["FAMILIES", "paired_spread_bounds", "spread_bounds"]

#: The rates compared by each disparity: (count of 1-predictions, base) per group.
FAMILIES = {"dpd": (("selected", "n"),), "eod": (("tp", "positives"), ("fp", "negatives"))}


def _group_counts(t: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group counts of tables ``(..., K + 1, 2, 2)`` (named groups only)."""
    g = t[..., :-1, :, :]
    return {
        "n": g.sum(axis=(-2, -1)),
        "positives": g[..., 1, :].sum(-1),
        "negatives": g[..., 0, :].sum(-1),
        "selected": g[..., 0, 1] + g[..., 1, 1],
        "tp": g[..., 1, 1],
        "fp": g[..., 0, 1],
    }


def _pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(k, 1)


def _abs(lo, hi):
    """Bounds of ``|d|`` from bounds of ``d``."""
    low = np.where(lo > 0, lo, np.where(hi < 0, -hi, 0.0))
    return low, np.maximum(np.abs(lo), np.abs(hi))


def _gap_bounds(counts, families, z, i, j):
    """Signed gap bounds ``(lo, hi)`` over all (family, pair), concatenated on the last
    axis, and which are defined."""
    los, his, oks = [], [], []
    for num, base in families:
        k, n = counts[num], counts[base]
        lo, hi = newcombe(k[..., i], n[..., i], k[..., j], n[..., j], z)
        los.append(lo)
        his.append(hi)
        oks.append((n[..., i] > 0) & (n[..., j] > 0))
    return np.concatenate(los, -1), np.concatenate(his, -1), np.concatenate(oks, -1)


def _max(x, ok):
    m = np.where(ok, x, -np.inf).max(axis=-1)
    return np.where(np.isfinite(m), m, np.nan)


def _n_compared(k: int, metric: str) -> int:
    return max(len(FAMILIES[metric]) * k * (k - 1) // 2, 1)


def spread_bounds(t: np.ndarray, metric: str, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds ``(lo, hi)`` of the seed mean of ``metric`` ('dpd' or 'eod') from tables
    ``(..., S, K + 1, 2, 2)`` at ``level`` (NaN where no pair is defined).

    The upper bound only needs the interval of the true largest gap to hold on its upper
    side, so it uses the per-seed level; the lower bound needs every gap's interval to
    hold, so it uses the Šidák level of all of them at half the error. The two errors
    add up to ``1 − level`` (with one gap and one seed, one interval serves both)."""
    k, seeds = t.shape[-3] - 1, t.shape[-4]
    looks = seeds * _n_compared(k, metric)
    z_hi = z_of(sidak_level(level, seeds))
    z_lo = z_hi if looks == 1 else z_of(sidak_level(1 - (1 - level) / 2, looks))
    i, j = _pairs(k)
    counts = _group_counts(t)
    lo, hi, ok = _gap_bounds(counts, FAMILIES[metric], z_lo, i, j)
    low = _max(_abs(lo, hi)[0], ok)
    lo, hi, ok = _gap_bounds(counts, FAMILIES[metric], z_hi, i, j)
    high = _max(_abs(lo, hi)[1], ok)
    return low.mean(axis=-1), high.mean(axis=-1)


def _change_bounds(ja, families, z, i, j):
    """Bounds of the paired gap changes ``e_gh`` over (family, pair), from joint tables
    ``(..., K + 1, 2, 2, 2)`` = [group, y, a, b]: Agresti–Min per group, combined."""
    g = ja[..., :-1, :, :, :]
    cells = {"n": (0, 1), "positives": (1,), "negatives": (0,)}
    los, his = [], []
    for _num, base in families:
        ys = cells[base]
        n10 = sum(g[..., y, 1, 0] for y in ys)
        n01 = sum(g[..., y, 0, 1] for y in ys)
        n = sum(g[..., y, :, :].sum(axis=(-2, -1)) for y in ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = (n10 - n01) / n
            a, b = (n10 + 0.5) / (n + 2), (n01 + 0.5) / (n + 2)
            var = np.maximum(a + b - (a - b) ** 2, 0.0) / (n + 2)
        e_raw, e_adj = raw[..., i] - raw[..., j], (a - b)[..., i] - (a - b)[..., j]
        half = z * np.sqrt(var[..., i] + var[..., j])
        los.append(np.minimum(e_adj - half, e_raw))
        his.append(np.maximum(e_adj + half, e_raw))
    return np.concatenate(los, -1), np.concatenate(his, -1)


def paired_spread_bounds(
    joint: np.ndarray, metric: str, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of ``metric(a) − metric(b)`` (seed means, seeds paired by index) from joint
    tables ``(..., S, K + 1, 2, 2, 2)`` = [seed, group, y, ŷ_a, ŷ_b] (see module)."""
    k, seeds = joint.shape[-4] - 1, joint.shape[-5]
    fam = FAMILIES[metric]
    z = z_of(sidak_level(level, 3 * seeds * _n_compared(k, metric)))
    i, j = _pairs(k)
    ta, tb = joint.sum(axis=-1), joint.sum(axis=-2)
    al, ah, ok = _gap_bounds(_group_counts(ta), fam, z, i, j)
    bl, bh, _ = _gap_bounds(_group_counts(tb), fam, z, i, j)
    el, eh = _change_bounds(joint, fam, z, i, j)
    la, ha = (_max(x, ok) for x in _abs(al, ah))
    lb, hb = (_max(x, ok) for x in _abs(bl, bh))
    inf = np.inf
    # b's largest gap: pair p with sign + if bh ≥ lb, sign − if −bl ≥ lb
    lower_e = np.minimum(
        np.where(ok & (bh >= lb[..., None]), el, inf).min(-1),
        np.where(ok & (-bl >= lb[..., None]), -eh, inf).min(-1),
    )
    upper_e = np.maximum(
        np.where(ok & (ah >= la[..., None]), eh, -inf).max(-1),
        np.where(ok & (-al >= la[..., None]), -el, -inf).max(-1),
    )
    lo = np.maximum(la - hb, lower_e)
    hi = np.minimum(ha - lb, upper_e)
    return lo.mean(axis=-1), hi.mean(axis=-1)
