"""The one resampler: rows stratified by group × label, seeds resampled on top.

The evaluation rows are drawn stratified by label and group, so a resample keeps every
stratum's size and draws its rows with replacement inside it. Rows are never touched one
by one: the rows of a stratum are collapsed into *patterns* (the joint 0/1 predictions of
every predictor and seed on that row) with their counts, and a resample of the stratum is
one multinomial draw over its patterns. Every predictor is read off the same draw, so two
predictors' replicates are paired (the same resampled rows), and a claim can re-select
λ* inside every resample.

Several seeds (their predictions on the same rows) are resampled hierarchically: in every
replicate the rows are drawn once, then the seeds are drawn with replacement, and the
replicate's value is the mean over the drawn seeds. Predictors with the same number of
seeds draw the same seed indices (seed ``s`` of one predictor is paired with seed ``s``
of another, as when both come from the same training run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from taskfair.metrics._counts import CountTable, as_prediction_matrix, table_metrics

__all__ = [
    "Replicates",
    "bootstrap_replicates",
    "draw_strata",
    "pattern_tables",
    "seed_means",
    "simultaneous_band",
]


def draw_strata(counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified multinomial resamples of pattern counts ``(..., strata, U)``.

    Every stratum keeps its size; returns ``(n_boot, ..., strata, U)`` counts.
    """
    counts = np.asarray(counts, dtype=np.float64)
    size = counts.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(size[..., None] > 0, counts / np.where(size > 0, size, 1)[..., None], 0.0)
    p[..., 0] += np.where(size > 0, 0.0, 1.0)  # an empty stratum draws 0 rows anyway
    p = p / p.sum(axis=-1, keepdims=True)
    out = rng.multinomial(size.astype(np.int64), p, size=(n_boot, *size.shape))
    return out.astype(np.float64)


def pattern_tables(drawn: np.ndarray, bits: np.ndarray, k: int) -> np.ndarray:
    """Count tables ``(..., m, K + 1, 2, 2)`` of the ``m`` predictors whose predictions
    on pattern ``u`` are ``bits[u]`` ``(U, m)``, from stratum × pattern counts
    ``(..., 2·(K + 1), U)`` (stratum = 2·group + y, group ``K`` = no group)."""
    ones = drawn @ bits.astype(np.float64)  # (..., strata, m): predicted 1
    rows = drawn.sum(axis=-1)[..., None]
    t = np.stack([rows - ones, ones], axis=-1)  # (..., strata, m, ŷ)
    t = np.moveaxis(t, -2, -3)  # (..., m, strata, ŷ)
    return t.reshape(*t.shape[:-2], k + 1, 2, 2)


def seed_means(values: np.ndarray, seed_idx: np.ndarray | None) -> np.ndarray:
    """Mean over seeds ``(..., S)`` -> ``(...)``; with ``seed_idx`` ``(n_boot, S)`` the
    seeds drawn in each replicate (leading axis of ``values`` = replicate)."""
    if seed_idx is None:
        return np.nanmean(values, axis=-1) if values.shape[-1] > 1 else values[..., 0]
    shape = (seed_idx.shape[0],) + (1,) * (values.ndim - 2) + (seed_idx.shape[1],)
    picked = np.take_along_axis(values, seed_idx.reshape(shape), axis=-1)
    return picked.mean(axis=-1)


@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicates of every metric of several predictors on the same resamples.

    ``names``: the predictors, in order; ``estimate[metric]``: ``(P,)`` plug-in values (the
    seed mean of fairlearn's numbers); ``draws[metric]``: ``(n_boot, P)``. Metrics:
    ``accuracy``, ``selection_rate``, ``macro_accuracy``, ``worst_group_accuracy``,
    ``dpd``, ``eod``; per group ``group.<rate>`` with shapes ``(P, K)`` / ``(n_boot, P,
    K)``. ``groups``: the group names; ``seeds``: seeds per predictor.
    """

    names: tuple[str, ...]
    groups: tuple[str, ...]
    seeds: tuple[int, ...]
    estimate: dict[str, np.ndarray]
    draws: dict[str, np.ndarray]
    n_boot: int
    random_state: int


def _patterns(table: CountTable, stacked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stratum × pattern counts ``(strata, U)`` and the patterns' bits ``(U, m)``."""
    bits, inverse = np.unique(stacked.T, axis=0, return_inverse=True)
    counts = np.zeros((2 * (table.k + 1), len(bits)))
    np.add.at(counts, (table.stratum, inverse.ravel()), 1.0)
    return counts, bits


def _draw_sparse(counts: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`draw_strata` of one split, stratum by stratum over its present patterns only
    (a row pattern seldom occurs in more than a few strata)."""
    out = np.zeros((n_boot, *counts.shape))
    for s in range(counts.shape[0]):
        (present,) = np.nonzero(counts[s])
        if len(present):
            out[:, s, present] = draw_strata(counts[s, present], n_boot, rng)
    return out


def bootstrap_replicates(
    y_true,
    preds: Mapping[str, np.ndarray],
    *,
    sensitive_features,
    n_boot: int = 1000,
    random_state: int = 0,
) -> Replicates:
    """Replicates of every predictor in ``preds`` (name -> ``(n,)`` or ``(seeds, n)``
    0/1 predictions on the same rows) on the SAME stratified resamples (see module)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot!r}")
    table = CountTable(y_true, sensitive_features)
    mats = [as_prediction_matrix(p, table.n, f"preds[{name!r}]") for name, p in preds.items()]
    if not mats:
        raise ValueError("preds is empty: give at least one prediction vector")
    rng = np.random.default_rng(random_state)
    counts, bits = _patterns(table, np.concatenate(mats, axis=0))
    drawn = _draw_sparse(counts, n_boot, rng)
    tables = pattern_tables(drawn, bits, table.k)  # (n_boot, m, K+1, 2, 2)
    whole = pattern_tables(counts, bits, table.k)  # (m, K+1, 2, 2)
    s_max = max(m.shape[0] for m in mats)
    u = rng.random((n_boot, s_max))
    boot, point = table_metrics(tables), table_metrics(whole)
    estimate, draws = {}, {}
    for key in boot:
        est, rep, start = [], [], 0
        for m in mats:
            s = m.shape[0]
            idx = None if s == 1 else np.floor(u[:, :s] * s).astype(np.int64)
            pv, bv = point[key][start : start + s], boot[key][:, start : start + s]
            if pv.ndim == 2:  # per group: seeds on the last axis for seed_means
                pv, bv = np.moveaxis(pv, 0, -1), np.moveaxis(bv, 1, -1)
            est.append(seed_means(pv, None))
            rep.append(seed_means(bv, idx))
            start += s
        estimate[key], draws[key] = np.stack(est), np.stack(rep, axis=1)
    return Replicates(
        names=tuple(str(k) for k in preds),
        groups=tuple(table.names),
        seeds=tuple(m.shape[0] for m in mats),
        estimate=estimate,
        draws=draws,
        n_boot=int(n_boot),
        random_state=int(random_state),
    )


def simultaneous_band(
    draws: np.ndarray,
    estimates: np.ndarray,
    *,
    level: float = 0.95,
    bounds: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """A max-t band over many looks: ``(lo, hi, method)`` of ``(P,)`` readings whose
    replicates are ``draws`` ``(n_boot, P)`` (from :func:`bootstrap_replicates`, the same
    resamples for every look), holding together at ``level``.

    Each look's deviation is scaled by its bootstrap standard deviation; the band is
    ``estimate ± c·sd`` with ``c`` the ``level`` quantile of the largest scaled deviation
    over the looks. ``bounds`` clips the band (e.g. ``(0, 1)`` for rates). Looks with no
    spread get a zero-width band at their estimate; undefined looks are NaN.
    """
    draws, est = np.asarray(draws, dtype=np.float64), np.asarray(estimates, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.nanstd(draws, axis=0)
        dev = np.abs(draws - est[None, :]) / np.where(sd > 0, sd, np.inf)[None, :]
    dev = np.where(np.isnan(dev), 0.0, dev)
    c = float(np.quantile(dev.max(axis=1), level)) if len(dev) else np.nan
    lo, hi = est - c * sd, est + c * sd
    if bounds is not None:
        lo, hi = np.clip(lo, *bounds), np.clip(hi, *bounds)
    return lo, hi, f"max-t over {draws.shape[1]} looks"
