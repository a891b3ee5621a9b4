"""One evaluation of a point at a time across processes: a lock file per point key.

Two processes on one bundle (a ``sweep`` beside a ``steer``, two dashboard servers)
share its sweep cache; the store's per-key thread locks serialise one process only.
:func:`point_locks` takes an exclusive ``flock`` on ``<cache>/.locks/<key>.lock`` for
every key of an evaluation, in sorted order (two evaluations never wait on each other
in a circle); the second process waits, then finds the point in the cache. The kernel
releases a ``flock`` when its holder exits, crash included, so a dead process never
leaves a point locked. The lock files stay (empty, one per point ever evaluated):
removing one while another process waits on it would let a third take a second lock.

Where a lock file cannot be made (a read-only bundle, a platform without ``fcntl``),
the evaluation goes ahead under the thread locks alone: such a store keeps its points
in memory, so there is nothing on disk to share.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no cross-process lock (see the module docstring)
    fcntl = None

__all__ = ["LOCK_DIR", "point_locks"]

#: The folder of the lock files, inside the sweep cache's folder.
LOCK_DIR = ".locks"


@contextlib.contextmanager
def point_locks(root: Path | None, keys: Iterable[str]) -> Iterator[None]:
    """Hold an exclusive lock on every point key in ``keys`` (under ``root``, the sweep
    cache's folder) for the block's duration; no-op when ``root`` is None."""
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
    try:
        (root / LOCK_DIR).mkdir(parents=True, exist_ok=True)
        return os.open(root / LOCK_DIR / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # read-only or full: see the module docstring
        return None
