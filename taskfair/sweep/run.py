"""Sweeps: grids of settings evaluated exactly (cached), and the previews' measured error.

:func:`sweep_bundle` is the entry point of the CLI (``python -m taskfair sweep``) and of
the viewer export: when every point is cached nothing is loaded, otherwise an
:class:`~taskfair.sweep.Evaluator` evaluates the missing points through a
:class:`~taskfair.sweep.PointStore`, the one place points are evaluated and stored.
:func:`interpolation_error` and :func:`first_order_error` measure the previews against
exact evaluation at held-out points and store the result with the cache.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from taskfair.data import EVAL_SPLITS
from taskfair.errors import ConfigError
from taskfair.grid import INJECTION_GRID, LAMBDA_GRID
from taskfair.progress import Progress
from taskfair.sweep.cache import SweepCache
from taskfair.sweep.evaluator import Evaluator
from taskfair.sweep.keys import digest
from taskfair.sweep.preview import FirstOrderPreview, InterpolationPreview
from taskfair.sweep.preview_error import leave_one_out_error, measure_error
from taskfair.sweep.settings import (
    Setting,
    bundle_settings,
    injection_settings,
    reference_settings,
    round_lam,
    task_addition_settings,
)
from taskfair.sweep.store import PointStore

__all__ = [
    "curve_preview",
    "first_order_error",
    "interpolation_error",
    "parse_params",
    "reference_points",
    "run_sweep",
    "sweep_bundle",
]


def run_sweep(
    evaluator: Evaluator,
    settings: Iterable[Setting],
    splits: Sequence[str] = EVAL_SPLITS,
    cache: SweepCache | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Evaluate every setting on every split exactly; return the tidy frame.

    Points found in ``cache`` are read, not recomputed; every new point is written to
    it as soon as it is done, so an interrupted sweep resumes. Rows come back in the
    order of ``settings`` then ``splits``. ``frame.attrs["warnings"]`` collects the
    metrics' warnings (degenerate groups) once. (:meth:`PointStore.sweep` does the work.)
    """
    return PointStore.for_evaluator(evaluator, cache).sweep(list(settings), splits, progress)


def reference_points(
    evaluator: Evaluator,
    splits: Sequence[str] = EVAL_SPLITS,
    cache: SweepCache | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Rows of the reference points: ``base``, and ``fft`` / ``lora`` when present."""
    return run_sweep(evaluator, reference_settings(evaluator.names), splits, cache, progress)


# ----------------------------------------------------------------------------- bundles


def parse_params(items: Sequence[str] | None) -> dict[str, str]:
    """``["k=20", "seed=1"]`` (the ``--param`` options) as ``{"k": "20", "seed": "1"}``; the
    method's declared parameters check and convert the values."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--param takes NAME=VALUE (e.g. k=20), not {item!r}.")
        out[name.strip()] = value.strip()
    return out


def sweep_bundle(
    bundle,
    method: str = "task_addition",
    normalize: str = "sum",
    lams: Iterable[float] | None = None,
    splits: Sequence[str] = EVAL_SPLITS,
    seed: int | None = None,
    progress: Progress | None = None,
    *,
    references: bool = False,
    evaluator: Evaluator | None = None,
    device=None,
    dtype=None,
    token_budget: int | str | None = "auto",
    params: Mapping | None = None,
) -> pd.DataFrame:
    """Sweep a bundle, cached in ``bundle.sweeps_dir``: the entry point of CLI and dashboard.

    ``method``: a curve method of the registry (``task_addition``, ``ties``, ``dare``,
    ... with its own parameters at ``params``) | ``injection`` | ``per_vector`` |
    ``references`` | ``all`` (task addition, injection and references). ``references=True`` appends
    the fft / lora / base rows. When every point is cached, nothing is loaded: no model,
    no vector. Otherwise ``evaluator`` (or a new :meth:`Evaluator.from_bundle`) evaluates
    the missing points.
    """
    seed = bundle.seeds[0] if seed is None else int(seed)
    lams = None if lams is None else [round_lam(x) for x in lams]
    settings = bundle_settings(bundle, method, normalize, lams, seed, references, params)
    ev = evaluator

    def load() -> Evaluator:  # only when a point is missing
        nonlocal ev
        if ev is None:
            ev = Evaluator.from_bundle(
                bundle, seed=seed, device=device, dtype=dtype, token_budget=token_budget
            )
        return ev

    store = PointStore.for_bundle(bundle, seed, load, dtype=dtype, source="sweep")
    return store.sweep(settings, splits, progress)


# ----------------------------------------------------------------------------- previews


def _grid_logits(evaluator, settings, split, cache) -> list[np.ndarray]:
    """Exact logits of ``settings`` on ``split``: stored, else evaluated (and stored)."""
    store = PointStore.for_evaluator(evaluator, cache)
    out = []
    for st in settings:
        got = store.logits(st, split)
        if got is None and not store.has(st, split):
            store.evaluate(st, split)
            got = store.logits(st, split)
        if got is None:  # rows cached but their logits file damaged: evaluate again
            got = evaluator.logits(st.coeff_dict, split, st.normalize)
        out.append(got)
    return out


def _default_grid(method: str) -> tuple[float, ...]:
    return LAMBDA_GRID if method == "task_addition" else INJECTION_GRID


def _curve_settings(evaluator, method, normalize, lams, group):
    lams = _default_grid(method) if lams is None else lams
    if method == "task_addition":
        return task_addition_settings(evaluator.subgroups, lams, normalize)
    if method == "injection":
        if group is None:
            raise ValueError("An injection curve needs the injected group.")
        return injection_settings([group], lams)
    raise ValueError(f"Curves are task_addition or injection, not {method!r}.")


def curve_preview(
    evaluator: Evaluator,
    method: str = "task_addition",
    normalize: str = "sum",
    lams: Sequence[float] | None = None,
    split: str = "val",
    group: str | None = None,
    cache: SweepCache | None = None,
):
    """An :class:`~taskfair.sweep.InterpolationPreview` over a global-λ (or injection) curve.

    Its grid points are evaluated exactly (or read from ``cache``); between them the
    preview interpolates the per-example logits.
    """
    settings = _curve_settings(evaluator, method, normalize, lams, group)
    logits = _grid_logits(evaluator, settings, split, cache)
    return InterpolationPreview([s.lam for s in settings], logits)


def interpolation_error(
    evaluator: Evaluator,
    method: str = "task_addition",
    normalize: str = "sum",
    lams: Sequence[float] | None = None,
    split: str = "val",
    group: str | None = None,
    holdout: str = "midpoints",
    cache: SweepCache | None = None,
) -> dict:
    """Measured error of the interpolation preview of a curve, stored with the cache.

    ``holdout="midpoints"``: the preview from the grid against exact evaluation at the
    midpoints between adjacent grid points (costs one exact evaluation per midpoint,
    cached like any point). ``holdout="leave_one_out"``: each interior grid point is
    predicted from its two neighbours, i.e. across twice the grid spacing, and compared
    with its exact value: free (no new evaluation) and pessimistic. Returns
    :func:`taskfair.sweep.measure_error`'s dict plus ``scheme``, ``method``, ``split``.
    """
    lams = sorted(round_lam(x) for x in (_default_grid(method) if lams is None else lams))
    if len(lams) < 3 and holdout == "leave_one_out":
        raise ValueError("Leave-one-out needs at least 3 grid points.")
    settings = _curve_settings(evaluator, method, normalize, lams, group)
    name = None
    if cache is not None:
        name = digest(
            {
                "preview_error": 1,
                "points": [evaluator.keys.key(s, split) for s in settings],
                "holdout": holdout,
            }
        )
        stored = cache.get_json(name)
        if stored is not None:
            return stored
    grid = _grid_logits(evaluator, settings, split, cache)
    labels, groups = evaluator.labels(split), evaluator.groups(split)
    if holdout == "midpoints":
        preview = InterpolationPreview(lams, grid)
        points = [round_lam((a + b) / 2) for a, b in zip(lams[:-1], lams[1:], strict=True)]
        exact = _grid_logits(
            evaluator, _curve_settings(evaluator, method, normalize, points, group), split, cache
        )
        by_point = dict(zip(points, exact, strict=True))
        err = measure_error(preview.logits, by_point.__getitem__, points, labels, groups)
    elif holdout == "leave_one_out":
        err = leave_one_out_error(dict(zip(lams, grid, strict=True)), labels, groups)
    else:
        raise ValueError(f"Unknown holdout {holdout!r}: use midpoints or leave_one_out.")
    err.update(
        scheme=holdout,
        method=method,
        normalize=normalize,
        split=split,
        group=group,
        grid=list(lams),
    )
    if cache is not None:
        cache.put_json(name, err)
    return err


def first_order_error(
    evaluator: Evaluator,
    anchor: Mapping[str, float],
    points: Sequence[Mapping[str, float]],
    split: str = "val",
    normalize: str = "sum",
    names: Sequence[str] | None = None,
    cache: SweepCache | None = None,
) -> dict:
    """Measured error of the first-order preview around an exact ``anchor``, stored with
    the cache.

    ``anchor`` and ``points`` are per-vector coefficients as given to the merger under
    ``normalize``; the held-out ``points`` are evaluated exactly (and cached as
    ``per_vector`` points). Returns :func:`taskfair.sweep.measure_error`'s dict plus
    ``anchor``, ``setup_s`` (the anchor's evaluation and its JVPs) and ``scheme``.
    """
    anchor_setting = Setting("per_vector", None, normalize, anchor)
    held = [Setting("per_vector", None, normalize, p) for p in points]
    name = None
    if cache is not None:
        name = digest(
            {
                "first_order_error": 1,
                "anchor": evaluator.keys.key(anchor_setting, split),
                "points": [evaluator.keys.key(s, split) for s in held],
                "names": sorted(names or evaluator.names),
            }
        )
        stored = cache.get_json(name)
        if stored is not None:
            return stored
    t = time.perf_counter()
    fo = FirstOrderPreview.build(evaluator, anchor_setting.coeff_dict, split, normalize, names)
    setup = time.perf_counter() - t
    exact = dict(zip(range(len(held)), _grid_logits(evaluator, held, split, cache), strict=True))
    err = measure_error(
        lambda i: fo.logits(held[i].effective),
        exact.__getitem__,
        list(range(len(held))),
        evaluator.labels(split),
        evaluator.groups(split),
    )
    for pt in err["points"]:  # name each held-out point by its coefficients, not its index
        pt["point"] = held[pt["point"]].coeff_dict
    err.update(
        scheme="first_order",
        anchor=anchor_setting.coeff_dict,
        normalize=normalize,
        split=split,
        setup_s=setup,
    )
    if cache is not None:
        cache.put_json(name, err)
    return err
