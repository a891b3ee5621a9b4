"""What every claim rule shares: verdict words, the estimates frame, the result type,
intervals (pointwise and simultaneous) and the small readers of an estimates frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from taskfair.metrics import simultaneous_band

__all__ = [
    "DEFAULT_DELTA",
    "DELTAS",
    "ESTIMATE_COLUMNS",
    "HOLDS",
    "INCONCLUSIVE",
    "LEVEL",
    "NOT_HOLDS",
    "TA_END",
    "ClaimResult",
    "interval",
    "simultaneous",
]

HOLDS, NOT_HOLDS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
#: Accuracy margin of "competitive" (C1) and "negligible change" (C3).
DEFAULT_DELTA = 0.03
#: The margins of the sensitivity table.
DELTAS: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05)
LEVEL = ""
TA_END = "ta@1"  # the fully merged task-addition point θ(1)
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "quantity",  # a metric of resample.POINT_METRICS / GROUP_METRICS, or a rule's quantity
    "method",  # task_addition | injection | fft | lora | base
    "lam",  # global λ (NaN for references; λ* for the peak quantities)
    "vector",  # the injected subgroup vector ("" otherwise)
    "group",  # the affected group of a per-group quantity ("" otherwise)
    "against",  # "" (a level) | fft | lora | ta@1 (a difference: this point minus that)
    "estimate",  # mean over seeds
    "se",  # standard error across seeds (NaN with one seed)
    "lo",  # 95% interval (rows, and seeds when there are several)
    "hi",
    "band",  # pointwise | simultaneous (max-t over the quantity's family) | reselected
    "n_seeds",
    # True when a point involved is degenerate in any seed: its DPD/EOD decide nothing
    "degenerate",
)


@dataclass(frozen=True)
class ClaimResult:
    """One claim's verdict.

    ``verdict`` (holds / does not hold / inconclusive) is the *significance* reading: it
    decides on 95% intervals. ``direction`` says whether the point estimates point the
    paper's way (True / False; None when there is nothing to read). ``measured`` is a
    one-line summary of the deciding numbers; ``details`` the judged cells, one row each.
    """

    claim: str
    statement: str
    verdict: str
    rule: str
    measured: str
    details: pd.DataFrame = field(default_factory=pd.DataFrame)
    direction: bool | None = None


def interval(values, reps, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, se, lo, hi) from per-seed values ``(S,)`` and replicates ``(S, B)``.

    The row part is the percentile interval of the seed mean's replicates; with several
    seeds the half-widths are widened by Student's ``t · SE`` across seeds in quadrature.
    """
    values = np.asarray(values, dtype=np.float64)
    reps = np.atleast_2d(np.asarray(reps, dtype=np.float64))
    s = len(values)
    mean = float(np.mean(values)) if s else math.nan
    if math.isnan(mean):
        return mean, math.nan, math.nan, math.nan
    defined = ~np.isnan(reps).all(axis=0)
    a = (1.0 - level) / 2.0
    d_lo = d_hi = 0.0
    if defined.any():
        boot = np.nanmean(reps[:, defined], axis=0)
        q_lo, q_hi = np.quantile(boot, [a, 1.0 - a])
        d_lo, d_hi = max(0.0, mean - q_lo), max(0.0, q_hi - mean)
    se = float(np.std(values, ddof=1) / math.sqrt(s)) if s > 1 else math.nan
    spread = float(stats.t.ppf(1.0 - a, s - 1) * se) if s > 1 else 0.0
    return mean, se, mean - math.hypot(d_lo, spread), mean + math.hypot(d_hi, spread)


def simultaneous(values, reps, level: float = 0.95) -> list[tuple[float, float, float, float]]:
    """(mean, se, lo, hi) per member of a family, jointly at ``level`` (max-t).

    ``values``: ``(S, J)`` per seed and member; ``reps``: ``(S, B, J)``. The seed mean's
    replicates go through :func:`taskfair.metrics.simultaneous_band` (each member's
    deviation scaled by its bootstrap SD; ``c`` the ``level`` quantile of the largest
    scaled deviation over the family); with several seeds each half-width is widened by
    the seed spread as in :func:`interval`.
    """
    values = np.asarray(values, dtype=np.float64)
    reps = np.asarray(reps, dtype=np.float64)
    s, _, j = reps.shape
    mean = values.mean(axis=0)
    with _quiet():
        boot = np.nanmean(reps, axis=0)  # (B, J)
    lo, hi, _ = simultaneous_band(boot, mean, level=level)
    out = []
    for m in range(j):
        se = float(np.std(values[:, m], ddof=1) / math.sqrt(s)) if s > 1 else math.nan
        spread = float(stats.t.ppf(1.0 - (1.0 - level) / 2, s - 1) * se) if s > 1 else 0.0
        mu = float(mean[m])
        d_lo, d_hi = math.hypot(mu - lo[m], spread), math.hypot(hi[m] - mu, spread)
        out.append((mu, se, mu - d_lo, mu + d_hi))
    return out


class _quiet:
    """Silence numpy's all-NaN warnings inside a block (a local filter, not a global one)."""

    def __enter__(self):
        import warnings

        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._c.__exit__(*exc)


# ----------------------------------------------------------------------------- readers


def side(lo: float, hi: float, threshold: float = 0.0) -> int:
    """+1 when [lo, hi] lies above ``threshold``, −1 when below, 0 otherwise (or NaN)."""
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return 0
    return 1 if lo > threshold else (-1 if hi < threshold else 0)


def is_degenerate(r) -> bool:
    return r is not None and bool(r.get("degenerate", False))


def fair_side(r) -> int:
    """:func:`side` of a DPD/EOD row against 0; 0 (neither side) when it is degenerate."""
    if r is None or is_degenerate(r):
        return 0
    return side(r["lo"], r["hi"])


def fmt(r) -> str:
    if r is None:
        return "n/a"
    se = f" ± {r['se']:.3f}" if not math.isnan(r["se"]) else ""
    flag = " (degenerate)" if is_degenerate(r) else ""
    return f"{r['estimate']:+.3f}{se} [{r['lo']:+.3f}, {r['hi']:+.3f}]{flag}"


def get(est: pd.DataFrame, quantity, method, lam=None, vector="", against=LEVEL, group=""):
    m = (
        (est["quantity"] == quantity)
        & (est["method"] == method)
        & (est["vector"] == vector)
        & (est["against"] == against)
        & (est["group"] == group)
    )
    m &= est["lam"].isna() if lam is None else np.isclose(est["lam"], lam)
    hit = est[m]
    return None if hit.empty else hit.iloc[0]


def combine(parts: Sequence[int]) -> str:
    """All parts hold → holds; any part fails → does not hold; else inconclusive."""
    if any(p < 0 for p in parts):
        return NOT_HOLDS
    return HOLDS if parts and all(p > 0 for p in parts) else INCONCLUSIVE


def majority(verdicts: Sequence[str]) -> str:
    n = len(verdicts)
    if n and sum(v == HOLDS for v in verdicts) * 2 > n:
        return HOLDS
    if n and sum(v == NOT_HOLDS for v in verdicts) * 2 > n:
        return NOT_HOLDS
    return INCONCLUSIVE


def mostly(flags: Sequence[bool | None]) -> bool | None:
    """True when more than half of the readable ``flags`` are True (None when none are)."""
    seen = [f for f in flags if f is not None]
    return None if not seen else sum(seen) * 2 > len(seen)
