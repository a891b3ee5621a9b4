"""Group fairness metrics for binary classifiers, as thin wrappers over fairlearn.

Public names: :func:`fairness_report` → :class:`FairnessReport` (rates per group, DPD,
EOD, group-vs-rest disparities, optional bootstrap CIs, the degeneracy flag),
:func:`group_vs_rest`, :class:`PreviewScorer` (the same numbers from a count table, for
previews), :func:`degeneracy` / :func:`mark_degenerate` (constant predictors),
:func:`reference_predictions` (constant and oracle predictors), the count-table bootstrap
(:func:`bootstrap_bands`, :func:`paired_difference`, :func:`seed_mean_bands`) and the
constants below. Private modules: ``_report`` (point estimates), ``_bootstrap`` (CIs),
``_fast`` (the preview scorer), ``_inputs`` (coercion of labels and groups),
``_degenerate``, ``_references``, ``_resample``, ``_intersections`` (two attributes read
as one: :func:`intersection_labels`, :func:`worst_cell`).
"""

from taskfair.metrics._binomial import sidak_level
from taskfair.metrics._counts import CountTable, table_metrics
from taskfair.metrics._degenerate import (
    DEGENERATE_HIGH,
    DEGENERATE_LOW,
    Degeneracy,
    degeneracy,
    mark_degenerate,
)
from taskfair.metrics._fast import PreviewScorer, preview_report
from taskfair.metrics._groups import MIN_CLASS_ROWS, GroupInfo, NoiseFloor, group_info, noise_floor
from taskfair.metrics._intersections import (
    SEPARATOR,
    SMALL_CELL_ROWS,
    intersection_labels,
    worst_cell,
)
from taskfair.metrics._intervals import (
    GROUP_RATES,
    LEVEL_METRICS,
    Interval,
    fairness_intervals,
    paired_intervals,
    vs_rest_intervals,
)
from taskfair.metrics._records import (
    BAND_METRICS,
    GROUP_BAND_METRICS,
    N_BOOT,
    bootstrap_bands,
    interval_bands,
)
from taskfair.metrics._references import (
    REFERENCE_LABELS,
    REFERENCE_PREDICTORS,
    reference_predictions,
)
from taskfair.metrics._report import (
    CI_METRICS,
    OVERALL,
    REPORT_COLUMNS,
    FairnessReport,
    FairnessWarning,
    fairness_report,
    group_vs_rest,
    overall_rows,
)
from taskfair.metrics._resampler import Replicates, bootstrap_replicates, simultaneous_band

__all__ = [
    "simultaneous_band",
    "table_metrics",
    "sidak_level",
    "paired_intervals",
    "vs_rest_intervals",
    "noise_floor",
    "group_info",
    "fairness_intervals",
    "interval_bands",
    "bootstrap_replicates",
    "Replicates",
    "NoiseFloor",
    "MIN_CLASS_ROWS",
    "LEVEL_METRICS",
    "Interval",
    "GroupInfo",
    "GROUP_RATES",
    "CountTable",
    "BAND_METRICS",
    "CI_METRICS",
    "DEGENERATE_HIGH",
    "DEGENERATE_LOW",
    "Degeneracy",
    "GROUP_BAND_METRICS",
    "N_BOOT",
    "OVERALL",
    "REFERENCE_LABELS",
    "REFERENCE_PREDICTORS",
    "REPORT_COLUMNS",
    "SEPARATOR",
    "SMALL_CELL_ROWS",
    "FairnessReport",
    "FairnessWarning",
    "PreviewScorer",
    "bootstrap_bands",
    "degeneracy",
    "fairness_report",
    "group_vs_rest",
    "intersection_labels",
    "mark_degenerate",
    "overall_rows",
    "preview_report",
    "reference_predictions",
    "worst_cell",
]
