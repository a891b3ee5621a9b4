"""What a search found (:class:`SteerResult`), its Pareto set and recommendation, and
the chosen points reported on test."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from taskfair.analysis.selection import pareto_indices
from taskfair.steer.certify import interval_record
from taskfair.steer.influence import influence_matrix
from taskfair.steer.problem import Problem
from taskfair.sweep import Setting

__all__ = [
    "MAX_TEST_PARETO",
    "SteerResult",
    "best_of",
    "pareto_of",
    "report_on_test",
    "result_of",
]

#: Pareto points reported on test besides the recommendation (evenly spaced if more).
MAX_TEST_PARETO = 5


@dataclass
class SteerResult:
    """What a search found. ``candidates``: every exact validation point (records with
    ``label``, ``x``, ``setting``, ``val`` intervals, ``degenerate``, ``accepted``,
    ``reasons``, ``score``, ``source``); ``pareto``: indices into it; ``recommendation``
    and ``best_global``: indices or None; ``test``: ``{label: summary}`` on test;
    ``differences``: ``{split: {metric: interval}}`` of recommendation − best global λ;
    ``influence``: the influence matrix at ``anchor`` (JVPs there); ``n_exact``: exact
    validation points used (the budget's unit), ``n_new`` of them evaluated by this run;
    ``search_s`` the seconds of this run's search (validation, JVPs included), ``wall_s``
    with the test report."""

    problem: Problem
    groups: list[str]
    floor: float
    candidates: list[dict]
    pareto: list[int]
    recommendation: int | None
    best_global: int | None
    references: dict[str, int]
    test: dict[str, dict] = field(default_factory=dict)
    differences: dict[str, dict] = field(default_factory=dict)
    influence: pd.DataFrame | None = None
    anchor: dict | None = None
    n_exact: int = 0
    n_new: int = 0
    n_test: int = 0
    wall_s: float = 0.0
    search_s: float = 0.0
    stopped: bool = False
    converged: bool = False
    state_id: str = ""
    #: why a stored state was started afresh (malformed, or its numbers not its points')
    notice: str | None = None

    def candidate(self, i: int | None) -> dict | None:
        return None if i is None else self.candidates[i]

    def setting(self, i: int) -> Setting:
        return Setting(**self.candidates[i]["setting"])

    def table(self) -> pd.DataFrame:
        """One row per exact validation point: λ_g, the metrics with intervals, flags."""
        rows = []
        for i, c in enumerate(self.candidates):
            v = c["val"]
            row = {"label": c["label"], "source": c["source"]}
            row.update({f"λ {g}": x for g, x in zip(self.groups, c["x"] or [], strict=False)})
            for m in ("objective", "accuracy", "dpd", "eod", "worst_group_error"):
                row[m], row[f"{m}_lo"], row[f"{m}_hi"] = (
                    v[m]["value"], v[m]["lo"], v[m]["hi"]
                )  # fmt: skip
            row["accepted"], row["degenerate"] = c["accepted"], bool(c["degenerate"])
            row["pareto"], row["recommended"] = i in self.pareto, i == self.recommendation
            rows.append(row)
        return pd.DataFrame(rows)


def pareto_of(candidates: Sequence[dict], allow_degenerate: bool = False) -> list[int]:
    kept = [
        i
        for i, c in enumerate(candidates)
        if c["x"] is not None
        and (allow_degenerate or not c["degenerate"])
        and c["val"]["objective"]["value"] is not None
    ]
    points = [
        (candidates[i]["val"]["objective"]["value"], candidates[i]["val"]["accuracy"]["value"])
        for i in kept
    ]
    return [kept[j] for j in pareto_indices(points)]


def best_of(candidates: Sequence[dict], sources: Sequence[str]) -> int | None:
    ok = [i for i, c in enumerate(candidates) if c["source"] in sources and c.get("accepted")]
    if not ok:
        return None
    return min(
        ok,
        key=lambda i: (
            candidates[i]["val"]["objective"]["value"],
            -candidates[i]["val"]["accuracy"]["value"],
        ),
    )


def result_of(run, groups: list[str], stopped: bool) -> SteerResult:
    cands = [{k: v for k, v in c.items() if k != "_summary"} for c in run.candidates]
    refs = {c["label"].lower(): i for i, c in enumerate(cands) if c["source"] == "reference"}
    result = SteerResult(
        problem=run.problem,
        groups=groups,
        floor=float(run.state.data["floor"]),
        candidates=cands,
        pareto=pareto_of(cands, run.problem.allow_degenerate),
        recommendation=best_of(cands, ("grid", "search")),
        best_global=best_of(cands, ("grid",)),
        references=refs,
        anchor=run.state.data.get("anchor"),
        n_exact=len(cands),
        stopped=stopped,
        converged=bool(run.state.data["done"]),
        state_id=run.state.id,
    )
    jvps = run.state.jvps()
    if jvps is not None and result.anchor is not None:
        anchor = Setting(**result.anchor)
        sp = run.store.split("val")
        scale = 1.0 / len(groups) if anchor.normalize == "mean" else 1.0
        result.influence = influence_matrix(
            run.logits(anchor, "val"), {g: jvps[g] for g in groups}, sp.labels, sp.groups,
            groups, scale,
        )  # fmt: skip
    return result


def report_on_test(run, result: SteerResult) -> None:
    """The chosen points on test (and the paired differences on both splits)."""
    picks: dict[str, int] = {}
    if result.recommendation is not None:
        picks["recommendation"] = result.recommendation
    if result.best_global is not None:
        picks["best global λ"] = result.best_global
    for name, i in result.references.items():
        picks[name.upper()] = i
    front = [i for i in result.pareto if i not in picks.values()]
    if len(front) > MAX_TEST_PARETO:
        front = [front[int(j)] for j in np.linspace(0, len(front) - 1, MAX_TEST_PARETO)]
    for i in front:
        picks[f"pareto: {result.candidates[i]['label']}"] = i
    preds = {}
    for label, i in picks.items():
        summary, degenerate, logits = run.summary(result.setting(i), "test")
        record = interval_record(summary)
        record["degenerate"] = degenerate
        record["index"] = i
        result.test[label] = record
        preds[i] = logits.argmax(axis=1)
    if result.recommendation is None or result.best_global is None:
        return
    a, b = result.recommendation, result.best_global
    for split in ("val", "test"):
        pa = run.logits(result.setting(a), split).argmax(axis=1)
        pb = run.logits(result.setting(b), split).argmax(axis=1)
        boot = run.bootstrap(split)
        result.differences[split] = {
            m: boot.difference(pa, pb, m).record()
            for m in ("accuracy", "dpd", "eod", "worst_group_error")
        }
