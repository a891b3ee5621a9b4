"""``python -m taskfair sweep``: exact sweeps of one or more bundles, locally or on Ray.

``configure(parser)`` adds the options, ``run(args)`` sweeps (:func:`taskfair.sweep.sweep_bundle`,
or :func:`taskfair.distributed.sweep.ray_sweep` with ``--ray``) and prints the overall rows.
Not imported by :mod:`taskfair.sweep`, so the Ray layer may build on the sweep layer.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from taskfair.bundle import Bundle
from taskfair.data import EVAL_SPLITS
from taskfair.distributed.cluster import add_ray_options, ray_options
from taskfair.distributed.sweep import ray_sweep
from taskfair.errors import USER_ERRORS, ConfigError
from taskfair.io import atomic_path
from taskfair.merge import NORMALIZATIONS, curve_methods
from taskfair.metrics import OVERALL
from taskfair.progress import tqdm_progress
from taskfair.sweep.cache import SweepCache
from taskfair.sweep.evaluator import Evaluator
from taskfair.sweep.run import interpolation_error, parse_params, sweep_bundle
from taskfair.sweep.settings import settings_for

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle", required=True, nargs="+", help="bundle folder(s), e.g. models/demo"
    )
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
    add_ray_options(parser, "each actor")
    parser.add_argument(
        "--ray-actors",
        type=int,
        default=None,
        help="with --ray: actors in all, each holding one model (default: one per bundle and seed)",
    )


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


def _params(args, bundles) -> dict[str, str]:
    """``--param``: checked against the method's declared parameters before any work."""
    params = parse_params(getattr(args, "param", None))
    if params and args.method not in [m.name for m in curve_methods()]:
        raise ConfigError(f"--param applies to a curve method, not to --method {args.method}.")
    try:
        if params:
            settings_for(args.method, bundles[0].groups, [0.0], args.normalize, (), params)
    except ValueError as exc:  # an unknown parameter or a value out of range
        if isinstance(exc, USER_ERRORS):
            raise
        raise ConfigError(f"{exc} (from --param)") from None
    return params


def run(args) -> int:
    paths = [args.bundle] if isinstance(args.bundle, str) else list(args.bundle)
    bundles = [Bundle.open(p) for p in paths]
    lams = _lams(args.lams)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    if not splits or any(s not in EVAL_SPLITS for s in splits):
        raise ConfigError(
            f"--splits {args.splits!r}: give a comma-separated subset of {list(EVAL_SPLITS)}."
        )
    params = _params(args, bundles)
    options = ray_options(args) if hasattr(args, "ray") else None
    if options is not None:
        if args.preview_error:
            raise ConfigError(
                "--preview-error evaluates midpoints with a local model: run it without --ray "
                "(after the Ray sweep, the grid points come from the cache)."
            )
        if args.seed is None:
            seeds = [None]
        elif args.seed == "all":
            seeds = _ray_seeds(bundles, ["all"])
        else:
            seeds = sorted({s for b in bundles for s in _seeds(args.seed, b)})
        frames = ray_sweep(
            bundles,
            args.method,
            args.normalize,
            lams,
            splits,
            seeds=seeds,
            options=options,
            device=args.device,
            dtype=args.dtype,
            progress=tqdm_progress("sweep on ray"),
            params=params,
        )
        return _print_and_write(args, bundles, frames)
    frames = []
    for bundle in bundles:
        frames += _sweep_one(args, bundle, lams, splits, params)
    return _print_and_write(args, bundles, frames)


def _ray_seeds(bundles, seeds) -> list:
    if seeds == ["all"]:
        return sorted({s for b in bundles for s in b.seeds})
    return seeds


def _sweep_one(args, bundle, lams, splits, params) -> list[pd.DataFrame]:
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
    return frames


def _print_and_write(args, bundles, frames) -> int:
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
    for bundle in bundles:
        print(f"cache: {bundle.sweeps_dir}")
    return 0
