"""The reference predictors every curve is read against: constant and oracle.

A constant predictor (all positive or all negative) has DPD = EOD = 0 by construction at
the majority-class (or minority-class) accuracy; the label oracle (ŷ = y) has accuracy 1,
EOD 0 and a DPD equal to the gap between the groups' base rates. Where a curve's point
sits between these says what its DPD costs, and where "fair" is trivial. Their metrics
are fairlearn's, through :func:`taskfair.metrics.fairness_report` on these predictions.
"""

from __future__ import annotations

import numpy as np

from taskfair.metrics._inputs import as_labels

__all__ = ["REFERENCE_LABELS", "REFERENCE_PREDICTORS", "reference_predictions"]

#: The reference predictors' names (the ``method`` of their tidy rows), in drawing order.
REFERENCE_PREDICTORS: tuple[str, ...] = ("all_positive", "all_negative", "oracle")
#: Their display names (``{pos}`` is the positive label's name, e.g. 'toxic').
REFERENCE_LABELS: dict[str, str] = {
    "all_positive": "constant: all {pos}",
    "all_negative": "constant: none {pos}",
    "oracle": "label oracle (ŷ = y)",
}


def reference_predictions(labels) -> dict[str, np.ndarray]:
    """``{name: predictions (n,) int8}`` of :data:`REFERENCE_PREDICTORS` for 0/1 ``labels``."""
    y = as_labels(labels, "labels")
    return {
        "all_positive": np.ones(len(y), dtype=np.int8),
        "all_negative": np.zeros(len(y), dtype=np.int8),
        "oracle": y.copy(),
    }
