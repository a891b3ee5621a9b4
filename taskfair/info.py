"""``python -m taskfair info BUNDLE``: a bundle's summary (model, data, groups, results)."""

from __future__ import annotations

import argparse
import json

from taskfair.bundle import Bundle

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle folder, e.g. models/demo")


def run(args) -> int:
    b = Bundle.open(args.bundle)
    m = b.manifest
    print(
        f"bundle {b.name}: model {m['model'].get('name')} ({b.modality}), dataset "
        f"{m['dataset'].get('name')}, attribute {b.attribute} with groups "
        f"{', '.join(b.groups)}; seeds {b.seeds}"
    )
    summary = {
        "split_sizes": m["dataset"].get("split_sizes"),
        "results": m.get("results", {}),
        "timings": m.get("timings", {}),
    }
    print(json.dumps(summary, indent=2))
    return 0
