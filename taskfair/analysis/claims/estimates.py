"""The estimates frame of a bundle's test-split sweeps: every quantity a claim rule reads.

:func:`estimates` turns tidy sweep rows (the point list and each point's degeneracy flag)
and the points' cached logits into one row per quantity (:data:`ESTIMATE_COLUMNS`), each
with its seed mean, standard error across seeds and 95% interval from the stratified
row bootstrap of :mod:`.resample` (every point scored on the same resamples):

* levels and differences (against FFT, LoRA, θ(1)) of every point metric;
* C2's peak: λ* re-selected as the argmax of macro accuracy *inside every resample*, so
  the interval of acc(λ*) − acc(1) carries the selection (no winner's curse);
* C4's matrix: injected vector × λ × affected group of group-vs-rest ΔDPD / ΔEOD /
  Δaccuracy against FFT, with simultaneous (max-t) intervals over the whole matrix; and
  task addition at :data:`C4_LAM` against FFT per group (the paper's "k of G" count);
* C5's bound check: the score-based DPD's deviation from θ(1), the bound's constant
  fitted on half of the λ grid and checked on the other half (re-fitted per resample).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskfair.analysis.claims.base import ESTIMATE_COLUMNS, LEVEL, TA_END, interval, simultaneous
from taskfair.analysis.claims.resample import GROUP_METRICS, POINT_METRICS, replicates
from taskfair.sweep.settings import MATCHED_BASELINES

__all__ = ["C4_LAM", "EARLY", "FIT_LAMS", "estimates", "group_names"]

#: λ window of an "early" peak (C2: the paper's peak is near 0.2).
EARLY = (0.1, 0.3)
#: λ of the paper's per-group count (its Figure 1: 0.8 for gender, best on training).
C4_LAM = 0.8
#: The λ used to fit the bound's constant (C5); the other λ < 1 of the grid check it.
FIT_LAMS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
_DIFF = tuple(m for m in POINT_METRICS if m != "soft_dpd")


def group_names(groups: Sequence) -> list[str]:
    """The groups in the order :func:`.resample.weighted_scores` reports them."""
    _, uniques = pd.factorize(pd.Series(list(groups), dtype=object), use_na_sentinel=True)
    return [str(u) for u in uniques]


def _pid(method: str, lam, vector: str) -> tuple:
    lam = None if lam is None or (isinstance(lam, float) and math.isnan(lam)) else float(lam)
    return (method, None if lam is None else round(lam, 10), vector)


def _vector(r) -> str:
    if r["method"] != "injection":
        return ""
    return next((n for n in json.loads(r["coeffs"]) if n != "fft"), "")


@dataclass
class _Points:
    ids: list  # point ids (method, lam, vector)
    seeds: list
    obs: dict  # metric -> (S, P) or (S, P, G)
    reps: dict  # metric -> (S, P, B) or (S, P, B, G)
    flagged: set  # ids degenerate in some seed

    def at(self, pid) -> int:
        return self.ids.index(pid)

    def has(self, pid) -> bool:
        return pid in self.ids


def _points(rows, logits, labels, groups, n_boot, random_state) -> _Points:
    top = rows[(rows["group"] == "__overall__") & (rows["split"] == "test")]
    ids, flagged = [], set()
    for _, r in top.iterrows():
        pid = _pid(r["method"], r["lam"], _vector(r))
        if pid not in ids:
            ids.append(pid)
        flag = r.get("degenerate", False)
        if pd.notna(flag) and bool(flag):
            flagged.add(pid)
    seeds = sorted({int(s) for s in top["seed"].dropna()})
    obs, reps = {}, {}
    for s in seeds:
        missing = [i for i in ids if (s, *i) not in logits]
        if missing:
            raise ValueError(f"Seed {s} has no logits for {missing}: every seed needs every point.")
        z = [np.asarray(logits[(s, *i)], dtype=np.float64) for i in ids]
        preds = [x.argmax(axis=1) for x in z]
        scores = [1.0 / (1.0 + np.exp(x[:, 0] - x[:, 1])) for x in z]
        o, r = replicates(labels, groups, preds, scores, n_boot=n_boot, random_state=random_state)
        for m in o:
            obs.setdefault(m, []).append(o[m])
            reps.setdefault(m, []).append(r[m])
    obs = {m: np.stack(v) for m, v in obs.items()}
    reps = {m: np.stack(v) for m, v in reps.items()}
    return _Points(ids, seeds, obs, reps, flagged)


def _row(q, pid, against, stat, n_seeds, degenerate, group="", band="pointwise") -> tuple:
    mean, se, lo, hi = stat
    lam = math.nan if pid[1] is None else pid[1]
    return (q, pid[0], lam, pid[2], group, against, mean, se, lo, hi, band, n_seeds, degenerate)


def _levels_and_differences(pts: _Points) -> list[tuple]:
    out, s = [], len(pts.seeds)
    ta = [i for i in pts.ids if i[0] == "task_addition"]
    end = next((i for i in ta if i[1] == 1.0), None)
    # The ordinary FFT / LoRA and, in a variant's bundle, the matched ones too.
    baselines = ("fft", "lora", *MATCHED_BASELINES)
    refs = {m: _pid(m, None, "") for m in baselines if pts.has(_pid(m, None, ""))}
    for pid in pts.ids:
        p = pts.at(pid)
        for q in POINT_METRICS:
            stat = interval(pts.obs[q][:, p], pts.reps[q][:, p])
            out.append(_row(q, pid, LEVEL, stat, s, pid in pts.flagged))
        against = {}
        if pid[0] == "task_addition":
            against = dict(refs) | ({TA_END: end} if end is not None else {})
        elif pid[0] == "injection":
            against = refs
        for name, ref in against.items():
            r = pts.at(ref)
            for q in _DIFF:
                o = pts.obs[q][:, p] - pts.obs[q][:, r]
                stat = interval(o, pts.reps[q][:, p] - pts.reps[q][:, r])
                out.append(_row(q, pid, name, stat, s, bool({pid, ref} & pts.flagged)))
    return out


def _peak(pts: _Points) -> list[tuple]:
    """C2: λ* = argmax of macro accuracy over λ > 0, re-selected in every resample."""
    ta = sorted((i for i in pts.ids if i[0] == "task_addition" and i[1] > 0), key=lambda i: i[1])
    end = next((i for i in ta if i[1] == 1.0), None)
    if len(ta) < 2 or end is None:
        return []
    idx, e = [pts.at(i) for i in ta], pts.at(end)
    lams = np.array([i[1] for i in ta])
    curve = pts.obs["macro_accuracy"][:, idx]  # (S, L)
    boot = np.nanmean(pts.reps["macro_accuracy"][:, idx], axis=0)  # (L, B)
    star = int(np.argmax(curve.mean(axis=0)))
    star_b = np.argmax(np.where(np.isnan(boot), -np.inf, boot), axis=0)  # (B,)
    cols = np.arange(boot.shape[1])
    pid = ("task_addition", float(lams[star]), "")
    flag = bool({ta[star], end} & pts.flagged)
    out = []
    for q, name in (("macro_accuracy", "peak_gain"), ("dpd", "peak_dpd"), ("eod", "peak_eod")):
        per_seed = pts.obs[q][:, idx[star]] - pts.obs[q][:, e]
        rep = np.nanmean(pts.reps[q][:, idx], axis=0)  # (L, B)
        gain_b = rep[star_b, cols] - rep[lams.tolist().index(1.0), cols]
        out.append(_row(name, pid, TA_END, interval(per_seed, gain_b[None, :]), len(pts.seeds),
                        flag and q != "macro_accuracy", band="reselected"))  # fmt: skip
    early = (lams[star_b] >= EARLY[0] - 1e-9) & (lams[star_b] <= EARLY[1] + 1e-9)
    share = (float(early.mean()), math.nan, math.nan, math.nan)
    out.append(
        _row("peak_early_share", pid, LEVEL, share, len(pts.seeds), False, band="reselected")
    )
    return out


def _matrix(pts: _Points, names: list[str]) -> list[tuple]:
    """C4: per-group differences from FFT, simultaneous over each metric's family."""
    fft = _pid("fft", None, "")
    if not pts.has(fft):
        return []
    f = pts.at(fft)
    families = {
        "injection": [i for i in pts.ids if i[0] == "injection" and i[1] > 0],
        "task_addition": [i for i in pts.ids if i[0] == "task_addition" and i[1] == C4_LAM],
    }
    out = []
    for members in families.values():
        if not members:
            continue
        cells = [(pid, j) for pid in members for j in range(len(names))]
        for q in GROUP_METRICS:
            vals = np.stack(
                [pts.obs[q][:, pts.at(p), j] - pts.obs[q][:, f, j] for p, j in cells], 1
            )
            reps = np.stack([pts.reps[q][:, pts.at(p), :, j] - pts.reps[q][:, f, :, j]
                             for p, j in cells], 2)  # fmt: skip
            for (pid, j), stat in zip(cells, simultaneous(vals, reps), strict=True):
                flag = bool({pid, fft} & pts.flagged)
                out.append(
                    _row(q, pid, "fft", stat, len(pts.seeds), flag, names[j], "simultaneous")
                )
    return out


def _bound(pts: _Points, norm_scale: float | None) -> list[tuple]:
    """C5: soft-DPD deviation from θ(1); the constant K of K·|λ − 1| fitted on
    :data:`FIT_LAMS` (the smallest K over them), checked on the other λ < 1."""
    ta = {i[1]: i for i in pts.ids if i[0] == "task_addition"}
    fit = [lam for lam in FIT_LAMS if lam in ta]
    check = [lam for lam in sorted(ta) if lam not in FIT_LAMS and lam < 1.0]
    if 1.0 not in ta or not fit or not check:
        return []
    e = pts.at(ta[1.0])

    def dev(lam):  # per seed (S,), and the seed mean's replicates (B,)
        p = pts.at(ta[lam])
        o = np.abs(pts.obs["soft_dpd"][:, p] - pts.obs["soft_dpd"][:, e])
        r = np.abs(pts.reps["soft_dpd"][:, p] - pts.reps["soft_dpd"][:, e])
        return o, np.nanmean(r, axis=0)

    s = len(pts.seeds)
    k = max(dev(lam)[0].mean() / abs(lam - 1.0) for lam in fit)
    k_b = np.max(np.stack([dev(lam)[1] / abs(lam - 1.0) for lam in fit]), axis=0)
    out = [_row("bound_constant", ("task_addition", None, ""), LEVEL,
                interval([k], k_b[None, :]), s, False)]  # fmt: skip
    if norm_scale:
        lip = interval([k / (2 * norm_scale)], (k_b / (2 * norm_scale))[None, :])
        out.append(_row("lipschitz", ("task_addition", None, ""), LEVEL, lip, s, False))
    for lam in fit:
        o, r = dev(lam)
        out.append(_row("deviation_fit", ta[lam], LEVEL, interval(o, r[None, :]), s, False))
    for lam in check:
        o, r = dev(lam)
        out.append(_row("deviation_check", ta[lam], LEVEL, interval(o, r[None, :]), s, False))
        b = abs(lam - 1.0)
        out.append(_row("bound", ta[lam], LEVEL, interval([k * b], (k_b * b)[None, :]), s, False))
        margin = interval(o - k * b, (r - k_b * b)[None, :])
        out.append(_row("bound_margin", ta[lam], LEVEL, margin, s, False))
    return out


def estimates(
    rows: pd.DataFrame,
    logits: Mapping[tuple, np.ndarray],
    labels: np.ndarray,
    groups: Sequence,
    *,
    n_boot: int = 1000,
    random_state: int = 0,
    norm_scale: float | None = None,
) -> pd.DataFrame:
    """The estimates frame (:data:`ESTIMATE_COLUMNS`) of one bundle's test-split sweeps.

    ``rows``: tidy sweep rows (only ``test`` is read) of task addition (one
    normalisation), injection and the references, for one or several seeds.
    ``logits``: ``{(seed, method, lam, vector): (n, 2) logits}`` of those points on the
    test rows (``lam`` None for references, ``vector`` the injected group or "").
    ``labels``/``groups``: the test rows' 0/1 labels and group names, in logits order.
    ``norm_scale``: ``c · Σ_g ‖τ_g‖`` (``c`` = 1 for "sum", 1/G for "mean"; the mean
    over seeds), to turn C5's constant into L̂; None leaves L̂ out.
    """
    pts = _points(rows, logits, labels, groups, n_boot, random_state)
    out = _levels_and_differences(pts) + _peak(pts)
    out += _matrix(pts, group_names(groups)) + _bound(pts, norm_scale)
    return pd.DataFrame(out, columns=list(ESTIMATE_COLUMNS))
