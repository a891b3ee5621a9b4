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

Memory is bounded: at most :data:`MAX_POINTS` points (rows, logits, sidecar) and
:data:`MAX_PREVIEWS` previews per store, least recently used dropped first (a dropped
point is read from disk again when asked for, or evaluated again where it was never
written). Points read from disk are verified first (:meth:`SweepCache.entry`, and their
rows against their own logits and labels here); a point that fails is a cache miss.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskfair.data import EVAL_SPLITS
from taskfair.errors import VectorError
from taskfair.metrics import OVERALL, PreviewScorer, fairness_report, intersection_labels
from taskfair.progress import Progress, report
from taskfair.sweep.bands import band_name, band_record, pair_name, pair_record, with_bands
from taskfair.sweep.cache import SweepCache
from taskfair.sweep.keys import PointKeys, bundle_keys
from taskfair.sweep.lru import LRU
from taskfair.sweep.plan import Item, coarse_first
from taskfair.sweep.preview import InterpolationPreview, bracket
from taskfair.sweep.preview_error import leave_one_out_error
from taskfair.sweep.refine import disagreement, refine_order
from taskfair.sweep.rows import (
    concat_rows,
    point_meta,
    reference_rows,
    rows_mismatch,
    tidy_rows,
    with_degeneracy,
)
from taskfair.sweep.settings import Setting

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


@dataclass(frozen=True)
class SplitRows:
    """Labels ``(n,)`` int64 0/1 and groups (name or missing, index 0..n-1) of one split;
    ``attributes``: every sensitive attribute column of the rows (index 0..n-1), for
    reading metrics over intersections (None when the rows keep only the trained one)."""

    labels: np.ndarray
    groups: pd.Series
    attributes: pd.DataFrame | None = None


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
        evaluator: Callable[[], object] | None = None,
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
        problem = None if entry is None else _inconsistency(entry.rows, entry.logits, sp)
        if entry is not None and problem is None:  # every fairness number, from the logits
            problem = rows_mismatch(
                entry.rows, entry.logits, sp.labels, sp.groups, self.scorer(split),
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
        # rows cached before the degeneracy columns existed get them derived here
        rows = with_degeneracy(entry.rows, self.positive_label)
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

    # -- previews ---------------------------------------------------------------------
    def scorer(self, split: str) -> PreviewScorer:
        """The count-table scorer of a split's labels and groups (built once)."""
        scorer = self._scorers.get(split)
        if scorer is None:
            sp = self.split(split)
            scorer = PreviewScorer(sp.labels, sp.groups, self.positive_label)
            self._scorers[split] = scorer
        return scorer

    def preview_rows(self, setting: Setting, split: str, logits: np.ndarray) -> pd.DataFrame:
        """Tidy rows of a *preview* from its logits (``exact=False``), scored with the fast
        scorer (the same numbers as fairlearn, about 100× faster)."""
        scorer = self.scorer(split)
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
            self._previews[memo] = got
        return got.copy()

    def curve_frame(
        self, points: Sequence[tuple[float, Setting]], split: str, bands: bool = False
    ) -> pd.DataFrame:
        """Rows of every point of a curve: exact where evaluated, previews between. With
        ``bands``, each exact point's rows carry its bootstrap band columns
        (:data:`taskfair.sweep.bands.BAND_COLUMNS`; NaN on previews)."""
        frames = []
        for x, s in points:
            rows = self.curve_point(points, split, x, s)
            if rows is not None and bands:
                rows = with_bands(rows, self.bands(s, split))
            frames.append(rows)
        return concat_rows(frames)

    def with_bands(self, setting: Setting, split: str) -> pd.DataFrame | None:
        """The exact rows of a point with its band columns, or None if not exact."""
        rows = self.rows(setting, split)
        return None if rows is None else with_bands(rows, self.bands(setting, split))

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

    def refined_plan(
        self, plan: Sequence[Item], points: Sequence[tuple[float, Setting]], split: str
    ) -> list[Item]:
        """``plan`` with its items of the curve ``points`` on ``split`` that are not exact
        yet reordered by adaptive refinement (:func:`taskfair.sweep.refine.refine_order`):
        the interval whose exact ends disagree most in fairness units first. The plan's
        first item (the point the user looks at) and every other item keep their place."""
        at = {s: x for x, s in points}
        slots = [
            i
            for i, item in enumerate(plan)
            if i and item[1] == split and item[0] in at and not self.has(item[0], split)
        ]
        exact = sorted(((x, s) for x, s in points if self.has(s, split)), key=lambda e: e[0])
        if len(slots) < 2 or len(exact) < 2:
            return list(plan)
        scores = {}
        for (a, sa), (b, sb) in zip(exact, exact[1:], strict=False):
            pair = (self.key(sa, split), self.key(sb, split))
            if pair not in self._disagree:
                la, lb = self.logits(sa, split), self.logits(sb, split)
                if la is None or lb is None:
                    continue
                self._disagree[pair] = disagreement(self.scorer(split), la, lb)["score"]
            scores[a, b] = self._disagree[pair]
        ordered = refine_order([(at[plan[i][0]], plan[i]) for i in slots], scores)
        out = list(plan)
        for i, (_, item) in zip(slots, ordered, strict=True):
            out[i] = item
        return out

    # -- intersections ------------------------------------------------------------------
    def intersection_scorer(self, split: str, attributes: Sequence[str]) -> PreviewScorer:
        """The count-table scorer of a split over the intersections of ``attributes``."""
        memo = ("scorer", split, tuple(attributes))
        got = self._crossed.get(memo)
        if got is None:
            sp = self.split(split)
            if sp.attributes is None:
                raise ValueError(
                    "These evaluation rows keep one sensitive attribute only: rebuild the "
                    "bundle to read intersections."
                )
            cells = intersection_labels(sp.attributes, attributes).reset_index(drop=True)
            got = self._crossed[memo] = PreviewScorer(sp.labels, cells, self.positive_label)
        return got

    def intersection_rows(
        self, setting: Setting, split: str, attributes: Sequence[str]
    ) -> pd.DataFrame | None:
        """Tidy rows of an exact point with its groups read over the intersections of
        ``attributes`` (e.g. gender × race; one row per cell, with its ``n``), scored from
        the cached logits by the count-table scorer (equal to fairlearn with both
        attributes as sensitive features); None if the point is not exact."""
        logits = self.logits(setting, split)
        if logits is None:
            return None
        memo = (self.key(setting, split), tuple(attributes))
        got = self._crossed.get(memo)
        if got is None:
            sp, scorer = self.split(split), self.intersection_scorer(split, attributes)
            got, _ = tidy_rows(setting, split, self.seed, logits, sp.labels, None, scorer=scorer)
            self._crossed[memo] = got
        return got

    # -- reference predictors -----------------------------------------------------------
    def reference_rows(self, split: str) -> pd.DataFrame:
        """Tidy rows of the split's reference predictors (constant all-positive and
        all-negative, label oracle), scored by fairlearn once per split."""
        got = self._references.get(split)
        if got is None:
            sp = self.split(split)
            got = reference_rows(split, sp.labels, sp.groups, self.positive_label)
            got["seed"] = pd.array([self.seed] * len(got), dtype="Int64")
            self._references[split] = got
        return got

    # -- uncertainty ------------------------------------------------------------------
    def record(self, name: str, make: Callable[[], dict]) -> dict:
        """A named JSON record (a band, a paired difference) from memory, else the sweep
        cache, else ``make()`` -- then stored beside the points when the cache is
        writable (in memory only otherwise), so a redraw never resamples twice."""
        memo = self._bands
        got = memo.get(name)
        if got is None and self.cache is not None:
            got = self.cache.get_json(name)
        if got is None:
            got = make()
            if self.persist and self.cache is not None:
                with contextlib.suppress(OSError, ValueError):  # read-only: memory only
                    self.cache.put_json(name, got)
        memo[name] = got
        return got

    def bands(self, setting: Setting, split: str) -> dict | None:
        """The 95% bootstrap band record of an exact point (count-table bootstrap over the
        split's rows, from its cached logits: no model time), or None if not exact. See
        :func:`taskfair.metrics.bootstrap_bands`."""
        logits = self.logits(setting, split)
        if logits is None:
            return None
        name = band_name(self.key(setting, split))
        return self.record(name, lambda: band_record(self.scorer(split), logits))

    def paired(self, a: Setting, b: Setting, split: str) -> dict | None:
        """Paired bootstrap of ``a − b`` (accuracy, DPD, EOD) on the same resampled rows,
        from both points' cached logits; None unless both are exact. See
        :func:`taskfair.metrics.paired_difference`."""
        la, lb = self.logits(a, split), self.logits(b, split)
        if la is None or lb is None:
            return None
        name = pair_name(self.key(a, split), self.key(b, split))
        return self.record(name, lambda: pair_record(self.scorer(split), la, lb))

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


def _inconsistency(rows: pd.DataFrame, logits: np.ndarray, sp: SplitRows) -> str | None:
    """Why a cached point's rows are not those of its logits on this split, or None: the
    overall accuracy, and each group's size and selection rate, recomputed from the
    logits (a cheap check that catches edited numbers and rows of another point)."""
    preds = logits.argmax(axis=1)
    top = rows[rows["group"] == OVERALL]
    if len(top) != 1 or int(top["n"].iloc[0]) != len(preds):
        return "its overall row does not count the split's rows"
    if abs(float(top["accuracy"].iloc[0]) - float((preds == sp.labels).mean())) > 1e-9:
        return "its overall accuracy is not that of its logits"
    for g, n, rate in rows.loc[
        rows["group"] != OVERALL, ["group", "n", "selection_rate"]
    ].itertuples(index=False):
        mask = (sp.groups == g).fillna(False).to_numpy(dtype=bool)
        if int(mask.sum()) != int(n):
            return f"its group {g!r} has {n} rows, the split {int(mask.sum())}"
        if mask.any() and not pd.isna(rate) and abs(float(rate) - float(preds[mask].mean())) > 1e-9:
            return f"its selection rate of group {g!r} is not that of its logits"
    return None
