"""The look every figure shares: labels, colours, marker symbols, titles, and the two
frame helpers each figure starts from (:func:`overall_rows`, :func:`curve_summary`).

A figure module draws with these names only, so a new convention (a marker for a kind of
point, a colour for a method) is one entry here and reaches every figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskfair.metrics import OVERALL, REFERENCE_LABELS, overall_rows

__all__ = [
    "OVERALL",
    "METRIC_LABELS",
    "LOWER_IS_FAIRER",
    "HEATMAP_RANGES",
    "METHOD_LABELS",
    "COLORS",
    "BASELINE_DASH",
    "DEGENERATE_MARKER",
    "REFERENCE_STYLE",
    "figure_title",
    "degenerate_flags",
    "reference_name",
    "axis_label",
    "point_symbols",
    "overall_rows",
    "curve_summary",
]

# The overall row's group name in tidy sweep frames; the one spelling in this package.


METRIC_LABELS: dict[str, str] = {
    "accuracy": "Accuracy",
    "macro_accuracy": "Macro accuracy",
    "worst_group_accuracy": "Worst-group accuracy",
    "dpd": "DPD",
    "eod": "EOD",
    "selection_rate": "Selection rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "vs_rest_dpd": "DPD (group vs rest)",
    "vs_rest_eod": "EOD (group vs rest)",
}
LOWER_IS_FAIRER = frozenset({"dpd", "eod", "vs_rest_dpd", "vs_rest_eod"})

# Fixed colour ranges: a colour means the same number on every heatmap and every λ.
# Disparities are capped at 0.5 for contrast (cells print their exact value).
HEATMAP_RANGES: dict[str, tuple[float, float]] = {
    "accuracy": (0.0, 1.0),
    "selection_rate": (0.0, 1.0),
    "tpr": (0.0, 1.0),
    "fpr": (0.0, 1.0),
    "vs_rest_dpd": (0.0, 0.5),
    "vs_rest_eod": (0.0, 0.5),
    "cosine": (-1.0, 1.0),
}

METHOD_LABELS: dict[str, str] = {
    "task_addition": "task addition",
    "injection": "injection",
    "per_vector": "per-vector λ",
    "fft": "FFT",
    "lora": "LoRA",
    "fft_balanced": "FFT (matched: balanced rows)",
    "lora_balanced": "LoRA (matched: balanced rows)",
    "base": "base",
}
COLORS = {
    "task_addition": "#1f77b4",
    "injection": "#9467bd",
    "per_vector": "#17becf",
    "fft": "#ff7f0e",
    "lora": "#2ca02c",
    "fft_balanced": "#ffbb78",
    "lora_balanced": "#98df8a",
    "base": "#7f7f7f",
    "current": "#d62728",
    "bound": "#8c564b",
}
BASELINE_DASH = {
    "fft": "dash",
    "lora": "dashdot",
    "fft_balanced": "longdash",
    "lora_balanced": "longdashdot",
    "base": "dot",
}
#: A degenerate point (a (nearly) constant predictor): its marker turns dark and a cross
#: is drawn over it (a trace of its own, ``role="degenerate"``, carrying the notes).
DEGENERATE_MARKER = {"symbol": "x", "color": "#222222"}
#: Reference predictors (constant, oracle; taskfair.metrics.REFERENCE_PREDICTORS): thin
#: grey lines (curves) or hollow markers (Pareto).
REFERENCE_STYLE = {
    "all_positive": {"color": "#8a8a8a", "dash": "dot", "symbol": "triangle-up-open"},
    "all_negative": {"color": "#b5b5b5", "dash": "dot", "symbol": "triangle-down-open"},
    "oracle": {"color": "#3a3a3a", "dash": "longdashdot", "symbol": "star-open"},
}


def reference_name(method: str, positive_label: str | None = None) -> str:
    """The legend name of a reference predictor, e.g. "constant: all 'toxic'"."""
    pos = f"'{positive_label}'" if positive_label else "positive"
    return REFERENCE_LABELS.get(method, method).format(pos=pos)


def degenerate_flags(df: pd.DataFrame) -> pd.Series:
    """The ``degenerate`` column as bools (False where the frame has none)."""
    if df is None or df.empty or "degenerate" not in df.columns:
        return pd.Series(False, index=None if df is None else df.index, dtype=bool)
    return df["degenerate"].fillna(False).astype(bool)


def _suffix(normalize: str | None, split: str | None) -> str:
    parts = []
    if normalize:
        parts.append(f"normalisation: {normalize}")
    if split:
        parts.append(f"split: {split}")
    return " · ".join(parts)


def figure_title(text: str, normalize: str | None, split: str | None) -> dict:
    """A layout title: ``text`` over a subtitle naming the normalisation and split."""
    sub = _suffix(normalize, split)
    return {"text": f"{text}<br><sup>{sub}</sup>" if sub else text}


def axis_label(metric: str) -> str:
    """The metric's display label, with "(lower is fairer)" for a disparity."""
    label = METRIC_LABELS.get(metric, metric)
    return f"{label} (lower is fairer)" if metric in LOWER_IS_FAIRER else label


def point_symbols(exact: Sequence[bool], solid: str = "circle") -> list[str]:
    """One marker symbol per point: ``solid`` when exact, its hollow form when previewed."""
    return [solid if e else f"{solid}-open" for e in exact]


def curve_summary(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-λ mean, standard error across seeds, seed count and exactness of ``metric``,
    and (last columns) ``degenerate`` (in any seed), ``note`` (the first degenerate
    note) and ``lo`` / ``hi``, the mean of the rows' ``<metric>_lo`` / ``_hi`` band
    columns (NaN without them).

    ``df`` holds the rows of one curve (one method, normalisation, split, group). A λ
    is exact when any exact row exists for it; preview rows are used only where no
    exact one does, so a point never mixes the two.
    """
    cols = ["lam", "mean", "sem", "n_seeds", "exact", "degenerate", "note", "lo", "hi"]
    if df is None or df.empty or metric not in df.columns:
        return pd.DataFrame(columns=cols)
    d = df.copy()
    d["exact"] = d["exact"].astype(bool) if "exact" in d.columns else True
    has_exact = d.groupby("lam")["exact"].transform("any")
    d = d[d["exact"] | ~has_exact]
    d["_deg"] = degenerate_flags(d)
    rows = []
    for lam, g in d.groupby("lam", sort=True):
        vals = pd.to_numeric(g[metric], errors="coerce").dropna().to_numpy(float)
        n = len(vals)
        mean = float(vals.mean()) if n else float("nan")
        sem = float(vals.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0
        notes = g.loc[g["_deg"], "degenerate_note"] if "degenerate_note" in g else []
        note = next((str(x) for x in notes if isinstance(x, str) and x), "")
        band = [
            float(pd.to_numeric(g[c], errors="coerce").mean()) if c in g else float("nan")
            for c in (f"{metric}_lo", f"{metric}_hi")
        ]
        rows.append((float(lam), mean, sem, n, bool(g["exact"].all()), bool(g["_deg"].any()),
                     note, *band))  # fmt: skip
    return pd.DataFrame(rows, columns=cols)
