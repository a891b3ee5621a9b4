"""The point store: every exact point of one (bundle, seed), from memory, disk or evaluation.

The one place a point is evaluated and stored, for the CLI's sweeps and for the
dashboard alike. A :class:`PointStore` looks a point up in memory, then in the sweep
cache on disk, and evaluates it (through an :class:`~taskfair.sweep.Evaluator`, obtained
lazily so a viewer without weights never loads one) only when it is in neither; a
per-key lock makes concurrent requests for one point evaluate it once. Everything it
holds is immutable once stored, so one store can serve every session of a server.

Previews live here too, because they are functions of exact points: a curve's preview
at ``x`` interpolates the logits of the two nearest exact points (memoised, bounded),
and its measured error is the leave-one-out error over the exact points of the curve.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskfair.data import EVAL_SPLITS
from taskfair.metrics import PreviewScorer, fairness_report
from taskfair.progress import Progress, report
from taskfair.sweep.cache import SweepCache
from taskfair.sweep.keys import PointKeys, bundle_keys
from taskfair.sweep.plan import Item, coarse_first
from taskfair.sweep.preview import InterpolationPreview, bracket
from taskfair.sweep.preview_error import leave_one_out_error
from taskfair.sweep.rows import concat_rows, point_meta, tidy_rows
from taskfair.sweep.settings import Setting

__all__ = ["LOADING", "MAX_PREVIEWS", "PointStore", "SplitRows", "work"]

#: The progress message sent while the model and vectors load (once per store).
LOADING = "loading"
#: Preview rows memoised per store (each a small frame); cleared when full, so an odd
#: mix of sliders cannot grow it without end.
MAX_PREVIEWS = 512


@dataclass(frozen=True)
class SplitRows:
    """Labels ``(n,)`` int64 0/1 and groups (name or missing, index 0..n-1) of one split."""

    labels: np.ndarray
    groups: pd.Series


class PointStore:
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
    """

    def __init__(
        self,
        keys: PointKeys,
        cache: SweepCache | None,
        split_rows: Callable[[str], SplitRows],
        *,
        evaluator: Callable[[], object] | None = None,
        persist: bool = True,
        names: Sequence[str] = (),
        groups: Sequence[str] = (),
        splits: Sequence[str] = (),
        source: str = "sweep",
    ):
        self.keys, self.cache, self.seed = keys, cache, keys.seed
        self._split_rows = split_rows
        self._evaluator = evaluator
        self.persist = persist
        self.names, self.groups, self.splits = list(names), list(groups), list(splits)
        self.source = source
        self._rows: dict[str, pd.DataFrame] = {}
        self._logits: dict[str, np.ndarray] = {}
        self._meta: dict[str, dict] = {}  # sidecars of points evaluated here
        self._key_memo: dict[tuple, str] = {}
        self._previews: dict[tuple, pd.DataFrame] = {}
        self._splits: dict[str, SplitRows] = {}
        self._scorers: dict[str, PreviewScorer] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    # -- construction -----------------------------------------------------------------
    @classmethod
    def for_bundle(
        cls,
        bundle,
        seed: int,
        evaluator: Callable[[], object] | None = None,
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
            return SplitRows(part["label"].to_numpy(dtype=np.int64), part[bundle.attribute])

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
        if got is None and self.cache is not None:
            got = self.cache.get(k)
            if got is not None:
                self._rows[k] = got
        return got

    def logits(self, setting: Setting, split: str) -> np.ndarray | None:
        """The exact logits ``(n, 2)`` of a point, or None."""
        k = self.key(setting, split)
        got = self._logits.get(k)
        if got is None and self.cache is not None:
            got = self.cache.logits(k)
            if got is not None:
                self._logits[k] = got
        return got

    def has(self, setting: Setting, split: str) -> bool:
        return self.rows(setting, split) is not None

    def meta(self, setting: Setting, split: str) -> dict:
        k = self.key(setting, split)
        return self._meta.get(k) or (self.cache.meta(k) if self.cache is not None else None) or {}

    def warnings(self, setting: Setting, split: str) -> list[str]:
        """The metrics' notes on an exact point (degenerate groups), from its sidecar."""
        return list(self.meta(setting, split).get("warnings", []))

    def known_rows(self, settings: Sequence[Setting], split: str) -> pd.DataFrame:
        """The exact rows available now for ``settings`` on ``split`` (missing ones skipped)."""
        return concat_rows([self.rows(s, split) for s in settings])

    def missing(self, plan: Sequence[Item]) -> list[Item]:
        """The items of a plan (``(setting, split)``) not evaluated yet, in order."""
        return [p for p in plan if not self.has(p[0], p[1])]

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
        logits = ev.logits_many(setting.coeff_dict, splits, setting.normalize, progress)
        self.record(setting, logits)

    def record(self, setting: Setting, logits: dict[str, np.ndarray]) -> None:
        """Store exact logits ``{split: (n, 2)}`` of ``setting`` evaluated elsewhere (the
        evaluator here, or a Ray actor holding the same bundle): rows, sidecar, cache."""
        for s, lg in logits.items():
            sp = self.split(s)
            rows, warns = tidy_rows(setting, s, self.seed, lg, sp.labels, sp.groups)
            k = self.key(setting, s)
            meta = point_meta(setting, s, self.keys, warns, self.source)
            self._meta[k] = meta
            if self.persist and self.cache is not None:
                with contextlib.suppress(OSError):  # read-only folder: keep it in memory
                    self.cache.put(k, rows, lg, meta)
            self._rows[k], self._logits[k] = rows, lg

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

    # -- previews ---------------------------------------------------------------------
    def preview_rows(self, setting: Setting, split: str, logits: np.ndarray) -> pd.DataFrame:
        """Tidy rows of a *preview* from its logits (``exact=False``), scored with the fast
        scorer (the same numbers as fairlearn, about 100× faster)."""
        scorer = self._scorers.get(split)
        if scorer is None:
            sp = self.split(split)
            scorer = self._scorers[split] = PreviewScorer(sp.labels, sp.groups)
        sp = self.split(split)
        rows, _ = tidy_rows(
            setting, split, self.seed, logits, sp.labels, sp.groups, exact=False, scorer=scorer
        )
        return rows

    def curve_point(
        self, points: Sequence[tuple[float, Setting]], split: str, x: float, setting: Setting
    ) -> pd.DataFrame | None:
        """Rows of ``setting`` at position ``x`` of a 1-D curve ``[(x_i, setting_i)]``: its
        exact rows if evaluated, else a preview interpolating the logits of the two
        nearest exact points (``exact=False``); None without an exact point on each side."""
        rows = self.rows(setting, split)
        if rows is not None:
            return rows
        exact = sorted(
            ((xi, s, lg) for xi, s in points if (lg := self.logits(s, split)) is not None),
            key=lambda e: e[0],
        )
        found = bracket([e[0] for e in exact], x)
        if found is None:
            return None
        lo, hi = exact[found[0]], exact[found[1]]
        # A preview is a pure function of its two exact neighbours, which never change once
        # stored: every session redrawing the same curve shares it.
        memo = (setting, split, round(float(x), 10), lo[0], lo[1], hi[0], hi[1])
        got = self._previews.get(memo)
        if got is None:
            logits = InterpolationPreview({lo[0]: lo[2], hi[0]: hi[2]}).logits(x)
            got = self.preview_rows(setting, split, logits)
            if len(self._previews) >= MAX_PREVIEWS:
                self._previews.clear()
            self._previews[memo] = got
        return got.copy()

    def curve_frame(self, points: Sequence[tuple[float, Setting]], split: str) -> pd.DataFrame:
        """Rows of every point of a curve: exact where evaluated, previews between."""
        return concat_rows([self.curve_point(points, split, x, s) for x, s in points])

    def preview_error(self, points: Sequence[tuple[float, Setting]], split: str) -> dict | None:
        """Measured error of the curve's interpolation preview: each interior exact point
        predicted from its exact neighbours (leave-one-out, across twice the spacing:
        pessimistic). None with fewer than 3 exact points."""
        exact = {x: lg for x, s in points if (lg := self.logits(s, split)) is not None}
        if len(exact) < 3:
            return None
        sp = self.split(split)
        err = leave_one_out_error(exact, sp.labels, sp.groups)
        err["scheme"] = "leave-one-out over exact points"
        return err

    # -- uncertainty ------------------------------------------------------------------
    def bootstrap(self, setting: Setting, split: str, n_boot: int = 200) -> pd.DataFrame | None:
        """Per-group bootstrap CIs (fairlearn) of an exact point; None if it is not exact."""
        logits = self.logits(setting, split)
        if logits is None:
            return None
        sp = self.split(split)
        rep = fairness_report(
            sp.labels, logits.argmax(axis=1), sensitive_features=sp.groups, n_boot=n_boot
        )
        return rep.by_group


def work(
    store_of: Callable[[Item], PointStore],
    items: Sequence[Item],
    budget_s: float,
    progress_for: Callable[[int, int, Item], Progress | None] = lambda i, n, item: None,
) -> int:
    """Evaluate ``items`` in order until ``budget_s`` seconds are spent (at least one).

    ``store_of(item)`` is the item's store (a view over several seeds has one per seed);
    ``progress_for(i, n, item)`` gives item ``i``'s per-batch progress callback. Returns
    how many items were evaluated.
    """
    start, done = time.monotonic(), 0
    for i, item in enumerate(items):
        if done and time.monotonic() - start > budget_s:
            break
        store_of(item).evaluate(item[0], item[1], progress_for(i, len(items), item))
        done += 1
    return done
