"""The sweep cache on disk: one point per content-hash key, written atomically, read verified.

Each point is ``<key>.parquet`` (its tidy rows), ``<key>.logits.npy`` (per-example
logits ``(n, 2)`` float32) and ``<key>.json`` (a sidecar: setting, split, seed,
fingerprints, the metrics' warnings, and the sha256 of the other two files under
``checksums``). Named JSON records (a preview's measured error) live beside them.

Nothing is served unchecked: a point is read only when its files match the checksums
in its sidecar, its rows have the sweep's columns
(:data:`taskfair.sweep.rows.COLUMNS`) and its logits are finite with the shape asked
for; the store (:class:`~taskfair.sweep.store.PointStore`) then recomputes every number
of its rows (accuracy, n, rates, DPD, EOD, vs-rest) from the logits and the split's
labels (:func:`taskfair.sweep.rows.rows_mismatch`), so a sidecar whose checksums were
recomputed after an edit does not pass either. Anything else (a damaged, edited or
foreign file, a sidecar without checksums) is a cache miss with a warning in the log
(``taskfair.sweep.cache``), never an error: the point is evaluated again and its files
rewritten. Points written before checksums existed are such misses: recomputed once.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.io import atomic_write_bytes, atomic_write_json
from taskfair.sweep.rows import COLUMNS, DERIVED_COLUMNS

__all__ = ["CacheEntry", "SweepCache"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CacheEntry:
    """One verified point: its rows, logits ``(n, 2)`` float32 and sidecar."""

    rows: pd.DataFrame
    logits: np.ndarray
    meta: dict


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class SweepCache:
    """Per-point results on disk: ``<key>.parquet`` rows, ``<key>.logits.npy``, ``<key>.json``.

    The logits and the sidecar (with both files' checksums) are written first and the
    parquet file last, so its presence means the point is complete; every file is
    written atomically (temporary file + rename). A file that cannot be read, or does
    not match its checksum, schema or shape, is treated as missing and recomputed.
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _path(self, key: str, suffix: str) -> Path:
        if not key.isalnum():  # keys are hex digests; refuse anything that could be a path
            raise ValueError(f"Invalid cache key {key!r}.")
        return self.root / f"{key}{suffix}"

    def __contains__(self, key: str) -> bool:
        return self._path(key, ".parquet").is_file()

    def stamp(self, key: str) -> tuple | None:
        """``(mtime_ns, size)`` of a point's files, or None when it is not cached: a
        point refused once is not read (nor warned about) again until a file changes."""
        out = []
        for suffix in (".parquet", ".logits.npy", ".json"):
            try:
                st = self._path(key, suffix).stat()
            except OSError:
                if suffix == ".parquet":
                    return None
                st = None
            out.append(None if st is None else (st.st_mtime_ns, st.st_size))
        return tuple(out)

    # -- reading ----------------------------------------------------------------------
    def _read(self, key: str, suffix: str, what: str) -> bytes | None:
        """The bytes of one file of a point, checked against its sidecar's checksum (when
        it records one); None (with a warning when the file exists) otherwise."""
        path = self._path(key, suffix)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._miss(key, f"its {what} cannot be read ({exc.strerror})")
            return None
        checksums = (self.meta(key) or {}).get("checksums")
        recorded = checksums.get(what) if isinstance(checksums, dict) else None
        if not isinstance(recorded, str):
            # A sidecar without checksums (written before they existed, or with them
            # deleted) cannot vouch for its files: never served as exact, recomputed.
            self._miss(key, f"its sidecar records no checksum of its {what}")
            return None
        if _sha(data) != recorded:
            self._miss(key, f"its {what} file does not match the checksum in its sidecar")
            return None
        return data

    def _miss(self, key: str, why: str) -> None:
        log.warning(
            "sweep cache %s: point %s is ignored and will be recomputed: %s",
            self.root,
            key[:12],
            why,
        )

    def get(self, key: str) -> pd.DataFrame | None:
        """The cached rows of a point (verified), or None."""
        data = self._read(key, ".parquet", "rows")
        if data is None:
            return None
        try:
            rows = pd.read_parquet(io.BytesIO(data))
        except Exception:  # a damaged file is a cache miss, never an error
            self._miss(key, "its rows are not a readable parquet file")
            return None
        # The sweep's columns in order; the derived ones (degeneracy, ranking) may be absent
        # in rows cached before they existed: they are derived on read.
        have = list(rows.columns)
        expected = [c for c in COLUMNS if c in have or c not in DERIVED_COLUMNS]
        if have != expected:
            self._miss(key, f"its rows have the columns {list(rows.columns)[:6]}…, not the sweep's")
            return None
        return rows

    def logits(self, key: str, n: int | None = None) -> np.ndarray | None:
        """The cached per-example logits ``(n, 2)`` of a point (verified: checksum,
        finite, two columns, and ``n`` rows when given), or None."""
        data = self._read(key, ".logits.npy", "logits")
        if data is None:
            return None
        try:
            logits = np.load(io.BytesIO(data), allow_pickle=False)
        except (OSError, ValueError):
            self._miss(key, "its logits are not a readable .npy file")
            return None
        want = f"({'n' if n is None else n}, 2)"
        if (
            logits.ndim != 2
            or logits.shape[1] != 2
            or (n is not None and logits.shape[0] != n)
            or not np.issubdtype(logits.dtype, np.floating)
        ):
            self._miss(key, f"its logits have shape {logits.shape} ({logits.dtype}), not {want}")
            return None
        if not np.isfinite(logits).all():
            self._miss(key, "its logits hold NaN or infinite values")
            return None
        return logits

    def meta(self, key: str) -> dict | None:
        path = self._path(key, ".json")
        try:
            got = json.loads(path.read_text()) if path.is_file() else None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        return got if isinstance(got, dict) else None

    def entry(self, key: str, n: int) -> CacheEntry | None:
        """A point's rows, logits (``n`` rows) and sidecar, all verified; None if any
        is missing or fails a check (a cache miss)."""
        if not self._path(key, ".parquet").is_file():
            return None
        rows = self.get(key)
        logits = None if rows is None else self.logits(key, n)
        if rows is None or logits is None:
            return None
        return CacheEntry(rows, logits, self.meta(key) or {})

    # -- writing ----------------------------------------------------------------------
    def put(self, key: str, rows: pd.DataFrame, logits: np.ndarray, meta: Mapping) -> None:
        """Write one point. Raises ``OSError`` when the folder cannot be written (the
        caller keeps the point in memory); what was written stays a consistent miss."""
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(logits, dtype=np.float32), allow_pickle=False)
        logits_bytes = buf.getvalue()
        buf = io.BytesIO()
        rows.to_parquet(buf, index=False)
        rows_bytes = buf.getvalue()
        sidecar = dict(meta, checksums={"rows": _sha(rows_bytes), "logits": _sha(logits_bytes)})
        atomic_write_bytes(self._path(key, ".logits.npy"), logits_bytes)
        atomic_write_json(self._path(key, ".json"), sidecar)
        atomic_write_bytes(self._path(key, ".parquet"), rows_bytes)

    def get_json(self, name: str) -> dict | None:
        """A named JSON record (e.g. a preview's measured error), or None."""
        return self.meta(name)

    def put_json(self, name: str, obj: Mapping) -> None:
        atomic_write_json(self._path(name, ".json"), dict(obj))
