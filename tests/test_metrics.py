"""taskfair.metrics against fairlearn as the reference, on fixed tiny arrays."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score

from taskfair.metrics import (
    CI_METRICS,
    OVERALL,
    REPORT_COLUMNS,
    FairnessReport,
    FairnessWarning,
    fairness_report,
    group_vs_rest,
)

# Three groups with different rates, every group with positives and negatives, and
# three rows that belong to no group (kept for accuracy only).
Y_TRUE = [1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1]
Y_PRED = [1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0]
GROUPS = ["a", "a", "a", "a", "a", "a", "b", "b", "b", "b", "b", "b", "c", "c", "c", "c", "c"]
GROUPS = [*GROUPS, None, np.nan, pd.NA]
HAS_GROUP = pd.Series(GROUPS, dtype=object).notna().to_numpy()


def _grouped():
    """The rows that have a group, as numpy arrays: the reference's input."""
    return (
        np.array(Y_TRUE)[HAS_GROUP],
        np.array(Y_PRED)[HAS_GROUP],
        np.array(GROUPS, dtype=object)[HAS_GROUP],
    )


@pytest.fixture(scope="module")
def report() -> FairnessReport:
    return fairness_report(Y_TRUE, Y_PRED, sensitive_features=GROUPS)


def test_accuracy_macro_and_worst_group(report):
    y, p, g = _grouped()
    frame = MetricFrame(metrics=accuracy_score, y_true=y, y_pred=p, sensitive_features=g)
    assert report.accuracy == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert report.macro_accuracy == pytest.approx(frame.by_group.mean())
    assert report.worst_group_accuracy == pytest.approx(frame.group_min())
    assert (report.n, report.n_grouped) == (20, 17)


def test_per_group_rates_equal_fairlearn_metricframe(report):
    y, p, g = _grouped()
    frame = MetricFrame(
        metrics={
            "n": count,
            "accuracy": accuracy_score,
            "selection_rate": selection_rate,
            "tpr": true_positive_rate,
            "fpr": false_positive_rate,
        },
        y_true=y,
        y_pred=p,
        sensitive_features=pd.Series(g, name="group"),
    )
    expected = frame.by_group
    assert list(report.by_group.columns) == list(REPORT_COLUMNS)
    assert list(report.by_group.index) == ["a", "b", "c"] == list(expected.index)
    for column in ("n", "accuracy", "selection_rate", "tpr", "fpr"):
        np.testing.assert_allclose(report.by_group[column], expected[column], rtol=1e-12)
    positives = pd.Series(y).groupby(g).sum()
    np.testing.assert_array_equal(report.by_group["n_pos"], positives)
    np.testing.assert_array_equal(report.by_group["n_neg"], report.by_group["n"] - positives)


def test_dpd_and_eod_equal_fairlearn(report):
    y, p, g = _grouped()
    assert report.dpd == pytest.approx(demographic_parity_difference(y, p, sensitive_features=g))
    assert report.eod == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=g, agg="worst_case")
    )
    assert report.warnings == ()


def test_vs_rest_cells_equal_fairlearn_on_binary_feature(report):
    y, p, g = _grouped()
    for group in ("a", "b", "c"):
        binary = g == group
        dpd = demographic_parity_difference(y, p, sensitive_features=binary)
        eod = equalized_odds_difference(y, p, sensitive_features=binary)
        assert report.by_group.loc[group, "vs_rest_dpd"] == pytest.approx(dpd)
        assert report.by_group.loc[group, "vs_rest_eod"] == pytest.approx(eod)
        assert group_vs_rest(Y_TRUE, Y_PRED, GROUPS, group) == pytest.approx((dpd, eod))


def test_group_without_positives_has_nan_tpr_and_nan_eod():
    y_true = [1, 0, 1, 0, 0, 0, 0, 1, 0]
    y_pred = [1, 1, 0, 0, 1, 0, 0, 1, 1]
    groups = ["a", "a", "a", "b", "b", "b", "c", "c", "c"]  # b: no positives
    with pytest.warns(FairnessWarning, match=r"group 'b' has no positives"):
        rep = fairness_report(y_true, y_pred, sensitive_features=groups)
    assert math.isnan(rep.by_group.loc["b", "tpr"])
    assert rep.by_group.loc["b", "fpr"] == pytest.approx(1 / 3)
    assert math.isnan(rep.eod)
    assert math.isnan(rep.by_group.loc["b", "vs_rest_eod"])
    # DPD needs no positives and stays fairlearn's number.
    assert rep.dpd == pytest.approx(
        demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
    )
    assert any("'b'" in note and "EOD" in note for note in rep.warnings)


def test_group_without_negatives_has_nan_fpr_and_nan_eod():
    y_true = [1, 0, 1, 1, 1, 1]
    y_pred = [1, 1, 0, 1, 0, 1]
    groups = ["a", "a", "a", "b", "b", "b"]  # b: no negatives
    with pytest.warns(FairnessWarning, match=r"group 'b' has no negatives"):
        rep = fairness_report(y_true, y_pred, sensitive_features=groups)
    assert math.isnan(rep.by_group.loc["b", "fpr"])
    assert rep.by_group.loc["b", "tpr"] == pytest.approx(2 / 3)
    assert math.isnan(rep.eod)
    with pytest.warns(FairnessWarning, match="EOD vs rest is NaN"):
        dpd, eod = group_vs_rest(y_true, y_pred, groups, "b")
    assert math.isnan(eod) and dpd == pytest.approx(rep.by_group.loc["b", "vs_rest_dpd"])


def test_single_group_gives_nan_disparities():
    with pytest.warns(FairnessWarning, match=r"only 1 group\(s\) with rows \('a'\)"):
        rep = fairness_report([1, 0, 1, 0], [1, 1, 0, 0], sensitive_features=["a"] * 4)
    assert math.isnan(rep.dpd) and math.isnan(rep.eod)
    assert rep.by_group["vs_rest_dpd"].isna().all()
    assert rep.by_group.loc["a", "accuracy"] == pytest.approx(0.5)
    assert rep.macro_accuracy == rep.worst_group_accuracy == pytest.approx(0.5)


def test_rows_without_group_count_in_accuracy_only(report):
    y, p, g = _grouped()
    everything = fairness_report(Y_TRUE, Y_PRED, sensitive_features=GROUPS)
    only_grouped = fairness_report(y, p, sensitive_features=g)
    assert everything.accuracy == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    assert everything.accuracy != pytest.approx(only_grouped.accuracy)
    for name in ("macro_accuracy", "worst_group_accuracy", "dpd", "eod"):
        assert getattr(everything, name) == pytest.approx(getattr(only_grouped, name))
    pd.testing.assert_frame_equal(everything.by_group, only_grouped.by_group)


def test_no_grouped_rows_at_all():
    with pytest.warns(FairnessWarning, match=r"only 0 group"):
        rep = fairness_report([1, 0, 1], [1, 1, 1], sensitive_features=[None, np.nan, None])
    assert rep.accuracy == pytest.approx(2 / 3)
    assert rep.n_grouped == 0 and rep.by_group.empty
    assert math.isnan(rep.dpd) and math.isnan(rep.macro_accuracy)


def test_small_groups_are_flagged(report):
    with pytest.warns(FairnessWarning, match=r"group 'c' has 5 rows, fewer than min_group_size=6"):
        rep = fairness_report(Y_TRUE, Y_PRED, sensitive_features=GROUPS, min_group_size=6)
    assert [note for note in rep.warnings if "min_group_size" in note] == [
        "group 'c' has 5 rows, fewer than min_group_size=6: its rates are unreliable"
    ]
    assert rep.dpd == pytest.approx(report.dpd)  # flagged, not dropped


def test_declared_but_empty_category_is_listed_not_compared(report):
    categories = pd.Categorical(GROUPS, categories=["a", "b", "c", "d"])
    with pytest.warns(FairnessWarning, match=r"group 'd' has no rows"):
        rep = fairness_report(Y_TRUE, Y_PRED, sensitive_features=categories)
    assert list(rep.by_group.index) == ["a", "b", "c", "d"]
    assert rep.by_group.loc["d", "n"] == 0
    assert rep.by_group.loc["d", ["accuracy", "tpr", "vs_rest_dpd"]].isna().all()
    assert rep.dpd == pytest.approx(report.dpd) and rep.eod == pytest.approx(report.eod)


@pytest.mark.parametrize("kind", ["list", "numpy", "pandas"])
def test_input_containers_give_the_same_report(report, kind):
    if kind == "list":
        args = (list(Y_TRUE), list(Y_PRED), list(GROUPS))
    elif kind == "numpy":
        args = (np.array(Y_TRUE), np.array(Y_PRED), np.array(GROUPS, dtype=object))
    else:
        # A shuffled, non-default index: alignment must be positional, as documented.
        index = pd.Index(np.arange(100, 120)[::-1], name="row")
        args = (
            pd.Series(Y_TRUE, index=index),
            pd.Series(Y_PRED, index=index, dtype="int64"),
            pd.Series(GROUPS, index=index, dtype="string"),
        )
    rep = fairness_report(args[0], args[1], sensitive_features=args[2])
    assert rep.to_dict() == report.to_dict()


def test_boolean_labels_are_accepted(report):
    rep = fairness_report(
        np.array(Y_TRUE, dtype=bool), np.array(Y_PRED, dtype=bool), sensitive_features=GROUPS
    )
    assert rep.to_dict() == report.to_dict()


@pytest.mark.parametrize(
    ("y_true", "y_pred", "groups", "message"),
    [
        ([0, 2], [0, 1], ["a", "b"], "0/1 labels"),
        ([0, 1], [0, 1, 1], ["a", "b"], "rows"),
        ([0, 1], [0, 1], ["a"], "rows"),
        ([[0, 1]], [[0, 1]], ["a", "b"], "1-D"),
        ([0, None], [0, 1], ["a", "b"], "missing"),
    ],
)
def test_invalid_inputs_are_refused(y_true, y_pred, groups, message):
    with pytest.raises(ValueError, match=message):
        fairness_report(y_true, y_pred, sensitive_features=groups)


def test_only_fairness_warnings_escape_and_filters_are_restored():
    before = list(warnings.filters)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Degenerate on purpose: one-class groups make sklearn/numpy divide by zero.
        fairness_report([0, 0, 1, 1], [0, 1, 1, 0], sensitive_features=list("aabb"), n_boot=5)
        group_vs_rest([0, 0, 1, 1], [0, 1, 1, 0], list("aabb"), "a")
    assert caught and all(issubclass(w.category, FairnessWarning) for w in caught)
    assert warnings.filters == before


def test_to_dict_is_flat_json(report):
    flat = report.to_dict()
    assert json.loads(json.dumps(flat, allow_nan=False)) == flat
    assert flat["dpd"] == pytest.approx(report.dpd)
    assert flat["group.b.tpr"] == pytest.approx(report.by_group.loc["b", "tpr"])
    assert flat["group.a.n"] == 6
    assert all(not isinstance(v, dict) for v in flat.values())


def test_to_frame_is_tidy(report):
    frame = report.to_frame()
    assert list(frame["group"]) == [OVERALL, "a", "b", "c"]
    overall = frame.iloc[0]
    assert overall["accuracy"] == pytest.approx(report.accuracy)
    assert (overall["n"], overall["n_pos"], overall["n_neg"]) == (20, 10, 10)
    assert math.isnan(overall["tpr"])
    assert (frame["dpd"] == report.dpd).all()
    assert list(report.to_frame(overall=False)["group"]) == ["a", "b", "c"]


# ------------------------------------------------------------------------ bootstrap

_rng = np.random.default_rng(7)
_BOOT_GROUPS = np.repeat(["x", "y", "z"], 100)
_BOOT_TRUE = _rng.integers(0, 2, 300)
# Group x over-predicts positives, so that DPD and EOD sit well away from zero.
_BOOT_PRED = np.where(_rng.random(300) < 0.8, _BOOT_TRUE, 1 - _BOOT_TRUE)
_BOOT_PRED[:100] |= (_rng.random(100) < 0.5).astype(_BOOT_PRED.dtype)


@pytest.fixture(scope="module")
def boot_report() -> FairnessReport:
    return fairness_report(
        _BOOT_TRUE, _BOOT_PRED, sensitive_features=_BOOT_GROUPS, n_boot=25, random_state=3
    )


def test_bootstrap_intervals_bracket_the_point_estimates(boot_report):
    assert boot_report.n_boot == 25 and boot_report.ci_level == 0.95
    for name in ("accuracy", "dpd", "eod"):
        lo, hi = boot_report.ci[name]
        assert lo <= getattr(boot_report, name) <= hi, name
    table = boot_report.by_group
    for metric in CI_METRICS:
        assert (table[f"{metric}_lo"] <= table[metric]).all(), metric
        assert (table[metric] <= table[f"{metric}_hi"]).all(), metric
    flat = boot_report.to_dict()
    assert flat["ci.eod.hi"] == pytest.approx(boot_report.ci["eod"][1])


def test_intervals_are_deterministic_and_closed_form(boot_report):
    again = fairness_report(
        _BOOT_TRUE, _BOOT_PRED, sensitive_features=_BOOT_GROUPS, n_boot=25, random_state=3
    )
    assert again.to_dict() == boot_report.to_dict()
    other = fairness_report(
        _BOOT_TRUE, _BOOT_PRED, sensitive_features=_BOOT_GROUPS, n_boot=25, random_state=4
    )
    # the intervals are the core's closed-form ones: no resampling noise in them
    assert other.ci == boot_report.ci
    assert other.dpd == boot_report.dpd


def test_no_intervals_without_bootstrap(report):
    assert report.ci == {} and report.n_boot == 0
    assert not any(col.endswith(("_lo", "_hi")) for col in report.by_group.columns)
