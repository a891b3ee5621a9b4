"""``python -m taskfair steer``: search the fairest per-vector mix under an accuracy floor.

Searches on validation, reports on test, writes the merge card (``card.json``,
``card.md``, ``mergekit.yaml``, ``rebuild.py``) of the recommendation, and keeps its
state beside the bundle's sweep cache, so an interrupted run resumes where it stood
(rerun the same command; a larger ``--budget`` continues a finished search).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from taskfair.bundle import Bundle
from taskfair.errors import ConfigError
from taskfair.io import atomic_write_json
from taskfair.merge import curve_methods
from taskfair.progress import tqdm_progress
from taskfair.steer.card import json_safe, merge_card, write_card
from taskfair.steer.driver import MAX_N_BOOT, SteerResult, steer
from taskfair.steer.problem import (
    DEFAULT_BUDGET,
    DEFAULT_MARGIN,
    OBJECTIVES,
    Constraints,
    Objective,
    Problem,
)
from taskfair.steer.search import STRATEGIES
from taskfair.sweep import Evaluator, PointStore
from taskfair.sweep.run import parse_params

__all__ = ["configure", "problem_from_args", "result_record", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. models/demo")
    parser.add_argument("--seed", type=int, default=None, help="vector seed (default: first)")
    parser.add_argument("--objective", default="eod", choices=list(OBJECTIVES))
    parser.add_argument("--weights", default="", help="mix weights, e.g. eod=1,dpd=0.5")
    parser.add_argument("--target", type=float, default=None,
                        help="accept only when the objective's upper interval end ≤ this")  # fmt: skip
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"floor = FFT's validation accuracy − margin (default {DEFAULT_MARGIN})")  # fmt: skip
    parser.add_argument("--floor", type=float, default=None, help="an absolute accuracy floor")
    parser.add_argument("--group-floor", action="append", metavar="GROUP=ACC", default=[],
                        help="a group's accuracy floor, repeatable")  # fmt: skip
    parser.add_argument("--range", action="append", metavar="GROUP=LOW:HIGH", default=[],
                        help="a vector's λ range, repeatable (default 0:1)")  # fmt: skip
    parser.add_argument("--method", default="task_addition",
                        choices=[m.name for m in curve_methods()],
                        help="merge method whose vectors are mixed")  # fmt: skip
    parser.add_argument("--param", action="append", metavar="NAME=VALUE",
                        help="a parameter of the method (e.g. --method ties --param k=20)")  # fmt: skip
    parser.add_argument("--param-values", action="append", metavar="NAME=V1,V2", default=[],
                        help="search the method's parameter over these values too "
                        "(e.g. --method ties --param-values k=20,50,100); the budget is shared")  # fmt: skip
    parser.add_argument("--normalize", default="sum", choices=["sum", "mean"])
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET,
                        help="exact validation evaluations, starting grid included")  # fmt: skip
    parser.add_argument("--search", default=Problem.search, choices=list(STRATEGIES))
    parser.add_argument("--allow-degenerate", action="store_true",
                        help="accept (nearly) constant predictors too; they stay flagged")  # fmt: skip
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--n-boot", type=int, default=1000,
                        help=f"bootstrap resamples, 100 to {MAX_N_BOOT:,}")  # fmt: skip
    parser.add_argument(
        "--out", default=None, help="card folder (default: BUNDLE/sweeps/steer/ID/)"
    )
    parser.add_argument("--json", default=None, help="also write the whole result as JSON")
    parser.add_argument("--device", default=None, help="cpu | cuda | mps (default: auto)")


def _pairs(items, what: str, parse) -> dict:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{what} takes NAME=VALUE, not {item!r}.")
        try:
            out[name.strip()] = parse(value.strip())
        except ValueError:
            raise ConfigError(f"{what}: cannot read {value!r} in {item!r}.") from None
    return out


def _range(text: str) -> tuple[float, float]:
    lo, sep, hi = text.partition(":")
    if not sep:
        raise ValueError(text)
    return float(lo), float(hi)


def problem_from_args(args) -> Problem:
    """The :class:`Problem` an argument namespace asks (``ConfigError`` on bad input)."""
    weights = _pairs([w for w in args.weights.split(",") if w.strip()], "--weights", float)
    return Problem(
        objective=Objective(args.objective, weights, args.target),
        constraints=Constraints(
            margin=args.margin,
            floor=args.floor,
            group_floors=_pairs(args.group_floor, "--group-floor", float),
            ranges=_pairs(args.range, "--range", _range),
        ),
        method=args.method,
        params=parse_params(args.param),
        normalize=args.normalize,
        budget=args.budget,
        search=args.search,
        confidence=args.confidence,
        n_boot=args.n_boot,
        allow_degenerate=args.allow_degenerate,
        param_values=_pairs(args.param_values, "--param-values",
                            lambda v: [x.strip() for x in v.split(",") if x.strip()]),
    )  # fmt: skip


def result_record(result: SteerResult) -> dict:
    """A JSON-able record of a result (the ``--json`` file)."""
    return {
        "problem": result.problem.record(),
        "groups": result.groups,
        "floor": result.floor,
        "candidates": result.candidates,
        "pareto": result.pareto,
        "recommendation": result.recommendation,
        "best_global": result.best_global,
        "references": result.references,
        "test": result.test,
        "differences": result.differences,
        "influence": None
        if result.influence is None
        else json.loads(result.influence.reset_index().to_json(orient="records")),  # fmt: skip
        "anchor": result.anchor,
        "n_exact": result.n_exact,
        "n_new": result.n_new,
        "n_test": result.n_test,
        "wall_s": result.wall_s,
        "search_s": result.search_s,
        "stopped": result.stopped,
        "converged": result.converged,
    }


def _iv(d) -> str:
    if not d or d.get("value") is None:
        return "–"
    if d.get("lo") is None:
        return f"{d['value']:.3f}"
    return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"


def run(args) -> int:
    problem = problem_from_args(args)
    bundle = Bundle.open(args.bundle)
    seed = bundle.seeds[0] if args.seed is None else int(args.seed)
    if seed not in bundle.seeds:
        raise ConfigError(f"{bundle.name} has no seed {seed}; it has {bundle.seeds}.")
    ev = None

    def evaluator() -> Evaluator:  # loaded on the first point that is not cached
        nonlocal ev
        if ev is None:
            ev = Evaluator.from_bundle(bundle, seed=seed, device=args.device)
        return ev

    store = PointStore.for_bundle(bundle, seed, evaluator, source="steer")
    result = steer(problem, store, evaluator, progress=tqdm_progress(f"steer {bundle.name}"))
    if result.notice:
        print(f"note: {result.notice}")
    label = problem.objective.label
    print(
        f"{bundle.name}: minimise {label} on val, floor {result.floor:.4f}; "
        f"{result.n_exact} exact val points ({result.n_new} new), {result.n_test} new on test; "
        f"{result.search_s:.0f} s searching, {result.wall_s:.0f} s in all; search {problem.search}"
        + (" (converged)" if result.converged else "")
    )
    for name, i in [("recommendation", result.recommendation),
                    ("best global λ", result.best_global)]:  # fmt: skip
        c = result.candidate(i)
        if c is None:
            print(f"{name}: none accepted")
            continue
        coeffs = ", ".join(f"{g}={v:g}" for g, v in c["setting"]["coeffs"].items())
        t = next((t for t in result.test.values() if t.get("index") == i), {})
        print(f"{name}: {c['label']} ({coeffs})")
        for split, d in (("val", c["val"]), ("test", t)):
            if d:
                print(f"  {split}: accuracy {_iv(d.get('accuracy'))}  DPD {_iv(d.get('dpd'))}  "
                      f"EOD {_iv(d.get('eod'))}  worst-group error "
                      f"{_iv(d.get('worst_group_error'))}")  # fmt: skip
    for split, d in result.differences.items():
        print(f"recommendation − best global λ on {split}: EOD {_iv(d['eod'])}, "
              f"DPD {_iv(d['dpd'])}, accuracy {_iv(d['accuracy'])}")  # fmt: skip
    for name in ("FFT", "LORA"):
        t = result.test.get(name)
        if t:
            print(f"{name.lower()} on test: accuracy {_iv(t['accuracy'])}  DPD {_iv(t['dpd'])}  "
                  f"EOD {_iv(t['eod'])}")  # fmt: skip
    print(f"Pareto set on val: {len(result.pareto)} point(s)")
    if args.json:
        atomic_write_json(args.json, json_safe(result_record(result)))
        print(f"wrote {args.json}")
    if result.recommendation is None:
        print("no candidate met the floor (and target): no merge card written")
        return 0
    out = Path(args.out) if args.out else bundle.sweeps_dir / "steer" / result.state_id
    paths = write_card(merge_card(result, bundle, seed=seed), out, str(bundle.root))
    print(f"merge card: {', '.join(str(p) for p in paths.values())}")
    return 0
