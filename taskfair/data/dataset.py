"""The dataset type: one typed table of content, binary label, sensitive groups and split.

A :class:`Dataset`'s ``frame`` has

* ``text`` (str) for text data, or ``image`` (str, an absolute file path) for images;
* ``label`` (int64, 0 or 1);
* ``split`` (``"train" | "val" | "test"``, the values of :data:`SPLITS`);
* one column per sensitive attribute (dtype ``string``): the group name, or ``pd.NA``
  for a row in no group of that attribute. Such rows are kept for accuracy and left
  out of the fairness metrics.

This is the bottom of the data layer: it imports nothing from the rest of the package.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taskfair.errors import DataError

__all__ = ["EVAL_SPLITS", "NO_GROUP", "RESERVED_COLUMNS", "SPLITS", "Dataset", "is_missing"]

SPLITS = ("train", "val", "test")
#: The splits a bundle is evaluated on: λ is chosen on val and reported on test.
EVAL_SPLITS = SPLITS[1:]
#: Label used in group tables for rows that belong to no group of an attribute.
NO_GROUP = "(no group)"
#: Column names a Dataset's frame uses itself; an attribute may not take one of them.
RESERVED_COLUMNS = ("text", "image", "label", "split")


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled, grouped and split table. Treat ``frame`` as read-only.

    ``eq=False`` because comparing DataFrames with ``==`` is ambiguous; compare
    :meth:`fingerprint` values instead.
    """

    frame: pd.DataFrame
    attributes: list[str]
    name: str
    modality: str
    label_name: str
    source: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", list(self.attributes))
        if self.modality not in ("text", "image"):
            raise DataError(f"modality must be 'text' or 'image', not {self.modality!r}.")
        needed = [self.content_column, "label", "split", *self.attributes]
        missing = [c for c in needed if c not in self.frame.columns]
        if missing:
            raise DataError(
                f"Dataset {self.name!r} lacks the columns {missing}; "
                f"it has {list(self.frame.columns)}."
            )
        bad_labels = set(pd.unique(self.frame["label"])) - {0, 1}
        if bad_labels:
            raise DataError(f"Dataset {self.name!r}: labels must be 0/1, found {bad_labels}.")
        bad_splits = set(pd.unique(self.frame["split"])) - set(SPLITS)
        if bad_splits:
            raise DataError(f"Dataset {self.name!r}: splits must be {SPLITS}, found {bad_splits}.")

    @property
    def content_column(self) -> str:
        """``"text"`` or ``"image"``: the model's input column."""
        return "text" if self.modality == "text" else "image"

    def fingerprint(self) -> str:
        """sha256 hex of the frame's column names, column order, row order and values.

        Stable across runs and processes (no Python ``hash``); any changed value, row
        or column changes it. Computed on each call because ``frame`` is mutable.
        """
        return _frame_fingerprint(self.frame)

    def split_frame(self, split: str) -> pd.DataFrame:
        """The rows of one split (a copy), keeping the full frame's index."""
        if split not in SPLITS:
            raise DataError(f"Unknown split {split!r}; use one of {SPLITS}.")
        return self.frame.loc[self.frame["split"].to_numpy() == split].copy()

    def groups(self, attribute: str) -> list[str]:
        """The sorted group names of ``attribute`` (no-group rows excluded)."""
        self._check_attribute(attribute)
        return sorted(self.frame[attribute].dropna().unique().tolist())

    def group_counts(self, attribute: str) -> pd.DataFrame:
        """Rows per split x group, with ``NO_GROUP`` for rows in no group.

        Columns: ``split``, ``group``, ``n``, ``positives``, ``positive_rate`` (NaN
        where ``n == 0``). Every split x group pair appears, empty ones with ``n == 0``,
        so a group too small or missing in a split is visible rather than silently absent.
        """
        self._check_attribute(attribute)
        groups = [*self.groups(attribute), NO_GROUP]
        table = pd.DataFrame(
            {
                "split": self.frame["split"].astype(object).to_numpy(),
                "group": self.frame[attribute].astype(object).fillna(NO_GROUP).to_numpy(),
                "label": self.frame["label"].to_numpy(),
            }
        )
        agg = table.groupby(["split", "group"])["label"].agg(["size", "sum"])
        full = pd.MultiIndex.from_product([SPLITS, groups], names=["split", "group"])
        agg = agg.reindex(full, fill_value=0)
        out = pd.DataFrame(
            {
                "split": full.get_level_values("split"),
                "group": full.get_level_values("group"),
                "n": agg["size"].to_numpy().astype("int64"),
                "positives": agg["sum"].to_numpy().astype("int64"),
            }
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            out["positive_rate"] = np.where(out["n"] > 0, out["positives"] / out["n"], np.nan)
        return out

    def summary(self) -> str:
        """A few lines: size, label rate, split sizes, then n (positive rate) per group."""
        f = self.frame
        n = len(f)
        rate = f["label"].mean() if n else float("nan")
        sizes = f["split"].value_counts()
        lines = [
            f"{self.name}: {n:,} {self.modality} rows from {self.source}",
            f"label {self.label_name!r}: {rate:.1%} positive",
            "splits: " + " | ".join(f"{s} {int(sizes.get(s, 0)):,}" for s in SPLITS),
        ]
        for attribute in self.attributes:
            counts = self.group_counts(attribute)
            cells = counts.assign(
                cell=[
                    f"{k:,} ({r:.2f})" if k else "0 (-)"
                    for k, r in zip(counts["n"], counts["positive_rate"], strict=True)
                ]
            )
            table = cells.pivot(index="group", columns="split", values="cell")
            table = table.reindex(index=counts["group"].drop_duplicates(), columns=list(SPLITS))
            table.index.name = None
            table.columns.name = None
            lines.append(f"attribute {attribute!r}: n (positive rate) per split")
            lines.extend("  " + row for row in table.to_string().splitlines())
        return "\n".join(lines)

    def _check_attribute(self, attribute: str) -> None:
        if attribute not in self.attributes:
            raise DataError(
                f"{attribute!r} is not an attribute of dataset {self.name!r}; "
                f"its attributes are {self.attributes}."
            )


def _frame_fingerprint(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    h.update(f"\0{len(frame)}".encode())
    for column in frame.columns:
        values = [None if is_missing(v) else v for v in frame[column].tolist()]
        h.update(b"\0")
        h.update(json.dumps(values, default=_json_default, ensure_ascii=False).encode())
    return h.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def is_missing(value: Any) -> bool:
    """Whether a cell is empty: None, pd.NA, pd.NaT or a float NaN."""
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )
