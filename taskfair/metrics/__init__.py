"""Group fairness metrics for binary classifiers, as thin wrappers over fairlearn.

Public names: :func:`fairness_report` → :class:`FairnessReport` (rates per group, DPD,
EOD, group-vs-rest disparities, optional bootstrap CIs), :func:`group_vs_rest`,
:class:`PreviewScorer` (the same numbers from a count table, for previews) and the
constants below. Private modules: ``_report`` (point estimates), ``_bootstrap`` (CIs),
``_fast`` (the preview scorer), ``_inputs`` (coercion of labels and groups).
"""

from taskfair.metrics._bootstrap import CI_METRICS
from taskfair.metrics._fast import PreviewScorer, preview_report
from taskfair.metrics._report import (
    OVERALL,
    REPORT_COLUMNS,
    FairnessReport,
    FairnessWarning,
    fairness_report,
    group_vs_rest,
    overall_rows,
)

__all__ = [
    "CI_METRICS",
    "OVERALL",
    "REPORT_COLUMNS",
    "FairnessReport",
    "FairnessWarning",
    "PreviewScorer",
    "fairness_report",
    "group_vs_rest",
    "overall_rows",
    "preview_report",
]
