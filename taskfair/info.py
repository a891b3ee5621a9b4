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
    _print_diagnostics(b)
    return 0


def _print_diagnostics(b: Bundle) -> None:
    """The shared-shift diagnostic of the merges cached in the bundle (seed one, test)."""
    from taskfair.analysis.diagnostics import bundle_diagnostics

    rows = bundle_diagnostics(b, split="test")
    if not rows:
        print("shared-shift diagnostic: no merge cached on val and test yet (build with sweeps).")
        return
    print(
        f"shared-shift diagnostic (seed {b.seeds[0]}, test; threshold chosen on val): "
        "mean margin (spread), positive rate, ROC AUC, accuracy at 0 / at the val threshold"
    )
    for r in rows:
        auc = "n/a" if r["auc"] is None else f"{r['auc']:.3f}"
        print(
            f"  {r['label']:<42} {r['mean_margin']:+.2f} ({r['margin_spread']:.2f})  "
            f"{r['positive_rate']:.0%}  {auc}  {r['accuracy']:.3f} / "
            f"{r['accuracy_at_val_threshold']:.3f}  {r['verdict']}"
        )
