"""Group fairness metrics for binary classifiers, and the one inference core for them.

Point estimates are fairlearn's (:func:`fairness_report` → :class:`FairnessReport`,
:func:`group_vs_rest`; :class:`PreviewScorer` gives the same numbers from the count
table for previews). Uncertainty comes from one core (docs/STATISTICS.md):
:func:`fairness_intervals` and :func:`paired_intervals` → :class:`Interval` per reading,
:func:`vs_rest_intervals`, :func:`bootstrap_replicates` (the one resampler, stratified by
group × label, seeds resampled too; the same resamples for every predictor) and
:func:`simultaneous_band` (max-t over many looks), :func:`sidak_level`; each group's
:class:`GroupInfo` (:func:`group_info`: size, MDD, "too small for a finding") and the
:class:`NoiseFloor` of DPD / EOD (:func:`noise_floor`); :func:`interval_bands` (the JSON
record stored beside a point; ``bootstrap_bands`` is its earlier name). One degeneracy
rule: :func:`degeneracy` / :func:`mark_degenerate`. Also :func:`reference_predictions`
(constant and oracle predictors), :func:`intersection_labels` / :func:`worst_cell` (two
attributes read as one), :class:`CountTable` / :func:`table_metrics` (the count table).

Private modules: ``_counts`` (the count table), ``_resampler``, ``_binomial`` (Wilson,
Newcombe, Agresti–Min, Šidák), ``_projection`` (DPD/EOD intervals), ``_intervals``,
``_groups``, ``_records``, ``_report``, ``_fast``, ``_inputs``, ``_degenerate``,
``_references``, ``_intersections``. Nothing here imports from the rest of taskfair.
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
from taskfair.metrics._ranking import (
    RANKING_METRICS,
    group_ranking,
    positive_scores,
    ranking_intervals,
    row_weights,
    weighted_auc,
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
    "RANKING_METRICS",
    "group_ranking",
    "positive_scores",
    "ranking_intervals",
    "row_weights",
    "weighted_auc",
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
