"""``python -m taskfair <command>``: build | sweep | bench | export-viewer | prepare-data | info.

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
    "sweep": ("taskfair.sweep", "evaluate lambda grids exactly (cached) on a bundle"),
    "bench": ("taskfair.bench", "benchmark the paper's per-lambda pipeline against ours"),
    "export-viewer": (
        "taskfair.viewer",
        "sweep a bundle and copy it for the hosted read-only viewer",
    ),
    "prepare-data": ("taskfair.cli", "copy (or download and verify) a dataset into data/"),
    "info": ("taskfair.cli", "print a bundle's summary"),
}


def _configure_prepare(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="hatexplain", help="hatexplain | utkface")
    p.add_argument("--data-dir", default="data", help="where datasets are kept (default: data)")


def _run_prepare(args) -> int:
    from taskfair.fetch import prepare_data
    from taskfair.progress import tqdm_progress

    path = prepare_data(
        args.name, data_dir=args.data_dir, progress=tqdm_progress(f"prepare {args.name}")
    )
    print(f"{args.name}: ready in {path}")
    return 0


def _configure_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("bundle", help="bundle folder, e.g. models/demo")


def _run_info(args) -> int:
    import json

    from taskfair.bundle import Bundle

    b = Bundle.open(args.bundle)
    m = b.manifest
    print(
        f"bundle {b.name}: model {m['model'].get('name')} ({b.modality}), dataset {m['dataset'].get('name')}, "
        f"attribute {b.attribute} with groups {', '.join(b.groups)}; seeds {b.seeds}"
    )
    print(
        json.dumps(
            {
                "split_sizes": m["dataset"].get("split_sizes"),
                "results": m.get("results", {}),
                "timings": m.get("timings", {}),
            },
            indent=2,
        )
    )
    return 0


_LOCAL = {"prepare-data": (_configure_prepare, _run_prepare), "info": (_configure_info, _run_info)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taskfair", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if not a.startswith("-")), None)
    runners = {}
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name in _LOCAL:
            configure, run = _LOCAL[name]
        elif name == chosen:  # import only the module of the command being run
            mod = importlib.import_module(module)
            configure, run = mod.configure, mod.run
        else:
            continue
        configure(p)
        runners[name] = run
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
