"""``sweep --ray``: λ grids and bundles spread over Ray actors, one model per actor.

For every (bundle, seed) the settings not yet in the bundle's sweep cache are dealt, in
the order a local sweep evaluates them (coarse grid first), to that pair's actors; each
actor (:class:`SweepWorker`) holds one :class:`~taskfair.sweep.Evaluator` (one model on
one device, with the threads it declared) and returns the exact logits of its settings.
The driver stores them through the bundle's :class:`~taskfair.sweep.PointStore`
(:meth:`~taskfair.sweep.PointStore.record`: the rows are made where a local sweep makes
them) and reads the frame back as a local sweep does, so the rows and cache files are
the same. Actors open bundles by path: on a cluster the bundles must be on storage
every node sees (docs/SCALE.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from taskfair.bundle import Bundle
from taskfair.distributed.cluster import RayOptions, connect
from taskfair.errors import ConfigError
from taskfair.progress import Progress, report
from taskfair.sweep.evaluator import Evaluator
from taskfair.sweep.plan import coarse_first
from taskfair.sweep.settings import Setting, bundle_settings, round_lam
from taskfair.sweep.store import PointStore

__all__ = ["SweepWorker", "ray_sweep"]


class SweepWorker:
    """A Ray actor's state: one bundle's evaluator for one seed, on one device."""

    def __init__(self, bundle_path: str, seed: int, device, dtype, threads: int):
        torch.set_num_threads(int(threads))
        bundle = Bundle.open(bundle_path)
        self.evaluator = Evaluator.from_bundle(bundle, seed=seed, device=device, dtype=dtype)

    def evaluate(self, settings: Sequence[Setting], splits: Sequence[str]) -> list[dict]:
        """Per setting: ``{"keys": {split: cache key}, "logits": {split: (n, 2)}}``."""
        out = []
        for st in settings:
            logits = self.evaluator.setting_logits(st, list(splits))  # a method's transform too
            keys = {s: self.evaluator.keys.key(st, s) for s in splits}
            out.append({"keys": keys, "logits": logits})
        return out


def ray_sweep(
    bundles: Sequence[Bundle],
    method: str = "task_addition",
    normalize: str = "sum",
    lams=None,
    splits: Sequence[str] = ("val", "test"),
    seeds: Sequence[int | None] = (None,),
    options: RayOptions | None = None,
    *,
    references: bool = False,
    device=None,
    dtype=None,
    progress: Progress | None = None,
    params=None,
) -> list[pd.DataFrame]:
    """Sweep every bundle (each of ``seeds``; None: its first) on Ray; one frame per
    (bundle, seed), the same as :func:`~taskfair.sweep.sweep_bundle`'s (``params``: the
    curve method's parameters)."""
    options = options or RayOptions()
    lams = None if lams is None else [round_lam(x) for x in lams]
    work = []  # (bundle, seed, store, settings, missing)
    for bundle in bundles:
        for seed in seeds:
            seed = bundle.seeds[0] if seed is None else int(seed)
            if seed not in bundle.seeds:
                raise ConfigError(f"{bundle.name} has no seed {seed}; it has {bundle.seeds}.")
            settings = bundle_settings(bundle, method, normalize, lams, seed, references, params)
            store = PointStore.for_bundle(bundle, seed, dtype=dtype, source="sweep")
            missing = [
                s for s in coarse_first(settings) if any(not store.has(s, p) for p in splits)
            ]
            work.append((bundle, seed, store, settings, missing))
    todo = [w for w in work if w[4]]
    if todo:
        _evaluate_on_ray(todo, list(splits), options, device, dtype, progress)
    return [store.sweep(settings, splits) for _, _, store, settings, _ in work]


def _evaluate_on_ray(todo, splits, options, device, dtype, progress) -> None:
    ray = connect(options)
    res = options.resources(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = res["num_gpus"] > 0
    worker = ray.remote(SweepWorker).options(**res)
    per_pair = max(1, (options.actors or len(todo)) // len(todo))
    refs = {}  # ref -> (store, settings chunk, actor)
    for bundle, seed, store, _, missing in todo:
        n = min(per_pair, len(missing))
        actors = [
            worker.remote(str(bundle.root), seed, "cuda" if gpu else "cpu", dtype, res["num_cpus"])
            for _ in range(n)
        ]
        for i, actor in enumerate(actors):
            chunk = missing[i::n]  # dealt round-robin: each actor gets coarse points first
            refs[actor.evaluate.remote(chunk, splits)] = (store, chunk, actor)
    total, done = sum(len(c) for _, c, _ in refs.values()), 0
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        store, chunk, actor = refs[ready[0]]
        results = ray.get(ready[0])
        # Its work is done: free its model and resources for actors still waiting for them.
        ray.kill(actor)
        for st, got in zip(chunk, results, strict=True):
            for s in splits:
                if got["keys"][s] != store.key(st, s):
                    raise RuntimeError(  # a bug, not a user error: both hash the same inputs
                        "A Ray actor's cache key differs from the bundle's: check its dtype, "
                        "seed and max_length against the bundle's."
                    )
            store.record_logits(st, got["logits"])
            done += 1
            report(progress, done, total, f"ray · {st.label()}")
