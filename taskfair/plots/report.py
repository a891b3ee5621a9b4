"""A standalone HTML report of figures (opens offline)."""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go

__all__ = ["html_report"]


def html_report(
    figures: Sequence[tuple[str, go.Figure]],
    *,
    title: str,
    notes: Sequence[str] = (),
    variant: str = "",
) -> str:
    """A standalone HTML page with the figures (plotly.js inlined once, so it opens
    offline) and a few lines of context; ``variant`` (how the bundle departs from the
    paper's method, :func:`taskfair.variant.variant_line`) is shown first, in a box."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;color:#222}"
        "h2{margin-top:2em}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if variant:
        parts.append(
            "<p class='variant' style='border:2px solid #c77700;background:#fff4e0;"
            f"padding:.5em 1em'>{html.escape(variant)}</p>"
        )
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for i, (heading, fig) in enumerate(figures):
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(
            fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False})
        )
    parts.append("</body></html>")
    return "\n".join(parts)
