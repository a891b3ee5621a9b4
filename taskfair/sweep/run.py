"""Sweeps: grids of settings evaluated exactly (cached), and the previews' measured error.

:func:`sweep_bundle` is the entry point of the CLI (``python -m taskfair sweep``) and of
the viewer export: when every point is cached nothing is loaded, otherwise an
:class:`~taskfair.sweep.Evaluator` evaluates the missing points through a
:class:`~taskfair.sweep.PointStore`, the one place points are evaluated and stored.
:func:`interpolation_error` and :func:`first_order_error` measure the previews against
exact evaluation at held-out points and store the result with the cache.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.bundle import Bundle
from taskfair.data import EVAL_SPLITS
from taskfair.errors import USER_ERRORS, ConfigError
from taskfair.grid import INJECTION_GRID, LAMBDA_GRID
from taskfair.io import atomic_path
from taskfair.merge import NORMALIZATIONS, curve_methods
from taskfair.metrics import OVERALL
from taskfair.progress import Progress, tqdm_progress
from taskfair.sweep.cache import SweepCache
from taskfair.sweep.evaluator import Evaluator
from taskfair.sweep.keys import digest
from taskfair.sweep.preview import FirstOrderPreview, InterpolationPreview
from taskfair.sweep.preview_error import leave_one_out_error, measure_error
from taskfair.sweep.settings import (
    Setting,
    injection_settings,
    reference_settings,
    round_lam,
    settings_for,
    task_addition_settings,
)
from taskfair.sweep.store import PointStore

__all__ = [
    "configure",
    "curve_preview",
    "first_order_error",
    "interpolation_error",
    "parse_params",
    "reference_points",
    "run",
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


def _bundle_settings(bundle, method, normalize, lams, seed, params=None) -> list[Setting]:
    names = bundle.vector_names(seed)
    groups = [g for g in bundle.groups if g in names]
    methods = ["task_addition", "injection", "references"] if method == "all" else [method]
    out: list[Setting] = []
    for m in methods:
        if m == "injection" and "fft" not in names:
            raise ValueError("Injection needs the bundle's fft vector, which it lacks.")
        out += settings_for(m, groups, lams, normalize, names, params if m == method else None)
    return out


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
    settings = _bundle_settings(bundle, method, normalize, lams, seed, params)
    if references and method not in ("references", "all"):
        settings += reference_settings(bundle.vector_names(seed))
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


# ----------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. models/demo")
    parser.add_argument(
        "--method",
        default="all",
        choices=[
            *(m.name for m in curve_methods()),
            "injection",
            "per_vector",
            "references",
            "all",
        ],
        help="which sweep (default: all = task addition, injection and references)",
    )
    parser.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a parameter of the method, repeatable (e.g. --method ties --param k=20)",
    )
    parser.add_argument("--normalize", default="sum", choices=list(NORMALIZATIONS))
    parser.add_argument("--lams", default=None, help="comma-separated λ values (default: grid.py)")
    parser.add_argument("--splits", default="val,test", help="comma-separated (default: val,test)")
    parser.add_argument("--seed", default=None, help="vector seed, or 'all' (default: first)")
    parser.add_argument("--device", default=None, help="cpu | cuda | mps (default: auto)")
    parser.add_argument("--dtype", default=None, help="float32 (default) | bf16 | fp16 (GPU)")
    parser.add_argument(
        "--preview-error",
        action="store_true",
        help="also measure the interpolation preview's error on val (midpoints)",
    )
    parser.add_argument("--out", default=None, help="also write the frame to this .parquet/.csv")


def _lams(text: str | None) -> list[float] | None:
    """``--lams``: comma-separated finite numbers."""
    if text is None:
        return None
    out = []
    for part in (x.strip() for x in text.split(",")):
        try:
            value = float(part) if part else None
        except ValueError:
            value = math.nan
        if value is not None and not math.isfinite(value):
            raise ConfigError(
                f"--lams: {part!r} is not a finite number. Give comma-separated numbers, "
                "e.g. --lams 0,0.25,0.5."
            )
        if value is not None:
            out.append(value)
    return out


def _seeds(text: str | None, bundle: Bundle) -> list[int | None]:
    """``--seed``: one of the bundle's seeds, or ``all``."""
    if text is None:
        return [None]
    if text == "all":
        return list(bundle.seeds)
    if not text.strip().isdigit() or int(text) not in bundle.seeds:
        raise ConfigError(
            f"--seed {text!r}: this bundle's seeds are {bundle.seeds}. Give one of them, or all."
        )
    return [int(text)]


def run(args) -> int:
    bundle = Bundle.open(args.bundle)
    lams = _lams(args.lams)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits or any(s not in EVAL_SPLITS for s in splits):
        raise ConfigError(
            f"--splits {args.splits!r}: give a comma-separated subset of {list(EVAL_SPLITS)}."
        )
    params = parse_params(getattr(args, "param", None))
    if params and args.method not in [m.name for m in curve_methods()]:
        raise ConfigError(f"--param applies to a curve method, not to --method {args.method}.")
    try:
        if params:
            settings_for(args.method, bundle.groups, [0.0], args.normalize, (), params)
    except ValueError as exc:  # an unknown parameter or a value out of range
        if isinstance(exc, USER_ERRORS):
            raise
        raise ConfigError(f"{exc} (from --param)") from None
    seeds = _seeds(args.seed, bundle)
    frames = []
    for seed in seeds:
        want_error = args.preview_error and args.method in ("task_addition", "all")
        # The error needs exact midpoints: load the model once for both.
        evaluator = (
            Evaluator.from_bundle(bundle, seed=seed, device=args.device, dtype=args.dtype)
            if want_error
            else None
        )
        frame = sweep_bundle(
            bundle,
            args.method,
            args.normalize,
            lams,
            splits,
            seed,
            tqdm_progress(f"sweep {bundle.name}"),
            evaluator=evaluator,
            device=args.device,
            dtype=args.dtype,
            params=params,
        )
        frames.append(frame)
        if want_error:
            err = interpolation_error(
                evaluator,
                "task_addition",
                args.normalize,
                lams,
                "val",
                cache=SweepCache(bundle.sweeps_dir),
            )
            print(
                f"interpolation preview on val, midpoints: agreement {err['agreement']:.4f} "
                f"(min {err['agreement_min']:.4f}), max |Δaccuracy| {err['d_accuracy']:.4f}, "
                f"max |ΔDPD| {err['d_dpd']:.4f}, max |ΔEOD| {err['d_eod']:.4f}"
            )
    frame = pd.concat(frames, ignore_index=True)
    overall = frame[frame["group"] == OVERALL]
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(
            overall[
                [
                    "method",
                    "lam",
                    "normalize",
                    "split",
                    "seed",
                    "accuracy",
                    "worst_group_accuracy",
                    "dpd",
                    "eod",
                ]
            ].to_string(index=False)
        )
    for note in frame.attrs.get("warnings", []):
        print(f"note: {note}")
    if args.out:
        out = Path(args.out)
        with atomic_path(out) as tmp:
            (
                frame.to_csv(tmp, index=False)
                if out.suffix == ".csv"
                else frame.to_parquet(tmp, index=False)
            )
        print(f"wrote {len(frame)} rows to {out}")
    print(f"cache: {bundle.sweeps_dir}")
    return 0
