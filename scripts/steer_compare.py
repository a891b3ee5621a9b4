"""Compare the steering assistant's search strategies on one bundle, each from the same
cold start (the sweep cache the build left, nothing the other strategies added).

    python scripts/steer_compare.py models/demo --work ../steer-work [--budget 50]

Each strategy runs on its own copy of the bundle (hard links: no weights are copied, and
the cache's files are only ever replaced, never written through), so none reuses the
exact points of another. Prints one Markdown table row per strategy (validation and test
objective and accuracy of the recommendation, the best global λ's, the paired test
difference, exact evaluations, wall time, the load average before and after) and writes
every result as JSON beside the copies.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from taskfair.bundle import Bundle
from taskfair.steer import Constraints, Objective, Problem, steer
from taskfair.steer.card import json_safe
from taskfair.steer.command import result_record
from taskfair.steer.search import STRATEGIES
from taskfair.sweep import Evaluator, PointStore


def _copy(src: Path, dst: Path) -> Path:
    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=link)
    return dst


def _iv(d) -> str:
    if not d or d.get("value") is None:
        return "–"
    return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--work", required=True, help="folder for the copies (same disk)")
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--objective", default="eod")
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--searches", default=",".join(STRATEGIES))
    parser.add_argument("--seed", type=int, default=0, help="the search's seed")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in [s.strip() for s in args.searches.split(",") if s.strip()]:
        root = _copy(Path(args.bundle), work / f"{Path(args.bundle).name}-{name}")
        bundle = Bundle.open(root)
        seed = bundle.seeds[0]
        holder = {}

        def evaluator(bundle=bundle, seed=seed, holder=holder):
            if "ev" not in holder:
                holder["ev"] = Evaluator.from_bundle(bundle, seed=seed)
            return holder["ev"]

        store = PointStore.for_bundle(bundle, seed, evaluator, source="steer")
        problem = Problem(objective=Objective(args.objective),
                          constraints=Constraints(margin=args.margin), budget=args.budget,
                          search=name, seed=args.seed)  # fmt: skip
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        result = steer(problem, store, evaluator)
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()[0]
        (work / f"{name}.json").write_text(json.dumps(json_safe(result_record(result)), indent=1))
        rec, best = result.candidate(result.recommendation), result.candidate(result.best_global)
        t_rec, t_best = result.test.get("recommendation"), result.test.get("best global λ")
        diff = result.differences.get("test", {}).get(args.objective)
        rows.append(
            f"| {name} | {_iv(rec and rec['val']['objective'])} | {_iv(t_rec and t_rec[args.objective])} "
            f"| {_iv(t_rec and t_rec['accuracy'])} | {_iv(best and best['val']['objective'])} "
            f"| {_iv(t_best and t_best[args.objective])} | {_iv(diff)} | {result.n_exact} "
            f"({result.n_new} new) | {result.search_s:.0f} s + {wall - result.search_s:.0f} s "
            f"| {load0:.1f} → {load1:.1f} |"
        )  # fmt: skip
        print(rows[-1], flush=True)
    print(
        f"| search | val {args.objective} (rec.) | test {args.objective} (rec.) | test accuracy (rec.) "
        f"| val {args.objective} (best global λ) | test {args.objective} (best global λ) "
        f"| test Δ{args.objective} (rec. − global) | exact val evaluations "
        f"| wall: search + test report | load |"
    )
    print("|" + " --- |" * 10)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
