"""Figures carry the honest readings as data: degenerate points, reference predictors,
bootstrap bands, small intersection cells (trace meta and values, never pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskfair import plots
from taskfair.metrics import OVERALL, PreviewScorer
from taskfair.plots.style import COLORS, DEGENERATE_MARKER
from taskfair.sweep import Setting, tidy_rows
from taskfair.sweep.bands import band_record, with_bands
from taskfair.sweep.rows import reference_rows

_rng = np.random.default_rng(9)
N = 120
Y = _rng.integers(0, 2, N)
G = pd.Series(_rng.choice(["a", "b"], N))


def _point(lam: float, constant: bool = False) -> pd.DataFrame:
    setting = Setting("task_addition", lam, "sum", {"a": lam, "b": lam})
    if constant:
        preds = np.ones(N, dtype=int)
    else:
        preds = np.where(_rng.random(N) < 0.6 + 0.3 * lam, Y, 1 - Y)
    logits = np.stack([1.0 - preds, preds], axis=1).astype(np.float32)
    rows, _ = tidy_rows(setting, "test", 0, logits, Y, G, positive_label="toxic")
    return with_bands(rows, band_record(PreviewScorer(Y, G), logits))


def _curve() -> pd.DataFrame:
    return pd.concat([_point(0.0, constant=True), _point(0.5), _point(1.0)], ignore_index=True)


def _meta(fig, **want):
    return [t for t in fig.data if t.meta and all(t.meta.get(k) == v for k, v in want.items())]


def test_tradeoff_draws_degenerate_points_references_and_bands():
    refs = reference_rows("test", Y, G)
    fig = plots.tradeoff_figure(
        _curve(), split="test", normalize="sum", references=refs, positive_label="toxic"
    )
    curve = _meta(fig, metric="accuracy", role="curve")[0]
    assert curve.meta["degenerate"] == [True, False, False]
    assert list(curve.marker.color) == [DEGENERATE_MARKER["color"], *[COLORS["task_addition"]] * 2]
    assert list(curve.marker.symbol) == ["circle"] * 3  # exact: solid, whatever the flag
    (deg,) = _meta(fig, metric="dpd", role="degenerate")
    assert list(deg.x) == [0.0] and deg.meta["note"][0].startswith("predicts 'toxic' for 100%")
    (band,) = _meta(fig, metric="accuracy", role="band")
    assert band.meta["lam"] == [0.0, 0.5, 1.0]
    for y, lo, hi in zip(curve.y, band.meta["lo"], band.meta["hi"], strict=True):
        assert lo <= y <= hi
    lines = {t.meta["method"]: t for t in _meta(fig, metric="accuracy", role="reference")}
    assert lines["all_positive"].y[0] == pytest.approx(Y.mean())
    assert lines["all_positive"].name == "constant: all 'toxic'"
    assert lines["oracle"].y[0] == 1.0
    base = pd.Series(Y).groupby(G).mean()
    (oracle,) = _meta(fig, metric="dpd", role="reference", method="oracle")
    assert oracle.y[0] == pytest.approx(base.max() - base.min())
    # one legend entry per kind of trace, not one per panel
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert len(names) == len(set(names))


def test_pareto_draws_bands_as_error_bars_and_references_as_markers():
    refs = reference_rows("test", Y, G)
    fig = plots.pareto_figure(_curve(), x="dpd", split="test", normalize="sum", references=refs)
    (pts,) = _meta(fig, role="points")
    assert pts.error_y.visible is True and pts.meta["degenerate"] == [True, False, False]
    lo, hi = pts.meta["y_band"]
    for y, a, b, up, down in zip(pts.y, lo, hi, pts.error_y.array, pts.error_y.arrayminus,
                                 strict=True):  # fmt: skip
        assert y + up == pytest.approx(b) and y - down == pytest.approx(a)
    assert {t.meta["method"] for t in _meta(fig, role="reference")} == {
        "all_positive",
        "all_negative",
        "oracle",
    }
    assert _meta(fig, role="degenerate")[0].meta["lam"] == [0.0]


def test_heatmap_tooltips_bands_small_cells_and_degenerate_columns():
    df = _curve()
    fig = plots.group_heatmap(df, "accuracy", split="test", normalize="sum", min_n=N // 2 + 1)
    hm = fig.data[0]
    cells = df[df["group"] != plots.OVERALL].set_index(["group", "lam"])
    for i, g in enumerate(hm.y):
        for j, lam in enumerate(hm.x):
            n = int(cells.loc[(g, float(lam)), "n"])
            assert hm.meta["n"][i][j] == n
            if n < N // 2 + 1:
                assert hm.z[i][j] is None and hm.text[i][j] == f"n={n}"
            else:
                assert hm.z[i][j] == pytest.approx(cells.loc[(g, float(lam)), "accuracy"])
            lo = cells.loc[(g, float(lam)), "accuracy_lo"]
            assert hm.meta["lo"][i][j] == pytest.approx(lo)
            assert f"[{lo:.2f}," in hm.customdata[i][j][0]
    assert hm.meta["degenerate"] == [True, False, False]
    assert [a.text for a in fig.layout.annotations] == ["⚠"]


def test_compare_hatches_a_degenerate_method():
    fig = plots.compare_overall_figure(
        pd.concat([_point(0.5, constant=True)]), split="test", normalize="sum"
    )
    assert fig.data[0].name.endswith("(degenerate)") and fig.data[0].marker.pattern.shape == "x"
    ok = plots.compare_overall_figure(_point(0.5), split="test", normalize="sum")
    assert not ok.data[0].meta["degenerate"]


def test_tradeoff_draws_the_noise_floor_on_the_disparity_panels():
    """DPD and EOD panels carry the noise floor of the exact points (what groups with the
    same rates would score at these sizes), taken from the point's interval record."""
    frame = _curve()
    fig = plots.tradeoff_figure(frame, split="test", normalize="sum")
    assert not _meta(fig, metric="accuracy", role="noise_floor")
    for metric in ("dpd", "eod"):
        (floor,) = _meta(fig, metric=metric, role="noise_floor")
        assert floor.meta["lam"] == [0.0, 0.5, 1.0]
        top = frame[frame["group"] == OVERALL].sort_values("lam")
        assert floor.meta["hi"] == pytest.approx(top[f"{metric}_floor_hi"].tolist())
        assert all(
            0 <= lo <= hi <= 1 for lo, hi in zip(floor.meta["lo"], floor.meta["hi"], strict=True)
        )
        assert any(hi > 0 for hi in floor.meta["hi"])  # two groups of ~60 rows: not nothing
