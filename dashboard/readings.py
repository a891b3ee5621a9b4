"""What a page reads out: the captions and notices, the current point's cards and the
per-group table (with its column configuration), and text from outside made safe for
Markdown (:func:`say`)."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from dashboard import cache as ac
from taskfair.metrics import (
    DEGENERATE_HIGH,
    DEGENERATE_LOW,
    MIN_CLASS_ROWS,
    OVERALL,
    SMALL_CELL_ROWS,
    worst_cell,
)
from taskfair.safe_text import escape_markdown, redact_paths
from taskfair.sweep.refine import PREVIEW_TARGET, target_met
from taskfair.views import notes
from taskfair.views.ship import CARDS, GROUP_COLUMNS

__all__ = [
    "TABLE_CONFIG",
    "UNEXPECTED",
    "degenerate_caption",
    "degenerate_notice",
    "error",
    "fmt",
    "group_table",
    "metrics",
    "paired_lines",
    "preview_error_caption",
    "say",
    "worst_caption",
]


#: What a viewer shows for a failure that is not the user's (the details are logged).
UNEXPECTED = (
    "Something went wrong on this page (the server's log has the details). Reload the "
    "page, or open another view from the navigation."
)


def say(text: object) -> str:
    """``text`` from outside the app (a message, a name from a link or a file) ready for
    Markdown: escaped, so it reads as written; in viewer mode, server paths hidden."""
    text = str(text)
    return escape_markdown(redact_paths(text) if ac.viewer_mode() else text)


def error(exc: BaseException) -> None:
    """A user-caused failure: one clear message, the app stays up."""
    st.error(say(f"{type(exc).__name__}: {exc}"), icon=":material/error:")


def metrics(point: dict) -> None:
    """Accuracy, macro accuracy, DPD and EOD of the current point, two by two (the cards
    the browser-side view draws too: :data:`taskfair.views.ship.CARDS`)."""
    for i in range(0, len(CARDS), 2):
        for col, card in zip(st.columns(2), CARDS[i : i + 2], strict=False):
            col.metric(card.label, fmt(point.get(card.key)), help=card.help)


def degenerate_notice(point: dict) -> None:
    """A visible warning when the current point is degenerate (its note in words)."""
    text = notes.degenerate_point(point, escape=say)
    if text:
        st.warning(text, icon=":material/warning:")


def degenerate_caption(
    frame: pd.DataFrame, what: str = "λ", mark: str = "crossed-out dark markers"
) -> None:
    """One caption naming the degenerate points of a view (:func:`notes.degenerate_caption`)."""
    text = notes.degenerate_caption(frame, what, mark, escape=say)
    if text:
        st.caption(text)


#: The paired bootstrap against a baseline in one sentence (:mod:`taskfair.views.notes`).
paired_lines = notes.paired_sentence


def preview_error_caption(err: dict) -> str:
    """The preview's measured error in fairness units beside the agreement, with the
    target and whether it is met."""
    met = target_met(err)
    return (
        f"Preview: logits interpolated between the nearest exact λ. Measured error "
        f"({err['scheme']}, {len(err['points'])} points): predictions agree on "
        f"{err['agreement']:.1%}; max |Δacc| {err['d_accuracy']:.3f}, |ΔDPD| "
        f"{err['d_dpd']:.3f}, |ΔEOD| {err['d_eod']:.3f} — target |ΔDPD|, |ΔEOD| ≤ "
        f"{PREVIEW_TARGET:g}: {'met' if met else '**not met**'}. Background refinement "
        "evaluates first where neighbouring exact points disagree most."
    )


def worst_caption(rows: pd.DataFrame, what: str = "intersection") -> None:
    """Name the worst group of a point's rows (lowest accuracy, highest DPD vs rest)
    among those with at least SMALL_CELL_ROWS rows."""
    table = rows[rows["group"] != OVERALL].set_index("group")
    parts = []
    for metric, label in (("accuracy", "lowest accuracy"), ("vs_rest_dpd", "largest DPD vs rest")):
        w = worst_cell(table, metric, SMALL_CELL_ROWS)
        if w is not None:
            parts.append(f"{label}: **{say(w[0])}** ({fmt(w[1])}, n = {w[2]})")
    small = int((table["n"] < SMALL_CELL_ROWS).sum())
    text = (
        f"Worst {what} — " + "; ".join(parts)
        if parts
        else f"No {what} has {SMALL_CELL_ROWS} rows or more: none is named the worst"
    )
    st.caption(
        text + f". {small} of {len(table)} cells have fewer than {SMALL_CELL_ROWS} rows "
        "(marked, their rates are noise)."
    )


def fmt(v, digits: int = 3) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def group_table(rows: pd.DataFrame, ci: pd.DataFrame | None = None) -> pd.DataFrame:
    """The per-group table of one point: n, accuracy, selection rate, TPR, FPR, vs-rest
    disparities (with CI columns when bootstrapped)."""
    if rows is None or rows.empty:
        return pd.DataFrame()
    t = rows[rows["group"] != OVERALL].set_index("group")
    out = t[[c.key for c in GROUP_COLUMNS]].copy()
    # how much each group can tell: its positives, negatives and (with bands) its MDD
    for col in ("n_pos", "n_neg", "mdd_selection_rate", "mdd_tpr", "mdd_fpr"):
        if col in t.columns:
            out[col] = t[col]
    out["flag"] = [_flag(r, n) for r, n in zip(t["selection_rate"], t["n"], strict=True)]
    if {"n_pos", "n_neg"} <= set(t.columns):
        small = (t["n_pos"] < MIN_CLASS_ROWS) | (t["n_neg"] < MIN_CLASS_ROWS)
        out.loc[small, "flag"] = [
            " · ".join(x for x in (f, "too small for a finding") if x) for f in out["flag"][small]
        ]
    if ci is not None and not ci.empty:
        for m in ("accuracy", "selection_rate", "tpr", "fpr"):
            if f"{m}_lo" in ci.columns:
                out[f"{m} 95% CI"] = [
                    f"[{fmt(ci.at[g, f'{m}_lo'])}, {fmt(ci.at[g, f'{m}_hi'])}]"
                    if g in ci.index
                    else "–"
                    for g in out.index
                ]
    return out


def _flag(rate, n) -> str:
    """The per-group table's badge: a group whose predictions are (nearly) one class, or
    a cell too small to read."""
    marks = []
    if pd.notna(rate) and (rate <= DEGENERATE_LOW + 1e-12 or rate >= DEGENERATE_HIGH - 1e-12):
        marks.append(f"⚠ constant ({rate:.0%} positive)")
    if n < SMALL_CELL_ROWS:
        marks.append(f"small (n < {SMALL_CELL_ROWS})")
    return " · ".join(marks)


# The columns the browser-side view's table shows too (:data:`taskfair.views.ship.GROUP_COLUMNS`).
TABLE_CONFIG = {
    c.key: st.column_config.NumberColumn(c.label, format=c.format, help=c.help)
    for c in GROUP_COLUMNS
}
TABLE_CONFIG.update(
    n_pos=st.column_config.NumberColumn("positives", format="%d"),
    n_neg=st.column_config.NumberColumn("negatives", format="%d"),
    mdd_selection_rate=st.column_config.NumberColumn(
        "MDD sel.",
        format="%.3f",
        help="Smallest selection-rate gap to the other groups "
        "this group's size could detect (80% power, 5% two-sided)",
    ),
    mdd_tpr=st.column_config.NumberColumn("MDD TPR", format="%.3f", help="The same for TPR"),
    mdd_fpr=st.column_config.NumberColumn("MDD FPR", format="%.3f", help="The same for FPR"),
)
TABLE_CONFIG["flag"] = st.column_config.TextColumn(
    "flag",
    help=f"⚠ constant: the group's selection rate is ≤ {DEGENERATE_LOW:.0%} or ≥ "
    f"{DEGENERATE_HIGH:.0%} (its rates are a constant predictor's); small: fewer than "
    f"{SMALL_CELL_ROWS} rows; too small for a finding: fewer than {MIN_CLASS_ROWS} positives "
    "or negatives.",
)
