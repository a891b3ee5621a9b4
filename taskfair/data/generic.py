"""Any table as a dataset: :func:`load_table` (texts) and :func:`load_image_table` (image
paths), from a CSV / TSV / Parquet / JSONL file with a label column and group columns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from taskfair.data.assemble import assemble
from taskfair.data.columns import (
    binary_labels,
    group_values,
    nonempty_mask,
    parse_group_cols,
    require_columns,
    resolve_images,
)
from taskfair.data.dataset import Dataset
from taskfair.data.splits import DEFAULT_FRACTIONS, map_splits
from taskfair.data.tables import existing_file, read_table

__all__ = ["load_image_table", "load_table"]


def load_table(
    path: str | os.PathLike,
    *,
    text_col: str = "text",
    label_col: str = "label",
    group_cols: Sequence[str] | Mapping[str, str] | str | None = None,
    positive_labels: Sequence[Any] | None = None,
    split_col: str | None = None,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    drop_empty: bool = False,
    name: str | None = None,
    label_name: str | None = None,
) -> Dataset:
    """A text dataset from a CSV / TSV / Parquet / JSONL file.

    ``group_cols``: column names (each becomes an attribute of the same name) or a
    mapping ``{attribute: column}``; empty / missing cells mean "no group". Labels: see
    :func:`~taskfair.data.columns.binary_labels` (0/1 directly, else
    ``positive_labels=[...]``). ``split_col``: a column of train/val(idation)/dev/test
    values; without it (default) our own split.
    CSV cells are read as strings, so a text such as "NA" stays a text.
    """
    path = existing_file(path)
    df = read_table(path)
    return _from_table(
        df,
        path=path,
        modality="text",
        content=("text_col", text_col),
        label_col=label_col,
        group_cols=group_cols,
        positive_labels=positive_labels,
        split_col=split_col,
        seed=seed,
        fractions=fractions,
        drop_empty=drop_empty,
        name=name,
        label_name=label_name,
    )


def load_image_table(
    path: str | os.PathLike,
    *,
    image_col: str = "image",
    label_col: str = "label",
    group_cols: Sequence[str] | Mapping[str, str] | str | None = None,
    image_root: str | os.PathLike | None = None,
    positive_labels: Sequence[Any] | None = None,
    split_col: str | None = None,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    drop_empty: bool = False,
    name: str | None = None,
    label_name: str | None = None,
    check_files: bool = True,
) -> Dataset:
    """An image dataset from a table of image paths + label + group columns.

    Relative paths in ``image_col`` are read against ``image_root``, else the table's
    folder; ``image`` in the result holds absolute paths. Missing files raise a
    :class:`DataError` naming the first few. Other options as in :func:`load_table`.
    """
    path = existing_file(path)
    df = read_table(path)
    root = Path(image_root) if image_root is not None else path.parent
    return _from_table(
        df,
        path=path,
        modality="image",
        content=("image_col", image_col),
        label_col=label_col,
        group_cols=group_cols,
        positive_labels=positive_labels,
        split_col=split_col,
        seed=seed,
        fractions=fractions,
        drop_empty=drop_empty,
        name=name,
        label_name=label_name,
        image_root=root,
        check_files=check_files,
    )


def _from_table(
    df: pd.DataFrame,
    *,
    path: Path,
    modality: str,
    content: tuple[str, str],
    label_col: str,
    group_cols,
    positive_labels,
    split_col: str | None,
    seed: int,
    fractions: Sequence[float],
    drop_empty: bool,
    name: str | None,
    label_name: str | None,
    image_root: Path | None = None,
    check_files: bool = True,
) -> Dataset:
    option, content_col = content
    attributes = parse_group_cols(group_cols)
    wanted = [(option, content_col), ("label_col", label_col)]
    wanted += [("group_cols", c) for c in attributes.values()]
    if split_col is not None:
        wanted.append(("split_col", split_col))
    require_columns(df, wanted, path)
    keep = nonempty_mask(df[content_col], content_col, path, "drop_empty", drop_empty)
    df = df.loc[keep]  # keep the file's row numbers for later messages
    labels = binary_labels(df[label_col], positive_labels, label_col, path)
    groups = {attr: group_values(df[col]) for attr, col in attributes.items()}
    splits = map_splits(df[split_col], split_col, path) if split_col is not None else None
    if modality == "image":
        values = resolve_images(df[content_col], image_root, content_col, path, check_files)
    else:
        values = df[content_col].astype(str)
    return assemble(
        content=values,
        labels=labels,
        groups=groups,
        splits=splits,
        modality=modality,
        name=name or path.name.split(".")[0],
        label_name=label_name or label_col,
        source=str(path.resolve()),
        seed=seed,
        fractions=fractions,
    )
