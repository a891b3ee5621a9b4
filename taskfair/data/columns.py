"""Datasets as one typed table: text or image path, binary label, sensitive groups, split.

Every loader returns a :class:`Dataset` whose ``frame`` has

* ``text`` (str) for text data, or ``image`` (str, an absolute file path) for images;
* ``label`` (int64, 0 or 1);
* ``split`` (``"train" | "val" | "test"``);
* one column per sensitive attribute (dtype ``string``): the group name, or ``pd.NA``
  for a row in no group of that attribute. Such rows are kept for accuracy and left
  out of the fairness metrics.

The one public entry point is :func:`load_dataset`. Built-in names are ``hatexplain``,
``civil_comments`` and ``utkface``; anything else is a path to a CSV / TSV / Parquet /
JSONL table (text, or image paths with ``image_col=``) or a UTKFace-like folder.

Splits are made by :func:`assign_splits`: deterministic, seeded, stratified by
label x group of the first attribute, and identical texts (or image paths) never
straddle two splits. Every problem with the input raises one :class:`DataError` that
names the problem and the fix. Loaders log :meth:`Dataset.summary` at INFO level; they
never print.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taskfair.errors import DataError

__all__ = [
    "DEFAULT_FRACTIONS",
    "NO_GROUP",
    "SPLITS",
    "BUILTIN_DATASETS",
    "DataError",
    "Dataset",
    "assign_splits",
    "load_dataset",
    "load_hatexplain",
    "load_civil_comments",
    "load_utkface",
    "load_table",
    "load_image_table",
]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
#: Label used in group tables for rows that belong to no group of an attribute.
NO_GROUP = "(no group)"
BUILTIN_DATASETS = ("hatexplain", "civil_comments", "utkface")

_RESERVED_COLUMNS = ("text", "image", "label", "split")
_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".zst")
_PREPARE_HINT = "Run `make data` (or `python -m taskfair prepare-data {name}`)"



# --------------------------------------------------------------------------- Dataset


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
        values = [None if _is_missing(v) else v for v in frame[column].tolist()]
        h.update(b"\0")
        h.update(json.dumps(values, default=_json_default, ensure_ascii=False).encode())
    return h.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


# --------------------------------------------------------------------------- splits


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


# --------------------------------------------------------------------------- dispatch


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


# --------------------------------------------------------------------------- HateXplain

_HATEXPLAIN_FILE = "hatexplain_magpie_preprocessed.csv"
# The four flags that define the `target` attribute; label_economic is deliberately not
# here (see load_hatexplain).
_HATEXPLAIN_GROUPS = {
    "race": "label_race",
    "gender": "label_gender",
    "religion": "label_religion",
    "minority": "label_minority",
}
_HATEXPLAIN_LABELS = {"toxic": "label >= 1 (offensive or hate)", "hate": "label == 2 (hate)"}


def load_hatexplain(
    path: str | os.PathLike | None = None,
    *,
    label: str = "toxic",
    keep_multi: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    data_dir: str | os.PathLike | None = None,
    drop_empty: bool = False,
) -> Dataset:
    """HateXplain (the MAGPIE-preprocessed CSV) as a text dataset with attribute ``target``.

    File: ``path``, else ``<data_dir or ./data>/hatexplain/hatexplain_magpie_preprocessed.csv``.

    Label: ``label="toxic"`` gives 1 for offensive or hate (``label >= 1``, 59% positive);
    ``label="hate"`` gives 1 for hate speech only (``label == 2``, 31%).

    Attribute ``target`` (who the post is about, by annotator union) from the flags
    ``label_race``, ``label_gender`` (includes sexual orientation upstream),
    ``label_religion`` and ``label_minority``:

    * exactly one of these four flags: that group (``race``, ``gender``, ``religion``,
      ``minority``);
    * none of them: ``pd.NA`` (kept for accuracy, out of the fairness metrics);
    * two or more: ``pd.NA``, or the group ``"multiple"`` when ``keep_multi=True``.

    ``label_economic`` is ignored on purpose: only 78 rows carry it and 7 carry it alone,
    too few for a subgroup fine-tune. So a row flagged economic only gets ``pd.NA``, and
    a row flagged economic plus exactly one other flag gets that other group.

    Split: our own (the file has none), stratified by label x target; the 8 texts that
    occur twice stay in one split.
    """
    if label not in _HATEXPLAIN_LABELS:
        raise DataError(
            f"label={label!r} is not a HateXplain label option; use 'toxic' "
            f"({_HATEXPLAIN_LABELS['toxic']}) or 'hate' ({_HATEXPLAIN_LABELS['hate']})."
        )
    if path is None:
        path = Path(data_dir if data_dir is not None else "data") / "hatexplain" / _HATEXPLAIN_FILE
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"HateXplain file not found: {path}. "
            + _PREPARE_HINT.format(name="hatexplain")
            + " to copy or download it, or pass path= to the preprocessed CSV."
        )
    df = _read_table(path)
    flag_cols = list(_HATEXPLAIN_GROUPS.values())
    _require_columns(
        df,
        [("the HateXplain schema", c) for c in ["text", "label", *flag_cols]],
        path,
        fix="This does not look like hatexplain_magpie_preprocessed.csv; "
        "re-run `python -m taskfair prepare-data hatexplain`.",
    )
    keep = _nonempty_mask(df["text"], "text", path, "drop_empty", drop_empty)
    df = df.loc[keep]  # keep the file's row numbers for later messages

    raw_label = _integer_column(df["label"], "label", path)
    bad = sorted(set(raw_label.tolist()) - {0, 1, 2})
    if bad:
        raise DataError(
            f"{path}: column 'label' must hold 0 (normal), 1 (offensive) or 2 (hate); "
            f"found {bad}. Re-create the file with `python -m taskfair prepare-data hatexplain`."
        )
    y = (raw_label >= 1) if label == "toxic" else (raw_label == 2)

    flags = pd.DataFrame(
        {g: _integer_column(df[c], c, path) != 0 for g, c in _HATEXPLAIN_GROUPS.items()}
    )
    n_flags = flags.sum(axis=1).to_numpy()
    single = flags.idxmax(axis=1).to_numpy(dtype=object)
    target = np.where(n_flags == 1, single, None)
    if keep_multi:
        target = np.where(n_flags > 1, "multiple", target)
    return _assemble(
        content=df["text"].astype(str),
        labels=y.to_numpy(dtype="int64"),
        groups={"target": pd.Series(target, dtype="string")},
        splits=None,
        modality="text",
        name="hatexplain",
        label_name=label,
        source=str(path.resolve()),
        seed=seed,
        fractions=fractions,
    )


# --------------------------------------------------------------------------- Civil Comments

_CIVIL_HUB_REPO = "badrmarani/civil-comments-wilds"
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
    df = _read_folder(source) if source.is_dir() else _read_table(source)
    if text_col not in df.columns and text_col == "comment_text" and "text" in df.columns:
        text_col = "text"  # some mirrors rename the column
    _require_columns(df, [("text_col", text_col), ("the WILDS schema", "toxicity")], source)
    keep = _nonempty_mask(df[text_col], text_col, source, "drop_empty", drop_empty)
    df = df.loc[keep]  # keep the file's row numbers for later messages

    toxicity = _numeric_column(df["toxicity"], "toxicity", source)
    if toxicity.isna().any():
        rows = toxicity.index[toxicity.isna().to_numpy()]
        raise DataError(
            f"{source}: {len(rows)} rows have no toxicity score (first data rows, 0-based: "
            f"{_first(rows)}). Remove them or fill the column."
        )
    above = (lambda s: s >= threshold) if inclusive else (lambda s: s > threshold)
    labels = above(toxicity).to_numpy(dtype="int64")

    groups: dict[str, pd.Series] = {}
    for attribute, names in _CIVIL_IDENTITIES.items():
        present = [c for c in names if c in df.columns]
        if not present:
            log.warning(
                "%s: no %s identity columns (%s); attribute skipped", source, attribute, names
            )
            continue
        scores = pd.DataFrame({c: _numeric_column(df[c], c, source) for c in present}).fillna(0.0)
        groups[attribute] = _resolve_overlap(above(scores), scores, overlap)
    if not groups:
        raise DataError(
            f"{source}: none of the identity columns {sum(_CIVIL_IDENTITIES.values(), ())} "
            f"exist; columns present: {list(df.columns)}. Use a WILDS-schema file "
            "(all_data_with_identities.csv)."
        )

    splits = None
    if split_col is not None and split_col in df.columns:
        splits = _map_splits(df[split_col], split_col, source)
    return _assemble(
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
    if folder.is_dir() and _table_files(folder):
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
    try:
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise DataError(
            f"No Civil Comments data in {folder} and huggingface_hub is not installed. "
            + _CIVIL_HOWTO
        ) from e
    try:
        snapshot_download(
            repo_id=_CIVIL_HUB_REPO,
            repo_type="dataset",
            allow_patterns=["*.parquet", "*.csv", "*.csv.gz", "*.jsonl"],
            local_dir=folder,
        )
    except Exception as e:  # offline, moved, rate-limited: all mean "provide a file"
        raise DataError(
            f"No Civil Comments data in {folder}, and fetching {_CIVIL_HUB_REPO} from the "
            f"hub failed ({type(e).__name__}: {e}). " + _CIVIL_HOWTO
        ) from e
    if not _table_files(folder):
        raise DataError(f"The hub snapshot in {folder} holds no table files. " + _CIVIL_HOWTO)
    return folder


# --------------------------------------------------------------------------- UTKFace

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
            + _PREPARE_HINT.format(name="utkface")
            + " to copy the project's shared copy, or place the UTKFace folder "
            "(labels.csv + images/) there. UTKFace is not downloaded automatically: its "
            "licence allows non-commercial research use only."
        )
    df = _read_table(labels_csv)
    _require_columns(df, [("labels.csv", c) for c in ("file", "age", "gender", "race")], labels_csv)
    age = _integer_column(df["age"], "age", labels_csv)
    codes = {}
    for column, mapping in (("gender", _UTK_GENDERS), ("race", _UTK_RACES)):
        values = _integer_column(df[column], column, labels_csv)
        bad = sorted(set(values.tolist()) - set(mapping))
        if bad:
            raise DataError(
                f"{labels_csv}: column {column!r} must hold codes {sorted(mapping)} "
                f"({', '.join(f'{k}={v}' for k, v in mapping.items())}); found {bad}."
            )
        codes[column] = pd.Series(values.map(mapping).to_numpy(), dtype="string")
    images = _resolve_images(
        df["file"],
        folder / "images",
        "file",
        labels_csv,
        check_files,
        fix="copy the missing images into images/ or re-run `python -m taskfair prepare-data utkface`",
    )
    return _assemble(
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


# --------------------------------------------------------------------------- generic tables


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
    :func:`_binary_labels` (0/1 directly, else ``positive_labels=[...]``). ``split_col``:
    a column of train/val(idation)/dev/test values; without it (default) our own split.
    CSV cells are read as strings, so a text such as "NA" stays a text.
    """
    path = _existing_file(path)
    df = _read_table(path)
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
    path = _existing_file(path)
    df = _read_table(path)
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
    attributes = _parse_group_cols(group_cols)
    wanted = [(option, content_col), ("label_col", label_col)]
    wanted += [("group_cols", c) for c in attributes.values()]
    if split_col is not None:
        wanted.append(("split_col", split_col))
    _require_columns(df, wanted, path)
    keep = _nonempty_mask(df[content_col], content_col, path, "drop_empty", drop_empty)
    df = df.loc[keep]  # keep the file's row numbers for later messages
    labels = _binary_labels(df[label_col], positive_labels, label_col, path)
    groups = {attr: _group_values(df[col]) for attr, col in attributes.items()}
    splits = _map_splits(df[split_col], split_col, path) if split_col is not None else None
    if modality == "image":
        values = _resolve_images(df[content_col], image_root, content_col, path, check_files)
    else:
        values = df[content_col].astype(str)
    return _assemble(
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


# --------------------------------------------------------------------------- assembly


def _assemble(
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
    content_col = "text" if modality == "text" else "image"
    frame = pd.DataFrame(
        {
            content_col: pd.Series(np.asarray(content, dtype=object), dtype="string"),
            "label": np.asarray(labels, dtype="int64"),
        }
    )
    for attribute, values in groups.items():
        if attribute in _RESERVED_COLUMNS:
            raise DataError(
                f"An attribute may not be called {attribute!r} (reserved: "
                f"{', '.join(_RESERVED_COLUMNS)}). Rename it with a mapping, e.g. "
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


# --------------------------------------------------------------------------- reading


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"File not found: {path}. Check the path (relative paths start at {Path.cwd()})."
        )
    return path


def _table_kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    suffix = suffixes[-1] if suffixes else ""
    if suffix not in _TABLE_SUFFIXES:
        raise DataError(
            f"Cannot read {path}: unknown format {suffix or '(no suffix)'!r}. "
            f"Use one of {', '.join(_TABLE_SUFFIXES)} (optionally compressed)."
        )
    return suffix


def _read_table(path: Path) -> pd.DataFrame:
    """Read a table. CSV/TSV cells come back as str ("" for empty) so texts like "NA"
    or "null" survive; Parquet/JSON keep their types."""
    kind = _table_kind(path)
    try:
        if kind in (".csv", ".tsv"):
            return pd.read_csv(
                path, sep="\t" if kind == ".tsv" else ",", dtype=str, keep_default_na=False
            )
        if kind in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if kind in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
        return pd.read_json(path, lines=not head.startswith(b"["), dtype=False)
    except (ValueError, OSError, pd.errors.ParserError) as e:
        fmt = kind[1:].upper()
        # pandas names the line; the fix is the user's: say what a readable file looks like.
        raise DataError(
            f"Could not read {path} as {fmt}: {' '.join(str(e).split())}. Fix the file: one "
            f"header row and the same number of fields on every line (quote text that contains "
            f"the separator or line breaks), or save the table as Parquet."
            if fmt in ("CSV", "TSV")
            else f"Could not read {path} as {fmt}: {' '.join(str(e).split())}. Check the file "
            "is complete and really in that format."
        ) from e


def _table_files(folder: Path) -> list[Path]:
    found = []
    for p in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in p.relative_to(folder).parts) or not p.is_file():
            continue
        try:
            _table_kind(p)
        except DataError:
            continue
        found.append(p)
    return found


def _read_folder(folder: Path) -> pd.DataFrame:
    """All tables in a folder, stacked. Where a table has no ``split`` column, the split
    is taken from its path (``train``, ``val``/``validation``/``dev``, ``test``)."""
    files = _table_files(folder)
    if not files:
        raise DataError(f"No CSV / Parquet / JSONL files in {folder}.")
    parts = []
    for p in files:
        t = _read_table(p)
        if "split" not in t.columns:
            t["split"] = _split_from_path(p.relative_to(folder))
        parts.append(t)
    df = pd.concat(parts, ignore_index=True)
    if df["split"].isna().any():
        log.info("%s: some files name no split; making our own split", folder)
        df = df.drop(columns="split")
    return df


def _split_from_path(rel: Path) -> str | None:
    words = [
        w for part in rel.parts for w in part.lower().replace("-", "_").replace(".", "_").split("_")
    ]
    for word in words:
        if word in _SPLIT_NAMES:
            return _SPLIT_NAMES[word]
    return None


# --------------------------------------------------------------------------- validation


def _require_columns(
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


def _nonempty_mask(
    series: pd.Series, column: str, source: Path, option: str, drop: bool
) -> np.ndarray:
    """True for rows with a non-blank value; raise (or log and drop) otherwise."""
    empty = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    if empty.any():
        rows = series.index[empty]
        what = f"{len(rows)} of {len(series)} rows with an empty or missing {column!r}"
        where = f"(first data rows, 0-based, header not counted: {_first(rows)})"
        if not drop:
            raise DataError(
                f"{source}: found {what} {where}. Fill or remove them, or pass {option}=True to "
                "drop them."
            )
        log.warning("%s: dropping %s %s", source, what, where)
    return ~empty


def _first(rows: Sequence[int], k: int = 5) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:k])
    return shown + (", ..." if len(rows) > k else "")


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


def _binary_labels(
    series: pd.Series, positive_labels: Sequence[Any] | None, column: str, source: Path
) -> np.ndarray:
    """0/1 labels (int64) from a label column.

    Exactly {0, 1} (ints, floats, bools, "0"/"1", "true"/"false", any case) maps
    directly; with ``positive_labels`` those values (compared case-insensitively as
    text) are 1 and all others 0; anything else is a DataError listing the values.
    """
    missing = series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()
    if missing.any():
        rows = series.index[missing]
        raise DataError(
            f"{source}: {len(rows)} rows have no value in label column {column!r} (first "
            f"data rows, 0-based: {_first(rows)}). Fill or remove them."
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
                f"{column!r}; values found: {_value_list(counts)}."
            )
        return norm.isin(positive).to_numpy(dtype="int64")
    values = set(counts.index)
    if values <= {"0", "1", "false", "true"}:
        return norm.isin({"1", "true"}).to_numpy(dtype="int64")
    example = _positive_example(counts)
    raise DataError(
        f"{source}: label column {column!r} is not binary; values found (count): "
        f"{_value_list(counts)}. Pass positive_labels=[...] with the values that mean 1, "
        f"e.g. positive_labels={example!r}; all other values become 0."
    )


_LIKELY_POSITIVE = ("hate", "hatespeech", "toxic", "offensive", "abusive", "positive", "yes")


def _positive_example(counts: pd.Series) -> list[str]:
    """A plausible positive_labels example for an error message: a value that sounds
    positive, else the rarest value (positives are usually the minority)."""
    likely = [v for v in counts.index if v in _LIKELY_POSITIVE]
    return likely[:1] or [counts.index[-1]]


def _value_list(counts: pd.Series, k: int = 10) -> str:
    shown = ", ".join(f"{v!r} ({n})" for v, n in counts.head(k).items())
    return shown + (f", ... ({len(counts) - k} more)" if len(counts) > k else "")


def _group_values(series: pd.Series) -> pd.Series:
    """Group names as str, NA for empty or missing cells; 1.0 -> "1" (CSV floats)."""

    def one(v: Any) -> Any:
        if _is_missing(v):
            return None
        if isinstance(v, (float, np.floating)) and float(v).is_integer():
            return str(int(v))
        text = str(v).strip()
        return text or None

    return pd.Series([one(v) for v in series.tolist()], dtype="string")


def _parse_group_cols(group_cols) -> dict[str, str]:
    """``{attribute name: column}`` from None, a column name, a list, or a mapping."""
    if group_cols is None:
        return {}
    if isinstance(group_cols, str):
        return {group_cols: group_cols}
    if isinstance(group_cols, Mapping):
        return {str(k): str(v) for k, v in group_cols.items()}
    return {str(c): str(c) for c in group_cols}


def _integer_column(series: pd.Series, column: str, source: Path) -> pd.Series:
    values = _numeric_column(series, column, source)
    bad = values.isna() | (values % 1 != 0)
    if bad.any():
        rows = series.index[bad.to_numpy()]
        raise DataError(
            f"{source}: column {column!r} must hold whole numbers; {len(rows)} rows do not "
            f"(first data rows, 0-based: {_first(rows)}; e.g. {series.loc[rows[0]]!r})."
        )
    return values.astype("int64")


def _numeric_column(series: pd.Series, column: str, source: Path) -> pd.Series:
    """Floats; empty cells become NaN, text that is not a number is a DataError."""
    text = series.astype(object).where(series.notna(), None)
    blank = text.map(lambda v: v is None or (isinstance(v, str) and v.strip() == ""))
    values = pd.to_numeric(text.where(~blank, None), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        rows = series.index[bad.to_numpy()]
        raise DataError(
            f"{source}: column {column!r} must be numeric; {len(rows)} rows are not (first "
            f"data rows, 0-based: {_first(rows)}; e.g. {series.loc[rows[0]]!r})."
        )
    return values.astype(float)


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


def _map_splits(series: pd.Series, column: str, source: Path) -> np.ndarray:
    norm = series.astype(object).map(lambda v: None if _is_missing(v) else str(v).strip().lower())
    mapped = norm.map(_SPLIT_NAMES)
    unknown = norm[mapped.isna()]
    if len(unknown):
        counts = unknown.fillna("(empty)").value_counts()
        raise DataError(
            f"{source}: split column {column!r} has values that are not a split: "
            f"{_value_list(counts)}. Known: train, val/validation/dev, test. Fix those rows, "
            "or pass split_col=None to make our own split."
        )
    return mapped.to_numpy(dtype=object)


def _resolve_images(
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
