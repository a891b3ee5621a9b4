"""Assembly: the last step of every loader. Per-row arrays (content, 0/1 labels, group
names, optional splits) become a validated, split :class:`~taskfair.data.Dataset`, whose
summary is logged at INFO level (loaders never print).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from taskfair.data.dataset import NO_GROUP, RESERVED_COLUMNS, SPLITS, Dataset
from taskfair.data.splits import assign_splits
from taskfair.errors import DataError
from taskfair.names import label_problem, name_problem, shown

__all__ = ["assemble"]

log = logging.getLogger(__name__)


def assemble(
    *,
    content: pd.Series,
    labels: np.ndarray,
    groups: Mapping[str, pd.Series],
    splits: np.ndarray | None,
    modality: str,
    name: str,
    label_name: str,
    source: str,
    seed: int,
    fractions: Sequence[float],
    stratify: Sequence[str] | None = None,
) -> Dataset:
    """Build, validate, split and log a Dataset from aligned per-row arrays."""
    if len(content) == 0:
        raise DataError(f"{source}: no rows to load (the table is empty after filtering).")
    if label_problem(label_name) is not None:  # shown on every page, as text
        raise DataError(
            f"{source}: the label name {shown(label_name)} cannot be a name "
            f"({label_problem(label_name)}): give label_name a plain name such as 'toxic'."
        )
    content_col = "text" if modality == "text" else "image"
    frame = pd.DataFrame(
        {
            content_col: pd.Series(np.asarray(content, dtype=object), dtype="string"),
            "label": np.asarray(labels, dtype="int64"),
        }
    )
    for attribute, values in groups.items():
        if attribute in RESERVED_COLUMNS:
            raise DataError(
                f"An attribute may not be called {attribute!r} (reserved: "
                f"{', '.join(RESERVED_COLUMNS)}). Rename it with a mapping, e.g. "
                f"group_cols={{'{attribute}_group': '{attribute}'}}."
            )
        series = pd.Series(np.asarray(values, dtype=object), dtype="string")
        found = sorted(series.dropna().unique().tolist())
        if len(found) < 2:
            raise DataError(
                f"{source}: attribute {attribute!r} has {len(found)} group(s) {found}; "
                "fairness compares groups, so it needs at least 2. Pick a column with two "
                "or more distinct values, or check that its cells are not empty."
            )
        frame[attribute] = series
    if splits is None:
        # Default: label x group of the first attribute (no-group rows form their own stratum).
        stratify = list(groups)[:1] if stratify is None else list(stratify)
        strata = frame["label"].astype(str)
        for attribute in stratify:
            strata = strata + "|" + frame[attribute].astype(object).fillna(NO_GROUP).astype(str)
        split = assign_splits(
            frame[content_col].astype(object), strata, seed=seed, fractions=fractions
        )
    else:
        split = np.asarray(splits, dtype=object)
    frame.insert(2, "split", pd.Series(split, dtype="string"))
    if frame["label"].nunique() < 2 and len(frame):
        log.warning(
            "%s: every label is %d; a classifier cannot learn from one class",
            source,
            frame["label"].iloc[0],
        )
    empty = [s for s in SPLITS if not (frame["split"] == s).any()]
    if empty and len(frame):
        log.warning("%s: the split(s) %s are empty", source, empty)
    ds = Dataset(
        frame=frame,
        attributes=list(groups),
        name=name,
        modality=modality,
        label_name=label_name,
        source=source,
    )
    if log.isEnabledFor(logging.INFO):
        log.info("%s", ds.summary())
    return ds
