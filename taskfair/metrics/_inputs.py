"""Inputs of the metrics: labels and groups coerced once, counts, and a local silencer.

Label encoding: 0/1 (bool accepted), 1 = positive. Groups: one name per row; a missing
value (None, NaN, ``pd.NA``) means "no group". Everything is aligned by position.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd
from sklearn.exceptions import UndefinedMetricWarning

__all__ = ["as_groups", "as_labels", "cond_rate", "json_float", "label_counts", "quiet"]


def as_labels(values, name: str) -> np.ndarray:
    """1-D int8 array of 0/1 from a list, array or Series (positional, index ignored)."""
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.dtype == object and pd.isna(arr).any():
        raise ValueError(f"{name} contains missing values")
    if not np.isin(arr, (0, 1)).all():
        bad = sorted({str(v) for v in arr[~np.isin(arr, (0, 1))]})[:5]
        raise ValueError(f"{name} must hold 0/1 labels only; found {bad}")
    return arr.astype(np.int8)


def as_groups(values, n: int) -> tuple[np.ndarray, list]:
    """Integer group codes (-1 = no group) and the group names they index.

    Names are sorted (a Categorical keeps its category order and its unused categories).
    """
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ValueError(
                "sensitive_features must be one column; combine attributes into one "
                "group label first for intersectional groups"
            )
        values = values.iloc[:, 0]
    if isinstance(values, pd.Series):
        series = values
    elif isinstance(values, pd.Index | pd.api.extensions.ExtensionArray):
        series = pd.Series(values)  # keeps a Categorical's declared categories
    else:
        array = np.asarray(values, dtype=object)
        if array.ndim != 1:
            raise ValueError(f"sensitive_features must be 1-D, got shape {array.shape}")
        series = pd.Series(array)
    if len(series) != n:
        raise ValueError(f"sensitive_features has {len(series)} rows, labels have {n}")
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(dtype=np.int64), list(series.cat.categories)
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # mixed, unorderable names: keep first-seen order
        codes, uniques = pd.factorize(series, sort=False)
    return codes.astype(np.int64), list(uniques)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence fairlearn's / scikit-learn's / numpy's zero-division chatter, locally.

    Undefined rates are reported by this module as NaN plus a FairnessWarning instead.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        warnings.filterwarnings(
            "ignore",
            message=r".*(divide|invalid value|All-NaN|Mean of empty|empty slice).*",
            category=RuntimeWarning,
        )
        yield


def label_counts(codes: np.ndarray, y: np.ndarray, n_groups: int) -> np.ndarray:
    """Array of shape (n_groups, 3): rows, positives and negatives per group (sizes only)."""
    n = np.bincount(codes, minlength=n_groups)
    n_pos = np.bincount(codes, weights=y, minlength=n_groups).astype(np.int64)
    return np.column_stack([n, n_pos, n - n_pos]).astype(np.int64)


def cond_rate(rate: pd.Series, key: tuple, levels: tuple, n_groups: int) -> np.ndarray:
    """Per-group values of a conditional frame at ``key`` (e.g. block, y), shape (n_groups,)."""
    try:
        part = rate.xs(key, level=levels)
    except KeyError:  # no row with this label at all
        return np.full(n_groups, np.nan)
    return part.reindex(range(n_groups)).to_numpy(dtype=float)


def json_float(value) -> float | None:
    """A Python float, or None for NaN (JSON has no NaN)."""
    value = float(value)
    return None if math.isnan(value) else value
