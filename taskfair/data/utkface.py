"""UTKFace: faces as an image dataset, label ``age >= threshold``, attributes gender and
race. Never downloaded: its licence allows non-commercial research use only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from taskfair.data.assemble import assemble
from taskfair.data.columns import integer_column, require_columns, resolve_images
from taskfair.data.dataset import Dataset
from taskfair.data.download import PREPARE_HINT
from taskfair.data.splits import DEFAULT_FRACTIONS
from taskfair.data.tables import read_table
from taskfair.errors import DataError

__all__ = ["load_utkface"]

_UTK_GENDERS = {0: "male", 1: "female"}
_UTK_RACES = {0: "white", 1: "black", 2: "asian", 3: "indian", 4: "others"}


def load_utkface(
    path: str | os.PathLike | None = None,
    *,
    threshold: int = 30,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    data_dir: str | os.PathLike | None = None,
    check_files: bool = True,
) -> Dataset:
    """UTKFace faces as an image dataset: label ``age >= threshold``, attributes
    ``gender`` (male/female) and ``race`` (white/black/asian/indian/others).

    Folder: ``path`` (the folder, or its ``labels.csv``), else
    ``<data_dir or ./data>/utkface``. It holds ``labels.csv`` (columns ``file``,
    ``age``, ``gender`` 0 male / 1 female, ``race`` 0 White / 1 Black / 2 Asian /
    3 Indian / 4 Others) and ``images/<file>``. ``image`` holds absolute paths; with
    ``check_files`` every file's existence is checked (no decoding). Split stratified by
    label x gender x race.
    """
    folder = Path(path) if path is not None else Path(data_dir or "data") / "utkface"
    if folder.is_file() and folder.name == "labels.csv":
        folder = folder.parent
    labels_csv = folder / "labels.csv"
    if not labels_csv.is_file():
        raise DataError(
            f"UTKFace not found: no {labels_csv}. "
            + PREPARE_HINT.format(name="utkface")
            + " to copy the project's shared copy, or place the UTKFace folder "
            "(labels.csv + images/) there. UTKFace is not downloaded automatically: its "
            "licence allows non-commercial research use only."
        )
    df = read_table(labels_csv)
    require_columns(df, [("labels.csv", c) for c in ("file", "age", "gender", "race")], labels_csv)
    age = integer_column(df["age"], "age", labels_csv)
    codes = {}
    for column, mapping in (("gender", _UTK_GENDERS), ("race", _UTK_RACES)):
        values = integer_column(df[column], column, labels_csv)
        bad = sorted(set(values.tolist()) - set(mapping))
        if bad:
            raise DataError(
                f"{labels_csv}: column {column!r} must hold codes {sorted(mapping)} "
                f"({', '.join(f'{k}={v}' for k, v in mapping.items())}); found {bad}."
            )
        codes[column] = pd.Series(values.map(mapping).to_numpy(), dtype="string")
    images = resolve_images(
        df["file"],
        folder / "images",
        "file",
        labels_csv,
        check_files,
        fix="copy the missing images into images/ or re-run `python -m taskfair prepare-data utkface`",
    )
    return assemble(
        content=images,
        labels=(age >= threshold).to_numpy(dtype="int64"),
        groups=codes,
        splits=None,
        modality="image",
        name="utkface",
        label_name=f"age>={threshold}",
        source=str(folder.resolve()),
        seed=seed,
        fractions=fractions,
        # Every gender x race cell holds 600 faces, so stratifying on both keeps each
        # race's split sizes close to 80/10/10 too.
        stratify=("gender", "race"),
    )
