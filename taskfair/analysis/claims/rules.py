"""The verdict rules of C1–C5, each written beside the function that applies it.

Every rule reads an estimates frame (:mod:`.estimates`) and returns a
:class:`~.base.ClaimResult` with two readings: ``direction`` (do the point estimates
point the paper's way?) and ``verdict`` (do the 95% intervals decide it?). A DPD or EOD
that involves a degenerate point (a near-constant predictor, as the sweep rows flag it)
counts for neither side: a constant predictor's gap near 0 is not fairness.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from taskfair.analysis.claims.base import (
    DEFAULT_DELTA,
    DELTAS,
    ESTIMATE_COLUMNS,
    HOLDS,
    INCONCLUSIVE,
    LEVEL,
    NOT_HOLDS,
    TA_END,
    ClaimResult,
    combine,
    fair_side,
    fmt,
    get,
    is_degenerate,
    majority,
    mostly,
    side,
)
from taskfair.analysis.claims.estimates import C4_LAM, EARLY, FIT_LAMS

__all__ = ["C1_FROM", "CLAIMS", "RULES", "delta_table", "judge"]

#: λ from which C1 is judged ("λ ≳ 0.3").
C1_FROM = 0.3
CLAIMS: dict[str, str] = {
    "C1": "For λ ≳ 0.3, task addition keeps macro-averaged accuracy competitive with FFT and "
    "LoRA (within δ) while DPD and EOD fall below both.",
    "C2": "Macro-averaged accuracy peaks early (λ ≈ 0.2), where DPD and EOD are also higher "
    "than at the full merge.",
    "C3": "Injecting a subgroup vector into FFT, swept over λ (0.2 to 1), lowers DPD and EOD "
    "below FFT and LoRA with negligible change in macro-averaged accuracy.",
    "C4": "Injection's effect depends on the group: on the group-vs-rest cells, some groups "
    "improve and others get worse.",
    "C5": "Proposition 1 bounds the score-based DPD's deviation from θ(1) by a term "
    "proportional to |λ − 1| (2L Σ_g |λ_g − 1| ‖τ_g‖).",
}
_CI = "the 95% interval of the difference (stratified paired bootstrap over test rows, and seeds)"
_GAIN = (
    f"{_CI} of macro accuracy lies above −δ and those of DPD and EOD lie below 0; it fails "
    "when the macro-accuracy interval lies below −δ or a DPD/EOD interval lies above 0; "
    "else it is inconclusive. Overall and balanced accuracy are shown beside, not judged."
)
_DEGENERATE = (
    " A DPD or EOD that involves a degenerate point (a near-constant predictor in any "
    "seed) counts for neither side."
)
_DIRECTION = " Direction: the same reading on the point estimates alone."
RULES: dict[str, str] = {}


def _gain(est, method, lam, vector, against, delta) -> tuple[list[int], list[bool], dict, bool]:
    """Parts (+1 / −1 / 0) of 'macro accuracy above −δ, DPD and EOD below 0', the same on
    the point estimates, the cells shown, and whether a degenerate point is involved."""
    parts, dirs, shown, degenerate = [], [], {}, False
    for q in ("macro_accuracy", "accuracy", "balanced_accuracy", "dpd", "eod"):
        r = get(est, q, method, lam, vector, against)
        shown[f"Δ{q} vs {against}"] = fmt(r)
        if q in ("accuracy", "balanced_accuracy"):
            continue
        degenerate |= is_degenerate(r)
        if r is None:
            parts.append(0)
            dirs.append(None)
        elif q == "macro_accuracy":
            parts.append(side(r["lo"], r["hi"], -delta))
            dirs.append(bool(r["estimate"] > -delta))
        else:
            parts.append(-fair_side(r))
            dirs.append(None if is_degenerate(r) else bool(r["estimate"] < 0))
    return parts, dirs, shown, degenerate


def _cell(est, method, lam, vector, refs, delta) -> tuple[str, bool | None, dict, bool]:
    parts, dirs, shown, degenerate = [], [], {}, False
    for ref in refs:
        p, d, s, g = _gain(est, method, lam, vector, ref, delta)
        parts, dirs, degenerate = parts + p, dirs + d, degenerate | g
        shown.update(s)
    direction = None if None in dirs or not dirs else all(dirs)
    return (combine(parts) if refs else INCONCLUSIVE), direction, shown, degenerate


RULES["C1"] = (
    f"At every grid λ ≥ {C1_FROM}, against FFT and against LoRA: a λ holds when {_GAIN} "
    "The claim holds when more than half the λ hold, does not hold when more than half "
    "fail, and is inconclusive otherwise." + _DIRECTION + _DEGENERATE
)


def _judge_c1(est, delta) -> ClaimResult:
    ta = est[(est["method"] == "task_addition") & est["lam"].notna() & (est["against"] == LEVEL)]
    lams = sorted(x for x in ta["lam"].unique() if x >= C1_FROM - 1e-9)
    refs = [m for m in ("fft", "lora") if (est["against"] == m).any()]
    rows, verdicts, dirs, flagged = [], [], [], 0
    for lam in lams:
        v, d, shown, degenerate = _cell(est, "task_addition", lam, "", refs, delta)
        flagged += degenerate
        verdicts.append(v)
        dirs.append(d)
        rows.append({"λ": lam, **shown, "direction": _yes(d), "verdict": v})
    counts = {k: verdicts.count(k) for k in (HOLDS, NOT_HOLDS, INCONCLUSIVE)}
    measured = (
        f"{counts[HOLDS]} of {len(lams)} λ ≥ {C1_FROM} hold, {counts[NOT_HOLDS]} fail, "
        f"{counts[INCONCLUSIVE]} inconclusive; direction at {sum(bool(d) for d in dirs)} "
        f"of {len(lams)} (against {' and '.join(refs) or 'nothing'})"
    )
    if flagged:
        measured += f"; {flagged} of them involve a degenerate point (DPD/EOD not counted)"
    return ClaimResult("C1", CLAIMS["C1"], majority(verdicts), RULES["C1"] + f" δ = {delta}.",
                       measured, pd.DataFrame(rows), mostly(dirs))  # fmt: skip


def _yes(d: bool | None) -> str:
    return "–" if d is None else ("yes" if d else "no")


RULES["C2"] = (
    "λ* = the grid λ > 0 of highest macro accuracy, re-selected inside every bootstrap "
    "resample (so its intervals carry the selection). Peak part: holds when λ* falls in "
    f"[{EARLY[0]}, {EARLY[1]}] in at least 95% of resamples and the interval of "
    "acc(λ*) − acc(1) lies above 0; fails when λ* falls in that window in at most 5% of "
    "resamples. Fairness part: holds when the intervals of DPD(λ*) − DPD(1) and "
    "EOD(λ*) − EOD(1) both lie above 0; fails when both lie below 0. The claim holds when "
    "both parts hold, does not hold when either fails, inconclusive otherwise. Direction: "
    "λ* (on the rows as they are) in the window with DPD and EOD above θ(1)'s." + _DEGENERATE
)


def _judge_c2(est, delta) -> ClaimResult:
    gain = est[(est["quantity"] == "peak_gain") & (est["against"] == TA_END)]
    if gain.empty:
        return ClaimResult("C2", CLAIMS["C2"], INCONCLUSIVE, RULES["C2"], "no task-addition grid")
    star = float(gain.iloc[0]["lam"])
    peak = get(est, "peak_gain", "task_addition", star, "", TA_END)
    share = get(est, "peak_early_share", "task_addition", star)
    fair = [get(est, q, "task_addition", star, "", TA_END) for q in ("peak_dpd", "peak_eod")]
    p = float(share["estimate"]) if share is not None else np.nan
    peak_part = 0
    if p <= 0.05:
        peak_part = -1
    elif p >= 0.95 and side(peak["lo"], peak["hi"]) > 0:
        peak_part = 1
    sides = [fair_side(r) for r in fair]
    fair_part = 1 if all(s > 0 for s in sides) else (-1 if all(s < 0 for s in sides) else 0)
    in_window = EARLY[0] - 1e-9 <= star <= EARLY[1] + 1e-9
    ups = [r is not None and not is_degenerate(r) and r["estimate"] > 0 for r in fair]
    direction = in_window and all(ups)
    peak_part, fair_part = str(peak_part), str(fair_part)  # one column type for the table
    details = pd.DataFrame(
        [
            {"quantity": "λ* (highest macro accuracy)", "value": f"{star:g}", "part": ""},
            {
                "quantity": f"share of resamples with λ* in {list(EARLY)}",
                "value": f"{p:.2f}",
                "part": peak_part,
            },  # fmt: skip
            {"quantity": "acc(λ*) − acc(1)", "value": fmt(peak), "part": peak_part},
            {"quantity": "DPD(λ*) − DPD(1)", "value": fmt(fair[0]), "part": fair_part},
            {"quantity": "EOD(λ*) − EOD(1)", "value": fmt(fair[1]), "part": fair_part},
        ]
    )
    measured = (
        f"λ* = {star:g} (in the window in {p:.0%} of resamples); acc(λ*) − acc(1) = "
        f"{fmt(peak)}; DPD(λ*) − DPD(1) = {fmt(fair[0])}; EOD(λ*) − EOD(1) = {fmt(fair[1])}"
    )
    verdict = combine([int(peak_part), int(fair_part)])
    return ClaimResult("C2", CLAIMS["C2"], verdict, RULES["C2"],
                       measured, details, direction)  # fmt: skip


RULES["C3"] = (
    "For each injected subgroup vector g and each λ of the injection sweep (0.2 to 1, step "
    f"0.2; θ_FFT + λ τ_g), against FFT and against LoRA: a cell holds when {_GAIN} A vector "
    "holds when more than half its λ hold (fails likewise); the claim holds when more than "
    "half the vectors hold, does not hold when more than half fail, inconclusive otherwise."
    + _DIRECTION
    + _DEGENERATE
)


def _judge_c3(est, delta) -> ClaimResult:
    inj = est[(est["method"] == "injection") & (est["against"] == LEVEL) & (est["group"] == "")]
    refs = [m for m in ("fft", "lora") if (est["against"] == m).any()]
    rows, per_vector, dirs = [], [], []
    for g in sorted(inj["vector"].unique()):
        verdicts, vdirs = [], []
        for lam in sorted(x for x in inj.loc[inj["vector"] == g, "lam"].unique() if x > 0):
            v, d, shown, _ = _cell(est, "injection", lam, g, refs, delta)
            verdicts.append(v)
            vdirs.append(d)
            rows.append({"vector": g, "λ": lam, **shown, "direction": _yes(d), "verdict": v})
        per_vector.append((g, majority(verdicts)))
        dirs.append(mostly(vdirs))
    verdict = majority([v for _, v in per_vector])
    measured = ", ".join(f"{g} {v}" for g, v in per_vector) or "no injection points"
    if per_vector:
        measured += f"; direction in {sum(bool(d) for d in dirs)} of {len(dirs)} vectors"
    return ClaimResult("C3", CLAIMS["C3"], verdict, RULES["C3"] + f" δ = {delta}.", measured,
                       pd.DataFrame(rows), mostly(dirs))  # fmt: skip


RULES["C4"] = (
    "The matrix: for every injected vector, injection λ (0.2 to 1) and affected group, the "
    "group-vs-rest DPD, EOD and group accuracy of θ_FFT + λ τ_v minus FFT's, with "
    "simultaneous 95% intervals (max-t over the whole matrix, per metric). The claim holds "
    "when, for DPD or for EOD, some cell's interval lies below 0 (that group improves) and "
    "another's above 0 (it gets worse); it does not hold when, for both metrics, every "
    "cell's interval lies on one and the same side of 0 (a uniform effect); inconclusive "
    "otherwise. Direction: some cells' estimates below 0 and some above. Also reported: "
    f"the paper's count, 'k of G groups improve' (task addition at λ = {C4_LAM} against "
    "FFT, group-vs-rest DPD below FFT's with its simultaneous interval below 0; k on the "
    "point estimates in brackets)." + _DEGENERATE
)


def _judge_c4(est, delta) -> ClaimResult:
    cells = est[(est["method"] == "injection") & (est["group"] != "") & (est["against"] == "fft")]
    rows, mixed, uniform, signs = [], False, [], set()
    for q in ("vs_rest_dpd", "vs_rest_eod"):
        sides = []
        for _, r in cells[cells["quantity"] == q].iterrows():
            s = fair_side(r)
            sides.append(s)
            if not is_degenerate(r) and r["estimate"] != 0:
                signs.add(int(np.sign(r["estimate"])))
        mixed |= (1 in sides) and (-1 in sides)
        uniform.append(bool(sides) and (all(s > 0 for s in sides) or all(s < 0 for s in sides)))
    for _, r in cells.iterrows():
        rows.append({"metric": r["quantity"], "vector": r["vector"], "λ": r["lam"],
                     "group": r["group"], "Δ vs fft (simultaneous)": fmt(r),
                     "side": fair_side(r) if r["quantity"] != "group_accuracy"
                     else side(r["lo"], r["hi"])})  # fmt: skip
    verdict = HOLDS if mixed else (NOT_HOLDS if uniform and all(uniform) else INCONCLUSIVE)
    count = _paper_count(est)
    det = pd.DataFrame(rows)
    measured = "no injection points"
    if len(det):
        parts = []
        for q, name in (("vs_rest_dpd", "DPD"), ("vs_rest_eod", "EOD")):
            d = det[det["metric"] == q]
            parts.append(f"{name}: {int((d['side'] == -1).sum())} of {len(d)} cells "
                         f"significantly below FFT's, {int((d['side'] == 1).sum())} above")  # fmt: skip
        measured = "; ".join(parts) + f"; {count}"
    return ClaimResult("C4", CLAIMS["C4"], verdict, RULES["C4"], measured, det,
                       (signs == {-1, 1}) if signs else None)  # fmt: skip


def _paper_count(est) -> str:
    ta = est[(est["method"] == "task_addition") & (est["quantity"] == "vs_rest_dpd")]
    ta = ta[(ta["group"] != "") & np.isclose(ta["lam"], C4_LAM)]
    if ta.empty:
        return f"no task-addition point at λ = {C4_LAM}"
    sig = sum(fair_side(r) < 0 for _, r in ta.iterrows())
    point = sum((not is_degenerate(r)) and r["estimate"] < 0 for _, r in ta.iterrows())
    return f"task addition at λ = {C4_LAM}: {sig} of {len(ta)} groups improve DPD vs FFT ({point})"


RULES["C5"] = (
    "Along task addition's grid the bound reads K·|λ − 1| with K = 2L·c·Σ_g ‖τ_g‖. On the "
    "softmax score's group means (score-based DPD), the deviation D(λ) = |DPD_s(λ) − "
    f"DPD_s(1)| is measured; K̂ is the smallest K that bounds D on λ ∈ {list(FIT_LAMS)} "
    "(re-fitted in every resample), and the bound is checked on the other λ < 1. A check "
    "point is contained when the interval of D − K̂|λ − 1| lies below 0 and violated when "
    "it lies above 0. The claim holds when every check point is contained, does not hold "
    "when any is violated, inconclusive otherwise. Reported: the containment rate and the "
    "tightness (bound ÷ measured). Scores, not thresholded predictions, so the degeneracy "
    "rule of DPD/EOD does not apply. Direction: every check point's D under its bound."
)


def _judge_c5(est, delta) -> ClaimResult:
    check = est[est["quantity"] == "bound_margin"].sort_values("lam")
    if check.empty:
        return ClaimResult(
            "C5", CLAIMS["C5"], INCONCLUSIVE, RULES["C5"], "too few λ to fit and check"
        )
    rows, sides, under, ratios = [], [], [], []
    for _, r in check.iterrows():
        lam = float(r["lam"])
        dev = get(est, "deviation_check", "task_addition", lam)
        bound = get(est, "bound", "task_addition", lam)
        s = side(r["lo"], r["hi"])
        sides.append(s)
        under.append(bool(r["estimate"] <= 0))
        ratio = bound["estimate"] / dev["estimate"] if dev["estimate"] > 0 else np.inf
        ratios.append(ratio)
        rows.append({"λ": lam, "measured D": fmt(dev), "bound K̂|λ−1|": fmt(bound),
                     "D − bound": fmt(r), "tightness": f"{ratio:.2f}",
                     "contained": {-1: "yes", 1: "violated", 0: "undecided"}[s]})  # fmt: skip
    verdict = NOT_HOLDS if 1 in sides else (HOLDS if all(s < 0 for s in sides) else INCONCLUSIVE)
    k = get(est, "bound_constant", "task_addition")
    lip = get(est, "lipschitz", "task_addition")
    measured = (
        f"contained at {sides.count(-1)} of {len(sides)} check λ ({sum(under)} on the "
        f"estimates), violated at {sides.count(1)}; median tightness "
        f"{float(np.median(ratios)):.2f}; K̂ = {fmt(k)}"
        + (f"; L̂ = {fmt(lip)}" if lip is not None else "")
    )
    return ClaimResult("C5", CLAIMS["C5"], verdict, RULES["C5"], measured, pd.DataFrame(rows),
                       all(under))  # fmt: skip


def _prepared(est: pd.DataFrame) -> pd.DataFrame:
    optional = {"degenerate", "group", "band"}
    missing = set(ESTIMATE_COLUMNS) - optional - set(est.columns)
    if missing:
        raise ValueError(f"An estimates frame needs the columns {sorted(missing)}.")
    est = est.assign(
        vector=est["vector"].fillna(""),
        against=est["against"].fillna(""),
        group=est["group"].fillna("") if "group" in est.columns else "",
    )
    flags = est["degenerate"] if "degenerate" in est.columns else False
    return est.assign(degenerate=pd.Series(flags, index=est.index).fillna(False).astype(bool))


def judge(est: pd.DataFrame, delta: float = DEFAULT_DELTA) -> list[ClaimResult]:
    """Verdicts of C1–C5 on an estimates frame (:data:`ESTIMATE_COLUMNS`), in order."""
    est = _prepared(est)
    return [f(est, delta) for f in (_judge_c1, _judge_c2, _judge_c3, _judge_c4, _judge_c5)]


def delta_table(est: pd.DataFrame, deltas=DELTAS) -> pd.DataFrame:
    """The verdicts of the δ-dependent claims (C1, C3) at each margin δ: one row per claim,
    one column per δ."""
    est = _prepared(est)
    table = {f"δ = {d:g}": [_judge_c1(est, d).verdict, _judge_c3(est, d).verdict] for d in deltas}
    return pd.DataFrame({"claim": ["C1", "C3"], **table})
