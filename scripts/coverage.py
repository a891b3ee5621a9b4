"""Coverage study: do the 95% intervals of taskfair.metrics hold their level?

Datasets are drawn from known group rates with a fixed design (each group's positives and
negatives fixed, as the evaluation rows are drawn stratified by group × label), and every
interval rule is scored on each: how often the interval contains the true value, and its
median width. Compared: the chosen rules of :mod:`taskfair.metrics` (Wilson for accuracy;
simultaneous Newcombe gaps projected onto max − min for DPD, EOD and, paired, for ΔDPD,
ΔEOD) beside the previous rule (percentile bootstrap over rows drawn i.i.d., 200
resamples, the seeds' mean per resample).

Several seeds: each seed is a trained model with its own true rates (fixed per cell); the
true value is the mean over these seeds, the quantity the pages draw. Two predictors on
the same rows (a paired cell) agree on most rows: per row, ``P(both 1)`` is a mixture of
the two rates' maximal coupling (weight ``rho``) and independence.

Usage: ``python scripts/coverage.py [--datasets 1000] [--out docs/coverage.md]``;
``--smoke`` runs three small cells with 60 datasets (seconds).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from taskfair.metrics._binomial import wilson, z_of  # noqa: E402
from taskfair.metrics._counts import table_metrics  # noqa: E402
from taskfair.metrics._projection import paired_spread_bounds, spread_bounds  # noqa: E402
from taskfair.metrics._resampler import draw_strata, pattern_tables  # noqa: E402

LEVEL = 0.95
TODAY_BOOT = 200
NONE_RATES = (0.70, 0.20)  # TPR, FPR of rows in no group


@dataclass
class Cell:
    """One simulation setting: group sizes and base rates, each predictor's TPR / FPR per
    group (``b`` for a paired cell), seeds (with a per-seed offset of ``seed_sd``)."""

    name: str
    sizes: list[int]
    tpr: list[float]
    fpr: list[float]
    base: float | list[float] = 0.5
    tpr_b: list[float] | None = None
    fpr_b: list[float] | None = None
    seeds: int = 1
    none_rows: int = 0
    seed_sd: float = 0.02
    rho: float = 0.8
    rates: dict = field(default_factory=dict)

    @property
    def paired(self) -> bool:
        return self.tpr_b is not None


def _design(cell: Cell) -> np.ndarray:
    """Rows per stratum ``(K + 1, 2)`` = [group, y] (last group: no group)."""
    base = np.broadcast_to(np.asarray(cell.base, dtype=float), (len(cell.sizes),))
    pos = np.round(np.asarray(cell.sizes) * base).astype(int)
    rows = np.column_stack([np.asarray(cell.sizes) - pos, pos])
    none = cell.none_rows // 2
    return np.vstack([rows, [[cell.none_rows - none, none]]])


def _seed_rates(cell: Cell, rng) -> np.ndarray:
    """True P(ŷ = 1) ``(predictors, S, K + 1, 2)`` per seed, group and label; ``b`` shares
    ``a``'s seed offsets (the same training runs read at two settings)."""
    shape = (cell.seeds, len(cell.sizes) + 1, 2)
    noise = rng.normal(0, cell.seed_sd, shape) if cell.seeds > 1 else np.zeros(shape)
    out = []
    for tpr, fpr in ((cell.tpr, cell.fpr), (cell.tpr_b, cell.fpr_b)):
        if tpr is not None:
            r = np.column_stack([np.r_[fpr, NONE_RATES[1]], np.r_[tpr, NONE_RATES[0]]])
            out.append(np.clip(r[None] + noise, 0.01, 0.99))
    return np.stack(out)


def _truth(rows: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """True accuracy, DPD, EOD (means over seeds) of rates ``(S, K + 1, 2)``."""
    ones = rows[None] * r
    t = np.stack([rows[None] - ones, ones], axis=-1)  # expected tables (S, K+1, 2, 2)
    return {k: float(np.mean(v)) for k, v in table_metrics(t).items() if "." not in k}


def _pattern_probs(cell: Cell, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probability of each joint prediction pattern per stratum ``(strata, U)`` and the
    patterns' bits ``(U, m)`` (columns a_0..a_S-1 then b_0..b_S-1)."""
    s = cell.seeds
    per_seed = []  # (S, K+1, 2, 4) over (a, b) in 00, 01, 10, 11, or (S, K+1, 2, 2)
    for i in range(s):
        ra = rates[0, i]
        if cell.paired:
            rb = rates[1, i]
            p11 = cell.rho * np.minimum(ra, rb) + (1 - cell.rho) * ra * rb
            per_seed.append(np.stack([1 - ra - rb + p11, rb - p11, ra - p11, p11], -1))
        else:
            per_seed.append(np.stack([1 - ra, ra], -1))
    width = 2 if cell.paired else 1
    bits, probs = [], []
    for combo in itertools.product(range(2**width), repeat=s):
        p = np.ones(rates.shape[2:4])
        for i, c in enumerate(combo):
            p = p * per_seed[i][..., c]
        probs.append(p.reshape(-1))
        a = [(c >> 1) & 1 if cell.paired else c for c in combo]
        bits.append(a + ([c & 1 for c in combo] if cell.paired else []))
    return np.clip(np.stack(probs, -1), 0, None), np.asarray(bits, dtype=np.int64)


def _joint(counts: np.ndarray, bits: np.ndarray, s: int, k: int) -> np.ndarray:
    """Joint tables ``(D, S, K + 1, 2, 2, 2)`` of seed-paired a/b from pattern counts."""
    ind = np.zeros((bits.shape[0], s, 2, 2))
    for i in range(s):
        ind[np.arange(len(bits)), i, bits[:, i], bits[:, s + i]] = 1.0
    j = np.einsum("dzu,usab->dszab", counts, ind)
    return j.reshape(counts.shape[0], s, k + 1, 2, 2, 2)


def _seed_split(m: dict, s: int, paired: bool) -> dict:
    """Seed means of a's metrics, and of a − b for a paired cell (seed axis = -1)."""
    out = {}
    for key in ("accuracy", "dpd", "eod"):
        v = m[key]
        a = np.nanmean(v[..., :s], axis=-1) if s > 1 else v[..., 0]
        if paired:
            b = np.nanmean(v[..., s:], axis=-1) if s > 1 else v[..., s]
            out[key] = a - b
        else:
            out[key] = a
    return out


def _boot(counts: np.ndarray, bits, cell: Cell, rng, stratified: bool, est: dict) -> dict:
    """Bootstrap intervals ``{metric: (D, 2)}``: i.i.d. rows with percentile intervals
    (today's rule) or, ``stratified``, rows redrawn within group × label with the basic
    (bias-corrected) interval ``[2θ̂ − q_hi, 2θ̂ − q_lo]``, levels clipped to [0, 1]."""
    d, z, u = counts.shape
    k = len(cell.sizes)
    chunk = max(1, int(4e6 // (TODAY_BOOT * z * u)))
    out = {m: [] for m in ("accuracy", "dpd", "eod")}
    q = [(1 - LEVEL) / 2, (1 + LEVEL) / 2]
    for start in range(0, d, chunk):
        part = counts[start : start + chunk]
        c = part if stratified else part.reshape(-1, 1, z * u)
        drawn = draw_strata(c, TODAY_BOOT, rng).reshape(TODAY_BOOT, -1, z, u)
        vals = _seed_split(table_metrics(pattern_tables(drawn, bits, k)), cell.seeds, cell.paired)
        for key, v in vals.items():
            iv = np.nanquantile(v, q, axis=0).T
            if stratified:
                e = est[key][start : start + chunk, None]
                iv = 2 * e - iv[:, ::-1]
                if not cell.paired:
                    iv = np.clip(iv, 0.0, 1.0)
            out[key].append(iv)
    return {key: np.concatenate(v) for key, v in out.items()}


def _chosen(counts: np.ndarray, bits, cell: Cell) -> dict[str, np.ndarray]:
    """The chosen rules' intervals ``{metric: (D, 2)}`` from pattern counts."""
    k, s = len(cell.sizes), cell.seeds
    if cell.paired:
        joint = _joint(counts, bits, s, k)
        out = {}
        for m in ("dpd", "eod"):
            lo, hi = paired_spread_bounds(joint, m, LEVEL)
            out[m] = np.stack([lo, hi], -1)
        return out
    t = pattern_tables(counts, bits, k)  # (D, S, K+1, 2, 2)
    out = {m: np.stack(spread_bounds(t, m, LEVEL), -1) for m in ("dpd", "eod")}
    correct = (t[..., 0, 0] + t[..., 1, 1]).sum(-1)
    lo, hi = wilson(correct, t.sum(axis=(-3, -2, -1)), z_of(LEVEL))
    out["accuracy"] = np.stack([lo.mean(-1), hi.mean(-1)], -1)
    return out


def run_cell(cell: Cell, datasets: int, seed: int = 0) -> list[dict]:
    """Coverage and median width of each rule and quantity in one cell."""
    rng = np.random.default_rng(seed)
    rows = _design(cell)
    rates = _seed_rates(cell, rng)
    truth = _truth(rows, rates[0])
    if cell.paired:
        tb = _truth(rows, rates[1])
        truth = {m: truth[m] - tb[m] for m in truth}
    probs, bits = _pattern_probs(cell, rates)
    probs = probs / probs.sum(-1, keepdims=True)
    n = rows.reshape(-1)
    counts = rng.multinomial(n, probs, size=(datasets, len(n))).astype(np.float64)
    est = _seed_split(table_metrics(pattern_tables(counts, bits, len(cell.sizes))), cell.seeds,
                      cell.paired)  # fmt: skip
    rules = {"chosen": _chosen(counts, bits, cell),
             "today": _boot(counts, bits, cell, rng, False, est),
             "basic": _boot(counts, bits, cell, rng, True, est)}  # fmt: skip
    out = []
    for metric in rules["chosen"]:
        row = {"cell": cell.name, "metric": ("Δ" if cell.paired else "") + metric.upper(),
               "truth": truth[metric], "mean_estimate": float(np.nanmean(est[metric]))}  # fmt: skip
        for rule, iv in rules.items():
            lo, hi = iv[metric][:, 0], iv[metric][:, 1]
            ok = ~(np.isnan(lo) | np.isnan(hi))
            t = truth[metric]
            row[f"{rule}_cover"] = float(np.mean((lo[ok] <= t + 1e-12) & (t - 1e-12 <= hi[ok])))
            row[f"{rule}_width"] = float(np.median(hi[ok] - lo[ok]))
            row[f"{rule}_defined"] = int(ok.sum())
        row["eligible"] = bool((rows[:-1] >= 10).all())
        out.append(row)
    return out


DEMO = [159, 37, 174, 115]


def _spread(k: int, gap: float, tie: bool = False) -> np.ndarray:
    """Offsets of ``k`` groups spanning ``gap`` (half at each end when ``tie``)."""
    if tie:
        return np.where(np.arange(k) % 2 == 0, gap / 2, -gap / 2)
    return np.linspace(gap / 2, -gap / 2, k)


def gap_cell(name, sizes, gap, *, tie=False, gap_b=None, seeds=1, none_rows=0) -> Cell:
    """Groups whose TPR, FPR and selection rate all span ``gap`` (so DPD = EOD = gap)."""
    k = len(sizes)
    off = _spread(k, gap, tie)
    cell = Cell(name, list(sizes), list(0.65 + off), list(0.25 + off), seeds=seeds,
                none_rows=none_rows)  # fmt: skip
    if gap_b is not None:
        off_b = _spread(k, gap_b, tie)
        cell.tpr_b, cell.fpr_b = list(0.65 + off_b), list(0.25 + off_b)
    return cell


def cells() -> list[Cell]:
    """The study's cells (see docs/STATISTICS.md)."""
    e08 = ([0.70, 0.62, 0.66, 0.68], [0.20, 0.22, 0.18, 0.24])
    e15 = ([0.70, 0.55, 0.66, 0.68], [0.20, 0.22, 0.18, 0.26])
    d16 = ([0.80, 0.62, 0.66, 0.68], [0.30, 0.22, 0.12, 0.24])
    b07 = ([0.70, 0.63, 0.66, 0.68], [0.20, 0.22, 0.19, 0.24])
    demo = dict(none_rows=515)
    out = [
        Cell("demo, EOD 0.08", DEMO, *e08, **demo),
        Cell("demo, EOD 0.15", DEMO, *e15, **demo),
        Cell("demo, DPD 0.16", DEMO, *d16, **demo),
        Cell("demo, EOD 0.08, 3 seeds", DEMO, *e08, seeds=3, **demo),
        Cell("demo, paired a − b", DEMO, *e15, tpr_b=b07[0], fpr_b=b07[1], **demo),
        Cell("demo, paired a = b", DEMO, *e08, tpr_b=e08[0], fpr_b=e08[1], **demo),
        Cell(
            "demo, paired a − b, 3 seeds", DEMO, *e15, tpr_b=b07[0], fpr_b=b07[1], seeds=3, **demo
        ),  # fmt: skip
    ]
    for n, gaps in ((20, (0.0, 0.3)), (200, (0.0, 0.05, 0.3)), (2000, (0.0, 0.02))):
        out += [gap_cell(f"2 groups × {n}, gap {g}", [n, n], g) for g in gaps]
    out += [
        gap_cell("4 groups × 200, gap 0", [200] * 4, 0.0),
        gap_cell("4 groups × 200, gap 0.1, tied pairs", [200] * 4, 0.1, tie=True),
        gap_cell("4 groups × 2000, gap 0.05", [2000] * 4, 0.05),
        gap_cell("8 groups × 200, gap 0", [200] * 8, 0.0),
        gap_cell("8 groups × 200, gap 0.1", [200] * 8, 0.1),
        gap_cell("8 groups × 50, gap 0.3", [50] * 8, 0.3),
        gap_cell("3 groups 20/200/2000, gap 0.1", [20, 200, 2000], 0.1),
        gap_cell("2 groups × 200, gap 0, 3 seeds", [200, 200], 0.0, seeds=3),
        gap_cell("4 groups × 200, gap 0.1, 3 seeds", [200] * 4, 0.1, seeds=3),
        gap_cell("paired: 2 × 200, 0.1 vs 0.1", [200, 200], 0.1, gap_b=0.1),
        gap_cell("paired: 2 × 200, 0.3 vs 0.05", [200, 200], 0.3, gap_b=0.05),
        gap_cell("paired: 4 × 2000, 0.08 vs 0.03", [2000] * 4, 0.08, gap_b=0.03),
        gap_cell("paired: 8 × 200, 0 vs 0", [200] * 8, 0.0, gap_b=0.0),
        gap_cell("paired: 4 × 200, 0.1 vs 0.1, tied", [200] * 4, 0.1, tie=True, gap_b=0.1),
        gap_cell("paired: 4 × 200, 0.1 vs 0.05, 3 seeds", [200] * 4, 0.1, gap_b=0.05, seeds=3),
    ]
    return out


def smoke_cells() -> list[Cell]:
    return [
        Cell(
            "demo, EOD 0.08",
            DEMO,
            [0.70, 0.62, 0.66, 0.68],
            [0.20, 0.22, 0.18, 0.24],
            none_rows=515,
        ),  # fmt: skip
        gap_cell("2 groups × 200, gap 0, 3 seeds", [200, 200], 0.0, seeds=3),
        gap_cell("paired: 2 × 200, 0.3 vs 0.05", [200, 200], 0.3, gap_b=0.05),
    ]


def table(rows: list[dict]) -> str:
    """The results as a markdown table."""
    head = ("| cell | quantity | true | mean plug-in | chosen: coverage | chosen: median width "
            "| today: coverage | today: median width | stratified basic: coverage "
            "| stratified basic: median width |")  # fmt: skip
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        flag = "" if r["chosen_cover"] >= 0.93 or not r["eligible"] else " **(below 93%)**"
        lines.append(
            f"| {r['cell']} | {r['metric']} | {r['truth']:+.3f} | {r['mean_estimate']:+.3f} "
            f"| {100 * r['chosen_cover']:.1f}%{flag} | {r['chosen_width']:.3f} "
            f"| {100 * r['today_cover']:.1f}% | {r['today_width']:.3f} "
            f"| {100 * r['basic_cover']:.1f}% | {r['basic_width']:.3f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=int, default=1000, help="simulated datasets per cell")
    ap.add_argument("--smoke", action="store_true", help="three small cells, 60 datasets")
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    args = ap.parse_args(argv)
    todo, d = (smoke_cells(), 60) if args.smoke else (cells(), args.datasets)
    rows, start = [], time.process_time()
    for i, cell in enumerate(todo):
        rows += run_cell(cell, d, seed=i)
        print(f"{cell.name}: {time.process_time() - start:.1f} CPU-s", file=sys.stderr)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
