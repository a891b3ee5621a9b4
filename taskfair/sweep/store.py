"""The point store: every exact point of one (bundle, seed), from memory, disk or evaluation.

The one place a point is evaluated and stored, for the CLI's sweeps and for the
dashboard alike. A :class:`PointStore` looks a point up in memory, then in the sweep
cache on disk, and evaluates it (through a :class:`PointEvaluator`, obtained lazily so a
viewer without weights never loads one) only when it is in neither; a per-key lock (a
thread lock, and a lock file across processes: :mod:`~taskfair.sweep.point_lock`) makes
concurrent requests for one point evaluate it once. Everything it holds is immutable
once stored, so one store can serve every session of a server.

This module holds the lookups and the evaluation; the other rooms, all read from the
points' cached logits: :mod:`~taskfair.sweep.store_curves` (previews, curves, refinement,
references), :mod:`~taskfair.sweep.store_intersections`, :mod:`~taskfair.sweep.store_bands`.

Memory is bounded: at most :data:`MAX_POINTS` points (rows, logits, sidecar) and
:data:`MAX_PREVIEWS` previews per store, least recently used dropped first (a dropped
point is read from disk again when asked for, or evaluated again where it was never
written). Points read from disk are verified first (:meth:`SweepCache.entry`, then every
number of their rows against their logits: ``rows_mismatch``); a failure is a miss.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from taskfair.data import EVAL_SPLITS
from taskfair.errors import VectorError
from taskfair.metrics import PreviewScorer
from taskfair.progress import Progress, report
from taskfair.sweep.cache import SweepCache
from taskfair.sweep.keys import PointKeys, bundle_keys
from taskfair.sweep.lru import LRU
from taskfair.sweep.plan import coarse_first, work
from taskfair.sweep.point_lock import point_locks
from taskfair.sweep.rows import (
    concat_rows,
    point_meta,
    rederive_degeneracy,
    rows_mismatch,
    tidy_rows,
    with_ranking,
)
from taskfair.sweep.settings import Setting
from taskfair.sweep.split_rows import SplitRows, inconsistency
from taskfair.sweep.store_bands import StoreBands
from taskfair.sweep.store_curves import StoreCurves
from taskfair.sweep.store_intersections import StoreIntersections

__all__ = ["LOADING", "MAX_POINTS", "MAX_PREVIEWS", "PointStore", "SplitRows", "work"]

log = logging.getLogger(__name__)

#: The progress message sent while the model and vectors load (once per store).
LOADING = "loading"
#: Exact points kept in memory per store, least recently used dropped first. A point is
#: its rows (a few KB) and its logits (8 bytes per evaluation row): for the demo's 1,000
#: test rows about 25 KB, so about 50 MB per store when full. Every grid of every page
#: (a few hundred points) fits many times over.
MAX_POINTS = 2048
#: Preview rows memoised per store (each a small frame), least recently used dropped
#: first, so an odd mix of sliders cannot grow it without end.
MAX_PREVIEWS = 512


class PointEvaluator(Protocol):
    """What the store asks of an evaluator (:class:`~taskfair.sweep.Evaluator`): its
    point keys (which must equal the store's) and a setting's exact logits."""

    keys: PointKeys

    def setting_logits(
        self, setting: Setting, splits: Sequence[str], progress: Progress | None = None
    ) -> dict[str, np.ndarray]: ...


class PointStore(StoreCurves, StoreIntersections, StoreBands):
    """Exact points of one (bundle, seed): rows and logits, from memory, disk or evaluation.

    Parameters
    ----------
    keys:
        The point keys (:func:`~taskfair.sweep.keys.bundle_keys` or an evaluator's).
    cache:
        The sweep cache on disk, or None (memory only).
    split_rows:
        ``split -> SplitRows`` (labels and groups), called once per split.
    evaluator:
        A callable returning the evaluator (called on the first evaluation), or None when
        the store can only serve what is cached (a viewer copy without weights).
    persist:
        Write new points to ``cache``; False keeps them in memory (the hosted viewer
        serves a read-only bundle). A folder that cannot be written is treated the same.
    names, groups, splits:
        The vector names, the subgroup vectors and the evaluation splits.
    source:
        Recorded in each new point's sidecar (``"sweep"``, ``"dashboard"``).
    positive_label:
        The name of class 1 (the manifest's ``label_name``, e.g. ``"toxic"``), used in
        the words of a degenerate point's note.
    """

    def __init__(
        self,
        keys: PointKeys,
        cache: SweepCache | None,
        split_rows: Callable[[str], SplitRows],
        *,
        evaluator: Callable[[], PointEvaluator] | None = None,
        persist: bool = True,
        names: Sequence[str] = (),
        groups: Sequence[str] = (),
        splits: Sequence[str] = (),
        source: str = "sweep",
        positive_label: str | None = None,
    ):
        self.keys, self.cache, self.seed = keys, cache, keys.seed
        self.positive_label = positive_label
        self._split_rows = split_rows
        self._evaluator = evaluator
        self.persist = persist
        self.names, self.groups, self.splits = list(names), list(groups), list(splits)
        self.source = source
        # One bound for the three: a point's logits and sidecar go when its rows go.
        self._rows = LRU(MAX_POINTS, on_evict=self._forget)
        self._logits: dict[str, np.ndarray] = {}
        self._meta: dict[str, dict] = {}
        self._key_memo = LRU(4 * MAX_POINTS)
        self._previews = LRU(MAX_PREVIEWS)
        #: Why the last write to the sweep cache failed (None while writes succeed): the
        #: point is then served from memory only, and the dashboard says so.
        self.write_error: str | None = None
        self._splits: dict[str, SplitRows] = {}
        self._scorers: dict[str, PreviewScorer] = {}
        self._references: dict[str, pd.DataFrame] = {}
        self._bands: dict[str, dict] = {}  # named records: bands, paired differences
        self._disagree: dict[tuple[str, str], float] = {}
        self._crossed: dict[tuple, pd.DataFrame] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self._key_locks = LRU(4 * MAX_POINTS)
        self._rejected = LRU(MAX_POINTS)  # key -> the files' stamp when they were refused

    # -- construction -----------------------------------------------------------------
    @classmethod
    def for_bundle(
        cls,
        bundle,
        seed: int,
        evaluator: Callable[[], PointEvaluator] | None = None,
        *,
        persist: bool = True,
        dtype=None,
        source: str = "dashboard",
    ) -> PointStore:
        """The store of a bundle's seed; keys computed from the manifest (no model).
        ``dtype`` is the evaluator's (float32 unless it evaluates in another)."""
        frame = bundle.eval_frame
        splits = [s for s in EVAL_SPLITS if (frame["split"] == s).any()]
        names = bundle.vector_names(seed)

        def split_rows(split: str) -> SplitRows:
            part = frame[frame["split"] == split].reset_index(drop=True)
            if part.empty:
                raise ValueError(f"{bundle.name} has no evaluation rows for split {split!r}.")
            return SplitRows(
                part["label"].to_numpy(dtype=np.int64),
                part[bundle.attribute],
                part[bundle.attributes] if len(bundle.attributes) > 1 else None,
            )

        return cls(
            bundle_keys(bundle, int(seed), dtype),
            SweepCache(bundle.sweeps_dir),
            split_rows,
            evaluator=evaluator,
            persist=persist,
            names=names,
            groups=[g for g in bundle.groups if g in names],
            splits=splits,
            source=source,
            positive_label=bundle.manifest.get("dataset", {}).get("label_name"),
        )

    @classmethod
    def for_evaluator(cls, evaluator, cache: SweepCache | None = None) -> PointStore:
        """A store over a live evaluator (its own keys), e.g. for a CLI sweep."""
        return cls(
            evaluator.keys,
            cache,
            lambda s: SplitRows(evaluator.labels(s), evaluator.groups(s)),
            evaluator=lambda: evaluator,
            persist=cache is not None,
            names=evaluator.names,
            groups=evaluator.subgroups,
            splits=[s for s in evaluator.splits if s != "train"],
        )

    # -- data -------------------------------------------------------------------------
    def split(self, split: str) -> SplitRows:
        if split not in self._splits:
            self._splits[split] = self._split_rows(split)
        return self._splits[split]

    @property
    def can_evaluate(self) -> bool:
        return self._evaluator is not None

    # -- lookup -----------------------------------------------------------------------
    def key(self, setting: Setting, split: str) -> str:
        # Every redraw looks up every point of a curve, several times: hash each once.
        k = self._key_memo.get((setting, split))
        if k is None:
            k = self._key_memo[setting, split] = self.keys.key(setting, split)
        return k

    def rows(self, setting: Setting, split: str) -> pd.DataFrame | None:
        """The exact rows of a point, or None if it is not evaluated yet."""
        k = self.key(setting, split)
        got = self._rows.get(k)
        if got is None and self._load(k, split):
            got = self._rows.get(k)
        return got

    def logits(self, setting: Setting, split: str) -> np.ndarray | None:
        """The exact logits ``(n, 2)`` of a point, or None."""
        k = self.key(setting, split)
        got = self._logits.get(k)
        if got is None and self._load(k, split):
            got = self._logits.get(k)
        return got

    def _load(self, k: str, split: str) -> bool:
        """Read point ``k`` of ``split`` from the cache into memory, verified; whether it
        was there and sound."""
        if self.cache is None:
            return False
        stamp = self.cache.stamp(k)
        if stamp is None or self._rejected.get(k) == stamp:
            return False  # not cached, or cached and refused already (warned once)
        sp = self.split(split)
        entry = self.cache.entry(k, len(sp.labels))
        # Degeneracy flags derived afresh from the rates (old rules or edits never served);
        # then every number is checked against the logits.
        rows = None if entry is None else rederive_degeneracy(entry.rows, self.positive_label)
        problem = None if entry is None else inconsistency(rows, entry.logits, sp)
        if entry is not None and problem is None:  # every fairness number, from the logits
            problem = rows_mismatch(
                rows, entry.logits, sp.labels, sp.groups, self.scorer(split),
                self.positive_label,
            )  # fmt: skip
        if problem is not None:
            log.warning(
                "sweep cache %s: point %s is ignored and will be recomputed: %s",
                self.cache.root,
                k[:12],
                problem,
            )
        if entry is None or problem is not None:
            self._rejected[k] = stamp
            return False
        # rows cached before the ranking columns existed get them from the logits here
        rows = with_ranking(rows, entry.logits, sp.labels, sp.groups)
        self._keep(k, rows, entry.logits, entry.meta)
        return True

    def _keep(self, k: str, rows: pd.DataFrame, logits: np.ndarray, meta: dict) -> None:
        self._logits[k], self._meta[k] = logits, meta
        self._rows[k] = rows  # last: inserting may evict another point (and its logits)

    def _forget(self, k) -> None:
        self._logits.pop(k, None)
        self._meta.pop(k, None)

    def has(self, setting: Setting, split: str) -> bool:
        return self.rows(setting, split) is not None

    def meta(self, setting: Setting, split: str) -> dict:
        k = self.key(setting, split)
        got = self._meta.get(k)
        if got is None and self._load(k, split):
            got = self._meta.get(k)
        return got or {}

    def warnings(self, setting: Setting, split: str) -> list[str]:
        """The metrics' notes on an exact point (degenerate groups), from its sidecar."""
        return list(self.meta(setting, split).get("warnings", []))

    def known_rows(self, settings: Sequence[Setting], split: str) -> pd.DataFrame:
        """The exact rows available now for ``settings`` on ``split`` (missing ones skipped)."""
        return concat_rows([self.rows(s, split) for s in settings])

    # -- evaluation -------------------------------------------------------------------
    def evaluate(
        self, setting: Setting, split: str | Sequence[str], progress: Progress | None = None
    ) -> pd.DataFrame:
        """Evaluate one setting exactly on ``split`` (or several splits under one merge),
        store it, and return its rows (the first split's when several are given)."""
        splits = [split] if isinstance(split, str) else list(split)
        keys = [self.key(setting, s) for s in splits]
        locks = []
        with self._lock:
            for k in sorted(set(keys)):
                locks.append(self._key_locks.setdefault(k, threading.Lock()))
        with contextlib.ExitStack() as stack:
            for lock in locks:
                stack.enter_context(lock)
            todo = [s for s in splits if not self.has(setting, s)]  # another session may
            if todo:  # have finished them while we waited
                # ...or another process on this bundle: one evaluates, the other reads.
                root = self.cache.root if self.persist and self.cache is not None else None
                with point_locks(root, [self.key(setting, s) for s in todo]):
                    todo = [s for s in todo if not self.has(setting, s)]
                    if todo:
                        self._evaluate(setting, todo, progress)
        return self.rows(setting, splits[0])

    def _evaluate(self, setting: Setting, splits: list[str], progress: Progress | None) -> None:
        if self._evaluator is None:
            raise ValueError("This bundle has no model weights: only cached points can be shown.")
        if not self._loaded:
            report(progress, 0, 1, LOADING)  # the first evaluation loads the model: say so
        ev = self._evaluator()
        self._loaded = True
        if ev.keys.key(setting, splits[0]) != self.key(setting, splits[0]):
            raise RuntimeError(  # a bug, not a user error: keys are one function of both
                "The evaluator's cache key differs from the store's: check its dtype, seed "
                "and max_length against the bundle's."
            )
        # The evaluator merges and evaluates under one hold of the merger's lock: no other
        # session can re-merge between our merge and our last batch. The progress callback
        # lets the dashboard stop this run between batches (the lock is released then).
        logits = ev.setting_logits(setting, splits, progress)  # a method's transform applied
        self.record_logits(setting, logits)

    def record_logits(self, setting: Setting, logits: dict[str, np.ndarray]) -> None:
        """Store exact logits ``{split: (n, 2)}`` of ``setting`` evaluated elsewhere (the
        evaluator here, or a Ray actor holding the same bundle): rows, sidecar, cache."""
        for s, lg in logits.items():
            if not np.isfinite(lg).all():
                # Finite vectors and coefficients give finite weights; a model that still
                # outputs NaN is not a result to show (or to cache) as exact.
                raise VectorError(
                    f"The merged model at {setting.label()} outputs NaN or infinite logits on "
                    f"{s}: its weights are not finite there. Check the vectors (rerun the build "
                    "to restore them) and the coefficients."
                )
        for s, lg in logits.items():
            sp = self.split(s)
            rows, warns = tidy_rows(
                setting, s, self.seed, lg, sp.labels, sp.groups,
                positive_label=self.positive_label,
            )  # fmt: skip
            k = self.key(setting, s)
            meta = point_meta(setting, s, self.keys, warns, self.source)
            if self.persist and self.cache is not None:
                try:
                    self.cache.put(k, rows, lg, meta)
                except OSError as exc:  # read-only folder, disk full: keep it in memory
                    self.write_error = (
                        f"The sweep cache could not be written ({exc.strerror or exc}): new "
                        "exact points are kept in this server's memory only and are evaluated "
                        "again after a restart. Free disk space or make the bundle's sweeps/ "
                        "folder writable."
                    )
                    log.warning("sweep cache %s: %s", self.cache.root, self.write_error)
                else:
                    self.write_error = None
            self._keep(k, rows, lg, meta)

    def sweep(
        self,
        settings: Sequence[Setting],
        splits: Sequence[str] = EVAL_SPLITS,
        progress: Progress | None = None,
    ) -> pd.DataFrame:
        """Every setting on every split exactly, as one tidy frame.

        Points already stored are read; missing ones are evaluated coarse grid first (so
        a complete, if coarse, curve exists early), each setting merged once for all its
        missing splits and stored as soon as it is done, so an interrupted sweep resumes.
        Rows come back in the order of ``settings`` then ``splits``;
        ``frame.attrs["warnings"]`` collects the metrics' warnings once.
        """
        settings, splits = list(dict.fromkeys(settings)), list(splits)
        for i, setting in enumerate(coarse_first(settings)):
            if any(not self.has(setting, s) for s in splits):
                self.evaluate(setting, splits)
            report(progress, i + 1, len(settings), setting.label())
        out = concat_rows([self.rows(st, s) for st in settings for s in splits])
        notes = {w: None for st in settings for s in splits for w in self.warnings(st, s)}
        out.attrs["warnings"] = list(notes)
        return out
