"""What a view ships to the browser: packed figures, every column of the rows, the JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from taskfair import plots
from taskfair.metrics import OVERALL
from taskfair.plots.steps import figure_steps, unpack_step
from taskfair.views.ship import CARDS, Position, position_index, ship_view, view_json

GROUPS = ["a", "b"]
LAMS = [0.0, 0.5, 1.0]


def _rows(lam: float) -> pd.DataFrame:
    """Tidy rows of one point (overall + two groups), with an extra column a later
    change might add: it must reach the browser unchanged."""
    acc = 0.6 + 0.2 * lam
    rows = [
        {"group": OVERALL, "accuracy": acc, "dpd": 0.1 * lam, "eod": math.nan, "n": 10},
        {"group": "a", "accuracy": acc - 0.05, "dpd": 0.1 * lam, "eod": math.nan, "n": 4},
        {"group": "b", "accuracy": acc + 0.05, "dpd": 0.1 * lam, "eod": math.nan, "n": 6},
    ]
    out = pd.DataFrame(rows)
    out["lam"] = lam
    out["macro_accuracy"] = acc
    out["vs_rest_dpd"] = [math.nan, 0.02, 0.03]
    out["vs_rest_eod"] = [math.nan, 0.04, 0.05]
    out["selection_rate"] = [0.5, 0.4, 0.6]
    out["tpr"] = out["fpr"] = 0.5
    out["method"], out["normalize"], out["split"], out["exact"] = (
        "task_addition",
        "sum",
        "test",
        True,
    )
    out["degenerate"] = [False, False, lam == 1.0]  # a column this module never heard of
    return out


def _figures(lam: float, frame: pd.DataFrame):
    cur = frame[(frame.lam == lam) & (frame.group == OVERALL)].iloc[0].to_dict()
    return [
        plots.tradeoff_figure(frame, split="test", normalize="sum", current=cur),
        plots.group_heatmap(frame, "accuracy", split="test", normalize="sum", highlight=lam),
    ]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.concat([_rows(x) for x in LAMS], ignore_index=True)


def test_figure_steps_store_shared_traces_once_and_unpack_to_the_figure(frame):
    figs = [_figures(x, frame)[0] for x in LAMS]
    packed = figure_steps(figs)
    n_traces = len(figs[0].data)
    # Only the current-point markers (one per panel) differ between positions.
    moving = [t for t in figs[0].data if (t.meta or {}).get("role") == "current"]
    assert len(packed["traces"]) == n_traces + (len(LAMS) - 1) * len(moving)
    assert packed["template"] is not None and len(packed["layouts"]) == 1
    for i, fig in enumerate(figs):
        assert unpack_step(packed, i) == json.loads(fig.to_json())
    with pytest.raises(ValueError, match="at least one"):
        figure_steps([])


def test_heatmap_highlight_outlines_the_current_column(frame):
    fig = plots.group_heatmap(frame, "accuracy", split="test", normalize="sum", highlight=0.5)
    (shape,) = fig.layout.shapes
    assert (shape.x0, shape.x1) == (0.5, 1.5) and shape.name == "current"  # column 1 of 3
    assert (shape.y0, shape.y1) == (-0.5, len(GROUPS) - 0.5)
    off = plots.group_heatmap(frame, "accuracy", split="test", normalize="sum", highlight=0.3)
    assert not off.layout.shapes  # not a column: nothing outlined
    plain = plots.group_heatmap(frame, "accuracy", split="test", normalize="sum")
    assert plain.data[0].z == fig.data[0].z


def test_ship_view_carries_every_column_and_every_figure(frame):
    positions = [
        Position(x, frame[frame.lam == x], f"λ = {x:g}", ["a note"] if x else []) for x in LAMS
    ]
    figures = [_figures(x, frame) for x in LAMS]
    view = ship_view(
        positions,
        figures,
        param="lam",
        label="λ",
        default=0.5,
        blocks=[[(1, ["slider"])], [(3, ["figure:0"]), (2, ["title", "cards", "table"])]],
    )
    assert view["values"] == LAMS and view["param"] == "lam" and view["default"] == 0.5
    assert [c["key"] for c in view["cards"]] == [c.key for c in CARDS]
    for i, x in enumerate(LAMS):
        step = view["steps"][i]
        want = frame[frame.lam == x]
        assert step["title"] == f"λ = {x:g}" and step["exact"] is True
        assert step["overall"]["accuracy"] == pytest.approx(0.6 + 0.2 * x)
        assert step["overall"]["eod"] is None  # NaN travels as null, never as 0
        assert [g["group"] for g in step["groups"]] == GROUPS
        assert set(step["groups"][0]) == set(want.columns)  # every column, the new one too
        assert [g["degenerate"] for g in step["groups"]] == [False, x == 1.0]
        for j, fig in enumerate(figures[i]):
            assert unpack_step(view["figures"][j], i) == json.loads(fig.to_json())
    assert view["steps"][0]["notes"] == [] and view["steps"][1]["notes"] == ["a note"]
    text = view_json(view)
    back = json.loads(text)  # strict JSON: no NaN, no Infinity
    assert back["view"] and {k: v for k, v in back.items() if k != "view"} == json.loads(
        json.dumps(view)
    )
    assert view_json(view) == text  # the same view, the same hash
    positions[0] = Position(0.0, frame[frame.lam == 0.0].assign(accuracy=0.1), "λ = 0")
    other = ship_view(positions, figures, param="lam", label="λ", default=0.5, blocks=[])
    assert json.loads(view_json(other))["view"] != back["view"]


def test_ship_view_refuses_mismatched_input(frame):
    p = [Position(0.0, frame[frame.lam == 0.0], "x")]
    with pytest.raises(ValueError, match="one list of figures per position"):
        ship_view(p, [], param="lam", label="λ", default=0.3, blocks=[])
    with pytest.raises(ValueError, match="at least one position"):
        ship_view([], [], param="lam", label="λ", default=0.3, blocks=[])


def test_position_index():
    grid = [round(i * 0.1, 10) for i in range(11)]
    assert position_index(grid, 0.3) == 3
    assert position_index(grid, 0.1 + 0.2) == 3  # 0.30000000000000004
    assert position_index(grid, 0.35) is None
    assert position_index(np.array(grid), 1.0) == 10


def test_notes_print_as_plain_text_what_the_server_prints_as_markdown():
    from taskfair.views.notes import degenerate_point, plain

    said = "**Against FFT** (paired bootstrap): *exact*  \nnext line"
    assert plain(said) == "Against FFT (paired bootstrap): exact next line"
    assert plain(degenerate_point({"degenerate": True, "degenerate_note": "all 'toxic'"})) == (
        "Degenerate point: all 'toxic'."
    )
    assert degenerate_point({"degenerate": False}) is None and plain(None) is None


def test_a_stored_view_is_made_once_and_keyed_by_its_choices(tmp_path):
    from taskfair.views.payloads import cached_payload, payload_path

    made = []

    def build(text):
        def make():
            made.append(text)
            return text

        return make

    key = (0, "test", "sum", "tradeoff", "task_addition", (), "dpd", False, False)
    assert cached_payload(tmp_path, key, build('{"a":1}')) == '{"a":1}'
    assert cached_payload(tmp_path, key, build('{"a":2}')) == '{"a":1}'  # read, not rebuilt
    assert made == ['{"a":1}'] and payload_path(tmp_path, key).is_file()
    other = (*key[:-1], True)
    assert payload_path(tmp_path, other) != payload_path(tmp_path, key)
    assert cached_payload(tmp_path, other, build('{"b":1}'), write=False) == '{"b":1}'
    assert not payload_path(tmp_path, other).exists()  # a viewer never writes
