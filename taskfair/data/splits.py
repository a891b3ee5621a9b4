"""Splits: the seeded, stratified train/val/test assignment, and split names read from
a table's split column or a file's path.

:func:`assign_splits` is deterministic and seeded, stratified by the strata it is
given, and identical keys (texts or image paths) never straddle two splits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.data.columns import value_list
from taskfair.data.dataset import is_missing
from taskfair.errors import DataError

__all__ = [
    "DEFAULT_FRACTIONS",
    "assign_splits",
    "map_splits",
    "split_from_path",
]

DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def assign_splits(
    keys: Sequence | pd.Series,
    strata: Sequence | pd.Series,
    *,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Deterministic, seeded, stratified train/val/test assignment; one entry per row.

    ``keys`` are what must not straddle splits (the text, or the image path): all rows
    sharing a key get the same split. Each unique key belongs to one stratum (the
    smallest of its rows' strata, so the choice does not depend on row order). Within
    a stratum, keys are ordered by ``sha256(f"{seed}:{key}")`` and cut at the rounded
    cumulative ``fractions``. The result depends on the set of (key, stratum) pairs and
    the seed only: not on row order, process, or platform.

    Returns an object array of ``"train" | "val" | "test"`` aligned with ``keys``.
    """
    fractions = _check_fractions(fractions)
    keys = pd.Series(keys, dtype=object).astype(str).to_numpy()
    strata = pd.Series(strata, dtype=object).astype(str).to_numpy()
    if len(keys) != len(strata):
        raise DataError(f"assign_splits: {len(keys)} keys but {len(strata)} strata.")
    if len(keys) == 0:
        return np.array([], dtype=object)
    per_key = pd.DataFrame({"key": keys, "stratum": strata}).groupby("key")["stratum"].min()
    order = pd.DataFrame(
        {
            "key": per_key.index.to_numpy(),
            "stratum": per_key.to_numpy(),
            "h": [hashlib.sha256(f"{seed}:{k}".encode()).hexdigest() for k in per_key.index],
        }
    ).sort_values(["stratum", "h"], kind="mergesort")
    rank = order.groupby("stratum").cumcount().to_numpy()
    size = order.groupby("stratum")["key"].transform("size").to_numpy()
    # Round half up (not numpy's half-to-even) so the cut is easy to reason about.
    cut_train = np.floor(size * fractions[0] + 0.5)
    cut_val = np.floor(size * (fractions[0] + fractions[1]) + 0.5)
    split = np.where(rank < cut_train, "train", np.where(rank < cut_val, "val", "test"))
    by_key = dict(zip(order["key"].to_numpy(), split, strict=True))
    return np.array([by_key[k] for k in keys], dtype=object)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError) as e:
        raise DataError(
            f"fractions must be three numbers (train, val, test), not {fractions!r}."
        ) from e
    if len(values) != 3 or any(f < 0 for f in values) or abs(sum(values) - 1) > 1e-6:
        raise DataError(
            f"fractions must be three non-negative numbers (train, val, test) summing to 1, "
            f"not {fractions!r}; e.g. fractions=(0.8, 0.1, 0.1)."
        )
    if values[0] == 0:
        raise DataError("fractions: the train fraction must be above 0.")
    return values


#: The words that name a split (any case), in a split column or a file path.
_SPLIT_NAMES = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "test": "test",
    "testing": "test",
}


def map_splits(series: pd.Series, column: str, source: Path) -> np.ndarray:
    """A split column's values as ``"train" | "val" | "test"`` (object array); any value
    that names no split (empty cells included) is a DataError listing them."""
    norm = series.astype(object).map(lambda v: None if is_missing(v) else str(v).strip().lower())
    mapped = norm.map(_SPLIT_NAMES)
    unknown = norm[mapped.isna()]
    if len(unknown):
        counts = unknown.fillna("(empty)").value_counts()
        raise DataError(
            f"{source}: split column {column!r} has values that are not a split: "
            f"{value_list(counts)}. Known: train, val/validation/dev, test. Fix those rows, "
            "or pass split_col=None to make our own split."
        )
    return mapped.to_numpy(dtype=object)


def split_from_path(rel: Path) -> str | None:
    """The split a relative file path names (``train-00000.parquet`` -> ``"train"``,
    ``validation/x.csv`` -> ``"val"``): its first word that is a split name, else None."""
    words = [
        w for part in rel.parts for w in part.lower().replace("-", "_").replace(".", "_").split("_")
    ]
    for word in words:
        if word in _SPLIT_NAMES:
            return _SPLIT_NAMES[word]
    return None
