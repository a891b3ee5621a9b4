"""The claims report as Markdown and as one standalone HTML file (plain tables, no scripts).

Input: the :class:`~taskfair.analysis.claims.ClaimResult` list of :func:`taskfair.analysis.claims.judge` and
a few lines about the bundle. The HTML needs nothing from the network to be read.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

from taskfair.analysis.claims import ClaimResult

__all__ = ["claims_html", "claims_markdown", "ranking_frame", "summary_frame"]

_HOW = (
    "Numbers are task-addition (or injection) minus the reference, on the test rows: seed "
    "mean ± one standard error across seeds (shown with several seeds), then the 95% "
    "interval [lo, hi] of a paired bootstrap over test rows (stratified by label × group) "
    "widened by the seed spread; C4's cells carry simultaneous (max-t) intervals over the "
    "whole matrix. 'direction reproduced' reads the point estimates alone; 'verdict' reads "
    "the intervals (significant)."
)
_DELTAS = (
    "The verdicts of the claims that depend on the accuracy margin δ (C1's 'competitive', "
    "C3's 'negligible change'), at each margin."
)
_RANKING = (
    "Threshold-free and calibration metrics per group from the same cached logits: subgroup "
    "AUC, BPSN and BNSP AUC (Borkan et al. 2019; background = every row outside the "
    "group), ECE (10 equal-width confidence bins) and Brier score (Guo et al. 2017), each "
    "with a 95% stratified-bootstrap interval."
)


def _direction(d: bool | None) -> str:
    return "–" if d is None else ("yes" if d else "no")


def summary_frame(results: Sequence[ClaimResult]) -> pd.DataFrame:
    """One row per claim: claim, statement, direction reproduced, verdict, measured, rule."""
    return pd.DataFrame(
        [
            {
                "claim": r.claim,
                "statement": r.statement,
                "direction reproduced": _direction(r.direction),
                "verdict": r.verdict,
                "measured": r.measured,
                "rule": r.rule,
            }
            for r in results
        ]
    )


def ranking_frame(ranking: pd.DataFrame) -> pd.DataFrame:
    """The per-group ranking table as text: each metric ``estimate [lo, hi]``."""
    if ranking is None or ranking.empty:
        return pd.DataFrame()
    out = ranking[["point", "seed", "group", "n", "positives", "negatives"]].copy()
    for m in ("subgroup_auc", "bpsn_auc", "bnsp_auc", "ece", "brier"):
        out[m] = [
            f"{e:.3f} [{lo:.3f}, {hi:.3f}]"
            for e, lo, hi in zip(ranking[m], ranking[f"{m}_lo"], ranking[f"{m}_hi"], strict=True)
        ]
    return out


_SUMMARY = ["claim", "statement", "direction reproduced", "verdict", "measured"]


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(nothing to show)"
    head = "| " + " | ".join(_md_cell(c) for c in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join(_md_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def claims_markdown(
    results: Sequence[ClaimResult],
    about: Mapping[str, str],
    title: str = "Claims report",
    *,
    deltas: pd.DataFrame | None = None,
    ranking: pd.DataFrame | None = None,
) -> str:
    """The report in Markdown: what was measured, the summary table, the δ sensitivity,
    each claim's points, the per-group threshold-free metrics."""
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in about.items()]
    lines += ["", _HOW, "", "## Verdicts", ""]
    lines.append(_md_table(summary_frame(results)[_SUMMARY]))
    if deltas is not None and not deltas.empty:
        lines += ["", "## Sensitivity to δ", "", _DELTAS, "", _md_table(deltas)]
    for r in results:
        lines += ["", f"## {r.claim}: {r.verdict}", "", r.statement, "",
                  f"*Direction reproduced:* {_direction(r.direction)}. *Rule.* {r.rule}", ""]  # fmt: skip
        lines.append(_md_table(r.details))
    if ranking is not None and not ranking.empty:
        lines += ["", "## Per-group AUC and calibration", "", _RANKING, ""]
        lines.append(_md_table(ranking_frame(ranking)))
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    ".holds{background:#dcf5dc}.does-not-hold{background:#f8d7d7}.inconclusive{background:#f5f0d0}"
)


def _css_class(value) -> str:
    """A verdict as a CSS class name: only letters, digits and hyphens survive, so no
    bundle-derived text can leave the attribute."""
    return html.escape("".join(c if c.isalnum() else "-" for c in str(value)), quote=True)


def _html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>(nothing to show)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            cls = f' class="{_css_class(value)}"' if col == "verdict" else ""
            cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def claims_html(
    results: Sequence[ClaimResult],
    about: Mapping[str, str],
    title: str = "Claims report",
    *,
    deltas: pd.DataFrame | None = None,
    ranking: pd.DataFrame | None = None,
) -> str:
    """The same report as one self-contained HTML page (inline CSS, no scripts); every
    bundle-derived string is escaped."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><ul>",
        *(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in about.items()),
        f"</ul><p>{html.escape(_HOW)}</p><h2>Verdicts</h2>",
        _html_table(summary_frame(results)[_SUMMARY]),
    ]
    if deltas is not None and not deltas.empty:
        parts += [f"<h2>Sensitivity to δ</h2><p>{html.escape(_DELTAS)}</p>", _html_table(deltas)]
    for r in results:
        parts += [
            f"<h2>{html.escape(r.claim)}: {html.escape(r.verdict)}</h2>",
            f"<p>{html.escape(r.statement)}</p><p><i>Direction reproduced:</i> "
            f"{_direction(r.direction)}. <i>Rule.</i> {html.escape(r.rule)}</p>",
            _html_table(r.details),
        ]
    if ranking is not None and not ranking.empty:
        parts += [f"<h2>Per-group AUC and calibration</h2><p>{html.escape(_RANKING)}</p>",
                  _html_table(ranking_frame(ranking))]  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)
