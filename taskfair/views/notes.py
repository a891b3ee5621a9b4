"""The sentences the views print about a point, each written once.

A page draws them on the server as Markdown and a shipped view (:mod:`taskfair.views.ship`)
prints them as plain text in the browser: each sentence is written here in the small
Markdown subset the pages use (``**bold**``, ``*emphasis*``, ``"  \\n"`` line breaks) and
:func:`plain` gives its plain-text form, so the two renderings cannot drift apart. Names
from outside (group names) go through ``escape``: Markdown-escaped on the server, as they
are in plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pandas as pd

from taskfair.metrics import OVERALL
from taskfair.sweep.bands import difference_text

__all__ = [
    "NO_RECOMMENDATION_YET",
    "Escape",
    "degenerate_caption",
    "degenerate_point",
    "degenerate_rule",
    "paired_sentence",
    "plain",
    "warning_notes",
]

#: How a name from outside is made safe for the rendering (identity for plain text).
Escape = Callable[[str], str]

NO_RECOMMENDATION_YET = (
    "The recommended λ is chosen on the validation split once its grid is evaluated."
)

_EMPHASIS = re.compile(r"(?<![\\*])\*(?!\*)([^*\n]+?)(?<![\\*])\*(?!\*)")


def plain(markdown: str | None) -> str | None:
    """A sentence of this module (or a page's) as the plain text a shipped view prints:
    bold and emphasis marks and Markdown line breaks dropped."""
    if markdown is None:
        return None
    text = markdown.replace("**", "").replace("  \n", " ")
    return _EMPHASIS.sub(r"\1", text)


def _same(text: str) -> str:
    return text


def degenerate_point(point: dict | None, escape: Escape = _same) -> str | None:
    """The warning shown when a point is degenerate (a nearly constant predictor); its
    note, read from a bundle's files, through ``escape``."""
    if not point or not point.get("degenerate"):
        return None
    note = point.get("degenerate_note") or "constant predictions"
    return f"**Degenerate point**: {escape(str(note))}."


def paired_sentence(result: dict | None, other: str = "FFT") -> str | None:
    """The paired bootstrap of a point against a baseline, one sentence per metric
    (``None`` until both are exact)."""
    if not result:
        return None
    lines = [difference_text(m, result[m], f"{other}'s") for m in ("accuracy", "dpd", "eod")]
    how = "; ".join(
        dict.fromkeys(
            str(result[m].get("method")) for m in ("accuracy", "dpd") if result[m].get("method")
        )
    )
    return f"**Against {other}** (95% intervals on the same rows: {how or 'paired'}): " + " ".join(
        lines
    )


def warning_notes(warnings: list[str], limit: int = 3) -> list[str]:
    """The metrics' notes on a point (degenerate groups), the first ``limit``, marked."""
    return [f"⚠ {n}" for n in warnings[:limit]]


def degenerate_rule(with_degenerate: bool) -> str:
    """Whether degenerate points take part in the Pareto front and the recommendation."""
    return (
        "Degenerate points (crossed out) are "
        + ("**included** in" if with_degenerate else "left out of")
        + " the front and the recommendation"
        + ("." if with_degenerate else " (tick *Include degenerate points* to put them back).")
    )


def degenerate_caption(
    frame: pd.DataFrame | None,
    what: str = "λ",
    mark: str = "crossed-out dark markers",
    escape: Escape = _same,
) -> str | None:
    """One sentence naming the degenerate points of a view (drawn as ``mark``): their λ
    (or method, for a reference point) and the first one's note; None when there is none."""
    if frame is None or frame.empty or "degenerate" not in frame.columns:
        return None
    top = frame[(frame["group"] == OVERALL) & frame["degenerate"].fillna(False).astype(bool)]
    if top.empty:
        return None
    names = list(
        dict.fromkeys(
            f"{what} = {lam:g}" if pd.notna(lam) else str(method).upper()
            for method, lam in sorted(
                zip(top["method"], top["lam"], strict=True), key=lambda e: (pd.isna(e[1]), e[1])
            )
        )
    )
    more = " Each point's note on hover." if len(names) > 1 else ""
    return (
        f"⚠ **Degenerate** ({mark}): {', '.join(names)} — "
        f"{escape(str(top['degenerate_note'].iloc[0]))}.{more}"
    )
