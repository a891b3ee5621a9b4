"""One figure at every position of a slider, in the form a browser redraws it from.

A page that lets the browser move a slider (:mod:`taskfair.views.ship`) draws its figure
once per position with the ordinary figure functions of this package, so what the
browser shows at a position is exactly what the server would have drawn there. This
module packs those figures: most traces (the curves, the baselines, a heatmap's cells)
are the same at every position and are stored once; a position is a list of trace
numbers and a layout number. Nothing here knows which traces move: whatever a figure
function draws (new trace kinds, bands, flags) is carried as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import plotly.graph_objects as go

__all__ = ["figure_steps", "unpack_step"]


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def figure_steps(figures: Sequence[go.Figure]) -> dict:
    """Pack ``figures`` (the same figure drawn at each position, in order) for the browser.

    Returns ``{"template": layout template or None, "traces": [trace, ...], "layouts":
    [layout, ...], "steps": [{"data": [trace number, ...], "layout": layout number}, ...]}``
    with every distinct trace and layout stored once (as plotly's own JSON, so numpy
    arrays arrive as plotly.js reads them). The template (plotly's look, several KB) is
    shared by all positions and shipped once.
    """
    if not figures:
        raise ValueError("figure_steps needs at least one figure (one per slider position).")
    traces: list[dict] = []
    layouts: list[dict] = []
    seen_traces: dict[str, int] = {}
    seen_layouts: dict[str, int] = {}
    template = None
    steps = []
    for fig in figures:
        spec = json.loads(fig.to_json())
        layout = spec.get("layout", {})
        tpl = layout.pop("template", None)
        if template is None:
            template = tpl
        elif tpl is not None and _canonical(tpl) != _canonical(template):
            raise ValueError("The figures of one slider must share one layout template.")
        data = []
        for trace in spec.get("data", []):
            key = _canonical(trace)
            if key not in seen_traces:
                seen_traces[key] = len(traces)
                traces.append(trace)
            data.append(seen_traces[key])
        key = _canonical(layout)
        if key not in seen_layouts:
            seen_layouts[key] = len(layouts)
            layouts.append(layout)
        steps.append({"data": data, "layout": seen_layouts[key]})
    return {"template": template, "traces": traces, "layouts": layouts, "steps": steps}


def unpack_step(packed: dict, i: int) -> dict:
    """The figure JSON (``{"data", "layout"}``) of position ``i`` of a packed figure: what
    the browser draws there (tests compare it with the figure the server draws)."""
    step = packed["steps"][i]
    layout = dict(packed["layouts"][step["layout"]])
    if packed.get("template") is not None:
        layout["template"] = packed["template"]
    return {"data": [packed["traces"][k] for k in step["data"]], "layout": layout}
