"""Put a dataset under ``data/<name>/``: copy the project's shared copy, or download,
verify and convert the public original.

:func:`prepare_data` is what ``make data`` / ``python -m taskfair prepare-data`` run.

* A shared copy (``<shared>/<name>/``, where ``<shared>`` is ``shared_dir``, else
  ``$TASKFAIR_SHARED_DATA``, else ``../shared/data`` beside the project) is copied file by
  file, each through a temporary file and a rename, and each file with a known sha256 is
  verified; sub-folders (UTKFace's ``images/``) are copied into a temporary folder that
  is renamed into place. Files already present and verified are skipped.
* Without a shared copy, HateXplain's ``Data/dataset.json`` is downloaded from GitHub at a
  pinned commit, verified by its git blob id, and converted by
  :func:`~taskfair.data.hatexplain.download_hatexplain` into the CSV schema that
  :func:`taskfair.data.load_hatexplain` reads. UTKFace is never downloaded (its licence
  forbids redistribution).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from taskfair.data.download import Opener, atomic_folder
from taskfair.data.hatexplain import HATEXPLAIN_CSV, HATEXPLAIN_SHA256, download_hatexplain
from taskfair.errors import ChecksumError, DataError
from taskfair.io import atomic_path, safe_child, sha256_file
from taskfair.progress import Progress, report

__all__ = ["KNOWN_SHA256", "prepare_data", "shared_data_dirs"]

log = logging.getLogger(__name__)

#: Checksums from the shared folders' READMEs, by dataset and file name.
KNOWN_SHA256: dict[str, dict[str, str]] = {
    "hatexplain": {HATEXPLAIN_CSV: HATEXPLAIN_SHA256},
    "davidson_twitteraae": {
        "labeled_data.csv": "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281",
        "twitteraae_model_vocab.txt": (
            "6ef8e0ed59ed13776ad015a7dc14a0dd26a24ce9f6906edf860dfe40bf679133"
        ),
        "twitteraae_model_count_table.txt": (
            "9907158995bea09301022050736bb91dda71bd577af9d3e643ae434d5c3fbf4e"
        ),
    },
}

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- entry point


def prepare_data(
    name: str = "hatexplain",
    data_dir: str | os.PathLike = "data",
    shared_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    *,
    expected_sha256: Mapping[str, str] | None = None,
    opener: Opener | None = None,
) -> Path:
    """Make ``<data_dir>/<name>/`` hold dataset ``name``; return that folder.

    ``shared_dir`` is a folder holding ``<name>/``; when given, only it is searched,
    otherwise :func:`shared_data_dirs` are. ``expected_sha256`` (file name -> sha256)
    replaces the known checksums (:data:`KNOWN_SHA256`) for this call. ``opener`` is
    passed to :func:`download_verified` (tests inject a fake one). ``progress`` is
    called as ``progress(done, total, message)``.

    Raises :class:`~taskfair.data.DataError` (or :class:`ChecksumError`) with the fix.
    """
    target = safe_child(data_dir, name)
    candidates = [Path(shared_dir)] if shared_dir is not None else shared_data_dirs()
    checksums = dict(KNOWN_SHA256.get(name, {}))
    if expected_sha256 is not None:
        checksums = dict(expected_sha256)
    for root in candidates:
        source = root / name
        if source.is_dir():
            _copy_tree(source, target, checksums, progress)
            return target
    searched = ", ".join(str(c) for c in candidates) or "(none)"
    if name == "hatexplain":
        log.info("no shared copy of hatexplain in %s; downloading the original", searched)
        return download_hatexplain(target, opener=opener, progress=progress)
    if name == "utkface":
        raise DataError(
            f"No shared UTKFace copy (searched {searched}). UTKFace is not downloaded "
            "automatically: its licence allows non-commercial research use only. Get it from "
            "https://susanqq.github.io/UTKFace/ and place the folder (labels.csv with columns "
            f"file, age, gender, race + images/) at {target}."
        )
    raise DataError(
        f"No shared copy of {name!r} (searched {searched}) and no download for it. "
        "Datasets that can be prepared: hatexplain (download or shared copy), utkface and "
        "davidson_twitteraae (shared copy only). Set TASKFAIR_SHARED_DATA to the folder "
        f"holding {name}/, or pass shared_dir=."
    )


def shared_data_dirs() -> list[Path]:
    """Where shared copies are looked for, in order: ``$TASKFAIR_SHARED_DATA``, then
    ``<project root>/../shared/data``."""
    dirs = []
    env = os.environ.get("TASKFAIR_SHARED_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(_PROJECT_ROOT.parent / "shared" / "data")
    return dirs


# --------------------------------------------------------------------------- copying


def _copy_tree(
    source: Path, target: Path, checksums: Mapping[str, str], progress: Progress | None
) -> None:
    """Copy ``source``'s files and sub-folders into ``target``, verifying known checksums."""
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing = sorted(set(checksums) - {p.name for p in files})
    if missing:
        raise DataError(
            f"The shared copy {source} lacks {missing}. Ask whoever maintains it, or remove "
            "it from the search path so the original is downloaded."
        )
    total = len(files) + sum(_count_files(f) for f in folders)
    done = 0
    target.mkdir(parents=True, exist_ok=True)
    for src in files:
        _copy_file(src, target / src.name, checksums.get(src.name))
        done += 1
        report(progress, done, total, src.name)
    for src in folders:
        done = _copy_folder(src, target / src.name, progress, done, total)
    # No final "ready" call: the last item already reported done == total, and a second
    # call at total would make tqdm_progress open a fresh bar.


def _copy_file(src: Path, dst: Path, sha256: str | None) -> None:
    """Copy through a temporary file + rename; skip when ``dst`` already verifies."""
    if dst.is_file():
        want = sha256 or sha256_file(src)
        if sha256_file(dst) == want:
            log.debug("%s already present and verified", dst)
            return
        log.warning("%s differs from %s; copying it again", dst, src)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
        if sha256 is not None:
            got = sha256_file(tmp)
            if got != sha256:
                # Raising inside atomic_path removes the temporary file: nothing half-valid
                # is left behind under the final name.
                raise ChecksumError(
                    f"Checksum mismatch for {src}: sha256 {got}, expected {sha256}. The shared "
                    "copy is damaged; restore it (see its README for the source) and re-run."
                )


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _same_files(a: Path, b: Path) -> bool:
    """Whether two folders hold the same relative file names with the same sizes."""

    def listing(root: Path) -> dict[str, int]:
        return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}

    return b.is_dir() and listing(a) == listing(b)


def _copy_folder(src: Path, dst: Path, progress: Progress | None, done: int, total: int) -> int:
    """Copy a folder into a temporary sibling and rename it onto ``dst`` (never half there).

    Skipped when ``dst`` already holds the same names with the same sizes (for UTKFace the
    README's per-file check is the byte size). Returns the updated ``done`` count.
    """
    n = _count_files(src)
    if _same_files(src, dst):
        report(progress, done + n, total, f"{src.name}/ already present")
        return done + n
    step, end = max(1, n // 100), done + n
    with atomic_folder(dst) as tmp:
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_dir():
                (tmp / rel).mkdir(parents=True, exist_ok=True)
                continue
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tmp / rel)
            done += 1
            if done % step == 0 or done == end:  # about 100 updates, and always the last
                report(progress, done, total, f"{src.name}/{rel}")
        if not _same_files(src, tmp):
            raise DataError(f"Copying {src} to {tmp} was incomplete; re-run to try again.")
    return done
