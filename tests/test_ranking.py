"""Threshold-free and calibration metrics per group, checked against sklearn by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from taskfair.metrics import (
    RANKING_METRICS,
    group_ranking,
    positive_scores,
    ranking_intervals,
    row_weights,
    weighted_auc,
)


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    groups = np.array(rng.choice(["a", "b", "c", None], n), dtype=object)
    # Scores that rank well in "a", badly in "b", with ties (rounded to 0.05).
    s = np.clip(
        0.5 + (2 * y - 1) * np.where(groups == "b", -0.1, 0.25) + rng.normal(0, 0.2, n), 0, 1
    )
    return y, groups, np.round(s * 20) / 20


def test_auc_matches_sklearn_with_ties_and_weights():
    y, _, s = _data()
    w = np.random.default_rng(1).integers(0, 4, len(y)).astype(float)
    got = weighted_auc(s, y, np.stack([np.ones(len(y)), w]))
    assert got[0] == pytest.approx(roc_auc_score(y, s))
    assert got[1] == pytest.approx(roc_auc_score(y, s, sample_weight=w))
    assert np.isnan(weighted_auc(s, np.ones(len(y)), np.ones((1, len(y))))[0])


def test_subgroup_bpsn_bnsp_auc_ece_and_brier_by_hand():
    y, groups, s = _data()
    table = group_ranking(y, s, groups).set_index("group")
    assert list(table.index) == ["a", "b", "c"]
    for g in table.index:
        inside = groups == g
        assert table.at[g, "subgroup_auc"] == pytest.approx(roc_auc_score(y[inside], s[inside]))
        # Borkan et al.: background = every row outside the group, ungrouped rows included.
        bpsn = (inside & (y == 0)) | (~inside & (y == 1))
        bnsp = (inside & (y == 1)) | (~inside & (y == 0))
        assert table.at[g, "bpsn_auc"] == pytest.approx(roc_auc_score(y[bpsn], s[bpsn]))
        assert table.at[g, "bnsp_auc"] == pytest.approx(roc_auc_score(y[bnsp], s[bnsp]))
        assert table.at[g, "brier"] == pytest.approx(brier_score_loss(y[inside], s[inside]))
        assert table.at[g, "n"] == inside.sum()
        # ECE by hand: 10 equal-width bins of the predicted class's probability.
        p, yy = s[inside], y[inside]
        pred = (p >= 0.5).astype(int)
        conf = np.where(pred == 1, p, 1 - p)
        bins = np.minimum(((conf - 0.5) * 20).astype(int), 9)
        ece = sum(
            abs((pred[bins == b] == yy[bins == b]).mean() - conf[bins == b].mean())
            * (bins == b).mean()
            for b in range(10)
            if (bins == b).any()
        )
        assert table.at[g, "ece"] == pytest.approx(ece)
    # "b"'s scores are reversed: its subgroup AUC is below 0.5, "a"'s well above.
    assert table.at["b", "subgroup_auc"] < 0.5 < table.at["a", "subgroup_auc"]


def test_intervals_cover_the_estimate_and_resample_by_stratum():
    y, groups, s = _data()
    frame = ranking_intervals(y, s, groups, n_boot=100, random_state=3)
    for m in RANKING_METRICS:
        assert (frame[f"{m}_lo"] <= frame[m] + 0.05).all() and (
            frame[m] <= frame[f"{m}_hi"] + 0.05
        ).all()
        assert (frame[f"{m}_hi"] > frame[f"{m}_lo"]).all()
    w = row_weights(y, groups, 20, random_state=0)
    g = pd.Series(groups).fillna("none").to_numpy()
    for key in {(a, b) for a, b in zip(g, y, strict=True)}:
        rows = (g == key[0]) & (y == key[1])
        np.testing.assert_array_equal(w[:, rows].sum(axis=1), rows.sum())


def test_scores_and_bad_input():
    z = np.array([[0.0, 0.0], [0.0, 2.0], [1.0, -1.0]])
    np.testing.assert_allclose(positive_scores(z), [0.5, 1 / (1 + np.exp(-2)), 1 / (1 + np.exp(2))])
    with pytest.raises(ValueError, match="probabilities"):
        group_ranking([0, 1, 1], [0.2, 1.5, 0.3], ["a", "a", "b"])
    with pytest.raises(ValueError, match="one value per row"):
        group_ranking([0, 1, 1], [0.2, 0.3], ["a", "a", "b"])


def test_tidy_rows_carry_the_ranking_columns_and_old_rows_derive_them():
    from taskfair.sweep import task_addition_settings
    from taskfair.sweep.rows import RANKING_COLUMNS, tidy_rows, with_ranking

    y, groups, s = _data()
    z = np.stack([np.zeros(len(s)), np.log(np.clip(s, 1e-6, 1) / np.clip(1 - s, 1e-6, 1))], axis=1)
    setting = task_addition_settings(["a"], [0.5], "sum")[0]
    rows, _ = tidy_rows(setting, "test", 0, z, y, groups)
    by = rows.set_index("group")
    want = group_ranking(y, positive_scores(z), groups).set_index("group")
    for c in RANKING_COLUMNS:
        assert by[c].drop("__overall__").to_numpy() == pytest.approx(want[c].to_numpy())
        assert np.isnan(by.at["__overall__", c])
    old = rows.drop(columns=list(RANKING_COLUMNS))
    pd.testing.assert_frame_equal(with_ranking(old, z, y, groups), rows)
    assert with_ranking(rows, z, y, groups) is rows  # carried: nothing recomputed
