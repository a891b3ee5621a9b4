"""The paper's claims C1–C5, judged on a bundle's sweeps: estimates with 95% CIs, verdicts.

Two steps, so that the verdict rules can be checked on hand-made numbers:

* :func:`estimates` turns the tidy sweep rows (:data:`taskfair.sweep.COLUMNS`, test split,
  one or several seeds) and the points' cached logits into an *estimates frame*
  (:data:`ESTIMATE_COLUMNS`): one row per measured quantity — a level (``against == ""``)
  or a difference against a reference (``against`` = ``fft`` | ``lora`` | ``ta@1``) — with
  its seed mean, standard error across seeds and 95% interval.
* :func:`judge` reads an estimates frame and returns one :class:`ClaimResult` per claim.

Point estimates are the sweep rows' numbers (fairlearn's). Intervals come from a paired
percentile bootstrap over test rows: every point of every seed is scored on the *same*
resamples (counts of each row), so a difference's interval is the quantile of the
resampled differences. The resampled accuracy, DPD and EOD are computed from count tables
(:func:`replicates`), which equal fairlearn's values on the unresampled rows; this makes
1,000 resamples of a few dozen points take seconds instead of hours. With several seeds
the interval also carries the seed spread: half-width ``sqrt(rows² + (t · SE)²)`` where
``rows`` is the bootstrap half-width of the seed mean and ``t`` Student's 97.5% quantile
with ``seeds − 1`` degrees of freedom.

Verdicts: ``holds``, ``does not hold``, ``inconclusive``; :data:`RULES` states each rule.
A DPD or EOD that involves a degenerate point (a near-constant predictor, as the sweep
rows flag it: :mod:`taskfair.metrics._degenerate`) counts for neither side of any rule,
since a constant predictor's gap near 0 is not fairness.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from taskfair.sweep.settings import MATCHED_BASELINES

__all__ = [
    "CLAIMS",
    "DEFAULT_DELTA",
    "ESTIMATE_COLUMNS",
    "HOLDS",
    "INCONCLUSIVE",
    "NOT_HOLDS",
    "RULES",
    "ClaimResult",
    "estimates",
    "judge",
    "replicates",
    "weighted_scores",
]

HOLDS, NOT_HOLDS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
#: Accuracy margin of "competitive" (C1) and "negligible change" (C3).
DEFAULT_DELTA = 0.03
#: λ from which C1 is judged ("λ ≳ 0.3") and the window of an "early" peak (C2).
C1_FROM = 0.3
EARLY = (0.1, 0.3)
LEVEL = ""
TA_END = "ta@1"  # the fully merged task-addition point θ(1)
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "quantity",  # accuracy | dpd | eod | dpd_slope
    "method",  # task_addition | injection | fft | lora | base
    "lam",  # global λ (NaN for references and the slope)
    "vector",  # the injected subgroup vector ("" otherwise)
    "against",  # "" (a level) | fft | lora | ta@1 (a difference: this point minus that)
    "estimate",  # mean over seeds of the fairlearn value (or difference)
    "se",  # standard error across seeds (NaN with one seed)
    "lo",  # 95% interval (rows, and seeds when there are several)
    "hi",
    "n_seeds",
    # True when a point involved (this one; both sides of a difference; any grid point
    # of the slope) is degenerate in any seed: its DPD/EOD then decide nothing
    "degenerate",
)

CLAIMS: dict[str, str] = {
    "C1": "For λ ≳ 0.3, task addition keeps accuracy within δ of FFT and LoRA while DPD "
    "and EOD fall below both.",
    "C2": "Accuracy peaks early (λ ≈ 0.2), where DPD and EOD are also highest.",
    "C3": "Injecting a subgroup vector into FFT lowers DPD and EOD with negligible accuracy "
    "change.",
    "C4": "Injection's effect depends on the group: some groups improve, others get worse.",
    "C5": "The measured DPD follows the shape of the bound 2L Σ_g |λ_g − 1| ‖τ_g‖.",
}

_CI = "the 95% interval of the difference (paired bootstrap over test rows, and seeds)"
_DEGENERATE = (
    " A DPD or EOD that involves a degenerate point (a near-constant predictor in any "
    "seed, as the sweep flags it) counts for neither side: a constant predictor's gap "
    "near 0 is not fairness."
)
RULES: dict[str, str] = {
    "C1": (
        f"At every grid λ ≥ {C1_FROM}, against FFT and against LoRA: a point holds when "
        f"{_CI} of accuracy lies above −δ and those of DPD and EOD lie below 0; it fails "
        "when the accuracy interval lies below −δ or a DPD/EOD interval lies above 0; "
        "else it is inconclusive. The claim holds when more than half the λ hold, does "
        "not hold when more than half fail, and is inconclusive otherwise."
    ),
    "C2": (
        "λ* = the grid λ > 0 of highest mean accuracy. Peak part: holds when "
        f"{EARLY[0]} ≤ λ* ≤ {EARLY[1]} and the interval of acc(λ*) − acc(1) lies above 0; "
        "fails when the interval of acc(0.2) − acc(1) lies below 0 (the full merge is "
        "more accurate than the early point). Fairness part: holds when the intervals of "
        "DPD(λ*) − DPD(1) and EOD(λ*) − EOD(1) both lie above 0; fails when both lie "
        "below 0. The claim holds when both parts hold, does not hold when either fails, "
        "and is inconclusive otherwise."
    ),
    "C3": (
        "For each subgroup g at the injection λ (θ_FFT + λ τ_g minus θ_FFT): g holds when "
        f"{_CI} of accuracy lies above −δ and those of DPD and EOD lie below 0; it fails "
        "when the accuracy interval lies below −δ or a DPD/EOD interval lies above 0; "
        "else inconclusive. The claim holds when more than half the groups hold, does not "
        "hold when more than half fail, and is inconclusive otherwise."
    ),
    "C4": (
        "At the injection λ, for DPD and for EOD: the claim holds when for one of the two "
        "metrics some group's difference from FFT has its interval below 0 and another "
        "group's above 0; it does not hold when, for both metrics, every group's interval "
        "lies on one and the same side of 0 (a uniform effect); inconclusive otherwise."
    ),
    "C5": (
        "Along task addition's grid the bound is proportional to |λ − 1|. The slope of "
        "the measured DPD regressed on |λ − 1| (least squares over the grid) is "
        "bootstrapped like the differences: the claim holds when its 95% interval lies "
        "above 0, does not hold when it lies below 0, inconclusive otherwise. Only the "
        "shape is tested (L is not estimated here)."
    ),
}
RULES = {claim: rule + _DEGENERATE for claim, rule in RULES.items()}


@dataclass(frozen=True)
class ClaimResult:
    """One claim's verdict: ``verdict`` in (holds, does not hold, inconclusive).

    ``measured`` is a one-line summary of the deciding numbers; ``details`` the judged
    points, one row each with its own verdict (columns depend on the claim).
    """

    claim: str
    statement: str
    verdict: str
    rule: str
    measured: str
    details: pd.DataFrame = field(default_factory=pd.DataFrame)


# ----------------------------------------------------------------------------- bootstrap


def replicates(
    y: np.ndarray,
    groups: Sequence,
    preds: Sequence[np.ndarray],
    n_boot: int = 1000,
    random_state: int = 0,
) -> np.ndarray:
    """Accuracy, DPD and EOD of each prediction vector on ``n_boot`` row resamples.

    ``y``: 0/1 labels ``(n,)``; ``groups``: group name per row (None/NaN = no group);
    ``preds``: 0/1 predictions, each ``(n,)``. Returns ``(len(preds), n_boot, 3)``
    (accuracy, DPD, EOD); DPD/EOD are NaN in a resample where a group has no rows
    (EOD: no positives or no negatives). Every prediction vector is scored on the same
    resamples (the same ``random_state`` gives the same resamples), which is what makes
    differences paired. On the unresampled rows these are fairlearn's values
    (``demographic_parity_difference``, ``equalized_odds_difference``).
    """
    n = len(y)
    rng = np.random.default_rng(random_state)
    w = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_boot)])
    return weighted_scores(y, groups, preds, w)


def weighted_scores(y, groups: Sequence, preds: Sequence[np.ndarray], w: np.ndarray) -> np.ndarray:
    """Accuracy, DPD and EOD of each prediction vector under row weights ``w`` ``(B, n)``.

    A row of ``w`` holds how often each row is counted (a resample's draw counts; all
    ones for the rows as they are). Returns ``(len(preds), B, 3)``; see :func:`replicates`.
    """
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    g = pd.Series(list(groups), dtype=object)
    codes, _ = pd.factorize(g, use_na_sentinel=True)
    k = int(codes.max()) + 1 if n else 0
    w = np.atleast_2d(np.asarray(w, dtype=np.float64))
    member = np.stack([codes == j for j in range(k)], axis=1).astype(np.float64)  # (n, k)
    pos = member * (y == 1)[:, None]
    neg = member * (y == 0)[:, None]
    cols = np.concatenate([member, pos, neg], axis=1)  # (n, 3k)
    den = w @ cols
    total = w.sum(axis=1)
    out = np.full((len(preds), len(w), 3), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, p in enumerate(preds):
            p = np.asarray(p, dtype=np.int64)
            out[i, :, 0] = w @ (p == y).astype(np.float64) / total
            rate = (w @ (cols * p[:, None])) / den
            sel, tpr, fpr = rate[:, :k], rate[:, k : 2 * k], rate[:, 2 * k :]
            if k >= 2:
                ok = (den[:, :k] > 0).all(axis=1)
                out[i, ok, 1] = sel[ok].max(axis=1) - sel[ok].min(axis=1)
                ok = (den[:, k:] > 0).all(axis=1)
                gap = np.maximum(
                    tpr[ok].max(axis=1) - tpr[ok].min(axis=1),
                    fpr[ok].max(axis=1) - fpr[ok].min(axis=1),
                )
                out[i, ok, 2] = gap
    return out


# ----------------------------------------------------------------------------- estimates

_METRICS = ("accuracy", "dpd", "eod")


def _point_id(method: str, lam: float, vector: str) -> tuple:
    return (method, None if lam is None or math.isnan(lam) else round(float(lam), 10), vector)


def _overall_points(rows: pd.DataFrame) -> pd.DataFrame:
    """One overall test row per point and seed, with ``vector`` (the injected group)."""
    top = rows[(rows["group"] == "__overall__") & (rows["split"] == "test")].copy()

    def vector(r) -> str:
        if r["method"] != "injection":
            return ""
        return next((n for n in json.loads(r["coeffs"]) if n != "fft"), "")

    top["vector"] = [vector(r) for _, r in top.iterrows()] if len(top) else []
    return top.reset_index(drop=True)


def _interval(values: np.ndarray, reps: np.ndarray, level: float = 0.95) -> tuple:
    """(mean, se, lo, hi) from per-seed values ``(S,)`` and replicates ``(S, B)``."""
    values = np.asarray(values, dtype=np.float64)
    s = len(values)
    mean = float(np.mean(values))
    if math.isnan(mean):
        return mean, math.nan, math.nan, math.nan
    # A resample where every seed's value is undefined (EOD without a class) stays NaN.
    defined = ~np.isnan(reps).all(axis=0) if reps.size else np.zeros(0, dtype=bool)
    boot = np.nanmean(reps[:, defined], axis=0) if defined.any() else np.array([])
    a = (1.0 - level) / 2.0
    if len(boot):
        q_lo, q_hi = np.quantile(boot, [a, 1.0 - a])
        # Percentile interval of the seed mean's resamples, re-centred on the mean.
        d_lo, d_hi = max(0.0, mean - q_lo), max(0.0, q_hi - mean)
    else:
        d_lo = d_hi = 0.0
    se = float(np.std(values, ddof=1) / math.sqrt(s)) if s > 1 else math.nan
    spread = float(stats.t.ppf(1.0 - a, s - 1) * se) if s > 1 else 0.0
    return mean, se, mean - math.hypot(d_lo, spread), mean + math.hypot(d_hi, spread)


def estimates(
    rows: pd.DataFrame,
    logits: Mapping[tuple, np.ndarray],
    labels: np.ndarray,
    groups: Sequence,
    *,
    n_boot: int = 1000,
    random_state: int = 0,
) -> pd.DataFrame:
    """The estimates frame (:data:`ESTIMATE_COLUMNS`) of one bundle's test-split sweeps.

    ``rows``: tidy sweep rows (any splits; only ``test`` is read) of task addition (one
    normalisation), injection and the references, for one or several seeds.
    ``logits``: ``{(seed, method, lam, vector): (n, 2) logits}`` of those points on the
    test rows (``lam`` None for references, ``vector`` the injected group or "").
    ``labels``/``groups``: the test rows' 0/1 labels and group names, in logits order.
    """
    top = _overall_points(rows)
    seeds = sorted(int(s) for s in top["seed"].dropna().unique())
    ids = list(dict.fromkeys(_point_id(m, lam, v) for m, lam, v in
                             zip(top["method"], top["lam"], top["vector"], strict=True)))  # fmt: skip
    values = {}  # (seed, id) -> (acc, dpd, eod)
    flagged = set()  # (seed, id) of degenerate points
    for _, r in top.iterrows():
        key = int(r["seed"]), _point_id(r["method"], r["lam"], r["vector"])
        values[key] = np.array([r[m] for m in _METRICS], dtype=np.float64)
        flag = r.get("degenerate", False)
        if pd.notna(flag) and bool(flag):
            flagged.add(key)
    reps = {}
    for s in seeds:
        have = [i for i in ids if (s, i) in values]
        preds = [np.asarray(logits[(s, *i)]).argmax(axis=1) for i in have]
        boot = replicates(labels, groups, preds, n_boot, random_state)
        reps.update({(s, i): boot[j] for j, i in enumerate(have)})

    def seeds_of(*pids) -> list[int]:
        return [s for s in seeds if all((s, p) in values for p in pids)]

    out = []

    def degenerate(*pids) -> bool:
        return any((s, p) in flagged for s in seeds for p in pids)

    def add(quantity, pid, against, vals, rep, involved):
        mean, se, lo, hi = _interval(vals, rep)
        out.append((quantity, pid[0], math.nan if pid[1] is None else pid[1], pid[2], against,
                    mean, se, lo, hi, len(vals), degenerate(*involved)))  # fmt: skip

    ta = sorted((i for i in ids if i[0] == "task_addition"), key=lambda i: i[1])
    end = next((i for i in ta if i[1] == 1.0), None)
    # The ordinary FFT / LoRA and, in a variant's bundle, the matched ones too.
    refs = {m: _point_id(m, None, "") for m in ("fft", "lora", *MATCHED_BASELINES)}
    for pid in ids:
        ss = seeds_of(pid)
        for j, q in enumerate(_METRICS):
            add(
                q,
                pid,
                LEVEL,
                [values[s, pid][j] for s in ss],
                np.stack([reps[s, pid][:, j] for s in ss]),
                (pid,),
            )
        against = {}
        if pid[0] == "task_addition":
            against = {m: ref for m, ref in refs.items() if any(i == ref for i in ids)}
            if end is not None:
                against[TA_END] = end
        elif pid[0] == "injection" and refs["fft"] in ids:
            against = {"fft": refs["fft"]}
        for name, ref in against.items():
            ss = seeds_of(pid, ref)
            for j, q in enumerate(_METRICS):
                vals = [values[s, pid][j] - values[s, ref][j] for s in ss]
                rep = np.stack([reps[s, pid][:, j] - reps[s, ref][:, j] for s in ss])
                add(q, pid, name, vals, rep, (pid, ref))
    # C5: slope of DPD on |λ − 1| along the task-addition grid.
    ss = seeds_of(*ta)
    if len(ta) >= 3 and ss:
        x = np.abs(np.array([i[1] for i in ta]) - 1.0)
        xc = (x - x.mean()) / ((x - x.mean()) ** 2).sum()
        vals = [float(np.array([values[s, i][1] for i in ta]) @ xc) for s in ss]
        rep = np.stack([np.stack([reps[s, i][:, 1] for i in ta], axis=1) @ xc for s in ss])
        add("dpd_slope", ("task_addition", None, ""), LEVEL, vals, rep, ta)
    return pd.DataFrame(out, columns=list(ESTIMATE_COLUMNS))


# ----------------------------------------------------------------------------- verdicts


def _side(lo: float, hi: float, threshold: float = 0.0) -> int:
    """+1 when [lo, hi] lies above ``threshold``, −1 when below, 0 otherwise (or NaN)."""
    if math.isnan(lo) or math.isnan(hi):
        return 0
    return 1 if lo > threshold else (-1 if hi < threshold else 0)


def _fmt(r) -> str:
    if r is None:
        return "n/a"
    se = f" ± {r['se']:.3f}" if not math.isnan(r["se"]) else ""
    flag = " (degenerate)" if _degenerate(r) else ""
    return f"{r['estimate']:+.3f}{se} [{r['lo']:+.3f}, {r['hi']:+.3f}]{flag}"


def _degenerate(r) -> bool:
    return r is not None and bool(r.get("degenerate", False))


def _fair_side(r) -> int:
    """:func:`_side` of a DPD/EOD row against 0; 0 (neither side) when it is degenerate."""
    if r is None or _degenerate(r):
        return 0
    return _side(r["lo"], r["hi"])


def _get(est: pd.DataFrame, quantity, method, lam=None, vector="", against=LEVEL):
    m = (
        (est["quantity"] == quantity)
        & (est["method"] == method)
        & (est["vector"] == vector)
        & (est["against"] == against)
    )
    m &= est["lam"].isna() if lam is None else np.isclose(est["lam"], lam)
    hit = est[m]
    return None if hit.empty else hit.iloc[0]


def _combine(parts: Sequence[int]) -> str:
    """All parts hold → holds; any part fails → does not hold; else inconclusive."""
    if any(p < 0 for p in parts):
        return NOT_HOLDS
    return HOLDS if parts and all(p > 0 for p in parts) else INCONCLUSIVE


def _majority(verdicts: Sequence[str]) -> str:
    n = len(verdicts)
    if n and sum(v == HOLDS for v in verdicts) * 2 > n:
        return HOLDS
    if n and sum(v == NOT_HOLDS for v in verdicts) * 2 > n:
        return NOT_HOLDS
    return INCONCLUSIVE


def _gain_parts(est, method, lam, vector, against, delta) -> tuple[list[int], dict, bool]:
    """Accuracy above −δ (+1) / below −δ (−1); DPD and EOD below 0 (+1) / above 0 (−1);
    also the shown values, and whether any of the rows involves a degenerate point."""
    parts, shown, degenerate = [], {}, False
    for q in _METRICS:
        r = _get(est, q, method, lam, vector, against)
        shown[f"Δ{q} vs {against}"] = _fmt(r)
        degenerate |= _degenerate(r)
        if r is None:
            parts.append(0)
        elif q == "accuracy":
            parts.append(_side(r["lo"], r["hi"], -delta))
        else:
            parts.append(-_fair_side(r))
    return parts, shown, degenerate


def _judge_c1(est, delta) -> ClaimResult:
    ta = est[(est["method"] == "task_addition") & est["lam"].notna()]
    lams = sorted(x for x in ta["lam"].unique() if x >= C1_FROM - 1e-9)
    refs = [m for m in ("fft", "lora") if (est["against"] == m).any()]
    rows, verdicts, flagged = [], [], 0
    for lam in lams:
        parts, shown, degenerate = [], {"λ": lam}, False
        for ref in refs:
            p, s, d = _gain_parts(est, "task_addition", lam, "", ref, delta)
            parts += p
            shown.update(s)
            degenerate |= d
        flagged += degenerate
        v = _combine(parts) if refs else INCONCLUSIVE
        verdicts.append(v)
        rows.append({**shown, "verdict": v})
    verdict = _majority(verdicts)
    counts = {k: verdicts.count(k) for k in (HOLDS, NOT_HOLDS, INCONCLUSIVE)}
    measured = (
        f"{counts[HOLDS]} of {len(lams)} λ ≥ {C1_FROM} hold, {counts[NOT_HOLDS]} fail, "
        f"{counts[INCONCLUSIVE]} inconclusive (against {' and '.join(refs) or 'nothing'})"
    )
    if flagged:
        measured += f"; {flagged} of them involve a degenerate point (DPD/EOD not counted)"
    return ClaimResult("C1", CLAIMS["C1"], verdict, RULES["C1"] + f" δ = {delta}.", measured,
                       pd.DataFrame(rows))  # fmt: skip


def _judge_c2(est, delta) -> ClaimResult:
    acc = est[(est["quantity"] == "accuracy") & (est["method"] == "task_addition")]
    acc = acc[(acc["against"] == LEVEL) & (acc["lam"] > 1e-9)]
    if acc.empty:
        return ClaimResult("C2", CLAIMS["C2"], INCONCLUSIVE, RULES["C2"], "no task-addition grid")
    star = float(acc.loc[acc["estimate"].idxmax(), "lam"])
    peak = _get(est, "accuracy", "task_addition", star, "", TA_END)
    early = _get(est, "accuracy", "task_addition", 0.2, "", TA_END)
    fair = [_get(est, q, "task_addition", star, "", TA_END) for q in ("dpd", "eod")]
    in_window = EARLY[0] - 1e-9 <= star <= EARLY[1] + 1e-9
    peak_part = 0
    if early is not None and _side(early["lo"], early["hi"]) < 0:
        peak_part = -1
    elif in_window and peak is not None and _side(peak["lo"], peak["hi"]) > 0:
        peak_part = 1
    sides = [_fair_side(r) for r in fair]
    fair_part = 1 if all(s > 0 for s in sides) else (-1 if all(s < 0 for s in sides) else 0)
    verdict = _combine([peak_part, fair_part])
    details = pd.DataFrame(
        [
            {"quantity": "λ* (highest mean accuracy)", "value": f"{star:g}", "part": ""},
            {"quantity": "acc(λ*) − acc(1)", "value": _fmt(peak), "part": peak_part},
            {"quantity": "acc(0.2) − acc(1)", "value": _fmt(early), "part": peak_part},
            {"quantity": "DPD(λ*) − DPD(1)", "value": _fmt(fair[0]), "part": fair_part},
            {"quantity": "EOD(λ*) − EOD(1)", "value": _fmt(fair[1]), "part": fair_part},
        ]
    )
    measured = (
        f"λ* = {star:g}; acc(λ*) − acc(1) = {_fmt(peak)}; DPD(λ*) − DPD(1) = {_fmt(fair[0])}; "
        f"EOD(λ*) − EOD(1) = {_fmt(fair[1])}"
    )
    return ClaimResult("C2", CLAIMS["C2"], verdict, RULES["C2"], measured, details)


def _injection(est) -> tuple[list[str], float | None]:
    inj = est[(est["method"] == "injection") & (est["against"] == "fft")]
    if inj.empty:
        return [], None
    lam = float(inj["lam"].max())
    return sorted(inj.loc[np.isclose(inj["lam"], lam), "vector"].unique()), lam


def _judge_c3(est, delta) -> ClaimResult:
    groups, lam = _injection(est)
    rows, verdicts, flagged = [], [], set()
    for g in groups:
        parts, shown, degenerate = _gain_parts(est, "injection", lam, g, "fft", delta)
        v = _combine(parts)
        verdicts.append(v)
        rows.append({"group": g, **shown, "verdict": v})
        if degenerate:
            flagged.add(g)
    verdict = _majority(verdicts)
    measured = (
        f"λ = {lam:g}: "
        + ", ".join(
            f"{r['group']} {r['verdict']}" + (" (degenerate)" if r["group"] in flagged else "")
            for r in rows
        )
        if groups
        else "no injection points"
    )
    return ClaimResult("C3", CLAIMS["C3"], verdict, RULES["C3"] + f" δ = {delta}.", measured,
                       pd.DataFrame(rows))  # fmt: skip


def _judge_c4(est, delta) -> ClaimResult:
    groups, lam = _injection(est)
    rows, mixed, uniform = [], False, []
    for q in ("dpd", "eod"):
        sides = []
        for g in groups:
            r = _get(est, q, "injection", lam, g, "fft")
            side = _fair_side(r)
            sides.append(side)
            rows.append({"metric": q.upper(), "group": g, "Δ vs fft": _fmt(r), "side": side})
        mixed |= (1 in sides) and (-1 in sides)
        uniform.append(bool(sides) and (all(s > 0 for s in sides) or all(s < 0 for s in sides)))
    if mixed:
        verdict = HOLDS
    elif uniform and all(uniform):
        verdict = NOT_HOLDS
    else:
        verdict = INCONCLUSIVE
    det = pd.DataFrame(rows)
    measured = "no injection points"
    if groups:
        measured = f"λ = {lam:g}: " + "; ".join(
            f"{m}: " + ", ".join(f"{r['group']} {r['Δ vs fft']}" for _, r in d.iterrows())
            for m, d in det.groupby("metric", sort=False)
        )
    return ClaimResult("C4", CLAIMS["C4"], verdict, RULES["C4"], measured, det)


def _judge_c5(est, delta) -> ClaimResult:
    r = _get(est, "dpd_slope", "task_addition")
    if r is None:
        return ClaimResult("C5", CLAIMS["C5"], INCONCLUSIVE, RULES["C5"], "fewer than 3 λ")
    side = _fair_side(r)
    verdict = {1: HOLDS, -1: NOT_HOLDS, 0: INCONCLUSIVE}[side]
    measured = f"slope of DPD on |λ − 1| = {_fmt(r)}"
    if _degenerate(r):
        measured += ": some grid points are degenerate, so the slope decides nothing"
    details = pd.DataFrame([{"quantity": "slope of DPD on |λ − 1|", "value": _fmt(r)}])
    return ClaimResult("C5", CLAIMS["C5"], verdict, RULES["C5"], measured, details)


def judge(est: pd.DataFrame, delta: float = DEFAULT_DELTA) -> list[ClaimResult]:
    """Verdicts of C1–C5 on an estimates frame (:data:`ESTIMATE_COLUMNS`), in order."""
    missing = set(ESTIMATE_COLUMNS) - {"degenerate"} - set(est.columns)  # optional: False
    if missing:
        raise ValueError(f"An estimates frame needs the columns {sorted(missing)}.")
    est = est.assign(vector=est["vector"].fillna(""), against=est["against"].fillna(""))
    flags = est["degenerate"] if "degenerate" in est.columns else False
    est = est.assign(degenerate=pd.Series(flags, index=est.index).fillna(False).astype(bool))
    return [f(est, delta) for f in (_judge_c1, _judge_c2, _judge_c3, _judge_c4, _judge_c5)]
