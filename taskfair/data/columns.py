"""Columns: check that a table has the columns asked for, and coerce them: labels to 0/1,
group cells to group names, numbers, whole numbers, image paths.

Every problem raises one :class:`~taskfair.errors.DataError` naming the column, the
first offending data rows (0-based, header not counted) and the fix.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taskfair.data.dataset import is_missing
from taskfair.errors import DataError

__all__ = [
    "binary_labels",
    "first_rows",
    "group_values",
    "integer_column",
    "nonempty_mask",
    "numeric_column",
    "parse_group_cols",
    "require_columns",
    "resolve_images",
    "value_list",
]

log = logging.getLogger(__name__)


def require_columns(
    df: pd.DataFrame, wanted: Sequence[tuple[str, str]], source: Path, fix: str | None = None
) -> None:
    """Raise one DataError for every wanted (option, column) pair absent from ``df``."""
    columns = [str(c) for c in df.columns]
    problems = []
    for option, column in wanted:
        if column in columns:
            continue
        guess = [c for c in columns if c.lower() == str(column).lower()]
        guess = guess or difflib.get_close_matches(str(column), columns, n=1, cutoff=0.6)
        text = f"column {column!r} ({option}) not found"
        if guess and option.endswith(("_col", "_cols")):
            value = f"'{guess[0]}'" if option.endswith("_col") else f"['{guess[0]}', ...]"
            text += f"; did you mean {guess[0]!r}? Pass {option}={value}"
        elif guess:
            text += f"; did you mean {guess[0]!r}?"
        elif option.endswith(("_col", "_cols")):
            text += f"; pass {option}= with a column listed under 'Columns present'"
        problems.append(text)
    if problems:
        raise DataError(
            f"{source}: "
            + "; ".join(problems)
            + f". Columns present: {columns}."
            + (f" {fix}" if fix else "")
        )


def nonempty_mask(
    series: pd.Series, column: str, source: Path, option: str, drop: bool
) -> np.ndarray:
    """True for rows with a non-blank value; raise (or log and drop) otherwise."""
    empty = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = series.index[empty]
        what = f"{len(rows)} of {len(series)} rows with an empty or missing {column!r}"
        where = f"(first data rows, 0-based, header not counted: {first_rows(rows)})"
        if not drop:
            raise DataError(
                f"{source}: found {what} {where}. Fill or remove them, or pass {option}=True to "
                "drop them."
            )
        log.warning("%s: dropping %s %s", source, what, where)
    return ~empty


def first_rows(rows: Sequence[int], k: int = 5) -> str:
    """The first ``k`` row numbers, comma-separated, with ", ..." when there are more.
    Row labels that are not numbers (a table indexed by another column) are shown as is."""
    shown = ", ".join(str(int(r)) if _is_int(r) else repr(r) for r in rows[:k])
    return shown + (", ..." if len(rows) > k else "")


# How a missing label is spelled in exported tables (pandas, R, spreadsheets, JSON). A
# label is a class, never one of these; "none" is left alone (it can be a class name).
_MISSING_LABELS = ("", "nan", "na", "n/a", "null", "<na>")


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def _norm_label(value: Any) -> str:
    """A comparable spelling of a label value: ``True``/``"TRUE"`` -> ``"true"``,
    ``1``/``1.0``/``"1.0"`` -> ``"1"``."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    text = str(value).strip().lower()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def binary_labels(
    series: pd.Series, positive_labels: Sequence[Any] | None, column: str, source: Path
) -> np.ndarray:
    """0/1 labels (int64) from a label column.

    Exactly {0, 1} (ints, floats, bools, "0"/"1", "true"/"false", any case) maps
    directly; with ``positive_labels`` those values (compared case-insensitively as
    text) are 1 and all others 0; anything else is a DataError listing the values.
    """
    text = series.astype(str).str.strip()
    missing = series.isna().to_numpy() | text.str.lower().isin(_MISSING_LABELS).to_numpy()
    if missing.any():
        rows = series.index[missing]
        raise DataError(
            f"{source}: {len(rows)} rows have no value in label column {column!r} (empty, "
            f"NaN, NA or null; first data rows, 0-based: {first_rows(rows)}). Fill or remove "
            "them."
        )
    norm = series.map(_norm_label)
    counts = norm.value_counts()
    if positive_labels is not None:
        if isinstance(positive_labels, (str, bytes)) or not hasattr(positive_labels, "__iter__"):
            positive_labels = [positive_labels]
        positive = {_norm_label(v) for v in positive_labels}
        if not positive & set(counts.index):
            raise DataError(
                f"{source}: none of positive_labels={list(positive_labels)} occur in column "
                f"{column!r}; values found: {value_list(counts)}."
            )
        return norm.isin(positive).to_numpy(dtype="int64")
    values = set(counts.index)
    if values <= {"0", "1", "false", "true"}:
        return norm.isin({"1", "true"}).to_numpy(dtype="int64")
    example = _positive_example(counts)
    raise DataError(
        f"{source}: label column {column!r} is not binary; values found (count): "
        f"{value_list(counts)}. Pass positive_labels=[...] with the values that mean 1, "
        f"e.g. positive_labels={example!r}; all other values become 0."
    )


_LIKELY_POSITIVE = ("hate", "hatespeech", "toxic", "offensive", "abusive", "positive", "yes")


def _positive_example(counts: pd.Series) -> list[str]:
    """A plausible positive_labels example for an error message: a value that sounds
    positive, else the rarest value (positives are usually the minority)."""
    likely = [v for v in counts.index if v in _LIKELY_POSITIVE]
    return likely[:1] or [counts.index[-1]]


def value_list(counts: pd.Series, k: int = 10) -> str:
    """The ``k`` most common values with their counts, for an error message."""
    shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(k).items())
    return shown + (f", ... ({len(counts) - k} more)" if len(counts) > k else "")


def group_values(series: pd.Series) -> pd.Series:
    """Group names as str, NA for empty or missing cells; 1.0 -> "1" (CSV floats)."""

    def one(v: Any) -> Any:
        if is_missing(v):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        text = str(v).strip()
        return text or None

    return pd.Series([one(v) for v in series.tolist()], dtype="string")


def parse_group_cols(group_cols) -> dict[str, str]:
    """``{attribute name: column}`` from None, a column name, a list, or a mapping."""
    if group_cols is None:
        return {}
    if isinstance(group_cols, str):
        return {group_cols: group_cols}
    if isinstance(group_cols, Mapping):
        return {str(k): str(v) for k, v in group_cols.items()}
    return {str(c): str(c) for c in group_cols}


def integer_column(series: pd.Series, column: str, source: Path) -> pd.Series:
    """int64 values; an empty cell or a number with a fraction is a DataError."""
    values = numeric_column(series, column, source)
    bad = values.isna() | (values % 1 != 0)
    if bad.any():
        rows = series.index[bad.to_numpy()]
        raise DataError(
            f"{source}: column {column!r} must hold whole numbers; {len(rows)} rows do not "
            f"(first data rows, 0-based: {first_rows(rows)}; e.g. {series.loc[rows[0]]!r})."
        )
    return values.astype("int64")


def numeric_column(series: pd.Series, column: str, source: Path) -> pd.Series:
    """Floats; empty cells become NaN, text that is not a number is a DataError."""
    text = series.astype(object).where(series.notna(), None)
    blank = text.map(lambda v: v is None or (isinstance(v, str) and v.strip() == ""))
    values = pd.to_numeric(text.where(~blank, None), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        rows = series.index[bad.to_numpy()]
        raise DataError(
            f"{source}: column {column!r} must be numeric; {len(rows)} rows are not (first "
            f"data rows, 0-based: {first_rows(rows)}; e.g. {series.loc[rows[0]]!r})."
        )
    return values.astype(float)


def resolve_images(
    series: pd.Series,
    root: Path,
    column: str,
    source: Path,
    check_files: bool,
    fix: str = "pass image_root=... if they are relative to another folder",
) -> pd.Series:
    """Absolute image paths (relative ones read against ``root``); check they exist."""
    root = Path(root)
    paths = [
        os.path.abspath(p if os.path.isabs(p) else root / p)
        for p in (str(v).strip() for v in series.tolist())
    ]
    if check_files:
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise DataError(
                f"{source}: {len(missing)} of {len(paths)} image files in column {column!r} "
                f"are missing, e.g. {', '.join(missing[:3])}. Relative paths are read against "
                f"{root.resolve()}; {fix}."
            )
    return pd.Series(paths, dtype="string")
