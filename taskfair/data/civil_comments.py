"""Civil Comments in the WILDS schema: toxicity label, gender and race attributes, and
the overlap policies for comments in several groups. Without local files it falls back
to a snapshot of the hub dataset, fetched and checked by
:func:`taskfair.data.download.download_snapshot`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.data.assemble import assemble
from taskfair.data.columns import first_rows, nonempty_mask, numeric_column, require_columns
from taskfair.data.dataset import Dataset
from taskfair.data.download import download_snapshot
from taskfair.data.splits import DEFAULT_FRACTIONS, map_splits
from taskfair.data.tables import read_folder, read_table, table_files
from taskfair.errors import DataError

__all__ = ["load_civil_comments"]

log = logging.getLogger(__name__)

_CIVIL_HUB_REPO = "badrmarani/civil-comments-wilds"
_CIVIL_HUB_PATTERNS = ("*.parquet", "*.csv", "*.csv.gz", "*.jsonl")
_CIVIL_IDENTITIES = {
    "gender": ("male", "female", "transgender", "other_gender"),
    "race": ("black", "white", "asian", "latino", "other_race_or_ethnicity"),
}
_CIVIL_FILES = ("all_data_with_identities.csv", "civil_comments.parquet", "civil_comments.csv")
_OVERLAP_POLICIES = ("exclude", "max", "first", "multiple")


def load_civil_comments(
    path: str | os.PathLike | None = None,
    *,
    overlap: str = "exclude",
    threshold: float = 0.5,
    inclusive: bool = False,
    text_col: str = "comment_text",
    split_col: str | None = "split",
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    data_dir: str | os.PathLike | None = None,
    drop_empty: bool = False,
    use_hub: bool = True,
) -> Dataset:
    """Civil Comments in the WILDS schema, with attributes ``gender`` and ``race``.

    Input: ``path`` to a CSV / Parquet / JSONL file or a folder of them (e.g. per-split
    Parquet files; the split is then read from each file's name). Without ``path``:
    ``<data_dir or ./data>/civil_comments/`` (``all_data_with_identities.csv``,
    ``civil_comments.parquet`` or ``.csv``, or any tables in that folder); failing that,
    when ``use_hub`` and ``huggingface_hub`` is importable, a snapshot of the hub dataset
    ``badrmarani/civil-comments-wilds`` into that folder.

    Columns: ``comment_text`` (or ``text_col``), ``toxicity`` (fraction of raters, 0..1),
    and the identity scores ``male, female, transgender, other_gender`` (gender) and
    ``black, white, asian, latino, other_race_or_ethnicity`` (race); a missing identity
    score counts as 0, an absent identity column is skipped.

    Label: ``toxicity > threshold`` (``>=`` when ``inclusive=True``; WILDS itself uses
    ``>= 0.5``, the paper describes ``> 0.5``). Group membership: score above the same
    threshold rule. A comment in several groups of one attribute is resolved by
    ``overlap``:

    * ``"exclude"`` (default): ``pd.NA`` for that attribute, i.e. out of that attribute's
      fairness metrics (still in accuracy and in the other attribute);
    * ``"max"``: the group with the largest score (ties: the first in the order above);
    * ``"first"``: the first member group in the order above;
    * ``"multiple"``: a group named ``"multiple"``.

    Split: the file's ``split`` column when present (``validation``/``val``/``dev`` ->
    ``val``), else our own; ``split_col=None`` always makes our own.
    """
    if overlap not in _OVERLAP_POLICIES:
        raise DataError(
            f"overlap={overlap!r} is not a policy; use one of {', '.join(_OVERLAP_POLICIES)} "
            "('exclude' leaves multi-group comments out of that attribute's fairness metrics)."
        )
    source = _civil_source(path, data_dir, use_hub)
    df = read_folder(source) if source.is_dir() else read_table(source)
    if text_col not in df.columns and text_col == "comment_text" and "text" in df.columns:
        text_col = "text"  # some mirrors rename the column
    require_columns(df, [("text_col", text_col), ("the WILDS schema", "toxicity")], source)
    keep = nonempty_mask(df[text_col], text_col, source, "drop_empty", drop_empty)
    df = df.loc[keep]  # keep the file's row numbers for later messages

    toxicity = _toxicity(df, source)
    above = (lambda s: s >= threshold) if inclusive else (lambda s: s > threshold)
    labels = above(toxicity).to_numpy(dtype="int64")

    groups = _identity_groups(df, source, above, overlap)
    splits = None
    if split_col is not None and split_col in df.columns:
        splits = map_splits(df[split_col], split_col, source)
    return assemble(
        content=df[text_col].astype(str),
        labels=labels,
        groups=groups,
        splits=splits,
        modality="text",
        name="civil_comments",
        label_name="toxic",
        source=str(source.resolve()),
        seed=seed,
        fractions=fractions,
    )


def _toxicity(df: pd.DataFrame, source) -> pd.Series:
    """The ``toxicity`` column as numbers; a row without a score is an error."""
    toxicity = numeric_column(df["toxicity"], "toxicity", source)
    if toxicity.isna().any():
        rows = toxicity.index[toxicity.isna().to_numpy()]
        raise DataError(
            f"{source}: {len(rows)} rows have no toxicity score (first data rows, 0-based: "
            f"{first_rows(rows)}). Remove them or fill the column."
        )
    return toxicity


def _identity_groups(df: pd.DataFrame, source, above, overlap: str) -> dict[str, pd.Series]:
    """``{attribute: group per row}`` from the identity scores (``above`` the threshold
    rule; several groups of one attribute resolved by ``overlap``); an attribute with no
    identity column is skipped, none at all is an error."""
    groups: dict[str, pd.Series] = {}
    for attribute, names in _CIVIL_IDENTITIES.items():
        present = [c for c in names if c in df.columns]
        if not present:
            log.warning(
                "%s: no %s identity columns (%s); attribute skipped", source, attribute, names
            )
            continue
        scores = pd.DataFrame({c: numeric_column(df[c], c, source) for c in present}).fillna(0.0)
        groups[attribute] = _resolve_overlap(above(scores), scores, overlap)
    if not groups:
        raise DataError(
            f"{source}: none of the identity columns {sum(_CIVIL_IDENTITIES.values(), ())} "
            f"exist; columns present: {list(df.columns)}. Use a WILDS-schema file "
            "(all_data_with_identities.csv)."
        )
    return groups


def _resolve_overlap(member: pd.DataFrame, scores: pd.DataFrame, policy: str) -> pd.Series:
    """One group name (or NA) per row from a boolean membership table."""
    names = np.array(member.columns, dtype=object)
    count = member.sum(axis=1).to_numpy()
    first = names[np.argmax(member.to_numpy(), axis=1)] if len(names) else np.array([])
    out = np.where(count == 1, first, None)
    if policy == "first":
        out = np.where(count >= 1, first, None)
    elif policy == "max":
        # Non-members are masked to -inf so a member always wins; argmax keeps the first tie.
        masked = np.where(member.to_numpy(), scores.to_numpy(dtype=float), -np.inf)
        out = np.where(count >= 1, names[np.argmax(masked, axis=1)], None)
    elif policy == "multiple":
        out = np.where(count > 1, "multiple", out)
    return pd.Series(out, dtype="string")


def _civil_source(
    path: str | os.PathLike | None, data_dir: str | os.PathLike | None, use_hub: bool
) -> Path:
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise DataError(f"Civil Comments file not found: {p}. " + _CIVIL_HOWTO)
        return p
    folder = Path(data_dir if data_dir is not None else "data") / "civil_comments"
    for name in _CIVIL_FILES:
        if (folder / name).is_file():
            return folder / name
    if folder.is_dir() and table_files(folder):
        return folder
    if not use_hub:
        raise DataError(f"No Civil Comments data in {folder}. " + _CIVIL_HOWTO)
    return _civil_comments_from_hub(folder)


_CIVIL_HOWTO = (
    "Civil Comments is not shipped with the project. Download the WILDS file "
    "all_data_with_identities.csv (or Parquet files of the hub dataset "
    f"{_CIVIL_HUB_REPO}) and pass path=..., or put it in data/civil_comments/."
)


def _civil_comments_from_hub(folder: Path) -> Path:
    """Snapshot the hub dataset into ``folder`` (which holds no table yet); see
    :func:`~taskfair.data.download.download_snapshot`."""
    return download_snapshot(
        _CIVIL_HUB_REPO,
        folder,
        patterns=_CIVIL_HUB_PATTERNS,
        verify=_holds_tables,
        what="Civil Comments",
        fix=_CIVIL_HOWTO,
    )


def _holds_tables(folder: Path) -> str | None:
    return None if table_files(folder) else "holds no table files"
