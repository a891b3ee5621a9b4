"""The steering assistant's loop: start, screen with previews, confirm exactly, report.

:func:`steer` answers a :class:`~taskfair.steer.problem.Problem` on one bundle's seed:

1. **Start** (validation): the method's global-λ curve (:data:`taskfair.grid.LAMBDA_GRID`)
   and the FFT / LoRA references, exactly (read from the sweep cache when the build or a
   page evaluated them). The floor is resolved from FFT's validation accuracy; the best
   accepted curve point is the *best global λ* and the search's start.
2. **Surrogate**: one JVP per subgroup vector at the start (skipped by a strategy that
   does not use previews), kept with the search's state.
3. **Search**: the strategy proposes a point, the previews having screened it; it is
   evaluated exactly through the bundle's :class:`~taskfair.sweep.PointStore` (cached),
   certified by a paired row bootstrap, scored, and fed back. After each exact point the
   state is saved, so a stop (``stop()`` returning True, an interrupted run) resumes.
   Every exact validation point counts against ``problem.budget``, the start included.
4. **Report**: the Pareto set of the exact points (objective down, accuracy up,
   degenerate points left out), the recommendation (the accepted point with the lowest
   objective), and on **test**: the recommendation, the Pareto set, the best global λ,
   FFT and LoRA with intervals, and the paired differences between the recommendation
   and the best global λ on both splits. Test never enters a choice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from taskfair.analysis import gram_matrix
from taskfair.errors import BundleError
from taskfair.grid import LAMBDA_GRID
from taskfair.progress import Progress, report
from taskfair.steer.bounds import MAX_COMBINATIONS, MAX_N_BOOT, check_bounds
from taskfair.steer.certify import RowBootstrap, degeneracy, interval_record
from taskfair.steer.problem import Problem
from taskfair.steer.result import (
    MAX_TEST_PARETO,
    SteerResult,
    best_of,
    pareto_of,
    report_on_test,
    result_of,
)
from taskfair.steer.resume import check_state, summary_from_record
from taskfair.steer.score import acceptance, exact_score, preview_scores
from taskfair.steer.search import STRATEGIES, make
from taskfair.steer.state import SearchState
from taskfair.steer.surrogate import Surrogate
from taskfair.sweep import FirstOrderPreview, PointStore, Setting, curve_settings, method_mix
from taskfair.sweep.settings import reference_settings

__all__ = [
    "MAX_COMBINATIONS",
    "MAX_N_BOOT",
    "MAX_TEST_PARETO",
    "SteerResult",
    "check_bounds",
    "steer",
]


def _record_of(setting: Setting) -> dict:
    return {
        "method": setting.method,
        "lam": setting.lam,
        "normalize": setting.normalize,
        "coeffs": setting.coeff_dict,
        "params": setting.param_dict,
    }


class _Run:
    """One call of :func:`steer`: the store, the bootstraps and the state together."""

    def __init__(self, problem, store, evaluator, progress, stop, state):
        self.problem, self.store, self.evaluator = problem, store, evaluator
        self.progress, self.stop, self.state = progress, stop or (lambda: False), state
        self.groups = list(store.groups)
        self.boot = {}
        self.n_new = 0
        self.n_test = 0

    def bootstrap(self, split: str) -> RowBootstrap:
        if split not in self.boot:
            sp = self.store.split(split)
            p = self.problem
            self.boot[split] = RowBootstrap(sp.labels, sp.groups, p.n_boot, p.confidence, p.seed)
        return self.boot[split]

    def logits(self, setting: Setting, split: str) -> np.ndarray:
        if not self.store.has(setting, split):
            if split == "val":
                self.n_new += 1
            else:
                self.n_test += 1
        self.store.evaluate(setting, split)
        got = self.store.logits(setting, split)
        if got is None:  # rows cached, logits file damaged: evaluate again
            got = self.evaluator().setting_logits(setting, [split])[split]
        return got

    def summary(self, setting: Setting, split: str) -> tuple[dict, list[str], np.ndarray]:
        logits = self.logits(setting, split)
        preds = logits.argmax(axis=1)
        summary = self.bootstrap(split).summary(preds, self.problem.objective)
        return summary, degeneracy(preds, self.store.split(split).groups), logits

    @property
    def candidates(self) -> list[dict]:
        return self.state.data["candidates"]

    def known(self, setting: Setting) -> int | None:
        want = _record_of(setting)
        return next((i for i, c in enumerate(self.candidates) if c["setting"] == want), None)

    def add(self, setting: Setting, label: str, source: str, x) -> tuple[int, np.ndarray]:
        """Evaluate (or look up) ``setting`` on validation and record it as a candidate."""
        i = self.known(setting)
        if i is not None:
            return i, self.logits(setting, "val")
        summary, degenerate, logits = self.summary(setting, "val")
        floor = self.state.data["floor"]
        record = {
            "label": label,
            "source": source,
            "x": None if x is None else [float(v) for v in x],
            "setting": _record_of(setting),
            "val": interval_record(summary),
            "degenerate": degenerate,
            "_summary": summary,
        }
        if floor is not None:
            self._judge(record)
        self.candidates.append(record)
        self._save()
        report(self.progress, len(self.candidates), self.problem.budget, label)
        return len(self.candidates) - 1, logits

    def _judge(self, record: dict) -> None:
        summary = record.get("_summary") or summary_from_record(record["val"])
        floor = self.state.data["floor"]
        ok, reasons = acceptance(summary, self.problem, floor, record["degenerate"])
        record["accepted"], record["reasons"] = ok, reasons
        record["score"] = exact_score(summary, self.problem, floor, record["degenerate"])

    def _save(self) -> None:
        clean = [{k: v for k, v in c.items() if k != "_summary"} for c in self.candidates]
        data = {**self.state.data, "candidates": clean}
        saved, self.state.data = self.state.data, data
        self.state.save()
        self.state.data = saved


def steer(
    problem: Problem,
    store: PointStore,
    evaluator: Callable[[], object],
    *,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
    state_dir: str | Path | None = None,
    report_test: bool = True,
    run_search: bool = True,
) -> SteerResult | None:
    """Answer ``problem`` on the bundle of ``store`` (see the module docstring).

    ``evaluator()`` returns the store's :class:`~taskfair.sweep.Evaluator` (called only
    for the JVPs and the vectors' Gram matrix). ``progress(done, budget, message)`` is
    called after every exact validation point; ``stop()`` is asked between points.
    ``state_dir``: where the search's state lives (default: the cache's folder
    ``steer/``; None with a store without cache keeps it in memory).
    ``run_search=False`` evaluates nothing on validation: the result of the stored state
    (None when there is none), reported on test as usual.
    """
    if "val" not in store.splits:
        raise BundleError(
            "The assistant searches on the validation split, which this bundle lacks."
        )
    if problem.search not in STRATEGIES:
        raise ValueError(f"Unknown search {problem.search!r}: use one of {list(STRATEGIES)}.")
    groups = list(store.groups)
    if len(groups) < 2:
        raise BundleError(
            "The assistant mixes two or more subgroup vectors; this bundle has fewer."
        )
    check_bounds(problem, groups, store.names)
    if state_dir is None and store.cache is not None:
        state_dir = Path(store.cache.root) / "steer"
    if problem.param_values:
        return _pooled(problem, store, evaluator, progress, stop, state_dir, report_test,
                       run_search)  # fmt: skip
    identity = {
        "problem": problem.identity(),
        "val": store.keys.split_fingerprints["val"],
        "base": store.keys.base_fingerprint,
        "vectors": {g: store.keys.vector_fingerprint(g) for g in groups},
        "groups": groups,
    }
    state = SearchState.open(state_dir, identity)
    run = _Run(problem, store, evaluator, progress, stop, state)
    check_state(run)  # nothing stored is trusted: certificates recomputed first
    if not run_search and (state.data["floor"] is None or not state.data["candidates"]):
        return None
    t0 = time.perf_counter()
    stopped = _search(run, groups) if run_search else False
    search_s = time.perf_counter() - t0
    state.data["wall_s"] = float(state.data.get("wall_s", 0.0)) + search_s
    state.data["new_evaluations"] = int(state.data.get("new_evaluations", 0)) + run.n_new
    run._save()
    result = result_of(run, groups, stopped)
    result.notice = state.notice
    if report_test and "test" in store.splits and not stopped:
        report_on_test(run, result)
    result.n_new, result.n_test = run.n_new, run.n_test
    result.wall_s = time.perf_counter() - t0
    result.search_s = search_s
    return result


def _start(run: _Run, groups: list[str]) -> None:
    """The method's global-λ curve and the references, on validation."""
    p = run.problem
    for name in ("fft", "lora"):
        if name in run.store.names:
            (ref,) = [r for r in reference_settings(run.store.names) if r.method == name]
            run.add(ref, name.upper(), "reference", None)
    fft = next((c for c in run.candidates if c["label"] == "FFT"), None)
    floor = p.constraints.resolve_floor(fft["val"]["accuracy"]["value"] if fft else None)
    run.state.data["floor"] = floor
    for c in run.candidates:
        run._judge(c)
    for s in curve_settings(p.method, groups, LAMBDA_GRID, p.normalize, p.params):
        if len(run.candidates) >= p.budget:
            break
        run.add(s, f"global λ={s.lam:g}", "grid", [s.lam] * len(groups))


def _search(run: _Run, groups: list[str]) -> bool:
    """Run the search until the budget, convergence or a stop; True if stopped."""
    p, data = run.problem, run.state.data
    _start(run, groups)  # points already in the state are looked up, not re-evaluated
    lows, highs = p.constraints.bounds(groups)
    grid = [c for c in run.candidates if c["source"] == "grid"]
    if not grid or data["done"]:
        return False
    inside = [
        c
        for c in grid
        if all(lo - 1e-9 <= v <= hi + 1e-9 for v, lo, hi in zip(c["x"], lows, highs, strict=True))
    ]
    start = min(inside or grid, key=lambda c: (c["score"], -c["val"]["accuracy"]["value"]))
    x0 = np.clip(np.asarray(start["x"], float), lows, highs)
    strategy = make(p.search, x0, start["score"], lows, highs, p.resolution, seed=p.seed)
    if data["strategy"] is not None:
        try:
            strategy.restore(data["strategy"])
        except (KeyError, TypeError, ValueError, IndexError):  # a malformed stored state
            strategy = make(p.search, x0, start["score"], lows, highs, p.resolution, seed=p.seed)
            data["strategy"] = None
    surrogate = _surrogate(run, groups, start) if strategy.uses_preview else None

    def preview(X: np.ndarray) -> np.ndarray:
        return preview_scores(surrogate.metrics(X), p, data["floor"], groups)

    while len(run.candidates) < p.budget:
        if run.stop():
            return True
        x = strategy.propose(preview if surrogate is not None else None)
        if x is None:
            data["done"] = True
            break
        setting = method_mix(p.method, groups, dict(zip(groups, x, strict=True)), p.normalize,
                             p.params)  # fmt: skip
        n = len(run.candidates)
        i, logits = run.add(setting, f"search {n + 1 - _n_start(run)}", "search", x)
        strategy.observe(x, run.candidates[i]["score"])
        if surrogate is not None:
            surrogate.add(x, logits)
        data["strategy"] = {"name": strategy.name, **strategy.state()}
        run._save()
    data["strategy"] = {"name": strategy.name, **strategy.state()}
    return False


def _n_start(run: _Run) -> int:
    return sum(c["source"] != "search" for c in run.candidates)


def _surrogate(run: _Run, groups: list[str], start: dict) -> Surrogate:
    """The previews: JVPs at the start (computed once, kept with the state) and every
    exact mix of the state as an anchor."""
    p, data = run.problem, run.state.data
    setting = Setting(**start["setting"])
    jvps = run.state.jvps()
    if jvps is None or data.get("anchor") != start["setting"]:
        ev = run.evaluator()
        n = len(run.candidates)

        def progress(done, total, message):
            report(run.progress, n, p.budget, f"{message} ({done}/{total}) at {start['label']}")

        fo = FirstOrderPreview.build(ev, {}, "val", names=groups, progress=progress,
                                     setting=setting)  # fmt: skip
        names, gram = gram_matrix(ev.directions(setting), groups)
        run.state.save_jvps({**fo.jvps, "__gram__": gram})
        data["anchor"] = start["setting"]
        run._save()
        jvps = run.state.jvps()
    gram = jvps.get("__gram__")
    sp = run.store.split("val")
    scale = 1.0 / len(groups) if p.normalize == "mean" else 1.0
    surrogate = Surrogate(groups, {g: jvps[g] for g in groups}, sp.labels, sp.groups,
                          scale=scale, gram=gram)  # fmt: skip
    for c in run.candidates:
        if c["x"] is not None:
            surrogate.add(c["x"], run.logits(Setting(**c["setting"]), "val"))
    return surrogate


def _pooled(problem, store, evaluator, progress, stop, state_dir, report_test, run_search):
    """One search per combination of the method's parameter values, pooled into one result
    (the references once; labels name the parameters; choices made over the pool)."""
    t0 = time.perf_counter()
    parts, offset = [], 0
    for sub in problem.combinations():

        def shifted(done, total, message, offset=offset):  # one bar over the whole budget
            report(progress, offset + done, problem.budget, message)

        got = steer(sub, store, evaluator, progress=shifted, stop=stop, state_dir=state_dir,
                    report_test=False, run_search=run_search)  # fmt: skip
        offset += sub.budget
        if got is None:
            return None
        parts.append((sub, got))
        if got.stopped:
            break
    first = parts[0][1]
    cands = [c for c in first.candidates if c["source"] == "reference"]
    for sub, got in parts:
        tag = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in sub.params.items())  # fmt: skip
        cands += [{**c, "label": f"{tag}: {c['label']}"} for c in got.candidates
                  if c["source"] != "reference"]  # fmt: skip
    refs = {c["label"].lower(): i for i, c in enumerate(cands) if c["source"] == "reference"}
    result = SteerResult(
        problem=problem,
        groups=first.groups,
        floor=first.floor,
        candidates=cands,
        pareto=pareto_of(cands, problem.allow_degenerate),
        recommendation=best_of(cands, ("grid", "search")),
        best_global=best_of(cands, ("grid",)),
        references=refs,
        n_exact=len(cands),
        n_new=sum(g.n_new for _, g in parts),
        stopped=any(g.stopped for _, g in parts),
        converged=all(g.converged for _, g in parts),
        state_id="+".join(g.state_id for _, g in parts),
    )
    rec = result.candidate(result.recommendation)
    for _, got in parts:  # the influence matrix of the recommendation's own search
        if rec is not None and any(c["setting"] == rec["setting"] for c in got.candidates):
            result.influence, result.anchor = got.influence, got.anchor
    result.search_s = time.perf_counter() - t0
    if report_test and "test" in store.splits and not result.stopped:
        run = _Run(problem, store, evaluator, progress, stop, SearchState(None, {}))
        report_on_test(run, result)
        result.n_test = run.n_test
    result.wall_s = time.perf_counter() - t0
    return result
