"""Degenerate predictors and the reference predictors, on fixed arrays.

The degeneracy rule (taskfair.metrics.DEGENERATE_LOW / DEGENERATE_HIGH) is checked on a
constant predictor, on one constant group and at the 2% border; the reference predictors'
numbers against fairlearn's own functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference
from sklearn.metrics import accuracy_score

from taskfair.metrics import (
    DEGENERATE_HIGH,
    DEGENERATE_LOW,
    OVERALL,
    PreviewScorer,
    degeneracy,
    fairness_report,
    mark_degenerate,
)
from taskfair.sweep import Setting, tidy_rows
from taskfair.sweep.rows import POINT_KEYS, reference_rows

Y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0])
G = np.array(list("aaaaaaabbbbbbbcccccc"), dtype=object)


def _both(y, p, g, label="toxic"):
    """The report from fairlearn and from the count-table scorer: the flag must agree."""
    exact = fairness_report(y, p, sensitive_features=g, positive_label=label)
    fast = PreviewScorer(y, g, positive_label=label).report_preds(np.asarray(p))
    assert (fast.degenerate, fast.degenerate_note) == (exact.degenerate, exact.degenerate_note)
    return exact


def test_thresholds_are_the_documented_two_percent():
    assert (DEGENERATE_LOW, DEGENERATE_HIGH) == (0.02, 0.98)


def test_a_constant_predictor_is_degenerate_and_says_why():
    rep = _both(Y, np.ones_like(Y), G)
    assert rep.degenerate
    assert rep.dpd == 0.0 and rep.eod == 0.0  # "fair" by construction
    assert rep.degenerate_note.startswith("predicts 'toxic' for 100% of rows")
    assert "not fairness" in rep.degenerate_note
    none = _both(Y, np.zeros_like(Y), G)
    assert none.degenerate and "for 0% of rows" in none.degenerate_note


def test_one_constant_group_is_flagged_but_counts_as_evidence_not_hidden():
    p = Y.copy()
    p[G == "b"] = 1  # group b: every prediction positive; overall rate 0.6
    rep = _both(Y, p, G)
    assert 0.02 < p.mean() < 0.98
    assert not rep.degenerate  # its disparity is a real one: not hidden
    assert "'b'" in rep.degenerate_note and "100%" in rep.degenerate_note
    assert "evidence of unfairness" in rep.degenerate_note
    assert "'a'" not in rep.degenerate_note
    assert rep.dpd > 0.5


def test_an_ordinary_predictor_is_not_degenerate():
    rep = _both(Y, Y, G)
    assert not rep.degenerate and rep.degenerate_note == ""
    assert rep.to_dict()["degenerate"] is False


@pytest.mark.parametrize(("positives", "flagged"), [(2, True), (3, False), (97, False), (98, True)])
@pytest.mark.filterwarnings("ignore:only 1 group")
def test_the_border_is_inclusive_overall(positives, flagged):
    y = np.tile([0, 1], 50)
    p = np.zeros(100, dtype=int)
    p[:positives] = 1
    g = np.array(["a"] * 100, dtype=object)  # one group: only the overall rate decides
    assert _both(y, p, g).degenerate is flagged


@pytest.mark.parametrize(("positives", "flagged"), [(1, True), (2, False)])
def test_the_border_is_inclusive_in_a_group(positives, flagged):
    """In a group the same border marks the group (kind "group"), never the predictor."""
    y = np.tile([0, 1], 100)
    p = np.tile([0, 1], 100)  # group a (first 150 rows) at 50%
    g = np.array(["a"] * 150 + ["b"] * 50, dtype=object)
    p[150:] = 0
    p[150 : 150 + positives] = 1  # group b: 1 of 50 is 2% (flagged), 2 of 50 is 4%
    rep = _both(y, p, g)
    assert not rep.degenerate and ("'b'" in rep.degenerate_note) is flagged
    rates = {"a": (0.5, 150), "b": (positives / 50, 50)}
    assert (degeneracy(float(p.mean()), rates).kind == "group") is flagged


def test_rows_carry_the_flag_and_old_rows_get_it_derived():
    setting = Setting("task_addition", 0.1, "sum", {"a": 0.1})
    logits = np.stack([np.zeros(len(Y)), np.ones(len(Y))], axis=1)  # all positive
    rows, _ = tidy_rows(setting, "test", 0, logits, Y, G, positive_label="toxic")
    assert rows["degenerate"].all()
    assert rows["degenerate_note"].str.contains("100% of rows").all()
    # a frame cached before the columns existed: the same flag, derived on read
    old = rows.drop(columns=["degenerate", "degenerate_note"])
    derived = mark_degenerate(old, POINT_KEYS, "toxic")
    pd.testing.assert_series_equal(derived["degenerate"], rows["degenerate"])
    pd.testing.assert_series_equal(derived["degenerate_note"], rows["degenerate_note"])
    assert (derived["degenerate_kind"] == "predictor").all()
    # a flag cached under an older rule is replaced by the rule, never kept
    stale = rows.assign(degenerate=False, degenerate_note="")
    assert mark_degenerate(stale, POINT_KEYS, "toxic")["degenerate"].all()
    fine, _ = tidy_rows(setting, "test", 0, np.stack([1 - Y, Y], axis=1), Y, G)
    assert not mark_degenerate(fine.drop(columns=["degenerate"]), POINT_KEYS)["degenerate"].any()


# ------------------------------------------------------------------ reference predictors


def test_reference_predictors_against_fairlearn():
    rows = reference_rows("test", Y, pd.Series(G))
    top = rows[rows["group"] == OVERALL].set_index("method")
    assert list(top.index) == ["all_positive", "all_negative", "oracle"]
    for name, preds in (
        ("all_positive", np.ones_like(Y)),
        ("all_negative", np.zeros_like(Y)),
        ("oracle", Y),
    ):
        assert top.loc[name, "accuracy"] == pytest.approx(accuracy_score(Y, preds))
        assert top.loc[name, "dpd"] == pytest.approx(
            demographic_parity_difference(Y, preds, sensitive_features=G)
        )
        assert top.loc[name, "eod"] == pytest.approx(
            equalized_odds_difference(Y, preds, sensitive_features=G)
        )
    assert top.loc["all_positive", "accuracy"] == pytest.approx(Y.mean())
    assert top.loc["all_negative", "accuracy"] == pytest.approx(1 - Y.mean())
    assert (top.loc[["all_positive", "all_negative"], ["dpd", "eod"]] == 0).all().all()
    base = pd.Series(Y).groupby(G).mean()
    assert top.loc["oracle", "dpd"] == pytest.approx(base.max() - base.min())
    assert top.loc["oracle", "eod"] == 0.0 and top.loc["oracle", "accuracy"] == 1.0
    # the constants are degenerate (flagged), the oracle is not
    assert top["degenerate"].tolist() == [True, True, False]


def test_reference_rows_count_ungrouped_rows_in_accuracy_only():
    g = pd.Series([*G[:-4], None, None, None, None])
    rows = reference_rows("val", Y, g)
    top = rows[rows["group"] == OVERALL].set_index("method")
    assert top.loc["all_positive", "accuracy"] == pytest.approx(Y.mean())  # all 20 rows
    grouped = g.notna().to_numpy()
    assert top.loc["oracle", "dpd"] == pytest.approx(
        demographic_parity_difference(Y[grouped], Y[grouped], sensitive_features=G[grouped])
    )
