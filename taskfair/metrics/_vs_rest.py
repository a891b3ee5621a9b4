"""One group against all other grouped rows (g vs not-g), via fairlearn."""

from __future__ import annotations

import math
import warnings

import numpy as np
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from taskfair.metrics._inputs import as_groups, as_labels, quiet
from taskfair.metrics._report_type import FairnessWarning

__all__ = ["group_vs_rest"]


def group_vs_rest(y_true, y_pred, sensitive_features, group) -> tuple[float, float]:
    """``(dpd, eod)`` of ``group`` against all other grouped rows (g vs not-g).

    fairlearn's ``demographic_parity_difference`` and ``equalized_odds_difference`` on a
    binary in-group feature, over the rows that have a group. NaN (with a
    :class:`FairnessWarning`) when either side is empty, and an EOD of NaN when either
    side lacks positives or negatives.
    """
    y, yhat = as_labels(y_true, "y_true"), as_labels(y_pred, "y_pred")
    if len(y) != len(yhat):
        raise ValueError(f"y_true has {len(y)} rows but y_pred has {len(yhat)}")
    codes, names = as_groups(sensitive_features, len(y))
    rows = codes >= 0
    member = np.zeros(len(y), dtype=bool)
    for k, name in enumerate(names):
        if name == group:
            member = codes == k
    y, yhat, member = y[rows], yhat[rows], member[rows]
    inside, outside = member, ~member
    if not inside.any() or not outside.any():
        side = f"group {group!r}" if not inside.any() else "the rest"
        warnings.warn(f"{side} has no rows: DPD and EOD vs rest are NaN", FairnessWarning, 2)
        return math.nan, math.nan
    with quiet():
        dpd = float(demographic_parity_difference(y, yhat, sensitive_features=member))
        one_class = [
            side
            for side, mask in ((f"group {group!r}", inside), ("the rest", outside))
            if y[mask].all() or not y[mask].any()
        ]
        if one_class:
            eod = math.nan
        else:
            eod = float(equalized_odds_difference(y, yhat, sensitive_features=member))
    if one_class:
        warnings.warn(
            f"{' and '.join(one_class)} lack positives or negatives: EOD vs rest is NaN",
            FairnessWarning,
            2,
        )
    return dpd, eod
