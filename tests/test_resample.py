"""The one resampler: stratified by group × label, scored from pattern count tables equal to
fairlearn on the resampled rows, and a paired difference that covers at about its level."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from taskfair.metrics import CountTable, paired_intervals, table_metrics
from taskfair.metrics._resampler import draw_strata, pattern_tables

_rng = np.random.default_rng(11)
N = 240
Y = _rng.integers(0, 2, N)
# a small group and ungrouped rows
G = _rng.choice(np.array(["a", "b", "c", None], dtype=object), N, p=[0.5, 0.3, 0.05, 0.15])
P = np.where(_rng.random(N) < 0.7, Y, 1 - Y)
Q = np.where(_rng.random(N) < 0.1, 1 - P, P)


def _fairlearn(y, p, g):
    has = np.array([x is not None for x in g])
    gg = g[has].astype(str)
    return {
        "accuracy": float((y == p).mean()),
        "dpd": demographic_parity_difference(y[has], p[has], sensitive_features=gg),
        "eod": equalized_odds_difference(y[has], p[has], sensitive_features=gg),
    }


def test_pattern_tables_score_resampled_rows_as_fairlearn_does():
    table = CountTable(Y, G)
    stacked = np.stack([P, Q])
    bits, inverse = np.unique(stacked.T, axis=0, return_inverse=True)
    rng = np.random.default_rng(3)
    for _ in range(4):
        # a stratified resample of rows, drawn row by row
        idx = np.concatenate(
            [rng.choice(np.flatnonzero(table.stratum == s), (table.stratum == s).sum())
             for s in np.unique(table.stratum)]
        )  # fmt: skip
        counts = np.zeros((2 * (table.k + 1), len(bits)))
        np.add.at(counts, (table.stratum[idx], inverse.ravel()[idx]), 1.0)
        got = table_metrics(pattern_tables(counts, bits, table.k))
        for j, p in enumerate((P, Q)):
            want = _fairlearn(Y[idx], p[idx], G[idx])
            for m in ("accuracy", "dpd", "eod"):
                assert got[m][j] == pytest.approx(want[m], abs=1e-12), m


def test_every_stratum_keeps_its_size():
    counts = np.array([[[3.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]])
    drawn = draw_strata(counts, 50, np.random.default_rng(0))
    assert drawn.shape == (50, 1, 3, 3)
    assert np.array_equal(drawn.sum(-1), np.broadcast_to(counts.sum(-1), (50, 1, 3)))
    assert (drawn[..., 0, 1] == 0).all()  # a pattern absent from a stratum stays absent


def test_the_paired_accuracy_difference_covers_the_truth_at_about_its_level():
    """Two classifiers with known accuracies 0.80 and 0.75 on fresh data each time: the
    95% interval of the accuracy difference covers 0.05 in about 95% of 120 draws."""
    rng = np.random.default_rng(11)
    covered = 0
    for rep in range(120):
        y = rng.integers(0, 2, 400)
        g = rng.choice(np.array(["a", "b"], dtype=object), 400)
        a = np.where(rng.random(400) < 0.80, y, 1 - y)
        b = np.where(rng.random(400) < 0.75, y, 1 - y)
        d = paired_intervals(y, a, b, sensitive_features=g, n_boot=50, random_state=rep)
        covered += d["accuracy"].lo <= 0.05 <= d["accuracy"].hi
    assert 0.88 <= covered / 120 <= 0.995, covered
