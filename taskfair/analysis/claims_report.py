"""The claims report as Markdown and as one standalone HTML file (plain tables, no scripts).

Input: the :class:`~taskfair.analysis.claims.ClaimResult` list of :func:`taskfair.analysis.claims.judge` and
a few lines about the bundle. The HTML needs nothing from the network to be read.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import pandas as pd

from taskfair.analysis.claims import ClaimResult

__all__ = ["claims_html", "claims_markdown", "summary_frame"]

_HOW = (
    "Numbers are task-addition (or injection) minus the reference, on the test rows: seed "
    "mean ± one standard error across seeds (shown with several seeds), then the 95% "
    "interval [lo, hi] of a paired bootstrap over test rows widened by the seed spread."
)


def summary_frame(results: Sequence[ClaimResult]) -> pd.DataFrame:
    """One row per claim: claim, statement, verdict, measured, rule."""
    return pd.DataFrame(
        [
            {
                "claim": r.claim,
                "statement": r.statement,
                "verdict": r.verdict,
                "measured": r.measured,
                "rule": r.rule,
            }
            for r in results
        ]
    )


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
    results: Sequence[ClaimResult], about: Mapping[str, str], title: str = "Claims report"
) -> str:
    """The report in Markdown: what was measured, the summary table, each claim's points."""
    lines = [f"# {title}", ""]
    lines += [f"- **{k}**: {v}" for k, v in about.items()]
    lines += ["", _HOW, "", "## Verdicts", ""]
    lines.append(_md_table(summary_frame(results)[["claim", "statement", "verdict", "measured"]]))
    for r in results:
        lines += ["", f"## {r.claim}: {r.verdict}", "", r.statement, "", f"*Rule.* {r.rule}", ""]
        lines.append(_md_table(r.details))
    return "\n".join(lines) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    ".holds{background:#dcf5dc}.does-not-hold{background:#f8d7d7}.inconclusive{background:#f5f0d0}"
)


def _html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>(nothing to show)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for col, value in zip(frame.columns, row, strict=True):
            cls = f' class="{str(value).replace(" ", "-")}"' if col == "verdict" else ""
            cells.append(f"<td{cls}>{html.escape(str(value))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def claims_html(
    results: Sequence[ClaimResult], about: Mapping[str, str], title: str = "Claims report"
) -> str:
    """The same report as one self-contained HTML page (inline CSS, no scripts)."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><ul>",
        *(f"<li><b>{html.escape(k)}</b>: {html.escape(str(v))}</li>" for k, v in about.items()),
        f"</ul><p>{html.escape(_HOW)}</p><h2>Verdicts</h2>",
        _html_table(summary_frame(results)[["claim", "statement", "verdict", "measured"]]),
    ]
    for r in results:
        parts += [
            f"<h2>{html.escape(r.claim)}: {html.escape(r.verdict)}</h2>",
            f"<p>{html.escape(r.statement)}</p><p><i>Rule.</i> {html.escape(r.rule)}</p>",
            _html_table(r.details),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)
