"""The steering assistant's figures: the influence heatmap and the search's Pareto view.

* :func:`influence_figure` — (group, rate) rows × vectors, the derivative of each group's
  soft selection rate, TPR and FPR with respect to each λ_g
  (:func:`taskfair.steer.influence_matrix`). A diverging scale centred on 0, symmetric
  about it; its range is fixed (:data:`INFLUENCE_RANGE`) so two mixes compare by colour,
  and cells print their value (capped colours say "≥").
* :func:`steer_pareto_figure` — every exact validation point of a search (objective
  against accuracy): the starting curve, the search's points, the Pareto set, the
  recommendation, the best global λ, FFT and LoRA, with the accuracy floor dashed.
  Degenerate points are crossed out and never on the front.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from taskfair.plots.style import COLORS

__all__ = ["INFLUENCE_RANGE", "influence_figure", "steer_pareto_figure"]

#: Colour range of the influence heatmap: ± this change of a rate per unit of λ.
INFLUENCE_RANGE = 1.0
_RATE_LABELS = {"selection_rate": "selection", "tpr": "TPR", "fpr": "FPR"}


def influence_figure(matrix: pd.DataFrame, *, split: str = "val", where: str = "") -> go.Figure:
    """Heatmap of an influence matrix (rows (group, rate), columns vectors)."""
    if matrix is None or matrix.empty:
        fig = go.Figure()
        fig.update_layout(title={"text": "Influence matrix: not computed yet"})
        return fig
    rows = [f"{g} · {_RATE_LABELS.get(r, r)}" for g, r in matrix.index]
    z = matrix.to_numpy(dtype=float)
    text = [["n/a" if np.isnan(v) else f"{v:+.3f}" for v in row] for row in z]
    fig = go.Figure(
        go.Heatmap(
            z=[[None if np.isnan(v) else float(v) for v in row] for row in z],
            x=[f"λ {c}" for c in matrix.columns],
            y=rows,
            zmin=-INFLUENCE_RANGE,
            zmax=INFLUENCE_RANGE,
            zauto=False,
            zmid=0.0,
            colorscale="RdBu_r",
            text=text,
            texttemplate="%{text}",
            colorbar={
                "title": {"text": "∂ rate / ∂ λ", "side": "right"},
                "tickvals": [-INFLUENCE_RANGE, 0, INFLUENCE_RANGE],
                "ticktext": [f"≤−{INFLUENCE_RANGE:g}", "0", f"≥{INFLUENCE_RANGE:g}"],
            },
            hovertemplate="%{y}<br>%{x}<br>∂/∂λ = %{text}<extra></extra>",
            meta={"role": "influence"},
        )
    )
    sub = "derivative of each group's soft rate (mean predicted probability) per unit of λ_g" + (
        f" · at {where}" if where else ""
    )
    fig.update_layout(
        title={"text": f"Which vector moves which group ({split})<br><sup>{sub}</sup>"},
        height=max(320, 22 * len(rows) + 140),
        margin={"t": 80, "b": 40, "l": 150, "r": 20},
        yaxis={"autorange": "reversed"},
        meta={"split": split},
    )
    return fig


def _points_trace(rows, name, role, symbol, color, size, objective: str) -> go.Scatter:
    """Exact points with the objective's 95% interval as horizontal error bars."""
    return go.Scatter(
        x=rows["objective"],
        y=rows["accuracy"],
        mode="markers",
        name=name,
        marker={
            "symbol": symbol,
            "color": color,
            "size": size,
            "line": {"width": 1, "color": "#333"},
        },  # fmt: skip
        error_x={
            "type": "data",
            "symmetric": False,
            "thickness": 1,
            "array": rows["objective_hi"] - rows["objective"],
            "arrayminus": rows["objective"] - rows["objective_lo"],
        },  # fmt: skip
        text=rows["label"],
        hovertemplate=f"%{{text}}<br>{objective}=%{{x:.3f}}<br>accuracy=%{{y:.3f}}<extra></extra>",
        meta={"role": role},
    )


def steer_pareto_figure(
    table: pd.DataFrame, *, objective: str, floor: float, split: str = "val"
) -> go.Figure:
    """The search's exact points on ``split`` (a :meth:`SteerResult.table` frame)."""
    fig = go.Figure()
    if table is None or table.empty:
        fig.update_layout(title={"text": "No exact point yet"})
        return fig

    def add(rows, name, role, symbol, color, size=9):
        if not rows.empty:
            fig.add_trace(_points_trace(rows, name, role, symbol, color, size, objective))

    deg = table["degenerate"].astype(bool)
    ok = table[~deg]
    add(
        ok[ok["source"] == "grid"], "global λ (start)", "grid", "circle", COLORS["task_addition"], 8
    )
    add(ok[ok["source"] == "search"], "search", "search", "diamond", COLORS["per_vector"], 8)
    add(table[deg], "degenerate", "degenerate", "x", "#999999", 8)
    front = table[table["pareto"]].sort_values("objective")
    if not front.empty:
        fig.add_trace(
            go.Scatter(
                x=front["objective"], y=front["accuracy"], mode="lines", name="Pareto set",
                line={"color": "#444444", "width": 2}, meta={"role": "front"},
                hoverinfo="skip",
            )
        )  # fmt: skip
    for label, role, symbol, color in (("FFT", "fft", "square", COLORS["fft"]),
                                       ("LORA", "lora", "triangle-up", COLORS["lora"])):  # fmt: skip
        add(
            table[table["label"] == label],
            label if label == "FFT" else "LoRA",
            role,
            symbol,
            color,
            11,
        )
    best = table[(table["source"] == "grid") & table["accepted"] & ~deg]
    if not best.empty:
        b = best.sort_values(["objective", "accuracy"], ascending=[True, False]).head(1)
        add(b, "best global λ", "best_global", "circle-open", "#000000", 16)
    add(table[table["recommended"]], "recommendation", "recommended", "star", "#ffd700", 18)
    fig.add_hline(
        y=floor, line_dash="dash", line_color="#666",
        annotation_text=f"floor {floor:.3f}", annotation_position="bottom right",
    )  # fmt: skip
    fig.update_layout(
        title={"text": f"Steering search on {split}: {objective} against accuracy<br>"
               "<sup>bars: 95% bootstrap intervals of the objective; lower is fairer</sup>"},
        xaxis_title=f"{objective} (lower is fairer)",
        yaxis_title="accuracy",
        height=460,
        margin={"t": 80, "b": 50, "l": 60, "r": 20},
        meta={"split": split, "floor": floor},
    )  # fmt: skip
    return fig
