"""Reading tables: CSV / TSV / Parquet / JSONL files (optionally compressed) and folders
of them, as pandas DataFrames. CSV/TSV cells come back as str so texts like "NA" stay
texts; turning a table into a :class:`~taskfair.data.Dataset` is the loaders' job.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pandas as pd

from taskfair.data.splits import split_from_path
from taskfair.errors import DataError

__all__ = ["existing_file", "read_folder", "read_table", "table_files"]

log = logging.getLogger(__name__)

_TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson", ".json")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".zip", ".zst")


def existing_file(path: str | os.PathLike) -> Path:
    """``path`` (``~`` expanded) if it is a file, else a DataError naming it."""
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


def read_table(path: Path) -> pd.DataFrame:
    """Read a table. CSV/TSV cells come back as str ("" for empty) so texts like "NA"
    or "null" survive; Parquet/JSON keep their types."""
    kind = _table_kind(path)
    try:
        if kind in (".csv", ".tsv"):
            return _read_delimited(path, "\t" if kind == ".tsv" else ",")
        if kind in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if kind in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False)
        with open(path, "rb") as fh:
            head = fh.read(64).lstrip()
        return pd.read_json(path, lines=not head.startswith(b"["), dtype=False)
    except UnicodeDecodeError as e:
        raise DataError(
            f"Could not read {path}: it is not UTF-8 text (it holds the byte "
            f"0x{e.object[e.start]:02x}, which UTF-8 text cannot). Save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8 IN > OUT`, "
            "or 'CSV UTF-8' in a spreadsheet's Save As) and rerun."
        ) from None
    except DataError:
        raise
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


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    """A CSV/TSV as written by hand or by spreadsheets, with the usual accidents caught.

    * Two header cells with one name: pandas would rename the second (``label.1``) and
      the loaders would silently read the first; refused, naming the column.
    * One field more on every data row than in the header: pandas would take the first
      column as the index and shift every column by one. A trailing separator on every
      row (the extra field empty) is read as meant; an extra field with values is
      refused (a header name is missing).
    * Empty columns named by pandas (``Unnamed: 3``, from a trailing separator in the
      header too) are dropped.
    """
    header = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, header=None, nrows=1)
    names = [str(v) for v in header.iloc[0].tolist()] if len(header) else []
    dupes = sorted({n for n in names if n and names.count(n) > 1})
    if dupes:
        raise DataError(
            f"{path}: the header names the column(s) {dupes} more than once, so it is not "
            "clear which one to read. Rename or remove the duplicates in the header row."
        )
    df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    if not isinstance(df.index, pd.RangeIndex):
        # Every row has one field more than the header (pandas made the first an index).
        last = df.columns[-1] if len(df.columns) else None
        if last is not None and (df[last].str.strip() == "").all():
            with warnings.catch_warnings():
                # The field pandas warns about losing is the empty one after the last comma.
                warnings.simplefilter("ignore", pd.errors.ParserWarning)
                df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, index_col=False)
            log.info("%s: a trailing separator on every row; read without it", path)
        else:
            raise DataError(
                f"{path}: every data row has {len(names) + 1} fields but the header names "
                f"{len(names)} ({names}): a column name is missing from the header. Add it to "
                "the header row (or remove the extra field from every row)."
            )
    unnamed = [c for c in df.columns if str(c).startswith("Unnamed: ") and (df[c] == "").all()]
    return df.drop(columns=unnamed)


def table_files(folder: Path) -> list[Path]:
    """The readable table files below ``folder``, sorted; hidden files and folders skipped."""
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


def read_folder(folder: Path) -> pd.DataFrame:
    """All tables in a folder, stacked. Where a table has no ``split`` column, the split
    is taken from its path (``train``, ``val``/``validation``/``dev``, ``test``)."""
    files = table_files(folder)
    if not files:
        raise DataError(f"No CSV / Parquet / JSONL files in {folder}.")
    parts = []
    for p in files:
        t = read_table(p)
        if "split" not in t.columns:
            t["split"] = split_from_path(p.relative_to(folder))
        parts.append(t)
    df = pd.concat(parts, ignore_index=True)
    if df["split"].isna().any():
        log.info("%s: some files name no split; making our own split", folder)
        df = df.drop(columns="split")
    return df
