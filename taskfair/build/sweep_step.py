"""The last step of a build that asks for it: the sweep cache every page of the dashboard
reads, evaluated once the bundle is complete and resumable point by point.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from taskfair.build.state import BuildState, Step
from taskfair.bundle import Bundle
from taskfair.data import EVAL_SPLITS
from taskfair.progress import Progress, report
from taskfair.sweep import Evaluator, PointStore, Setting
from taskfair.viewer import viewer_settings

__all__ = ["SweepStep"]


class SweepStep(Step):
    """``sweeps/``: every point the dashboard's pages read
    (:func:`taskfair.sweep.page_settings`: task addition "sum" and "mean" over the λ grid,
    injection over its grid, FFT, LoRA and the base), on val and test, for every seed, so
    that a first visit finds every page complete. Runs once the bundle is complete; each
    point is stored as soon as it is evaluated, so an interrupted step resumes where it
    stopped. The points are not manifest artifacts: the sweep cache checks them by key.
    ``progress(done, total, message)`` counts settings."""

    key = "sweeps"

    def __init__(self, progress: Progress | None = None):
        self.progress = progress
        self._evaluated = 0
        self._message: str | None = None

    @staticmethod
    def _todo(bundle: Bundle) -> dict[int, list[Setting]]:
        """Per seed, the settings with a split not in the cache yet (no model needed)."""
        out = {}
        for seed in bundle.seeds:
            store = PointStore.for_bundle(bundle, seed)
            out[seed] = [
                s
                for s in viewer_settings(bundle, seed)
                if any(store.key(s, sp) not in store.cache for sp in store.splits)
            ]
        return out

    @classmethod
    def complete(cls, root: Path, manifest: dict) -> bool:
        """Whether every point is cached in the (complete) bundle at ``root``."""
        return not any(cls._todo(Bundle(root, manifest)).values())

    def reuse(self, state: BuildState) -> bool:
        return self.complete(state.root, state.m)

    def run(self, state: BuildState) -> list[str]:
        bundle = Bundle(state.root, state.m)
        todo = SweepStep._todo(bundle)
        total = sum(len(v) for v in todo.values())
        state.echo(
            f"sweeps: {total} setting(s) to evaluate on {', '.join(EVAL_SPLITS)} "
            f"(every point the dashboard reads) on {state.device}"
        )
        done = 0
        for seed, settings in todo.items():
            if not settings:
                continue
            load = partial(Evaluator.from_bundle, bundle, seed=seed, device=state.device)
            offset = done

            def progress(i: int, n: int, msg: str, seed=seed, offset=offset) -> None:
                report(self.progress, offset + i, total, f"seed {seed} · {msg}")

            store = PointStore.for_bundle(bundle, seed, load, source="build")
            store.sweep(settings, store.splits, progress)
            done += len(settings)
        self._evaluated = done
        return []

    def done_message(self, state: BuildState) -> str | None:
        seconds = state.m["timings"].get(self.key, 0.0)
        return f"sweeps: {self._evaluated} setting(s) evaluated and cached in {seconds:.0f}s"
