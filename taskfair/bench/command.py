"""``python -m taskfair bench``: its options and its run (``configure`` / ``run`` for the CLI).

The bundle's modality (text or images) chooses what (a), (b) and (c) do and which of the
options below apply; the table and the JSON have the same columns for both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from taskfair.bench.driver import run_bench, table
from taskfair.bench.modality import modality_of
from taskfair.errors import BundleError
from taskfair.io import atomic_write_json

__all__ = ["configure", "run"]

_DEFAULT_BUNDLES = ("models/demo", "models/demo-tiny", "models/tiny")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle", default=None, help="bundle folder (default: models/demo, else a tiny one)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer rows and λ: under 3 minutes on 2 cores"
    )
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument(
        "--rows", type=int, default=None, help="rows to evaluate (default 2000; quick 256)"
    )
    parser.add_argument("--device", default=None, help="cpu | cuda (default: auto)")
    parser.add_argument(
        "--dtype", default=None, help="float32 (default) | bf16 | fp16 for (b)/(c) and (a)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="(b)'s rows per batch")
    parser.add_argument(
        "--token-budget",
        default="auto",
        help="(b): padded tokens per batch, 'auto' (per device) or 'none' (fixed --batch-size)",
    )
    parser.add_argument(
        "--max-length",
        type=int,
        default=None,
        help="(b)'s truncation (default 512, as (a); the bundle's own is usually shorter)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="(b) through torch.compile (compiled during the warm-up, not timed per λ)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="no bundle: MiniLM-shaped model with random subgroup vectors (timings only)",
    )
    parser.add_argument(
        "--model-dir", default=None, help="--synthetic: HF folder (config + tokenizer)"
    )
    parser.add_argument("--texts", default=None, help="--synthetic: CSV with text,label columns")


def _spec(args) -> dict:
    """The bench spec of the parsed options: what to run on, where, and the options the
    run's modality reads (the others, e.g. the token budget for images, do not apply)."""
    spec = {"rows": None, "device": args.device, "dtype": args.dtype, "threads": args.threads}
    if args.synthetic:
        spec.update(kind="synthetic", model_dir=args.model_dir, texts=args.texts)
    else:
        path = args.bundle
        if path is None:
            path = next((p for p in _DEFAULT_BUNDLES if (Path(p) / "manifest.json").exists()), None)
        if path is None:
            raise BundleError(
                "No bundle to benchmark: build one (`make demo`, or "
                "`python -m taskfair build --tiny`), pass --bundle DIR, or use --synthetic."
            )
        spec.update(kind="bundle", path=str(path))
    spec.update({name: getattr(args, name) for name in modality_of(spec).OPTIONS})
    return spec


def run(args) -> int:
    res = run_bench(
        _spec(args), quick=args.quick, rows=args.rows, progress=lambda m: print(m, flush=True)
    )
    print(table(res))
    if args.json:
        atomic_write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0
