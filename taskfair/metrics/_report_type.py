"""The result type of :func:`~taskfair.metrics.fairness_report`: :class:`FairnessReport`,
its column names, the warning class and the whole-data rows of its tidy frame."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from taskfair.metrics._inputs import json_float

__all__ = [
    "CI_METRICS",
    "OVERALL",
    "REPORT_COLUMNS",
    "FairnessReport",
    "FairnessWarning",
    "overall_rows",
]

#: Per-group metrics that get ``<metric>_lo`` / ``<metric>_hi`` columns with intervals.
CI_METRICS: tuple[str, ...] = ("accuracy", "selection_rate", "tpr", "fpr")

#: Per-group columns of :attr:`FairnessReport.by_group`, in order.
REPORT_COLUMNS: tuple[str, ...] = (
    "n",
    "n_pos",
    "n_neg",
    "accuracy",
    "selection_rate",
    "tpr",
    "fpr",
    "vs_rest_dpd",
    "vs_rest_eod",
)
#: The ``group`` value of the whole-data row in :meth:`FairnessReport.to_frame`.
OVERALL = "__overall__"


class FairnessWarning(UserWarning):
    """A fairness metric is undefined or unreliable (missing, tiny or one-class groups)."""


@dataclass(frozen=True, eq=False)
class FairnessReport:
    """Fairness of one set of binary predictions with respect to one sensitive attribute.

    Attributes
    ----------
    accuracy : float
        Accuracy over all ``n`` rows, grouped or not.
    macro_accuracy, worst_group_accuracy : float
        Mean and minimum of the group accuracies (groups with at least one row).
    dpd : float
        Demographic parity difference, max - min selection rate over the groups; NaN with
        fewer than two groups.
    eod : float
        Equalized odds difference (worst case of the TPR gap and the FPR gap); NaN with
        fewer than two groups or when any group lacks positives or negatives.
    by_group : pandas.DataFrame
        Indexed by group name (index name ``"group"``), columns :data:`REPORT_COLUMNS`,
        plus ``<m>_lo`` / ``<m>_hi`` for ``m`` in :data:`CI_METRICS` when bootstrapped.
        ``vs_rest_*`` compare the group with all other grouped rows (g vs not-g).
    n, n_grouped : int
        Rows in total, and rows that belong to a group.
    warnings : tuple[str, ...]
        Human-readable reasons why a number is NaN or fragile.
    ci : Mapping[str, tuple[float, float]]
        ``{"accuracy": (lo, hi), "dpd": (lo, hi), "eod": (lo, hi)}`` when bootstrapped,
        else empty.
    n_boot : int
        Bootstrap resamples behind ``ci`` (0: none).
    ci_level : float
        Central coverage of the intervals, e.g. 0.95.
    n_pos, n_neg : int or None
        Positives and negatives (``y_true``) over all ``n`` rows; None if unknown.
    degenerate : bool
        The predictions are (nearly) constant overall or in some group (selection rate
        at most :data:`~taskfair.metrics.DEGENERATE_LOW` or at least
        :data:`~taskfair.metrics.DEGENERATE_HIGH`): DPD and EOD near 0 are then no
        evidence of fairness.
    degenerate_note : str
        Why, in words ("predicts 'toxic' for 100% of rows: ..."); empty when not.

    Equality is identity (``eq=False``): the ``by_group`` frame has no useful ``==``.
    """

    accuracy: float
    macro_accuracy: float
    worst_group_accuracy: float
    dpd: float
    eod: float
    by_group: pd.DataFrame
    n: int
    n_grouped: int
    warnings: tuple[str, ...] = ()
    ci: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    n_boot: int = 0
    ci_level: float = 0.95
    n_pos: int | None = None
    n_neg: int | None = None
    degenerate: bool = False
    degenerate_note: str = ""

    @property
    def groups(self) -> tuple[Any, ...]:
        """Group names, in ``by_group`` order."""
        return tuple(self.by_group.index)

    def to_dict(self) -> dict[str, Any]:
        """A flat, JSON-able dict: scalars, ``ci.<metric>.lo|hi`` and ``group.<name>.<col>``.

        NaN becomes ``None`` so that ``json.dumps(..., allow_nan=False)`` succeeds.
        """
        out: dict[str, Any] = {
            "n": int(self.n),
            "n_grouped": int(self.n_grouped),
            "accuracy": json_float(self.accuracy),
            "macro_accuracy": json_float(self.macro_accuracy),
            "worst_group_accuracy": json_float(self.worst_group_accuracy),
            "dpd": json_float(self.dpd),
            "eod": json_float(self.eod),
            "n_boot": int(self.n_boot),
            "ci_level": float(self.ci_level),
            "n_pos": None if self.n_pos is None else int(self.n_pos),
            "n_neg": None if self.n_neg is None else int(self.n_neg),
            "warnings": list(self.warnings),
            "degenerate": bool(self.degenerate),
            "degenerate_note": self.degenerate_note,
        }
        for metric, (lo, hi) in self.ci.items():
            out[f"ci.{metric}.lo"] = json_float(lo)
            out[f"ci.{metric}.hi"] = json_float(hi)
        for name, row in self.by_group.iterrows():
            for col, value in row.items():
                key = f"group.{name}.{col}"
                out[key] = int(value) if col in ("n", "n_pos", "n_neg") else json_float(value)
        return out

    def to_frame(self, overall: bool = True) -> pd.DataFrame:
        """A tidy frame, one row per group (column ``group``) and the report-level scalars.

        With ``overall=True`` a first row ``group == OVERALL`` holds the whole-data
        accuracy (and its CI), ``n``, ``n_pos`` and ``n_neg``; its per-group-only columns
        are NaN. ``macro_accuracy``, ``worst_group_accuracy``, ``dpd`` and ``eod`` are
        repeated on every row so that any filtered slice still carries them.
        """
        frame = self.by_group.reset_index()
        if overall:
            row: dict[str, Any] = {"group": OVERALL, "n": self.n, "accuracy": self.accuracy}
            # Like n and accuracy, the overall label counts include ungrouped rows; a
            # report built by hand without them falls back to the grouped rows.
            grouped = self.by_group[["n_pos", "n_neg"]].sum()
            row["n_pos"] = self.n_pos if self.n_pos is not None else int(grouped["n_pos"])
            row["n_neg"] = self.n_neg if self.n_neg is not None else int(grouped["n_neg"])
            if "accuracy" in self.ci:
                row["accuracy_lo"], row["accuracy_hi"] = self.ci["accuracy"]
            frame = pd.concat([pd.DataFrame([row]), frame], ignore_index=True)
            frame = frame[["group", *self.by_group.columns]]
        for name in ("macro_accuracy", "worst_group_accuracy", "dpd", "eod"):
            frame[name] = float(getattr(self, name))
        for col in ("n", "n_pos", "n_neg"):
            frame[col] = frame[col].astype("int64")
        return frame


def overall_rows(frame: pd.DataFrame | None) -> pd.DataFrame:
    """The whole-data rows (``group == OVERALL``) of a tidy frame: one per point.

    None or an empty frame gives an empty frame (with the columns, if any).
    """
    if frame is None or frame.empty:
        return pd.DataFrame(columns=[] if frame is None else frame.columns)
    return frame[frame["group"] == OVERALL]
