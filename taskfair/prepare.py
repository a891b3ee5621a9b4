"""``python -m taskfair prepare-data NAME``: copy (or download and verify) a dataset."""

from __future__ import annotations

import argparse

from taskfair.data import prepare_data
from taskfair.progress import tqdm_progress

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default="hatexplain", help="hatexplain | utkface")
    parser.add_argument(
        "--data-dir", default="data", help="where datasets are kept (default: data)"
    )


def run(args) -> int:
    path = prepare_data(
        args.name, data_dir=args.data_dir, progress=tqdm_progress(f"prepare {args.name}")
    )
    print(f"{args.name}: ready in {path}")
    return 0
