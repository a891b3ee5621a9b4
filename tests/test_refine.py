"""Adaptive refinement on synthetic curves: where it evaluates next, when it stops, and
that the page's plan keeps the user's point first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskfair.bench.phases import held_out
from taskfair.grid import LAMBDA_GRID
from taskfair.metrics import PreviewScorer
from taskfair.sweep import InterpolationPreview, measure_error
from taskfair.sweep.refine import (
    PREVIEW_TARGET,
    disagreement,
    propose_lambda,
    refine_order,
    target_met,
)

_rng = np.random.default_rng(3)
N = 400
LABELS = _rng.integers(0, 2, N)
GROUPS = pd.Series(_rng.choice(["a", "b"], N))
# Each row's margin is a smooth function of λ that crosses 0 once, at its own λ*; rows
# of group b cross between 0.3 and 0.4 (a region of fast change), the rest are spread.
CROSS = np.where(GROUPS == "b", _rng.uniform(0.3, 0.4, N), _rng.uniform(-1.0, 2.0, N))


def logits(lam: float) -> np.ndarray:
    margin = np.tanh(8 * (lam - CROSS)) * np.where(LABELS == 1, 1.0, -1.0)
    return np.stack([-margin, margin], axis=1).astype(np.float32)


SCORER = PreviewScorer(LABELS, GROUPS)


def test_identical_neighbours_need_no_refinement():
    exact = {0.0: logits(0.0), 1.0: logits(0.0)}
    assert disagreement(SCORER, exact[0.0], exact[1.0])["score"] == 0.0
    assert propose_lambda(exact, SCORER) is None


def test_the_next_lambda_is_the_middle_of_the_worst_interval():
    exact = {x: logits(x) for x in (0.0, 0.2, 0.6, 1.0)}
    scores = {
        (a, b): disagreement(SCORER, exact[a], exact[b])["score"]
        for a, b in [(0.0, 0.2), (0.2, 0.6), (0.6, 1.0)]
    }
    worst = max(scores, key=scores.get)
    assert worst == (0.2, 0.6)  # group b's rows all flip there
    assert propose_lambda(exact, SCORER) == pytest.approx(0.4)


def test_refinement_reaches_the_target_at_held_out_points():
    grid = list(LAMBDA_GRID)
    anchors = {x: logits(x) for x in grid}
    held = held_out(grid, quick=False)
    assert not set(held) & set(grid)
    truth = {x: logits(x) for x in held}
    before = measure_error(InterpolationPreview(anchors).logits, truth.get, held, LABELS, GROUPS)
    added = []
    while (lam := propose_lambda(anchors, SCORER)) is not None:
        assert lam not in truth  # held-out points are never anchors
        anchors[lam] = logits(lam)
        added.append(lam)
        assert len(added) < 200, "refinement must stop (minimum width)"
    after = measure_error(InterpolationPreview(anchors).logits, truth.get, held, LABELS, GROUPS)
    assert added, "the synthetic curve should need refinement"
    assert max(after["d_dpd"], after["d_eod"]) <= max(before["d_dpd"], before["d_eod"])
    assert target_met(after), after
    # every interval left is within the target or too narrow to split
    xs = sorted(anchors)
    for a, b in zip(xs, xs[1:], strict=False):
        d = disagreement(SCORER, anchors[a], anchors[b])["score"]
        assert d <= PREVIEW_TARGET + 1e-9 or b - a <= 0.1 / 16 + 1e-12


def test_refine_order_puts_the_worst_interval_first_and_its_middle_first():
    scores = {(0.0, 0.3): 0.01, (0.3, 0.6): 0.20, (0.6, 1.0): 0.05}
    cands = [(x, f"s{x}") for x in (0.1, 0.2, 0.4, 0.5, 0.7, 0.8, 0.9)]
    order = [x for x, _ in refine_order(cands, scores)]
    assert order[:2] == [0.4, 0.5]  # inside (0.3, 0.6), nearer its middle first
    assert order[2] == 0.8  # then the middle of (0.6, 1.0)
    assert order[-2:] == [0.1, 0.2]


def test_target_met_needs_both_numbers():
    assert target_met({"d_dpd": 0.005, "d_eod": 0.01})
    assert not target_met({"d_dpd": 0.005, "d_eod": 0.02})
    assert not target_met({"d_dpd": float("nan"), "d_eod": 0.0})
