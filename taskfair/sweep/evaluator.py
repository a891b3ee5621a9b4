"""The exact evaluator: merge a setting in place, evaluate the splits, score the rows.

One :class:`Evaluator` holds a bundle's base (as its merger's private working model), one
seed's vectors and the evaluation rows; each split is encoded once. Merges happen under
the merger's lock, from the merge to the last logit, so threads sharing an evaluator never
see each other's weights.

Settings of a merge method that transforms its vectors (TIES, DARE, magnitude pruning:
:attr:`taskfair.merge.MergeMethod.transform`) merge the transformed vectors; the last
:data:`MAX_TRANSFORMED` transformed sets are kept, keyed by (method, keyed parameters,
vectors named). Memory: one extra set of the named subgroup vectors per kept set.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskfair.data import SPLITS
from taskfair.inference import EncodedImages, TokenBudgetBatches, encode, predict_encoded
from taskfair.merge import Merger, get_method
from taskfair.metrics import fairness_report
from taskfair.models import cached_decode, state_fingerprint
from taskfair.progress import Progress
from taskfair.sweep.keys import (
    PointKeys,
    bundle_max_length,
    bundle_pixel_cache,
    bundle_vector_fingerprints,
    split_fingerprint,
)
from taskfair.sweep.rows import tidy_rows
from taskfair.sweep.settings import REFERENCE_METHODS, Setting, subgroups

__all__ = ["DEFAULT_TOKEN_BUDGET", "MAX_TRANSFORMED", "Evaluator"]

#: Transformed vector sets kept per evaluator (each as big as the vectors it transforms):
#: one, so that a sweep of one (method, parameters) transforms once and memory grows by
#: one set of subgroup vectors at most.
MAX_TRANSFORMED = 1

#: Padded tokens per batch by device type for ``token_budget="auto"``; a device not listed
#: uses fixed batches of ``batch_size`` rows. Measured with ``python -m taskfair bench``:
#: on an H100 cutting by 32,768 tokens made (b) 3.2× faster than 64-row batches (fp32);
#: on 2 CPU cores no difference stood out of the noise, so CPU keeps fixed batches.
DEFAULT_TOKEN_BUDGET: dict[str, int] = {"cuda": 32768}


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
        Images only: a file (:data:`taskfair.models.PIXELS_FILE` in a bundle) where the
        decoded uint8 pixels of every row of ``frame`` are kept across processes
        (:func:`taskfair.models.cached_decode`); None decodes in memory only.

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
        positive_label: str | None = None,
    ):

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
        # The name of class 1 (e.g. "toxic"): degeneracy notes say it in words, as the
        # dashboard's store does, so a point's rows read the same whoever computed them.
        self.positive_label = positive_label
        # torch.compile reads the parameters at run time, so in-place merges are seen; it
        # costs a one-time compilation (about a minute for MiniLM on 2 loaded cores) and
        # is off by default: worth it for long sweeps only (docs/bench_draft_sweep.md).
        self._forward = torch.compile(self.merger.model, dynamic=True) if compile else None
        self.n_evaluations = 0
        self._encoded: dict[str, object] = {}
        self._rows: dict[str, pd.DataFrame] = {}
        self._lock = threading.RLock()
        self._transformed: OrderedDict[tuple, tuple[dict, dict]] = OrderedDict()
        self._vector_fps = dict(vector_fingerprints or {})
        param = next(self.merger.model.parameters())
        self.keys = PointKeys(
            base_fingerprint=fingerprint,
            vector_fingerprint=self.vector_fingerprint,
            split_fingerprints={
                s: split_fingerprint(self.rows(s), self.content, attribute) for s in self.splits
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
            device=device, dtype=dtype, attn_implementation=attn_implementation, seed=seed
        )
        # Straight onto the model's device in its dtype: the merger then keeps these very
        # tensors (and compact forms) instead of a second copy.
        param = next(handle.model.parameters())
        vectors = bundle.load_vectors(seed=seed, device=param.device, dtype=param.dtype)
        return cls(
            handle,
            vectors,
            bundle.eval_frame,
            bundle.attribute,
            batch_size=batch_size,
            base_fingerprint=bundle.base_fingerprint_of(seed),
            max_length=bundle_max_length(bundle),
            token_budget=token_budget,
            seed=seed,
            vector_fingerprints=bundle_vector_fingerprints(bundle, seed),
            pixel_cache=bundle_pixel_cache(bundle),
            positive_label=bundle.manifest.get("dataset", {}).get("label_name"),
        )

    # -- data -------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Vector names the merger knows."""
        return self.merger.names

    @property
    def subgroups(self) -> list[str]:
        return subgroups(self.names)

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if (self.frame["split"] == s).any()]

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
        """The split's inputs, prepared once (:func:`taskfair.inference.encode`)."""
        with self._lock:
            if split not in self._encoded:
                items = self.rows(split)[self.content].tolist()
                if self.modality == "image" and self.pixel_cache is not None:
                    enc = self._encode_images_cached(split)
                else:
                    enc = encode(self.handle.processor, items, self.modality, self.max_length)
                budget = self._token_budget()
                if budget and self.modality == "text":
                    enc = TokenBudgetBatches(enc, budget, max(self.batch_size, budget // 16))
                self._encoded[split] = enc
            return self._encoded[split]

    def _encode_images_cached(self, split: str):
        """Every split's images decoded at once (one disk cache for the frame), then sliced."""

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
            if name not in self.vectors:
                raise ValueError(f"Unknown task vector {name!r}; available: {self.names}.")
            self._vector_fps[name] = self.vectors[name].fingerprint()
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

        encoded = {s: self.encoded(s) for s in splits}  # before the merge lock
        with self.merger.merged(coeffs, normalize) as model:
            return self._predict(model, encoded, progress)

    def _predict(
        self, model, encoded: Mapping[str, object], progress: Progress | None
    ) -> dict[str, np.ndarray]:
        """Logits of every split in ``encoded`` by ``model`` (the merged working copy, or
        its compiled forward), counted in :attr:`n_evaluations`."""
        forward = self._forward or model
        out = {}
        for s, enc in encoded.items():
            out[s] = predict_encoded(forward, enc, self.batch_size, progress=progress).logits
            self.n_evaluations += 1
        return out

    # -- merge methods that transform their vectors ------------------------------------
    def _transformed_set(self, setting: Setting) -> tuple[dict, dict] | None:
        """``(TaskVectors, prepared for the merger)`` of the subgroup vectors ``setting``
        names, transformed by its method; None for a linear method or a reference point."""
        if setting.method in REFERENCE_METHODS:
            return None
        method = get_method(setting.method)
        if method.transform is None:
            return None
        names = tuple(n for n, _ in setting.coeffs if n in self.subgroups)
        memo = (setting.method, setting.params, names)
        with self._lock:
            got = self._transformed.get(memo)
            if got is None:
                while len(self._transformed) >= MAX_TRANSFORMED:
                    self._transformed.popitem(last=False)  # free before building the next
                vecs = method.transform_vectors(
                    {n: self.vectors[n] for n in names}, setting.param_dict
                )
                got = self._transformed[memo] = (vecs, self.merger.prepare(vecs))
            self._transformed.move_to_end(memo)
            return got

    def directions(self, setting: Setting) -> dict:
        """``{name: TaskVector}`` that ``setting`` merges: its method's transformed
        subgroup vectors where it has a transform, the raw vectors otherwise."""
        got = self._transformed_set(setting)
        return {**self.vectors, **(got[0] if got else {})}

    @contextlib.contextmanager
    def merged(self, setting: Setting) -> Iterator[torch.nn.Module]:
        """Hold the merger's lock with the working model set to ``setting`` (transformed
        vectors where its method has a transform); yield the model."""
        got = self._transformed_set(setting)
        with self.merger.merged(
            setting.coeff_dict, setting.normalize, got[1] if got else None
        ) as model:
            yield model

    def setting_logits(
        self, setting: Setting, splits: Sequence[str], progress: Progress | None = None
    ) -> dict[str, np.ndarray]:
        """Exact logits ``{split: float32 (n, 2)}`` of a setting of any merge method (its
        transform applied), one merge for every split."""
        got = self._transformed_set(setting)
        if got is None:
            return self.logits_many(setting.coeff_dict, splits, setting.normalize, progress)
        encoded = {s: self.encoded(s) for s in splits}
        with self.merged(setting) as model:
            return self._predict(model, encoded, progress)

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

        preds = self.logits(coeffs, split, normalize).argmax(axis=1)
        return fairness_report(self.labels(split), preds, sensitive_features=self.groups(split))

    def tidy(self, setting: Setting, split: str, logits: np.ndarray, exact: bool = True):
        """Tidy rows (:data:`COLUMNS`) of one point from its logits; also its warnings."""
        return tidy_rows(
            setting,
            split,
            self.seed,
            logits,
            self.labels(split),
            self.groups(split),
            exact,
            positive_label=self.positive_label,
        )
