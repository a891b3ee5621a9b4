"""Datasets as one typed table: text or image path, binary label, sensitive groups, split.

Every loader returns a :class:`Dataset` (its columns: :mod:`taskfair.data.dataset`).

The one public entry point is :func:`load_dataset`. Built-in names are ``hatexplain``,
``civil_comments`` and ``utkface``; anything else is a path to a CSV / TSV / Parquet /
JSONL table (text, or image paths with ``image_col=``) or a UTKFace-like folder.

Splits are made by :func:`assign_splits`: deterministic, seeded, stratified by
label x group of the first attribute, and identical texts (or image paths) never
straddle two splits. Every problem with the input raises one :class:`DataError` that
names the problem and the fix. Loaders log :meth:`Dataset.summary` at INFO level; they
never print.

:func:`prepare_data` (``make data``, ``python -m taskfair prepare-data``) puts a dataset
under ``data/<name>/``: copied from a shared copy, or downloaded, verified and converted.

Modules, bottom to top (each imports only those below it): ``dataset`` (the type),
``columns`` (column checks and coercion), ``splits``, ``tables`` (reading files),
``assemble`` (arrays to a Dataset), ``download`` (verified downloads, atomic folders),
the loaders ``generic``, ``hatexplain``, ``civil_comments``, ``utkface``, then ``fetch``
(preparation) and ``dispatch`` (:func:`load_dataset`). Import from this package, not
from those modules.
"""

from taskfair.data.civil_comments import load_civil_comments
from taskfair.data.dataset import EVAL_SPLITS, NO_GROUP, SPLITS, Dataset
from taskfair.data.dispatch import BUILTIN_DATASETS, load_dataset
from taskfair.data.download import (
    Opener,
    download_verified,
    git_blob_sha1,
    git_blob_sha1_file,
    raw_github_url,
)
from taskfair.data.fetch import KNOWN_SHA256, prepare_data, shared_data_dirs
from taskfair.data.generic import load_image_table, load_table
from taskfair.data.hatexplain import (
    HATEXPLAIN_COMMIT,
    HATEXPLAIN_CSV,
    HATEXPLAIN_JSON_BLOB,
    HATEXPLAIN_JSON_PATH,
    HATEXPLAIN_REPO,
    HATEXPLAIN_SHA256,
    HATEXPLAIN_TARGET_GROUPS,
    convert_hatexplain_json,
    load_hatexplain,
)
from taskfair.data.splits import DEFAULT_FRACTIONS, assign_splits
from taskfair.data.utkface import load_utkface
from taskfair.errors import ChecksumError, DataError

__all__ = [
    # the dataset type and its constants
    "DEFAULT_FRACTIONS",
    "NO_GROUP",
    "EVAL_SPLITS",
    "SPLITS",
    "BUILTIN_DATASETS",
    "DataError",
    "Dataset",
    "assign_splits",
    # loading
    "load_dataset",
    "load_hatexplain",
    "load_civil_comments",
    "load_utkface",
    "load_table",
    "load_image_table",
    # preparing
    "prepare_data",
    "shared_data_dirs",
    "KNOWN_SHA256",
    "ChecksumError",
    "Opener",
    "download_verified",
    "git_blob_sha1",
    "git_blob_sha1_file",
    "raw_github_url",
    "HATEXPLAIN_SHA256",
    "HATEXPLAIN_REPO",
    "HATEXPLAIN_COMMIT",
    "HATEXPLAIN_JSON_PATH",
    "HATEXPLAIN_JSON_BLOB",
    "HATEXPLAIN_CSV",
    "HATEXPLAIN_TARGET_GROUPS",
    "convert_hatexplain_json",
]
