"""Figures from small tidy frames: trace names, data, dashes, markers, fixed ranges."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from taskfair import plots

GROUPS = ["a", "b"]


def _tidy(
    lams=(0.0, 0.5, 1.0), method="task_addition", split="test", seeds=(0,), exact=True, offset=0.0
):
    rows = []
    for seed in seeds:
        for lam in lams:
            base = dict(
                method=method,
                lam=lam,
                normalize="sum",
                coeffs="{}",
                split=split,
                seed=seed,
                exact=exact,
            )
            x = 0.0 if np.isnan(lam) else lam  # baselines have no λ
            acc = 0.6 + 0.2 * x + offset + 0.01 * seed
            rows.append(
                dict(
                    base,
                    group=plots.OVERALL,
                    accuracy=acc,
                    macro_accuracy=acc - 0.05,
                    worst_group_accuracy=acc - 0.1,
                    dpd=0.3 - 0.2 * x,
                    eod=0.4 - 0.2 * x,
                    n=100,
                    selection_rate=0.5,
                    tpr=0.7,
                    fpr=0.2,
                    vs_rest_dpd=np.nan,
                    vs_rest_eod=np.nan,
                )
            )
            for k, g in enumerate(GROUPS):
                rows.append(
                    dict(
                        base,
                        group=g,
                        accuracy=acc + 0.05 * k,
                        macro_accuracy=np.nan,
                        worst_group_accuracy=np.nan,
                        dpd=np.nan,
                        eod=np.nan,
                        n=50,
                        selection_rate=0.4 + 0.1 * k,
                        tpr=0.7,
                        fpr=0.2,
                        vs_rest_dpd=0.1 * (k + 1) * (1 - x),
                        vs_rest_eod=0.2 * (1 - x),
                    )
                )
    return pd.DataFrame(rows)


def _by_meta(fig, **want):
    return [t for t in fig.data if t.meta and all(t.meta.get(k) == v for k, v in want.items())]


def test_tradeoff_curve_baselines_and_current_marker():
    curve = _tidy()
    base = pd.concat(
        [
            _tidy(lams=(np.nan,), method="fft", offset=0.1),
            _tidy(lams=(np.nan,), method="lora", offset=0.05),
        ]
    )
    fig = plots.tradeoff_figure(
        curve,
        split="test",
        normalize="sum",
        baselines=base,
        current={
            "lam": 0.5,
            "exact": False,
            "accuracy": 0.7,
            "macro_accuracy": 0.65,
            "dpd": 0.2,
            "eod": 0.3,
        },
    )
    acc = _by_meta(fig, metric="accuracy", role="curve")[0]
    assert list(acc.x) == [0.0, 0.5, 1.0]
    assert list(acc.y) == pytest.approx([0.6, 0.7, 0.8])
    assert list(acc.marker.symbol) == ["circle"] * 3  # exact points are solid
    dpd = _by_meta(fig, metric="dpd", role="curve")[0]
    assert list(dpd.y) == pytest.approx([0.3, 0.2, 0.1])
    fft = _by_meta(fig, metric="accuracy", role="baseline", method="fft")[0]
    assert fft.line.dash == "dash" and fft.name == "FFT"
    assert list(fft.y) == pytest.approx([0.7, 0.7])  # fft acc at offset 0.1 (lam NaN -> 0.6 + 0.1)
    lora = _by_meta(fig, metric="eod", role="baseline", method="lora")[0]
    assert lora.line.dash is not None and lora.name == "LoRA"
    cur = _by_meta(fig, metric="dpd", role="current")[0]
    assert list(cur.x) == [0.5] and list(cur.y) == [0.2]
    assert cur.marker.symbol == "diamond-open"  # previewed: hollow
    title = fig.layout.title.text
    assert "sum" in title and "test" in title
    json.loads(fig.to_json())  # serialisable for st.plotly_chart


def test_preview_points_are_hollow_and_exact_wins():
    exact = _tidy(lams=(0.0, 1.0))
    preview = _tidy(lams=(0.5, 1.0), exact=False, offset=0.5)
    fig = plots.tradeoff_figure(pd.concat([exact, preview]), split="val", normalize="mean")
    acc = _by_meta(fig, metric="accuracy", role="curve")[0]
    assert list(acc.x) == [0.0, 0.5, 1.0]
    assert list(acc.marker.symbol) == ["circle", "circle-open", "circle"]
    assert acc.y[2] == pytest.approx(0.8)  # the exact value at λ=1, not the preview's
    assert "mean" in fig.layout.title.text and "val" in fig.layout.title.text


def test_seeds_give_error_bars():
    fig = plots.tradeoff_figure(_tidy(seeds=(0, 1, 2)), split="test", normalize="sum")
    acc = _by_meta(fig, metric="accuracy", role="curve")[0]
    assert acc.error_y.visible is True
    assert acc.y[0] == pytest.approx(0.61)
    assert acc.error_y.array[0] == pytest.approx(0.01 / np.sqrt(3))


def test_pareto_marks_recommended_and_current():
    pts = _tidy(lams=(0.0, 0.5, 1.0))
    front = pts[(pts.group == plots.OVERALL) & (pts.lam >= 0.5)]
    fig = plots.pareto_figure(
        pts,
        x="dpd",
        y="accuracy",
        split="test",
        normalize="sum",
        front=front,
        recommended={"lam": 0.5, "dpd": 0.2, "accuracy": 0.7},
        current={"lam": 1.0, "dpd": 0.1, "accuracy": 0.8, "exact": True},
    )
    p = _by_meta(fig, role="points")[0]
    assert list(p.text) == ["0", "0.5", "1"]
    assert list(p.x) == pytest.approx([0.3, 0.2, 0.1])
    assert list(_by_meta(fig, role="front")[0].x) == pytest.approx([0.1, 0.2])
    rec = _by_meta(fig, role="recommended")[0]
    assert rec.meta["lam"] == 0.5 and rec.marker.symbol == "star"
    assert _by_meta(fig, role="current")[0].marker.symbol == "diamond"
    assert "test" in fig.layout.title.text and "sum" in fig.layout.title.text


@pytest.mark.parametrize(
    "metric,zmax", [("accuracy", 1.0), ("vs_rest_dpd", 0.5), ("vs_rest_eod", 0.5)]
)
def test_heatmap_has_fixed_range_and_labels(metric, zmax):
    fig = plots.group_heatmap(_tidy(), metric, split="test", normalize="sum")
    hm = fig.data[0]
    assert hm.zmin == 0.0 and hm.zmax == zmax and hm.zauto is False
    assert list(hm.y) == GROUPS and list(hm.x) == ["0", "0.5", "1"]
    assert np.array(hm.z, dtype=float).shape == (2, 3)
    if metric.startswith("vs_rest"):
        assert "lower is fairer" in hm.colorbar.title.text
        assert hm.z[1][0] == pytest.approx(0.2 if metric == "vs_rest_dpd" else 0.2)
    # the range does not follow the data: a different frame keeps the same scale
    other = plots.group_heatmap(_tidy(offset=0.1), metric, split="test", normalize="sum")
    assert (other.data[0].zmin, other.data[0].zmax) == (hm.zmin, hm.zmax)


def test_heatmap_missing_cell_is_blank_not_zero():
    df = _tidy()
    df = df[~((df.group == "b") & (df.lam == 0.5))]
    hm = plots.group_heatmap(df, "vs_rest_dpd", split="test", normalize="sum").data[0]
    assert hm.z[1][1] is None and hm.text[1][1] == "n/a"


def test_compare_figures():
    ta = _tidy(lams=(0.5,), seeds=(0, 1))
    fft = _tidy(lams=(np.nan,), method="fft", seeds=(0, 1), offset=0.1)
    fig = plots.compare_groups_figure(
        pd.concat([fft, ta]), "accuracy", split="test", normalize="sum"
    )
    names = [t.name for t in fig.data]
    assert names == ["FFT", "task addition λ=0.5"]
    assert list(fig.data[1].x) == GROUPS
    assert fig.data[1].y[0] == pytest.approx(0.705)
    assert fig.data[1].error_y.visible is True
    ov = plots.compare_overall_figure(pd.concat([fft, ta]), split="test", normalize="sum")
    assert [t.name for t in ov.data] == names and "test" in ov.layout.title.text


def test_vector_geometry_figures():
    fig = plots.norms_figure({"fft": 2.0, "a": 1.0})
    assert list(fig.data[0].y) == [2.0, 1.0]
    cos = plots.cosine_figure(["a", "b"], [[1.0, 0.2], [0.2, 1.0]])
    assert cos.data[0].zmin == -1.0 and cos.data[0].zmax == 1.0


def test_bound_and_loss_and_sizes_and_report():
    fig = plots.bound_figure(
        [0, 0.5, 1], [2.0, 1.0, 0.0], _tidy(), split="test", normalize="mean", lipschitz=1.5
    )
    assert _by_meta(fig, role="bound")[0].line.dash == "dash"
    assert list(_by_meta(fig, role="measured")[0].y) == pytest.approx([0.3, 0.2, 0.1])
    assert "mean" in fig.layout.title.text
    assert tuple(fig.layout.yaxis.range) == (0.0, 1.05)  # a bound above 1 is vacuous: axis capped
    loss = plots.loss_figure(
        pd.DataFrame({"vector": ["a", "a", "b"], "step": [0, 1, 0], "loss": [1.0, 0.5, 0.9]})
    )
    assert [t.name for t in loss.data] == ["a", "b"]
    sizes = plots.group_sizes_figure(
        pd.DataFrame(
            {"split": ["val", "test"], "group": ["a", "a"], "n": [3, 4], "base_rate": [0.1, 0.2]}
        )
    )
    assert [t.name for t in sizes.data] == ["val", "test"]
    html = plots.html_report([("Loss", loss), ("Sizes", sizes)], title="Report <x>", notes=["n=1"])
    assert html.count("<h2>") == 2 and "Report &lt;x&gt;" in html and html.count("plotly.js v") <= 2
