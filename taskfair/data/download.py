"""Downloads that are verified before they are kept: a pinned file checked by its git
blob id or sha256 (:func:`download_verified`), and a hub dataset snapshot checked by
the caller (:func:`download_snapshot`). Both write through a temporary file or folder
that is renamed into place only once it verifies (:func:`atomic_folder` for folders,
also used for copying shared folders), so nothing half-fetched is ever loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from taskfair.errors import ChecksumError, DataError
from taskfair.io import atomic_path, sha256_file
from taskfair.progress import Progress, report

__all__ = [
    "PREPARE_HINT",
    "Opener",
    "atomic_folder",
    "download_snapshot",
    "download_verified",
    "git_blob_sha1",
    "git_blob_sha1_file",
    "raw_github_url",
]

log = logging.getLogger(__name__)

#: How a loader says "this dataset is not prepared yet" (format with ``name=``).
PREPARE_HINT = "Run `make data` (or `python -m taskfair prepare-data {name}`)"

#: ``opener(url)`` returns a readable binary response (``.read(n)``; optional
#: ``.headers`` with Content-Length; optionally a context manager).
Opener = Callable[[str], BinaryIO]


def raw_github_url(repo: str, commit: str, path: str) -> str:
    """The raw-file URL of ``path`` in GitHub ``repo`` at ``commit`` (pinned, not a branch)."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def git_blob_sha1(data: bytes) -> str:
    """git's object id for a file with these bytes: sha1 of ``b"blob <len>\\0" + data``."""
    h = hashlib.sha1(f"blob {len(data)}\0".encode())
    h.update(data)
    return h.hexdigest()


def git_blob_sha1_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """:func:`git_blob_sha1` of a file, streamed."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _default_opener(url: str) -> BinaryIO:
    request = urllib.request.Request(url, headers={"User-Agent": "taskfair-prepare-data"})
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310 - fixed https URL


def download_verified(
    url: str,
    dest: str | os.PathLike,
    *,
    git_blob: str | None = None,
    sha256: str | None = None,
    opener: Opener | None = None,
    progress: Progress | None = None,
    chunk_size: int = 1 << 16,
) -> Path:
    """Download ``url`` to ``dest`` through a temporary file; rename only once verified.

    Verification: ``git_blob`` (see :func:`git_blob_sha1`) and/or ``sha256``. If ``dest``
    already exists and verifies, nothing is downloaded. A mismatch raises
    :class:`ChecksumError` and deletes the temporary file; ``dest`` is left as it was.
    """
    dest = Path(dest)
    if git_blob is None and sha256 is None:
        raise ValueError("download_verified needs git_blob or sha256 to check the file.")
    if dest.is_file() and _verifies(dest, git_blob, sha256):
        log.info("%s already present and verified", dest)
        return dest
    opener = opener or _default_opener
    with atomic_path(dest) as tmp:
        try:
            response = opener(url)
        except OSError as e:  # urllib.error.URLError is an OSError
            raise DataError(
                f"Could not download {url} ({e}). Check the network connection, or download "
                f"the file by hand to {dest} and re-run."
            ) from e
        with _closing(response) as stream, open(tmp, "wb") as out:
            total = _content_length(stream)
            done = 0
            while block := stream.read(chunk_size):
                out.write(block)
                done += len(block)
                report(progress, done, max(total, done), dest.name)
        problems = _verify_problems(tmp, git_blob, sha256)
        if problems:
            raise ChecksumError(
                f"Checksum mismatch for {url}: {'; '.join(problems)}. The download was "
                "deleted. The URL is pinned to a commit, so this means a corrupted transfer "
                "or an intercepting proxy: re-run, or fetch the file by hand and compare."
            )
    return dest


def _verify_problems(path: Path, git_blob: str | None, sha256: str | None) -> list[str]:
    problems = []
    if git_blob is not None and (got := git_blob_sha1_file(path)) != git_blob:
        problems.append(f"git blob id {got}, expected {git_blob}")
    if sha256 is not None and (got := sha256_file(path)) != sha256:
        problems.append(f"sha256 {got}, expected {sha256}")
    return problems


def _verifies(path: Path, git_blob: str | None, sha256: str | None) -> bool:
    return not _verify_problems(path, git_blob, sha256)


def _closing(response: Any):
    if hasattr(response, "__enter__"):
        return response
    return contextlib.closing(response)


def _content_length(response: Any) -> int:
    headers = getattr(response, "headers", None)
    try:
        return int(headers.get("Content-Length") or 0) if headers is not None else 0
    except (TypeError, ValueError):
        return 0


@contextlib.contextmanager
def atomic_folder(dst: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``dst`` to fill; it replaces ``dst`` when the
    block ends without an exception.

    The folder counterpart of :func:`taskfair.io.atomic_path`: check what was written
    inside the block (raise to refuse it). On an exception the temporary folder is removed
    and ``dst`` is left as it was, so ``dst`` is never half there. A ``dst`` that exists is
    replaced whole: it is moved aside first (``os.replace`` cannot overwrite a non-empty
    folder), then deleted.
    """
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    try:
        yield tmp
        old = None
        if dst.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
            os.replace(dst, old / dst.name)
        os.replace(tmp, dst)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def download_snapshot(
    repo_id: str,
    dest: str | os.PathLike,
    *,
    patterns: Sequence[str],
    verify: Callable[[Path], str | None],
    what: str,
    fix: str,
) -> Path:
    """Snapshot the files of hub dataset ``repo_id`` that match ``patterns`` into ``dest``.

    The folder counterpart of :func:`download_verified`: the snapshot is written into an
    :func:`atomic_folder` and replaces ``dest`` only once ``verify(folder)`` returns
    ``None`` (else it returns the problem, e.g. ``"holds no table files"``; a hub snapshot
    has no published checksums, so the caller checks what it can). ``what`` names the
    dataset and ``fix`` says how to provide it by hand; every error is a
    :class:`~taskfair.errors.DataError` ending with ``fix``.
    """
    dest = Path(dest)
    try:
        # huggingface_hub is an optional dependency (and slow to import), so it is imported
        # here: only this fallback needs it, and a missing install becomes a DataError.
        from huggingface_hub import snapshot_download
    except ImportError as e:
        raise DataError(
            f"No {what} data in {dest} and huggingface_hub is not installed. " + fix
        ) from e
    with atomic_folder(dest) as tmp:
        try:
            snapshot_download(
                repo_id=repo_id,
                repo_type="dataset",
                allow_patterns=list(patterns),
                local_dir=tmp,
            )
        except Exception as e:  # offline, moved, rate-limited: all mean "provide a file"
            raise DataError(
                f"No {what} data in {dest}, and fetching {repo_id} from the "
                f"hub failed ({type(e).__name__}: {e}). " + fix
            ) from e
        problem = verify(tmp)
        if problem:
            raise DataError(f"The hub snapshot in {dest} {problem}. " + fix)
    return dest
