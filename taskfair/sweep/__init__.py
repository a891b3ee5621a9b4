"""Points, sweeps and previews: what a merge setting scores, cached, and how fast to show it.

Layers, bottom up: ``settings`` (what a point is) → ``keys`` (its content hash) →
``cache`` (points on disk) → ``rows`` (logits to tidy rows) → ``evaluator`` (merge and
evaluate exactly) → ``jvp`` / ``preview`` / ``preview_error`` (instant previews and their
measured error) → ``plan`` (what each view needs, coarse first) → ``store`` (every point
of a bundle's seed: memory, disk, evaluation; the one place points are evaluated) →
``run`` (sweeps of grids, previews' measured error). ``command`` (the ``sweep`` command,
local or on Ray) is not imported here, so :mod:`taskfair.distributed` can build on this.
"""

from taskfair.sweep.cache import SweepCache
from taskfair.sweep.evaluator import DEFAULT_TOKEN_BUDGET, Evaluator
from taskfair.sweep.keys import CACHE_VERSION, PointKeys, bundle_keys
from taskfair.sweep.plan import (
    coarse_first,
    compare_plan,
    curve_plan,
    export_plan,
    injection_plan,
    lam_points,
    page_settings,
    tradeoff_plan,
)
from taskfair.sweep.preview import FirstOrderPreview, InterpolationPreview, nearest_anchor
from taskfair.sweep.preview_error import leave_one_out_error, measure_error
from taskfair.sweep.rows import (
    COLUMNS,
    OVERALL,
    concat_rows,
    injected_rows,
    overall,
    overall_rows,
    tidy_rows,
)
from taskfair.sweep.run import (
    curve_preview,
    first_order_error,
    interpolation_error,
    reference_points,
    run_sweep,
    sweep_bundle,
)
from taskfair.sweep.settings import (
    REFERENCE_METHODS,
    Setting,
    curve_settings,
    injection_settings,
    method_mix,
    method_setting,
    mix_setting,
    per_vector_settings,
    reference_settings,
    round_lam,
    settings_for,
    task_addition_settings,
)
from taskfair.sweep.store import LOADING, PointStore, SplitRows, work

__all__ = [
    "CACHE_VERSION",
    "COLUMNS",
    "DEFAULT_TOKEN_BUDGET",
    "LOADING",
    "OVERALL",
    "REFERENCE_METHODS",
    "Evaluator",
    "FirstOrderPreview",
    "InterpolationPreview",
    "PointKeys",
    "PointStore",
    "Setting",
    "SplitRows",
    "SweepCache",
    "bundle_keys",
    "coarse_first",
    "compare_plan",
    "concat_rows",
    "curve_plan",
    "curve_preview",
    "curve_settings",
    "export_plan",
    "first_order_error",
    "injection_plan",
    "injected_rows",
    "injection_settings",
    "interpolation_error",
    "lam_points",
    "leave_one_out_error",
    "measure_error",
    "method_mix",
    "method_setting",
    "mix_setting",
    "nearest_anchor",
    "overall",
    "overall_rows",
    "page_settings",
    "per_vector_settings",
    "reference_points",
    "reference_settings",
    "round_lam",
    "run_sweep",
    "settings_for",
    "sweep_bundle",
    "task_addition_settings",
    "tidy_rows",
    "tradeoff_plan",
    "work",
]
