"""``python -m taskfair <command>``: build, sweep, bench, reproduce and the small commands.

Commands: build | sweep | compress | plan | bench | export-viewer | reproduce | prepare-data | info | steer | share.

Each heavy command lives in its own module, which provides ``configure(parser)`` and
``run(args) -> int``; this file only dispatches, so ``--help`` stays instant. Errors a
user can cause (bad config, bad data, corrupted bundle) print one clear line and exit 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from taskfair.errors import USER_ERRORS

__all__ = ["main", "COMMANDS"]

# name -> (module providing configure/run, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": (
        "taskfair.build.command",
        "train base, FFT, LoRA and per-subgroup vectors into a bundle",
    ),
    "sweep": ("taskfair.sweep.command", "evaluate lambda grids exactly (cached) on bundles"),
    "compress": (
        "taskfair.compress.command",
        "store a bundle's vectors compressed (low-rank, top-k, DARE), with measured fidelity",
    ),
    "plan": (
        "taskfair.plan.command",
        "print what a model, its vectors and the merge take in memory, and whether it fits",
    ),
    "bench": ("taskfair.bench.command", "benchmark the paper's per-lambda pipeline against ours"),
    "export-viewer": (
        "taskfair.viewer",
        "sweep a bundle and copy it for the hosted read-only viewer",
    ),
    "reproduce": (
        "taskfair.analysis.reproduce",
        "judge the paper's claims C1-C5 on a bundle; write claims.md and claims.html",
    ),
    "prepare-data": ("taskfair.prepare", "copy (or download and verify) a dataset into data/"),
    "info": ("taskfair.info", "print a bundle's summary"),
    "steer": (
        "taskfair.steer.command",
        "search per-vector coefficients for the fairest mix under an accuracy floor",
    ),
    "share": (
        "taskfair.views.share",
        "write a bundle's views as a static site whose λ sliders work with no server",
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskfair", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    runners = {}
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == chosen:  # import only the module of the command being run
            mod = importlib.import_module(module)
            mod.configure(p)
            runners[name] = mod.run
    args = parser.parse_args(argv)
    try:
        return int(runners[args.command](args) or 0)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished artifacts are kept; rerun the same command to resume.",
            file=sys.stderr,
        )
        return 130
