"""``python -m taskfair build``: the command line of :func:`~taskfair.build.build_bundle`.

``configure(parser)`` adds the options, ``run(args)`` builds and prints a short summary
(:func:`summary`). Imported only when the command runs, so it may import heavy modules.
"""

from __future__ import annotations

from tqdm.auto import tqdm
from transformers.utils import logging as hf_logging

from taskfair.build.config import load_config
from taskfair.build.pipeline import build_bundle
from taskfair.distributed.build import ray_runner
from taskfair.distributed.cluster import add_ray_options, ray_options
from taskfair.progress import tqdm_progress

__all__ = ["configure", "run", "summary"]


def configure(parser) -> None:
    parser.add_argument("--config", required=True, help="YAML build config, e.g. configs/demo.yaml")
    parser.add_argument("--out", required=True, help="bundle folder to write, e.g. models/demo")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="build at test size (a few dozen rows, sequence length 32; under a minute on CPU)",
    )
    parser.add_argument(
        "--device", default=None, help="override the config's device (auto|cpu|cuda)"
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="--out holds a bundle of another config (or an unfinished one): remove it and "
        "build this config instead of refusing",
    )
    parser.add_argument(
        "--no-sweeps",
        action="store_true",
        help="skip the last step: evaluating and caching every point the dashboard reads "
        "(the pages then evaluate them on first visit)",
    )
    add_ray_options(parser, "each fine-tune")


def _fmt_seconds(s: float) -> str:
    return f"{int(s // 60)}m{s % 60:04.1f}s" if s >= 60 else f"{s:.1f}s"


def summary(manifest: dict) -> str:
    """A few lines about a built bundle: FFT vs majority baseline, build time."""
    res = manifest.get("results", {})
    ds = manifest.get("dataset", {})
    lines = [
        f"bundle {manifest.get('name')}: {manifest.get('model', {}).get('name')} on {ds.get('name')}, "
        f"attribute {ds.get('attribute')} ({', '.join(ds.get('groups', []))}), "
        f"seeds {manifest.get('seeds')}",
    ]
    fft, maj, base = (
        res.get("fft_test_accuracy"),
        res.get("majority_test_accuracy"),
        res.get("base_test_accuracy"),
    )
    if fft is not None and maj is not None:
        verdict = "beats" if fft > maj else "does NOT beat"
        lines.append(
            f"test accuracy ({res.get('test_rows')} rows): FFT {fft:.3f} {verdict} the majority "
            f"baseline {maj:.3f} ({fft - maj:+.3f}); base model {base:.3f}"
        )
    for key, v in sorted(res.get("vectors", {}).items()):
        lines.append(
            f"  {key}: val {v['val_accuracy']:.3f}  test {v['test_accuracy']:.3f}  "
            f"|tau| {v['norm']:.3g}"
        )
    timings = manifest.get("timings", {})
    total = timings.get("total")
    if total is not None:
        lines.append(f"build time {_fmt_seconds(total)} (all runs of this bundle)")
    if "sweeps" in timings:
        lines.append(
            f"  of which sweeps (every point the dashboard reads) {_fmt_seconds(timings['sweeps'])}"
        )
    return "\n".join(lines)


def run(args) -> int:
    # The base's new head is reported by transformers as MISSING weights on every load;
    # the build initialises it on purpose, so keep the console to our own lines.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cfg = load_config(args.config)
    if args.tiny:
        cfg = cfg.tiny()
    if args.device:
        cfg = cfg.replace(device=args.device)
    res = build_bundle(
        cfg,
        args.out,
        progress=tqdm_progress("build", unit="rows"),
        echo=tqdm.write,
        replace=args.replace,
        sweeps=not args.no_sweeps,
        sweep_progress=tqdm_progress("sweeps", unit="settings"),
        remote=None if args.ray is None else ray_runner(ray_options(args)),
    )
    print(summary(res.manifest))
    if res.trained:
        print(f"this run: built {', '.join(res.trained)} in {_fmt_seconds(res.seconds)}")
    print(f"bundle ready in {res.root}")
    return 0
