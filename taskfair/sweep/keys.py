"""Content-hash keys of points: everything a point's result depends on, in one digest.

A key covers the base weights' fingerprint, the fingerprints of the vectors the setting
names, the split's rows (content and order), the setting itself (method, λ,
normalisation, coefficients, keyed parameters), the model's ``max_length`` and dtype,
the sensitive attribute and the seed label, plus :data:`CACHE_VERSION` (and, for the
methods that sparsify the vectors, :data:`taskfair.merge.sparsify.MASK_VERSION`). Keys of a bundle
are computed from its manifest's checksums without loading a model, so a viewer without
weights finds every cached point.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from taskfair.data import SPLITS
from taskfair.io import safe_child, sha256_file
from taskfair.merge import get_method, method_names
from taskfair.merge.sparsify import MASK_VERSION
from taskfair.models import PIXELS_FILE, resolve_dtype
from taskfair.sweep.settings import Setting

__all__ = [
    "CACHE_VERSION",
    "PointKeys",
    "bundle_keys",
    "bundle_max_length",
    "bundle_pixel_cache",
    "bundle_vector_fingerprints",
    "digest",
    "split_fingerprint",
]

#: Bump when the stored rows or logits change meaning: old cache files are then ignored.
CACHE_VERSION = 1


def _transforms(method: str) -> bool:
    """Whether a registered merge method transforms the vectors (TIES, DARE, magnitude)."""
    return method in method_names() and get_method(method).transform is not None


def digest(obj) -> str:
    """sha256 of a JSON-able object (keys sorted)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def split_fingerprint(rows: pd.DataFrame, content: str, attribute: str) -> str:
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
    vector_fingerprint: Callable[[str], str]
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
        record = {
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
        if setting.params:  # only methods with keyed parameters: older keys stay valid
            record["params"] = setting.params
        if _transforms(setting.method):  # their points change when a mask's rule does
            record["masks"] = MASK_VERSION
        return digest(record)


# ----------------------------------------------------------------------------- bundles


def bundle_max_length(bundle) -> int | None:
    return bundle.model_spec.get("max_length") if bundle.modality == "text" else None


def bundle_pixel_cache(bundle) -> Path | None:
    return bundle.root / PIXELS_FILE if bundle.modality == "image" else None


def bundle_vector_fingerprints(bundle, seed: int) -> dict[str, str]:
    """Vector fingerprints from the manifest's checksums: no tensor needs to be read."""
    artifacts = bundle.manifest.get("artifacts", {})
    # A viewer copy without weights keeps its vectors' checksums under "withheld", so the
    # cache keys of its shipped sweeps still resolve.
    withheld = bundle.manifest.get("withheld", {})
    out = {}
    for entry in bundle.vector_entries(seed):
        sha = (
            artifacts.get(entry.path)
            or withheld.get(entry.path)
            or sha256_file(safe_child(bundle.root, entry.path))
        )
        out[entry.name] = f"file:{sha}"
    return out


def bundle_keys(bundle, seed: int, dtype=None) -> PointKeys:
    """The keys an :meth:`Evaluator.from_bundle` evaluator would use, without loading it.

    A viewer without weights (or a dashboard before its first exact evaluation) finds
    every cached point with these.
    """
    frame = bundle.eval_frame
    content = "image" if bundle.modality == "image" else "text"
    fps = bundle_vector_fingerprints(bundle, seed)

    def vector_fingerprint(name: str) -> str:
        if name not in fps:
            raise ValueError(f"Unknown task vector {name!r}; available: {sorted(fps)}.")
        return fps[name]

    splits = [s for s in SPLITS if (frame["split"] == s).any()]
    return PointKeys(
        base_fingerprint=bundle.base_fingerprint_of(seed),
        vector_fingerprint=vector_fingerprint,
        split_fingerprints={
            s: split_fingerprint(
                frame[frame["split"] == s].reset_index(drop=True), content, bundle.attribute
            )
            for s in splits
        },
        attribute=bundle.attribute,
        max_length=bundle_max_length(bundle),
        dtype=str(resolve_dtype(dtype)),
        seed=seed,
    )
