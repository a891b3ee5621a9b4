"""The dashboard's one door into taskfair: every cached call lives here.

Sharing rules (docs/DESIGN.md, convention 7):

* ``st.cache_resource`` holds what all sessions share read-only: the opened
  :class:`~taskfair.bundle.Bundle`, one :class:`~taskfair.sweep.Evaluator` per
  (bundle, seed) and a :class:`PointStore` per (bundle, seed). The evaluator's
  :class:`~taskfair.merge.Merger` owns a *private* working model and merges under its
  lock, so two users dragging different sliders never see each other's weights: each
  evaluation holds the lock from merge to last logit.
* Exact points are cached on disk by content hash (``bundle/sweeps/``, through
  :class:`~taskfair.sweep.SweepCache`) and in memory once read, so a second visit, a
  second user or a restarted server gets them at once; a point is never recomputed.
* Previews (interpolated logits, :mod:`taskfair.preview`) cost microseconds and are
  not cached at all.

Nothing here draws widgets; callers pass a ``progress(done, total, message)`` callback.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from taskfair import grid
from taskfair.bundle import MANIFEST, Bundle, resolve_bundle
from taskfair.errors import BundleError, UnsafePathError
from taskfair.progress import Progress

ROOT = Path(__file__).resolve().parent
MODELS_ROOT = ROOT / "models"
ENV_BUNDLE = "TASKFAIR_BUNDLE"
ENV_MODE = "TASKFAIR_MODE"
#: The progress message sent while the model and vectors load (once per server).
LOADING = "loading"


# ----------------------------------------------------------------------------- bundles


def viewer_mode() -> bool:
    """``TASKFAIR_MODE=viewer``: the hosted read-only viewer (no paths from users)."""
    return os.environ.get(ENV_MODE, "").strip().lower() == "viewer"


def bundle_choices() -> dict[str, str]:
    """``{name: folder}`` of the bundles the picker offers.

    ``TASKFAIR_BUNDLE`` (an operator's explicit path, any folder) comes first; then every
    folder under ``models/`` with a manifest. Users choose among these names only.
    """
    out: dict[str, str] = {}
    env = os.environ.get(ENV_BUNDLE, "").strip()
    if env:
        p = Path(env)
        if not p.is_absolute():
            p = (ROOT / p) if (ROOT / p).exists() or not p.exists() else p
        out[p.name or env] = str(p.resolve())
    if MODELS_ROOT.is_dir():
        for d in sorted(MODELS_ROOT.iterdir()):
            if (d / MANIFEST).is_file() and d.name not in out and not d.name.startswith("."):
                out[d.name] = str(d.resolve())
    return out


def check_bundle_name(name: str) -> str | None:
    """Why a user-given bundle name (from a link) cannot be opened, or None if it can."""
    choices = bundle_choices()
    if name in choices:
        return None
    try:
        path = resolve_bundle(name, MODELS_ROOT) if not viewer_mode() else None
    except UnsafePathError as exc:
        return str(exc)
    if path is not None and Path(path).is_dir() and (Path(path) / MANIFEST).is_file():
        return None
    return f"There is no bundle named {name!r}. Available: {', '.join(choices) or 'none'}."


def _stamp(path: str) -> float:
    """The manifest's mtime: a rebuilt bundle is a new cache entry."""
    try:
        return (Path(path) / MANIFEST).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_bundle(path: str, stamp: float) -> Bundle:
    return Bundle.open(path, verify=True)


def open_bundle(path: str) -> Bundle:
    """The bundle at ``path``, opened and checksum-verified once per build."""
    return _open_bundle(path, _stamp(path))


@st.cache_resource(show_spinner=False, max_entries=8)
def _evaluator(path: str, stamp: float, seed: int):
    from taskfair.sweep import Evaluator

    return Evaluator.from_bundle(_open_bundle(path, stamp), seed=seed)


def evaluator(path: str, seed: int):
    """The shared evaluator of (bundle, seed): base + vectors loaded once, private merger."""
    return _evaluator(path, _stamp(path), int(seed))


def can_evaluate(bundle: Bundle) -> bool:
    """Exact evaluation needs the weights; a viewer copy without them serves its cache."""
    return bundle.has_weights


def device_name() -> str:
    from taskfair.models import resolve_device

    return resolve_device().type


# ----------------------------------------------------------------------------- points


@dataclass(frozen=True)
class Split:
    """Labels and groups of one split, in the evaluator's row order."""

    labels: np.ndarray
    groups: pd.Series


class PointStore:
    """Exact points of one (bundle, seed): rows and logits, from memory, disk or evaluation.

    Shared by every session; everything it holds is immutable once stored. A per-key lock
    makes concurrent requests for the same point evaluate it once.
    """

    def __init__(self, path: str, stamp: float, seed: int):
        from taskfair import sweep

        self.path, self.stamp, self.seed = path, stamp, int(seed)
        self.bundle = _open_bundle(path, stamp)
        self.cache = sweep.SweepCache(self.bundle.sweeps_dir)
        # The keys an evaluator would use, computed without loading a model: a viewer
        # without weights can still find every cached point.
        self.keys = sweep.bundle_keys(self.bundle, self.seed)
        self.names = self.bundle.vector_names(self.seed)
        self.groups = [g for g in self.bundle.groups if g in self.names]
        self._rows: dict[str, pd.DataFrame] = {}
        self._logits: dict[str, np.ndarray] = {}
        self._meta: dict[str, dict] = {}  # sidecars of points evaluated here
        self._key_memo: dict[tuple, str] = {}
        self.previews: dict[tuple, pd.DataFrame] = {}  # see curve_preview
        self._splits: dict[str, Split] = {}
        self._scorers: dict[str, object] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    # -- data
    def split(self, split: str) -> Split:
        if split not in self._splits:
            frame = self.bundle.eval_frame
            part = frame[frame["split"] == split].reset_index(drop=True)
            if part.empty:
                raise BundleError(f"{self.bundle.name} has no evaluation rows for split {split!r}.")
            self._splits[split] = Split(
                part["label"].to_numpy(dtype=np.int64), part[self.bundle.attribute]
            )
        return self._splits[split]

    @property
    def splits(self) -> list[str]:
        frame = self.bundle.eval_frame
        return [s for s in ("val", "test") if (frame["split"] == s).any()]

    # -- lookup
    def key(self, setting, split: str) -> str:
        # Every redraw looks up every point of a curve, several times: hash each once.
        k = self._key_memo.get((setting, split))
        if k is None:
            k = self._key_memo[setting, split] = self.keys.key(setting, split)
        return k

    def rows(self, setting, split: str) -> pd.DataFrame | None:
        k = self.key(setting, split)
        got = self._rows.get(k)
        if got is None:
            got = self.cache.get(k)
            if got is not None:
                self._rows[k] = got
        return got

    def logits(self, setting, split: str) -> np.ndarray | None:
        k = self.key(setting, split)
        got = self._logits.get(k)
        if got is None:
            got = self.cache.logits(k)
            if got is not None:
                self._logits[k] = got
        return got

    def has(self, setting, split: str) -> bool:
        return self.rows(setting, split) is not None

    # -- evaluation
    def evaluate(self, setting, split: str, progress: Progress | None = None) -> pd.DataFrame:
        """Evaluate one point exactly (merge under the evaluator's lock), store it, return rows."""
        k = self.key(setting, split)
        with self._lock:
            lock = self._key_locks.setdefault(k, threading.Lock())
        with lock:
            got = self.rows(setting, split)
            if got is not None:  # another session finished it while we waited
                return got
            if not self._loaded and progress is not None:
                progress(0, 1, LOADING)  # the first evaluation loads the model: say so
            ev = evaluator(self.path, self.seed)
            self._loaded = True
            if ev.keys.key(setting, split) != k:  # pragma: no cover - a sweep.py change
                raise RuntimeError("The evaluator's cache key differs from the bundle's.")
            # The evaluator merges and evaluates under one hold of the merger's lock: no
            # other session can re-merge between our merge and our last batch. The
            # progress callback lets Streamlit stop this run between batches when the
            # user moves on (the lock is released on the way out).
            logits = ev.logits(setting.coeff_dict, split, setting.normalize, progress=progress)
            rows, warns = ev.tidy(setting, split, logits)
            meta = {
                "setting": {
                    "method": setting.method,
                    "lam": setting.lam,
                    "normalize": setting.normalize,
                    "coeffs": setting.coeff_dict,
                },
                "split": split,
                "seed": self.seed,
                "warnings": warns,
                "source": "dashboard",
            }
            self._persist(k, rows, logits, meta)
            self._rows[k], self._logits[k] = rows, logits
            return rows

    def _persist(self, k: str, rows: pd.DataFrame, logits: np.ndarray, meta: dict) -> None:
        """Write a new point to the bundle's cache, except in viewer mode.

        The hosted viewer serves its bundle read-only (often a read-only mount): points it
        evaluates live in memory for the server's lifetime, shared by every session. A
        bundle folder that cannot be written is treated the same way, not as an error.
        """
        self._meta[k] = meta
        if viewer_mode():
            return
        with contextlib.suppress(OSError):  # read-only folder: the point stays in memory
            self.cache.put(k, rows, logits, meta)

    def warnings(self, setting, split: str) -> list[str]:
        """The metrics' notes on an exact point (degenerate groups), from its sidecar."""
        k = self.key(setting, split)
        meta = self._meta.get(k) or self.cache.meta(k) or {}
        return list(meta.get("warnings", []))

    # -- previews
    def tidy(self, setting, split: str, logits: np.ndarray, exact: bool = False) -> pd.DataFrame:
        """Tidy rows of a *preview* from its logits, in the sweep's columns.

        Scored with :class:`~taskfair.preview.PreviewScorer` (numpy; the same numbers as
        fairlearn, about 100× faster), because previews are redrawn on every rerun; exact
        points always come from :meth:`evaluate` (fairlearn).
        """
        from taskfair.sweep import COLUMNS, OVERALL

        scorer = self._scorers.get(split)
        if scorer is None:
            from taskfair.preview import PreviewScorer

            sp = self.split(split)
            scorer = self._scorers[split] = PreviewScorer(sp.labels, sp.groups)
        preds = np.asarray(logits).argmax(axis=1)
        frame = scorer.report_preds(preds).to_frame(overall=True)
        labels = scorer.y
        top = frame["group"] == OVERALL
        pos, neg = labels == 1, labels == 0
        frame.loc[top, "selection_rate"] = preds.mean() if len(preds) else math.nan
        frame.loc[top, "tpr"] = preds[pos].mean() if pos.any() else math.nan
        frame.loc[top, "fpr"] = preds[neg].mean() if neg.any() else math.nan
        frame["method"] = setting.method
        frame["lam"] = math.nan if setting.lam is None else float(setting.lam)
        frame["normalize"] = setting.normalize
        frame["coeffs"] = setting.coeffs_json
        frame["split"] = split
        frame["seed"] = pd.array([self.seed] * len(frame), dtype="Int64")
        frame["exact"] = bool(exact)
        return frame[list(COLUMNS)].astype({"n": "int64", "lam": "float64"})


@st.cache_resource(show_spinner=False, max_entries=16)
def _store(path: str, stamp: float, seed: int) -> PointStore:
    return PointStore(path, stamp, seed)


def store(path: str, seed: int) -> PointStore:
    return _store(path, _stamp(path), int(seed))


# ----------------------------------------------------------------------------- settings


def task_addition(store: PointStore, lam: float, normalize: str):
    from taskfair.sweep import task_addition_settings

    return task_addition_settings(store.groups, [lam], normalize)[0]


def references(store: PointStore, with_base: bool = False) -> list:
    """FFT and LoRA at coefficient 1 (and the base) when the bundle has them."""
    from taskfair.sweep import reference_settings

    refs = reference_settings(store.names)
    return refs if with_base else [s for s in refs if s.method != "base"]


def mix(store: PointStore, lams: dict[str, float], anchor: str, normalize: str):
    """The setting of a per-group mix ``anchor + Σ λ_g τ_g`` with the cache's own names.

    A mix that *is* a task-addition or injection point gets that setting, so it shares
    the cache with the sweeps (and the Trade-off page).
    """
    from taskfair.sweep import Setting

    lams = {g: float(v) for g, v in lams.items()}
    if anchor == "fft":
        if len(lams) == 1:
            ((g, v),) = lams.items()
            return Setting("injection", v, "sum", {"fft": 1.0, g: v})
        return Setting("per_vector", None, "sum", {"fft": 1.0, **lams})
    values = set(lams.values())
    if set(lams) == set(store.groups) and len(values) == 1:
        return task_addition(store, values.pop(), normalize)
    return Setting("per_vector", None, normalize, lams)


def curve_settings(store: PointStore, lams: Sequence[float], normalize: str) -> list:
    from taskfair.sweep import task_addition_settings

    return task_addition_settings(store.groups, lams, normalize)


def injection_curve(
    store: PointStore,
    group: str,
    lams: Sequence[float],
    others: dict[str, float],
    anchor: str,
    normalize: str,
) -> list:
    """Settings varying ``group``'s λ over ``lams`` with the other toggled groups fixed."""
    return [mix(store, {**others, group: lam}, anchor, normalize) for lam in lams]


# ----------------------------------------------------------------------------- frames


def known_rows(store: PointStore, settings: Sequence, split: str) -> pd.DataFrame:
    """The exact rows available now for ``settings`` on ``split`` (missing ones skipped)."""
    frames = [r for s in settings if (r := store.rows(s, split)) is not None]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def missing(store: PointStore, settings: Sequence, splits: Sequence[str]) -> list[tuple]:
    """``[(setting, split)]`` not evaluated yet, in the order given (split-major)."""
    return [(s, sp) for sp in splits for s in settings if not store.has(s, sp)]


# Previews memoised per point store (each a small frame); cleared when full.
_MAX_PREVIEWS = 512


def curve_preview(store: PointStore, points: Sequence[tuple], split: str, x: float, setting):
    """Preview rows (``exact=False``) of ``setting``, at position ``x`` of a 1-D curve whose
    points are ``[(x_i, setting_i)]``: the logits of the two nearest exact points are
    interpolated (:class:`~taskfair.preview.InterpolationPreview`). None without a bracket."""
    from taskfair.preview import InterpolationPreview

    exact = [(xi, s, lg) for xi, s in points if (lg := store.logits(s, split)) is not None]
    below = [e for e in exact if e[0] <= x + 1e-9]
    above = [e for e in exact if e[0] >= x - 1e-9]
    if not below or not above:
        return None
    lo, hi = max(below, key=lambda e: e[0]), min(above, key=lambda e: e[0])
    # A preview is a pure function of its two exact neighbours, which never change once
    # stored: every session redrawing the same curve shares it (bounded, so an odd mix
    # of sliders cannot grow it without end).
    memo = (setting, split, round(float(x), 10), lo[0], lo[1], hi[0], hi[1])
    got = store.previews.get(memo)
    if got is None:
        logits = InterpolationPreview({lo[0]: lo[2], hi[0]: hi[2]}).logits(x)
        got = store.tidy(setting, split, logits, exact=False)
        if len(store.previews) >= _MAX_PREVIEWS:
            store.previews.clear()
        store.previews[memo] = got
    return got.copy()


def lam_points(settings: Sequence) -> list[tuple]:
    """``[(lam, setting)]`` of a global-λ curve."""
    return [(s.lam, s) for s in settings]


def preview_error(store: PointStore, points: Sequence[tuple], split: str) -> dict | None:
    """Measured error of the interpolation preview on this curve: each interior exact
    point predicted from its exact neighbours (leave-one-out, so across twice the spacing:
    pessimistic) and compared with its exact logits. None with fewer than 3 exact points."""
    from taskfair.preview import InterpolationPreview, measure_error

    exact = sorted(
        ((x, lg) for x, s in points if (lg := store.logits(s, split)) is not None),
        key=lambda e: e[0],
    )
    if len(exact) < 3:
        return None
    lams = [e[0] for e in exact]
    by = dict(exact)

    def loo(lam):
        i = lams.index(lam)
        return InterpolationPreview(
            {lams[i - 1]: exact[i - 1][1], lams[i + 1]: exact[i + 1][1]}
        ).logits(lam)

    sp = store.split(split)
    err = measure_error(loo, by.__getitem__, lams[1:-1], sp.labels, sp.groups)
    err["scheme"] = "leave-one-out over exact points"
    return err


# ----------------------------------------------------------------------------- work


def work(
    path: str,
    seed: int,
    todo: Sequence[tuple],
    budget_s: float,
    progress_for: Callable[[int, int, tuple], Progress],
) -> int:
    """Evaluate pending points in order until ``budget_s`` seconds are spent (at least one).

    Items are ``(setting, split)`` or ``(setting, split, seed)`` (default: ``seed``).
    Returns how many were evaluated; ``progress_for(i, n, item)`` gives item ``i``'s
    per-batch progress callback.
    """
    start, done = time.monotonic(), 0
    for i, item in enumerate(todo):
        if done and time.monotonic() - start > budget_s:
            break
        setting, split = item[0], item[1]
        s = store(path, item[2] if len(item) > 2 else seed)
        s.evaluate(setting, split, progress_for(i, len(todo), item))
        done += 1
    return done


def has(path: str, seed: int, item: tuple) -> bool:
    return store(path, item[2] if len(item) > 2 else seed).has(item[0], item[1])


# ----------------------------------------------------------------------------- vectors


@st.cache_data(show_spinner=False, max_entries=16)
def vector_geometry(path: str, stamp: float, seed: int) -> dict:
    """Norms, Gram matrix and pairwise cosines of one seed's vectors (read-only maths)."""
    from taskfair.analysis import gram_matrix

    # The evaluator's vectors are already in memory (they are read-only here).
    vecs = _evaluator(path, stamp, seed).vectors
    names, gram = gram_matrix(vecs)
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = gram / np.outer(norms, norms)
    return {
        "names": names,
        "gram": gram,
        "norms": dict(zip(names, norms.tolist(), strict=True)),
        "cosine": cos,
    }


def geometry(path: str, seed: int) -> dict:
    return vector_geometry(path, _stamp(path), int(seed))


# ----------------------------------------------------------------------------- selection


def front(frame: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """The Pareto front (lower ``metric``, higher accuracy) of the exact points of one split."""
    from taskfair.analysis import pareto_front

    if frame is None or frame.empty:
        return None
    exact = frame[frame["exact"].astype(bool)]
    if exact.empty:
        return None
    pts = pareto_front(exact, x=metric, y="accuracy", split=None)
    return pts.assign(group="__overall__")


def recommend(store: PointStore, curve: Sequence, refs: Sequence, metric: str) -> dict | None:
    """λ chosen on validation (smallest ``metric`` within 0.02 of FFT's accuracy), once
    the validation grid and FFT are exact; None before that. Never looks at test."""
    from taskfair.analysis import select_lambda

    if "val" not in store.splits or any(not store.has(s, "val") for s in [*curve, *refs]):
        return None
    val = known_rows(store, [*curve, *refs], "val")
    reference = None
    if not (val["method"] == "fft").any():  # no FFT vector: the best task-addition point
        reference = float(overall_rows(val)["accuracy"].max())
    sel = select_lambda(
        val, metric=metric, within=0.02, reference_accuracy=reference, methods=("task_addition",)
    )
    ref_name = "FFT" if reference is None else "the best λ"
    return {
        "lam": sel.lam,
        "selection": sel,
        "text": f"{sel.reason} ({ref_name}); chosen on **val** over {len(curve)} λ.",
    }


@st.cache_data(show_spinner=False, max_entries=64)
def _bootstrap(
    path: str, stamp: float, seed: int, key: str, split: str, n_boot: int
) -> pd.DataFrame:
    from taskfair.metrics import fairness_report

    s = _store(path, stamp, seed)
    logits = s._logits.get(key)  # in memory only, for points a viewer evaluated
    if logits is None:
        logits = s.cache.logits(key)
    sp = s.split(split)
    rep = fairness_report(
        sp.labels, logits.argmax(axis=1), sensitive_features=sp.groups, n_boot=n_boot
    )
    return rep.by_group


def bootstrap(store: PointStore, setting, split: str, n_boot: int = 200) -> pd.DataFrame | None:
    """Per-group bootstrap CIs (fairlearn) of an exact point; None if it is not exact."""
    if store.logits(setting, split) is None:
        return None
    return _bootstrap(store.path, store.stamp, store.seed, store.key(setting, split), split, n_boot)


def lipschitz(store: PointStore, settings: Sequence, split: str, estimator: str = "per_example"):
    """An empirical (lower) estimate of L from the exact points of a curve, or None with
    fewer than two (see :data:`taskfair.analysis.ESTIMATOR_NOTE`)."""
    from taskfair.analysis import estimate_lipschitz
    from taskfair.sweep import effective_coeffs

    exact = [(s, lg) for s in settings if (lg := store.logits(s, split)) is not None]
    if len(exact) < 2:
        return None
    geo = geometry(store.path, store.seed)
    names = list(store.groups)
    idx = [geo["names"].index(n) for n in names]
    gram = np.asarray(geo["gram"])[np.ix_(idx, idx)]
    return estimate_lipschitz(
        [lg for _, lg in exact],
        [effective_coeffs(s.coeff_dict, s.normalize) for s, _ in exact],
        names,
        gram,
        pairs="adjacent",
        estimator=estimator,
        groups=store.split(split).groups if estimator == "group_mean" else None,
    )


# ----------------------------------------------------------------------------- helpers


def overall_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["group"] == "__overall__"]


def overall(rows: pd.DataFrame) -> dict:
    """The overall row of one point as a dict (``lam``, metrics, ``exact``)."""
    if rows is None or rows.empty:
        return {}
    r = rows[rows["group"] == "__overall__"].iloc[0].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}


def grid_lams() -> tuple[float, ...]:
    return grid.LAMBDA_GRID
