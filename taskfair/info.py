"""``python -m taskfair info BUNDLE``: a bundle's summary (model, data, groups, results)."""

from __future__ import annotations

import argparse
import json

from taskfair.bundle import Bundle
from taskfair.errors import BundleError
from taskfair.names import shown

__all__ = ["configure", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", help="bundle folder, e.g. models/demo")


def _open(path: str) -> Bundle:
    """The bundle at ``path``; a path the system cannot use (too long, a NUL byte, not
    readable) is one :class:`BundleError` naming the problem, not a traceback."""
    if "\x00" in path:
        raise BundleError("The bundle path holds a NUL byte: give a folder such as models/demo.")
    try:
        return Bundle.open(path)
    except OSError as exc:
        what = shown(path if len(path) <= 80 else path[:40] + "…" + path[-20:])
        raise BundleError(
            f"Cannot open the bundle {what} ({len(path):,} characters): "
            f"{exc.strerror or exc}. Give a bundle folder such as models/demo."
        ) from None


def run(args) -> int:
    b = _open(args.bundle)
    m = b.manifest
    print(
        f"bundle {b.name}: model {m['model'].get('name')} ({b.modality}), dataset "
        f"{m['dataset'].get('name')}, attribute {b.attribute} with groups "
        f"{', '.join(b.groups)}; seeds {b.seeds}"
        + (
            "; each seed with its own head (head seeds "
            + ", ".join(str(h.get("head_seed")) for _, h in sorted(b.seed_heads.items()))
            + ")"
            if b.seed_heads
            else ""
        )
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
