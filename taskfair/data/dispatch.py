"""One entry point, :func:`load_dataset`: a built-in dataset by name, or a table or
folder by path, with each option checked against the chosen loader's keywords.
"""

from __future__ import annotations

import difflib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskfair.data.civil_comments import load_civil_comments
from taskfair.data.dataset import Dataset
from taskfair.data.generic import load_image_table, load_table
from taskfair.data.hatexplain import load_hatexplain
from taskfair.data.utkface import load_utkface
from taskfair.errors import DataError

__all__ = ["BUILTIN_DATASETS", "load_dataset"]

BUILTIN_DATASETS = ("hatexplain", "civil_comments", "utkface")


def load_dataset(name_or_path: str | os.PathLike, **options: Any) -> Dataset:
    """Load a built-in dataset by name, or a table / folder by path.

    * ``"hatexplain"``: :func:`load_hatexplain` (options ``path``, ``label``,
      ``keep_multi``, ``seed``, ``fractions``, ``data_dir``, ``drop_empty``).
    * ``"civil_comments"``: :func:`load_civil_comments`.
    * ``"utkface"`` or a folder holding ``labels.csv`` + ``images/``: :func:`load_utkface`.
    * a ``.csv/.tsv/.parquet/.jsonl/.json`` path: :func:`load_table`, or
      :func:`load_image_table` when ``image_col`` or ``image_root`` is given.

    Unknown options raise :class:`DataError` naming the closest valid one.
    """
    raw = os.fspath(name_or_path)
    key = raw.strip().lower().replace("-", "_")
    if key in BUILTIN_DATASETS:
        loader = {
            "hatexplain": load_hatexplain,
            "civil_comments": load_civil_comments,
            "utkface": load_utkface,
        }[key]
        return _call_with_options(loader, (), options, f"load_dataset({key!r})")
    path = Path(raw).expanduser()
    if path.is_dir():
        if (path / "labels.csv").is_file() and (path / "images").is_dir():
            return _call_with_options(
                load_utkface, (), {"path": path, **options}, "load_dataset(<folder>)"
            )
        raise DataError(
            f"{path} is a folder. Give a table file (.csv, .parquet, .jsonl), or a folder "
            "with labels.csv and images/ (the UTKFace layout)."
        )
    if not path.exists():
        guess = difflib.get_close_matches(key, BUILTIN_DATASETS, n=1, cutoff=0.6)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise DataError(
            f"No file {raw!r} and no built-in dataset of that name.{hint} Built-in datasets: "
            f"{', '.join(BUILTIN_DATASETS)}; otherwise pass the path of a CSV, Parquet or "
            "JSONL file."
        )
    if "image_col" in options or "image_root" in options:
        return _call_with_options(load_image_table, (path,), options, f"load_dataset({raw!r})")
    return _call_with_options(load_table, (path,), options, f"load_dataset({raw!r})")


def _call_with_options(func, args: tuple, options: Mapping[str, Any], label: str) -> Dataset:
    params = inspect.signature(func).parameters
    # `path` is an option only where load_dataset did not already pass it positionally.
    allowed = [
        p
        for p, spec in params.items()
        if spec.kind is inspect.Parameter.KEYWORD_ONLY or (p == "path" and not args)
    ]
    unknown = [k for k in options if k not in allowed]
    if unknown:
        hints = []
        for k in unknown:
            guess = difflib.get_close_matches(k, allowed, n=1, cutoff=0.5)
            hints.append(f"{k!r}" + (f" (did you mean {guess[0]!r}?)" if guess else ""))
        raise DataError(
            f"{label}: unknown option {', '.join(hints)}. Valid options: {', '.join(allowed)}."
        )
    return func(*args, **options)
