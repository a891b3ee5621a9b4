"""The sweep cache on disk: one point per content-hash key, written atomically.

Each point is ``<key>.parquet`` (its tidy rows), ``<key>.logits.npy`` (per-example
logits ``(n, 2)`` float32) and ``<key>.json`` (a sidecar: setting, split, seed,
fingerprints, the metrics' warnings). Named JSON records (a preview's measured error)
live beside them. A file that cannot be read is a cache miss, never an error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.io import atomic_path, atomic_write_json

__all__ = ["SweepCache"]


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
