"""Exact lambda sweeps: settings → tidy DataFrame, cached per point by content hash.

One *point* is one merge setting (``anchor + sum_g lambda_g tau_g``) evaluated on one
split. Every point is cached on its own (``<hash>.parquet`` rows, ``<hash>.logits.npy``
per-example logits ``(n, 2)`` float32, ``<hash>.json`` sidecar), so a repeated point costs
nothing, an interrupted sweep resumes where it stopped, and previews and the dashboard
can reuse the logits. The hash covers everything the result depends on: the base
weights' fingerprint, the fingerprints of the vectors the setting names, the split's
rows (content and order), the setting itself, the model's ``max_length`` and dtype,
the sensitive attribute and the seed label, plus :data:`CACHE_VERSION`.

Tidy frame columns (docs/ARCHITECTURE.md, "Sweeps"): :data:`COLUMNS`. One row per
(setting, split, seed, group) with ``group == "__overall__"`` for the whole split.
As in :meth:`taskfair.metrics.FairnessReport.to_frame`, the point-level numbers
(``macro_accuracy``, ``worst_group_accuracy``, ``dpd``, ``eod``) are repeated on every
row of a point; ``accuracy``, ``n``, ``selection_rate``, ``tpr`` and ``fpr`` are the
row's own (the overall row's rates are over all rows of the split, grouped or not);
``vs_rest_*`` are NaN on the overall row. ``lam`` is NaN for per-vector mixes and
reference points (their coefficients are in ``coeffs``).

Evaluations are grouped per setting: the weights are merged once and every split that
is not cached yet is evaluated under the same merge.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskfair.grid import COARSE_GRID, INJECTION_GRID, LAMBDA_GRID
from taskfair.io import atomic_path, atomic_write_json
from taskfair.merge import NORMALIZATIONS, Merger
from taskfair.progress import Progress, report

__all__ = [
    "CACHE_VERSION",
    "COLUMNS",
    "DEFAULT_TOKEN_BUDGET",
    "METHODS",
    "OVERALL",
    "REFERENCE_METHODS",
    "Evaluator",
    "PointKeys",
    "Setting",
    "SweepCache",
    "bundle_keys",
    "configure",
    "effective_coeffs",
    "first_order_error",
    "injection_settings",
    "interpolation_error",
    "curve_preview",
    "per_vector_settings",
    "reference_points",
    "reference_settings",
    "run",
    "run_sweep",
    "settings_for",
    "sweep_bundle",
    "task_addition_settings",
]

#: Bump when the stored rows or logits change meaning: old cache files are then ignored.
CACHE_VERSION = 1
OVERALL = "__overall__"
METHODS = ("task_addition", "injection", "per_vector", "fft", "lora", "base")
REFERENCE_METHODS = ("fft", "lora", "base")
COLUMNS: tuple[str, ...] = (
    "method",
    "lam",
    "normalize",
    "coeffs",
    "split",
    "seed",
    "group",
    "accuracy",
    "macro_accuracy",
    "worst_group_accuracy",
    "dpd",
    "eod",
    "n",
    "selection_rate",
    "tpr",
    "fpr",
    "vs_rest_dpd",
    "vs_rest_eod",
    "exact",
)
#: Padded tokens per batch by device type for ``token_budget="auto"``; a device not listed
#: uses fixed batches of ``batch_size`` rows. Measured with ``python -m taskfair bench``:
#: on an H100 cutting by 32,768 tokens made (b) 3.2× faster than 64-row batches (fp32);
#: on 2 CPU cores no difference stood out of the noise, so CPU keeps fixed batches.
DEFAULT_TOKEN_BUDGET: dict[str, int] = {"cuda": 32768}
# Vector names with a fixed meaning (bundle.RESERVED_NAMES); every other one is a subgroup.
_RESERVED = ("fft", "lora")
# A full per-vector grid grows as len(lams) ** len(groups): refuse silly sizes.
_MAX_GRID_POINTS = 256


# ----------------------------------------------------------------------------- settings


def _round(x: float) -> float:
    # Same rounding as grid.py, so 0.1 * 3 and 0.3 name the same point.
    return round(float(x), 10)


@dataclass(frozen=True)
class Setting:
    """One merge setting: ``anchor + sum_g coeffs[g] * tau_g`` under ``normalize``.

    ``coeffs`` is stored as a sorted tuple of ``(name, value)`` pairs (pass a dict; it is
    converted) so that settings hash and compare by value. ``lam`` is the global scalar
    of task addition / injection, ``None`` for per-vector mixes and reference points.
    ``normalize`` is applied by the merger: ``"mean"`` divides every coefficient by the
    number of vectors named.
    """

    method: str
    lam: float | None
    normalize: str = "sum"
    coeffs: tuple[tuple[str, float], ...] = field(default=())

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"Unknown sweep method {self.method!r}: use one of {METHODS}.")
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(
                f"Unknown normalisation {self.normalize!r}: use one of {NORMALIZATIONS}."
            )
        items = self.coeffs.items() if isinstance(self.coeffs, Mapping) else self.coeffs
        coeffs = tuple(sorted((str(k), _round(v)) for k, v in items))
        object.__setattr__(self, "coeffs", coeffs)
        if self.lam is not None:
            object.__setattr__(self, "lam", _round(self.lam))

    @property
    def coeff_dict(self) -> dict[str, float]:
        return dict(self.coeffs)

    @property
    def coeffs_json(self) -> str:
        return json.dumps(self.coeff_dict, sort_keys=True)

    @property
    def effective(self) -> dict[str, float]:
        """The coefficients the merger actually applies (``normalize`` resolved)."""
        return effective_coeffs(self.coeff_dict, self.normalize)

    def label(self) -> str:
        if self.lam is not None:
            return f"{self.method} λ={self.lam:g}"
        return f"{self.method} {self.coeffs_json}"


def effective_coeffs(coeffs: Mapping[str, float], normalize: str = "sum") -> dict[str, float]:
    """``coeffs`` as the merger applies them: ``"mean"`` divides by the number named."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"Unknown normalisation {normalize!r}: use one of {NORMALIZATIONS}.")
    scale = 1.0 / len(coeffs) if normalize == "mean" and coeffs else 1.0
    return {k: float(v) * scale for k, v in coeffs.items()}


def task_addition_settings(
    groups: Sequence[str], lams: Iterable[float] = LAMBDA_GRID, normalize: str = "sum"
) -> list[Setting]:
    """``theta_0 + lam * sum_g tau_g`` (``"sum"``) or ``lam / G * sum_g`` (``"mean"``)."""
    groups = list(groups)
    return [Setting("task_addition", lam, normalize, {g: lam for g in groups}) for lam in lams]


def injection_settings(
    groups: Sequence[str], lams: Iterable[float] = INJECTION_GRID, anchor: str = "fft"
) -> list[Setting]:
    """``theta_FFT + lam * tau_g`` for every group ``g`` and every ``lam`` (group-major)."""
    lams = list(lams)
    return [Setting("injection", lam, "sum", {anchor: 1.0, g: lam}) for g in groups for lam in lams]


def per_vector_settings(
    groups: Sequence[str],
    lams: Iterable[float] = COARSE_GRID,
    normalize: str = "sum",
    others: float | None = None,
) -> list[Setting]:
    """Per-vector coefficients ``theta_0 + sum_g lambda_g tau_g``.

    ``others=None``: the full grid, every combination of ``lams`` over the groups
    (``len(lams) ** len(groups)`` points, refused above 256). ``others=x``: one vector
    at a time over ``lams`` while every other vector stays at ``x``.
    """
    groups, lams = list(groups), list(lams)
    if others is None:
        size = len(lams) ** len(groups)
        if size > _MAX_GRID_POINTS:
            raise ValueError(
                f"A full per-vector grid over {len(groups)} vectors and {len(lams)} values has "
                f"{size} points; pass others=1.0 to vary one vector at a time, or fewer values."
            )
        combos = itertools.product(lams, repeat=len(groups))
        out = [
            Setting("per_vector", None, normalize, dict(zip(groups, c, strict=True)))
            for c in combos
        ]
    else:
        out = [
            Setting("per_vector", None, normalize, {h: (lam if h == g else others) for h in groups})
            for g in groups
            for lam in lams
        ]
    return list(dict.fromkeys(out))


def reference_settings(names: Iterable[str]) -> list[Setting]:
    """Base (no vector), and FFT / LoRA at coefficient 1 when those vectors exist."""
    names = set(names)
    out = [Setting("base", None, "sum", {})]
    out += [Setting(m, None, "sum", {m: 1.0}) for m in ("fft", "lora") if m in names]
    return out


def settings_for(
    method: str,
    groups: Sequence[str],
    lams: Iterable[float] | None = None,
    normalize: str = "sum",
    names: Iterable[str] = (),
) -> list[Setting]:
    """The settings of one sweep ``method`` with its default grid when ``lams`` is None."""
    if method == "task_addition":
        return task_addition_settings(groups, LAMBDA_GRID if lams is None else lams, normalize)
    if method == "injection":
        return injection_settings(groups, INJECTION_GRID if lams is None else lams)
    if method == "per_vector":
        return per_vector_settings(groups, COARSE_GRID if lams is None else lams, normalize)
    if method == "references":
        return reference_settings(names)
    raise ValueError(
        f"Unknown sweep {method!r}: use task_addition, injection, per_vector or references."
    )


# ----------------------------------------------------------------------------- hashing


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _split_fingerprint(rows: pd.DataFrame, content: str, attribute: str) -> str:
    """sha256 of one split's inputs, labels and groups, in row order."""
    h = hashlib.sha256()
    for col in (content, "label", attribute):
        values = ["\x00NA" if pd.isna(v) else str(v) for v in rows[col].tolist()]
        h.update(col.encode() + b"\x1d" + "\x1f".join(values).encode() + b"\x1e")
    return h.hexdigest()


@dataclass
class PointKeys:
    """Everything a point's result depends on, hashed into one cache key per point.

    Only the fingerprints of the vectors a setting names enter its key, so adding or
    rebuilding an unrelated vector does not invalidate it. ``vector_fingerprint`` is a
    callable so that tensor hashes are computed only when a setting needs them.
    """

    base_fingerprint: str
    vector_fingerprint: object  # Callable[[str], str]
    split_fingerprints: Mapping[str, str]
    attribute: str
    max_length: int | None
    dtype: str
    seed: int | None = None

    def key(self, setting: Setting, split: str) -> str:
        if split not in self.split_fingerprints:
            raise ValueError(
                f"No rows for split {split!r}; have {sorted(self.split_fingerprints)}."
            )
        return _sha(
            {
                "v": CACHE_VERSION,
                "base": self.base_fingerprint,
                "vectors": {n: self.vector_fingerprint(n) for n, _ in setting.coeffs},
                "data": self.split_fingerprints[split],
                "split": split,
                "attribute": self.attribute,
                "max_length": self.max_length,
                "dtype": self.dtype,
                "seed": self.seed,
                "method": setting.method,
                "lam": setting.lam,
                "normalize": setting.normalize,
                "coeffs": setting.coeffs,
            }
        )


# ----------------------------------------------------------------------------- cache


class SweepCache:
    """Per-point results on disk: ``<key>.parquet`` rows, ``<key>.logits.npy``, ``<key>.json``.

    The parquet file is written last, so its presence means the point is complete; every
    file is written atomically (temporary file + rename). A file that cannot be read is
    treated as missing and recomputed.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        if not key.isalnum():  # keys are hex digests; refuse anything that could be a path
            raise ValueError(f"Invalid cache key {key!r}.")
        return self.root / f"{key}{suffix}"

    def __contains__(self, key: str) -> bool:
        return self._path(key, ".parquet").is_file()

    def get(self, key: str) -> pd.DataFrame | None:
        """The cached rows of a point, or None."""
        path = self._path(key, ".parquet")
        if not path.is_file():
            return None
        try:
            return pd.read_parquet(path)
        except Exception:  # a damaged file is a cache miss, never an error
            return None

    def logits(self, key: str) -> np.ndarray | None:
        """The cached per-example logits ``(n, 2)`` of a point, or None."""
        path = self._path(key, ".logits.npy")
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None

    def meta(self, key: str) -> dict | None:
        path = self._path(key, ".json")
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, json.JSONDecodeError):
            return None

    def put(self, key: str, rows: pd.DataFrame, logits: np.ndarray, meta: Mapping) -> None:
        with atomic_path(self._path(key, ".logits.npy")) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(logits, dtype=np.float32), allow_pickle=False)
        atomic_write_json(self._path(key, ".json"), dict(meta))
        with atomic_path(self._path(key, ".parquet")) as tmp:
            rows.to_parquet(tmp, index=False)

    def get_json(self, name: str) -> dict | None:
        """A named JSON record (e.g. a preview's measured error), or None."""
        return self.meta(name)

    def put_json(self, name: str, obj: Mapping) -> None:
        atomic_write_json(self._path(name, ".json"), dict(obj))


# ----------------------------------------------------------------------------- evaluator


class _BudgetBatches:
    """Length-sorted batches of at most ``token_budget`` padded tokens (and ``max_rows``).

    Same ``(row_indices, inputs)`` format as :meth:`EncodedText.batches`, so
    :func:`taskfair.evaluate.predict_encoded` takes it as is. Rows are sorted longest
    first, so a batch's width is its first row's length.
    """

    def __init__(self, encoded, token_budget: int, max_rows: int):
        self._n = len(encoded)
        self._batches = []
        order, lengths = encoded.order, encoded.lengths
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])
            size = max(1, min(max_rows, token_budget // max(width, 1)))
            idx = order[start : start + size]
            self._batches.append(_pad_batch(encoded, idx, width))
            start += size

    def __len__(self) -> int:
        return self._n

    def batches(self, _batch_size: int):
        return self._batches


def _pad_batch(encoded, idx: np.ndarray, width: int):
    input_ids = np.full((len(idx), width), encoded.pad_id, dtype=np.int64)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    for r, i in enumerate(idx):
        n = encoded.lengths[i]
        input_ids[r, :n] = encoded.ids[i]
        mask[r, :n] = 1
    return idx, {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}


class Evaluator:
    """Exact evaluation of merge settings on the splits of one evaluation frame.

    Parameters
    ----------
    handle:
        A :class:`taskfair.models.ModelHandle` whose model becomes the merger's anchor
        and is mutated in place: give the evaluator a private model (``copy=True`` makes
        a deep copy).
    vectors:
        ``{name: TaskVector}`` (``fft``, ``lora`` and one per subgroup).
    frame:
        Rows with the content column (``text`` or ``image``), ``label`` (0/1), ``split``
        and the ``attribute`` column (group name or missing).
    batch_size:
        Rows per batch when ``token_budget`` is None.
    token_budget:
        Text only: cut the length-sorted batches by padded tokens instead of rows (at
        most ``max(batch_size, token_budget // 16)`` rows), so short rows travel in big
        batches and long rows in small ones. ``"auto"``: :data:`DEFAULT_TOKEN_BUDGET`
        for the model's device type (measured: see docs/bench_draft_sweep.md).
    base_fingerprint:
        The anchor's fingerprint; computed from the model when not given. Vectors whose
        recorded base differs are refused.
    compile:
        Evaluate through ``torch.compile(model, dynamic=True)`` (opt-in; see below).
    pixel_cache:
        Images only: a file (:data:`taskfair.pixels.PIXELS_FILE` in a bundle) where the
        decoded uint8 pixels of every row of ``frame`` are kept across processes
        (:func:`taskfair.pixels.cached_decode`); None decodes in memory only.

    Each split is encoded once, on first use. ``n_evaluations`` counts (setting, split)
    evaluations, so callers can check what a cache saved.
    """

    def __init__(
        self,
        handle,
        vectors: Mapping,
        frame: pd.DataFrame,
        attribute: str,
        *,
        batch_size: int = 64,
        base_fingerprint: str | None = None,
        max_length: int | None = None,
        token_budget: int | str | None = "auto",
        seed: int | None = None,
        vector_fingerprints: Mapping[str, str] | None = None,
        copy: bool = False,
        pixel_cache: str | Path | None = None,
        compile: bool = False,
    ):
        from taskfair.models import state_fingerprint

        if attribute not in frame.columns:
            raise ValueError(f"The evaluation rows have no column {attribute!r}.")
        self.handle = handle
        self.modality = handle.modality
        self.content = "image" if self.modality == "image" else "text"
        for col in (self.content, "label", "split"):
            if col not in frame.columns:
                raise ValueError(f"The evaluation rows have no column {col!r}.")
        fingerprint = base_fingerprint or state_fingerprint(handle.model)
        self.merger = Merger(handle.model, vectors, copy=copy, base_fingerprint=base_fingerprint)
        self.vectors = dict(vectors)
        self.frame = frame
        self.attribute = attribute
        self.batch_size = int(batch_size)
        self.token_budget = token_budget
        self.max_length = int(max_length or handle.spec.get("max_length", 128))
        self.seed = seed
        self.pixel_cache = pixel_cache
        # torch.compile reads the parameters at run time, so in-place merges are seen; it
        # costs a one-time compilation (about a minute for MiniLM on 2 loaded cores) and
        # is off by default: worth it for long sweeps only (docs/bench_draft_sweep.md).
        self._forward = torch.compile(self.merger.model, dynamic=True) if compile else None
        self.n_evaluations = 0
        self._encoded: dict[str, object] = {}
        self._rows: dict[str, pd.DataFrame] = {}
        self._lock = threading.RLock()
        self._vector_fps = dict(vector_fingerprints or {})
        param = next(self.merger.model.parameters())
        self.keys = PointKeys(
            base_fingerprint=fingerprint,
            vector_fingerprint=self.vector_fingerprint,
            split_fingerprints={
                s: _split_fingerprint(self.rows(s), self.content, attribute) for s in self.splits
            },
            attribute=attribute,
            max_length=self.max_length if self.modality == "text" else None,
            dtype=str(param.dtype),
            seed=seed,
        )

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_bundle(
        cls,
        bundle,
        seed: int | None = None,
        device=None,
        attn_implementation: str | None = None,
        *,
        dtype=None,
        batch_size: int = 64,
        token_budget: int | str | None = "auto",
    ) -> Evaluator:
        """An evaluator over a bundle's base, one seed's vectors and its eval rows."""
        seed = bundle.seeds[0] if seed is None else int(seed)
        handle = bundle.load_base(
            device=device, dtype=dtype, attn_implementation=attn_implementation
        )
        vectors = bundle.load_vectors(seed=seed)
        return cls(
            handle,
            vectors,
            bundle.eval_frame,
            bundle.attribute,
            batch_size=batch_size,
            base_fingerprint=bundle.base_fingerprint,
            max_length=_bundle_max_length(bundle),
            token_budget=token_budget,
            seed=seed,
            vector_fingerprints=_bundle_vector_fingerprints(bundle, seed),
            pixel_cache=_bundle_pixel_cache(bundle),
        )

    # -- data -------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Vector names the merger knows."""
        return self.merger.names

    @property
    def subgroups(self) -> list[str]:
        return [n for n in self.names if n not in _RESERVED]

    @property
    def splits(self) -> list[str]:
        return [s for s in ("train", "val", "test") if (self.frame["split"] == s).any()]

    def rows(self, split: str) -> pd.DataFrame:
        """The frame's rows of ``split`` in their original order (index reset)."""
        if split not in self._rows:
            part = self.frame[self.frame["split"] == split].reset_index(drop=True)
            if part.empty:
                raise ValueError(f"No evaluation rows for split {split!r}.")
            self._rows[split] = part
        return self._rows[split]

    def labels(self, split: str) -> np.ndarray:
        """int64 ``(n,)`` 0/1 labels of ``split``."""
        return self.rows(split)["label"].to_numpy(dtype=np.int64)

    def groups(self, split: str) -> pd.Series:
        """Group name per row of ``split`` (``pd.NA`` for rows in no group), index 0..n-1."""
        return self.rows(split)[self.attribute]

    def encoded(self, split: str):
        """The split's inputs, prepared once (:func:`taskfair.evaluate.encode`)."""
        with self._lock:
            if split not in self._encoded:
                from taskfair.evaluate import encode

                items = self.rows(split)[self.content].tolist()
                if self.modality == "image" and self.pixel_cache is not None:
                    enc = self._encode_images_cached(split)
                else:
                    enc = encode(self.handle.processor, items, self.modality, self.max_length)
                budget = self._token_budget()
                if budget and self.modality == "text":
                    enc = _BudgetBatches(enc, budget, max(self.batch_size, budget // 16))
                self._encoded[split] = enc
            return self._encoded[split]

    def _encode_images_cached(self, split: str):
        """Every split's images decoded at once (one disk cache for the frame), then sliced."""
        from taskfair.evaluate import EncodedImages, encode
        from taskfair.models import cached_decode

        proc = self.handle.processor
        if not (hasattr(proc, "decode") and hasattr(proc, "normalize")):
            # A transformers image processor: float pixels, kept in memory only.
            return encode(proc, self.rows(split)[self.content].tolist(), "image")
        ordered = list(self.splits)
        mask = self.frame["split"].isin(ordered).to_numpy()
        frame = self.frame[mask]
        pixels = cached_decode(proc, frame[self.content].tolist(), self.pixel_cache)
        splits = frame["split"].to_numpy()
        for s in ordered:
            if s not in self._encoded:
                part = pixels[torch.from_numpy(np.flatnonzero(splits == s))]
                self._encoded[s] = EncodedImages(part, normalize=proc.normalize)
        return self._encoded[split]

    def _token_budget(self) -> int | None:
        if self.token_budget != "auto":
            return int(self.token_budget) if self.token_budget else None
        device = next(self.merger.model.parameters()).device.type
        return DEFAULT_TOKEN_BUDGET.get(device)

    def vector_fingerprint(self, name: str) -> str:
        """sha256 of a vector's tensors (or the bundle's file checksum), computed once."""
        if name not in self._vector_fps:
            from taskfair.models import state_fingerprint

            if name not in self.vectors:
                raise ValueError(f"Unknown task vector {name!r}; available: {self.names}.")
            self._vector_fps[name] = state_fingerprint(self.vectors[name].tensors)
        return self._vector_fps[name]

    # -- evaluation -------------------------------------------------------------------
    def logits_many(
        self,
        coeffs: Mapping[str, float],
        splits: Sequence[str],
        normalize: str = "sum",
        progress: Progress | None = None,
    ) -> dict[str, np.ndarray]:
        """Merge once, evaluate every split: ``{split: float32 (n, 2)}`` in row order.

        ``progress(batch, n_batches, "evaluating")`` is called after every batch (per
        split): the dashboard draws it, and may stop a run there, between batches."""
        from taskfair.evaluate import predict_encoded

        encoded = {s: self.encoded(s) for s in splits}  # before the merge lock
        out = {}
        with self.merger.merged(coeffs, normalize) as model:
            forward = self._forward or model
            for s in splits:
                out[s] = predict_encoded(
                    forward, encoded[s], self.batch_size, progress=progress
                ).logits
                self.n_evaluations += 1
        return out

    def logits(
        self,
        coeffs: Mapping[str, float],
        split: str,
        normalize: str = "sum",
        progress: Progress | None = None,
    ) -> np.ndarray:
        """Exact logits ``(n, 2)`` of ``split`` at ``anchor + sum coeffs[g] tau_g``."""
        return self.logits_many(coeffs, [split], normalize, progress)[split]

    def report(self, coeffs: Mapping[str, float], split: str, normalize: str = "sum"):
        """The exact :class:`~taskfair.metrics.FairnessReport` of a setting on ``split``."""
        from taskfair.metrics import fairness_report

        preds = self.logits(coeffs, split, normalize).argmax(axis=1)
        return fairness_report(self.labels(split), preds, sensitive_features=self.groups(split))

    def tidy(self, setting: Setting, split: str, logits: np.ndarray, exact: bool = True):
        """Tidy rows (:data:`COLUMNS`) of one point from its logits; also its warnings."""
        return _tidy_rows(
            setting, split, self.seed, logits, self.labels(split), self.groups(split), exact
        )


def _tidy_rows(setting, split, seed, logits, labels, groups, exact=True):
    from taskfair.metrics import FairnessWarning, fairness_report

    preds = np.asarray(logits).argmax(axis=1)
    with warnings.catch_warnings():
        # One sweep would repeat the same warning per point; they are kept in the sidecar.
        warnings.simplefilter("ignore", FairnessWarning)
        rep = fairness_report(labels, preds, sensitive_features=groups)
    frame = rep.to_frame(overall=True)
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
    frame["seed"] = pd.array([seed] * len(frame), dtype="Int64")
    frame["exact"] = bool(exact)
    frame = frame[list(COLUMNS)].astype({"n": "int64", "lam": "float64"})
    return frame, list(rep.warnings)


# ----------------------------------------------------------------------------- sweeps


def _schedule(settings: Sequence[Setting]) -> list[Setting]:
    """Coarse-grid points first, so a complete (if coarse) curve exists early."""
    coarse = {_round(x) for x in COARSE_GRID}
    first = [s for s in settings if s.lam is not None and s.lam in coarse]
    return first + [s for s in settings if s not in set(first)]


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})


def run_sweep(
    evaluator: Evaluator,
    settings: Iterable[Setting],
    splits: Sequence[str] = ("val", "test"),
    cache: SweepCache | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Evaluate every setting on every split exactly; return the tidy frame.

    Points found in ``cache`` are read, not recomputed; every new point is written to
    it as soon as it is done, so an interrupted sweep resumes. Rows come back in the
    order of ``settings`` then ``splits``. ``frame.attrs["warnings"]`` collects the
    metrics' warnings (degenerate groups) once.
    """
    settings = list(dict.fromkeys(settings))
    splits = list(splits)
    done: dict[tuple[Setting, str], pd.DataFrame] = {}
    notes: dict[str, None] = {}
    total = len(settings)
    for i, setting in enumerate(_schedule(settings)):
        keys = {s: evaluator.keys.key(setting, s) for s in splits}
        missing = []
        for s in splits:
            got = cache.get(keys[s]) if cache is not None else None
            if got is None:
                missing.append(s)
            else:
                done[setting, s] = got
                notes.update(dict.fromkeys((cache.meta(keys[s]) or {}).get("warnings", [])))
        if missing:
            logits = evaluator.logits_many(setting.coeff_dict, missing, setting.normalize)
            for s in missing:
                rows, warns = evaluator.tidy(setting, s, logits[s])
                notes.update(dict.fromkeys(warns))
                if cache is not None:
                    meta = {
                        "setting": {
                            "method": setting.method,
                            "lam": setting.lam,
                            "normalize": setting.normalize,
                            "coeffs": setting.coeff_dict,
                        },
                        "split": s,
                        "seed": evaluator.seed,
                        "base_fingerprint": evaluator.keys.base_fingerprint,
                        "vectors": {n: evaluator.vector_fingerprint(n) for n, _ in setting.coeffs},
                        "data_fingerprint": evaluator.keys.split_fingerprints[s],
                        "warnings": warns,
                        "cache_version": CACHE_VERSION,
                    }
                    cache.put(keys[s], rows, logits[s], meta)
                done[setting, s] = rows
        report(progress, i + 1, total, setting.label())
    frames = [done[st, s] for st in settings for s in splits]
    out = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    out.attrs["warnings"] = list(notes)
    return out


def reference_points(
    evaluator: Evaluator,
    splits: Sequence[str] = ("val", "test"),
    cache: SweepCache | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Rows of the reference points: ``base``, and ``fft`` / ``lora`` when present."""
    return run_sweep(evaluator, reference_settings(evaluator.names), splits, cache, progress)


# ----------------------------------------------------------------------------- bundles


def _bundle_max_length(bundle) -> int | None:
    return bundle.model_spec.get("max_length") if bundle.modality == "text" else None


def _bundle_pixel_cache(bundle) -> Path | None:
    from taskfair.models import PIXELS_FILE

    return bundle.root / PIXELS_FILE if bundle.modality == "image" else None


def _bundle_vector_fingerprints(bundle, seed: int) -> dict[str, str]:
    """Vector fingerprints from the manifest's checksums: no tensor needs to be read."""
    from taskfair.io import safe_child, sha256_file

    artifacts = bundle.manifest.get("artifacts", {})
    # A viewer copy without weights keeps its vectors' checksums under "withheld", so the
    # cache keys of its shipped sweeps still resolve.
    withheld = bundle.manifest.get("withheld", {})
    out = {}
    for entry in bundle.vector_entries(seed):
        digest = (
            artifacts.get(entry.path)
            or withheld.get(entry.path)
            or sha256_file(safe_child(bundle.root, entry.path))
        )
        out[entry.name] = f"file:{digest}"
    return out


def bundle_keys(bundle, seed: int, dtype=None) -> PointKeys:
    """The keys an :meth:`Evaluator.from_bundle` evaluator would use, without loading it.

    A viewer without weights (or a dashboard before its first exact evaluation) finds
    every cached point with these.
    """
    from taskfair.models import resolve_dtype

    frame = bundle.eval_frame
    content = "image" if bundle.modality == "image" else "text"
    fps = _bundle_vector_fingerprints(bundle, seed)

    def vector_fingerprint(name: str) -> str:
        if name not in fps:
            raise ValueError(f"Unknown task vector {name!r}; available: {sorted(fps)}.")
        return fps[name]

    splits = [s for s in ("train", "val", "test") if (frame["split"] == s).any()]
    return PointKeys(
        base_fingerprint=bundle.base_fingerprint,
        vector_fingerprint=vector_fingerprint,
        split_fingerprints={
            s: _split_fingerprint(
                frame[frame["split"] == s].reset_index(drop=True), content, bundle.attribute
            )
            for s in splits
        },
        attribute=bundle.attribute,
        max_length=_bundle_max_length(bundle),
        dtype=str(resolve_dtype(dtype)),
        seed=seed,
    )


_bundle_keys = bundle_keys  # the name the dashboard first used


def _cached_frame(keys: PointKeys, settings, splits, cache: SweepCache) -> pd.DataFrame | None:
    """The whole sweep from the cache, or None if any point is missing."""
    frames, notes = [], {}
    for st in settings:
        for s in splits:
            k = keys.key(st, s)
            got = cache.get(k)
            if got is None:
                return None
            frames.append(got)
            notes.update(dict.fromkeys((cache.meta(k) or {}).get("warnings", [])))
    out = pd.concat(frames, ignore_index=True) if frames else _empty_frame()
    out.attrs["warnings"] = list(notes)
    return out


def _bundle_settings(bundle, method, normalize, lams, seed) -> list[Setting]:
    names = bundle.vector_names(seed)
    groups = [g for g in bundle.groups if g in names]
    methods = ["task_addition", "injection", "references"] if method == "all" else [method]
    out: list[Setting] = []
    for m in methods:
        if m == "injection" and "fft" not in names:
            raise ValueError("Injection needs the bundle's fft vector, which it lacks.")
        out += settings_for(m, groups, lams, normalize, names)
    return out


def sweep_bundle(
    bundle,
    method: str = "task_addition",
    normalize: str = "sum",
    lams: Iterable[float] | None = None,
    splits: Sequence[str] = ("val", "test"),
    seed: int | None = None,
    progress: Progress | None = None,
    *,
    references: bool = False,
    evaluator: Evaluator | None = None,
    device=None,
    dtype=None,
    token_budget: int | str | None = "auto",
) -> pd.DataFrame:
    """Sweep a bundle, cached in ``bundle.sweeps_dir``: the entry point of CLI and dashboard.

    ``method``: ``task_addition`` | ``injection`` | ``per_vector`` | ``references`` |
    ``all`` (task addition, injection and references). ``references=True`` appends
    the fft / lora / base rows. When every point is cached, nothing is loaded: no model,
    no vector. Otherwise ``evaluator`` (or a new :meth:`Evaluator.from_bundle`) evaluates
    the missing points.
    """
    seed = bundle.seeds[0] if seed is None else int(seed)
    lams = None if lams is None else [_round(x) for x in lams]
    settings = _bundle_settings(bundle, method, normalize, lams, seed)
    if references and method not in ("references", "all"):
        settings += reference_settings(bundle.vector_names(seed))
    cache = SweepCache(bundle.sweeps_dir)
    cached = _cached_frame(bundle_keys(bundle, seed, dtype), settings, splits, cache)
    if cached is not None:
        report(progress, len(settings), len(settings), "cached")
        return cached
    if evaluator is None:
        evaluator = Evaluator.from_bundle(
            bundle, seed=seed, device=device, dtype=dtype, token_budget=token_budget
        )
    return run_sweep(evaluator, settings, splits, cache, progress)


# ----------------------------------------------------------------------------- previews


def _grid_logits(evaluator, settings, split, cache) -> list[np.ndarray]:
    """Exact logits of ``settings`` on ``split``: from the cache, else evaluated (and cached)."""
    if cache is None:
        return [evaluator.logits(st.coeff_dict, split, st.normalize) for st in settings]
    out = []
    for st in settings:
        key = evaluator.keys.key(st, split)
        got = cache.logits(key) if key in cache else None
        if got is None:
            run_sweep(evaluator, [st], [split], cache)
            got = cache.logits(key)
        if got is None:  # rows cached but their logits file damaged: evaluate again
            got = evaluator.logits(st.coeff_dict, split, st.normalize)
        out.append(got)
    return out


def _curve_settings(evaluator, method, normalize, lams, group):
    if method == "task_addition":
        return task_addition_settings(evaluator.subgroups, lams, normalize)
    if method == "injection":
        if group is None:
            raise ValueError("An injection curve needs the injected group.")
        return injection_settings([group], lams)
    raise ValueError(f"Curves are task_addition or injection, not {method!r}.")


def curve_preview(
    evaluator: Evaluator,
    method: str = "task_addition",
    normalize: str = "sum",
    lams: Sequence[float] | None = None,
    split: str = "val",
    group: str | None = None,
    cache: SweepCache | None = None,
):
    """An :class:`~taskfair.preview.InterpolationPreview` over a global-λ (or injection) curve.

    Its grid points are evaluated exactly (or read from ``cache``); between them the
    preview interpolates the per-example logits.
    """
    from taskfair.preview import InterpolationPreview

    if lams is None:
        lams = LAMBDA_GRID if method == "task_addition" else INJECTION_GRID
    settings = _curve_settings(evaluator, method, normalize, lams, group)
    logits = _grid_logits(evaluator, settings, split, cache)
    return InterpolationPreview([s.lam for s in settings], logits)


def interpolation_error(
    evaluator: Evaluator,
    method: str = "task_addition",
    normalize: str = "sum",
    lams: Sequence[float] | None = None,
    split: str = "val",
    group: str | None = None,
    holdout: str = "midpoints",
    cache: SweepCache | None = None,
) -> dict:
    """Measured error of the interpolation preview of a curve, stored with the cache.

    ``holdout="midpoints"``: the preview from the grid against exact evaluation at the
    midpoints between adjacent grid points (costs one exact evaluation per midpoint,
    cached like any point). ``holdout="leave_one_out"``: each interior grid point is
    predicted from its two neighbours, i.e. across twice the grid spacing, and compared
    with its exact value: free (no new evaluation) and pessimistic. Returns
    :func:`taskfair.preview.measure_error`'s dict plus ``scheme``, ``method``, ``split``.
    """
    from taskfair.preview import InterpolationPreview, measure_error

    if lams is None:
        lams = LAMBDA_GRID if method == "task_addition" else INJECTION_GRID
    lams = sorted(_round(x) for x in lams)
    if len(lams) < 3 and holdout == "leave_one_out":
        raise ValueError("Leave-one-out needs at least 3 grid points.")
    settings = _curve_settings(evaluator, method, normalize, lams, group)
    name = None
    if cache is not None:
        name = _sha(
            {
                "preview_error": 1,
                "points": [evaluator.keys.key(s, split) for s in settings],
                "holdout": holdout,
            }
        )
        stored = cache.get_json(name)
        if stored is not None:
            return stored
    grid = _grid_logits(evaluator, settings, split, cache)
    labels, groups = evaluator.labels(split), evaluator.groups(split)
    if holdout == "midpoints":
        preview = InterpolationPreview(lams, grid)
        points = [_round((a + b) / 2) for a, b in zip(lams[:-1], lams[1:], strict=True)]
        exact = _grid_logits(
            evaluator, _curve_settings(evaluator, method, normalize, points, group), split, cache
        )
        by_point = dict(zip(points, exact, strict=True))
        err = measure_error(preview.logits, by_point.__getitem__, points, labels, groups)
    elif holdout == "leave_one_out":
        exact_at = dict(zip(lams, grid, strict=True))

        def loo(lam):
            i = lams.index(lam)
            return InterpolationPreview(
                [lams[i - 1], lams[i + 1]], [grid[i - 1], grid[i + 1]]
            ).logits(lam)

        err = measure_error(loo, exact_at.__getitem__, lams[1:-1], labels, groups)
    else:
        raise ValueError(f"Unknown holdout {holdout!r}: use midpoints or leave_one_out.")
    err.update(
        scheme=holdout,
        method=method,
        normalize=normalize,
        split=split,
        group=group,
        grid=list(lams),
    )
    if cache is not None:
        cache.put_json(name, err)
    return err


def first_order_error(
    evaluator: Evaluator,
    anchor: Mapping[str, float],
    points: Sequence[Mapping[str, float]],
    split: str = "val",
    normalize: str = "sum",
    names: Sequence[str] | None = None,
    cache: SweepCache | None = None,
) -> dict:
    """Measured error of the first-order preview around an exact ``anchor``, stored with
    the cache.

    ``anchor`` and ``points`` are per-vector coefficients as given to the merger under
    ``normalize``; the held-out ``points`` are evaluated exactly (and cached as
    ``per_vector`` points). Returns :func:`taskfair.preview.measure_error`'s dict plus
    ``anchor``, ``setup_s`` (the anchor's evaluation and its JVPs) and ``scheme``.
    """
    import time

    from taskfair.preview import FirstOrderPreview, measure_error

    anchor_setting = Setting("per_vector", None, normalize, anchor)
    held = [Setting("per_vector", None, normalize, p) for p in points]
    name = None
    if cache is not None:
        name = _sha(
            {
                "first_order_error": 1,
                "anchor": evaluator.keys.key(anchor_setting, split),
                "points": [evaluator.keys.key(s, split) for s in held],
                "names": sorted(names or evaluator.names),
            }
        )
        stored = cache.get_json(name)
        if stored is not None:
            return stored
    t = time.perf_counter()
    fo = FirstOrderPreview.build(evaluator, anchor_setting.coeff_dict, split, normalize, names)
    setup = time.perf_counter() - t
    exact = dict(zip(range(len(held)), _grid_logits(evaluator, held, split, cache), strict=True))
    err = measure_error(
        lambda i: fo.logits(held[i].effective),
        exact.__getitem__,
        list(range(len(held))),
        evaluator.labels(split),
        evaluator.groups(split),
    )
    for pt in err["points"]:  # name each held-out point by its coefficients, not its index
        pt["point"] = held[pt["point"]].coeff_dict
    err.update(
        scheme="first_order",
        anchor=anchor_setting.coeff_dict,
        normalize=normalize,
        split=split,
        setup_s=setup,
    )
    if cache is not None:
        cache.put_json(name, err)
    return err


# ----------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="bundle folder, e.g. models/demo")
    parser.add_argument(
        "--method",
        default="all",
        choices=["task_addition", "injection", "per_vector", "references", "all"],
        help="which sweep (default: all = task addition, injection and references)",
    )
    parser.add_argument("--normalize", default="sum", choices=list(NORMALIZATIONS))
    parser.add_argument("--lams", default=None, help="comma-separated λ values (default: grid.py)")
    parser.add_argument("--splits", default="val,test", help="comma-separated (default: val,test)")
    parser.add_argument("--seed", default=None, help="vector seed, or 'all' (default: first)")
    parser.add_argument("--device", default=None, help="cpu | cuda | mps (default: auto)")
    parser.add_argument("--dtype", default=None, help="float32 (default) | bf16 | fp16 (GPU)")
    parser.add_argument(
        "--preview-error",
        action="store_true",
        help="also measure the interpolation preview's error on val (midpoints)",
    )
    parser.add_argument("--out", default=None, help="also write the frame to this .parquet/.csv")


def run(args) -> int:
    from taskfair.bundle import Bundle
    from taskfair.progress import tqdm_progress

    bundle = Bundle.open(args.bundle)
    lams = None if args.lams is None else [float(x) for x in args.lams.split(",") if x.strip()]
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    seeds = bundle.seeds if args.seed == "all" else [None if args.seed is None else int(args.seed)]
    frames = []
    for seed in seeds:
        want_error = args.preview_error and args.method in ("task_addition", "all")
        # The error needs exact midpoints: load the model once for both.
        evaluator = (
            Evaluator.from_bundle(bundle, seed=seed, device=args.device, dtype=args.dtype)
            if want_error
            else None
        )
        frame = sweep_bundle(
            bundle,
            args.method,
            args.normalize,
            lams,
            splits,
            seed,
            tqdm_progress(f"sweep {bundle.name}"),
            evaluator=evaluator,
            device=args.device,
            dtype=args.dtype,
        )
        frames.append(frame)
        if want_error:
            err = interpolation_error(
                evaluator,
                "task_addition",
                args.normalize,
                lams,
                "val",
                cache=SweepCache(bundle.sweeps_dir),
            )
            print(
                f"interpolation preview on val, midpoints: agreement {err['agreement']:.4f} "
                f"(min {err['agreement_min']:.4f}), max |Δaccuracy| {err['d_accuracy']:.4f}, "
                f"max |ΔDPD| {err['d_dpd']:.4f}, max |ΔEOD| {err['d_eod']:.4f}"
            )
    frame = pd.concat(frames, ignore_index=True)
    overall = frame[frame["group"] == OVERALL]
    with pd.option_context("display.width", 160, "display.max_rows", 500):
        print(
            overall[
                [
                    "method",
                    "lam",
                    "normalize",
                    "split",
                    "seed",
                    "accuracy",
                    "worst_group_accuracy",
                    "dpd",
                    "eod",
                ]
            ].to_string(index=False)
        )
    for note in frame.attrs.get("warnings", []):
        print(f"note: {note}")
    if args.out:
        out = Path(args.out)
        with atomic_path(out) as tmp:
            (
                frame.to_csv(tmp, index=False)
                if out.suffix == ".csv"
                else frame.to_parquet(tmp, index=False)
            )
        print(f"wrote {len(frame)} rows to {out}")
    print(f"cache: {bundle.sweeps_dir}")
    return 0
