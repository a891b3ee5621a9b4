"""One evaluation of a point at a time across processes: a lock file per point key.

Two processes on one bundle (a ``sweep`` beside a ``steer``, two dashboard servers)
share its sweep cache; the store's per-key thread locks serialise one process only.
:func:`point_locks` takes an exclusive ``flock`` on ``<key>.lock`` in the cache's
:func:`lock_dir` for every key of an evaluation, in sorted order (two evaluations never
wait on each other in a circle); the second process waits, then finds the point in the
cache. The kernel releases a ``flock`` when its holder exits, crash included, so a dead
process never leaves a point locked. The lock files stay (empty, one per point ever
evaluated): removing one while another process waits on it would let a third take a
second lock. They live in the system's temporary folder, never in the bundle, so a lock
writes nothing into a bundle (a read-only or full one locks the same way).

Where a lock file cannot be made (a platform without ``fcntl``, a temporary folder that
cannot be written), the evaluation goes ahead under the thread locks alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process lock (see the module docstring)
    fcntl = None

__all__ = ["lock_dir", "point_locks"]


def lock_dir(root: Path) -> Path:
    """The folder of the lock files of the sweep cache at ``root``: named by the cache
    folder's resolved path under the system's temporary folder, so every process on this
    machine that opens the same bundle finds the same files."""
    name = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / "taskfair-locks" / name


@contextlib.contextmanager
def point_locks(root: Path | None, keys: Iterable[str]) -> Iterator[None]:
    """Hold an exclusive lock on every point key in ``keys`` of the sweep cache at
    ``root`` for the block's duration; no-op when ``root`` is None."""
    with contextlib.ExitStack() as stack:
        if root is not None and fcntl is not None:
            for key in sorted(set(keys)):
                fd = _open(Path(root), key)
                if fd is None:
                    continue
                stack.callback(os.close, fd)  # closing the file releases its lock
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield


def _open(root: Path, key: str) -> int | None:
    if not key.isalnum():  # keys are hex digests; refuse anything that could be a path
        raise ValueError(f"Invalid point key {key!r}.")
    folder = lock_dir(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # not writable: see the module docstring
        return None
