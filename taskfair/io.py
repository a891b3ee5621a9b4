"""File helpers: atomic writes, checksums and path safety.

Every file taskfair writes goes through :func:`atomic_path` (write to a temporary
file beside the target, fsync, then rename), so a crash never leaves a half-written
file that a later run would load.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

from taskfair.errors import UnsafePathError

__all__ = [
    "atomic_path",
    "current_umask",
    "atomic_write_bytes",
    "atomic_write_json",
    "sha256_file",
    "sha256_bytes",
    "safe_child",
    "sort_safetensors_metadata",
    "UnsafePathError",
]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp makes 0600 files; give the final file the permissions a plain open() would,
    # so a bundle built by one user can be served by another (the container's user).
    os.chmod(tmp_path, 0o666 & ~current_umask())
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def current_umask() -> int:
    """The process umask (read by setting and restoring it; no other way in Python)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(target: str | os.PathLike, obj) -> None:
    atomic_write_bytes(
        target, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()
    )


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def safe_child(root: str | os.PathLike, name: str) -> Path:
    """``root / name``, refusing absolute names, ``..`` and anything that leaves ``root``.

    Use it for every file or folder name that comes from a user or a URL.
    """
    # Messages name the folder by its last part only: a link's answer must not tell a
    # visitor where the server keeps its files.
    where = Path(root).name or "the folder"
    if not isinstance(name, str) or not name or name.strip() != name or "\x00" in name:
        raise UnsafePathError(
            f"Invalid name {name!r}: give a plain folder name such as 'demo' (no NUL "
            "characters, no leading or trailing spaces)."
        )
    p = Path(name)
    if p.is_absolute() or ".." in p.parts or name.startswith("~"):
        raise UnsafePathError(
            f"Refusing the path {name!r}: names must be relative and may not contain '..'. "
            f"Give a folder name inside {where}."
        )
    root_r = Path(root).resolve()
    try:
        child = (root_r / p).resolve()
    except OSError as exc:  # a part too long for the file system, a loop of links
        raise UnsafePathError(
            f"Refusing {name!r}: the file system cannot use it ({exc.strerror})."
        ) from None
    if child != root_r and root_r not in child.parents:
        raise UnsafePathError(f"Refusing {name!r}: it resolves outside {where}.")
    return child


def sort_safetensors_metadata(path: str | os.PathLike) -> None:
    """Rewrite the header's ``__metadata__`` with sorted keys, in place.

    safetensors writes the metadata map in hash order, which changes from run to run,
    so two identical conversions would otherwise differ in bytes and sha256. Only the
    order of keys inside the JSON header changes: its length, the tensor entries and
    the data are untouched.
    """
    with open(path, "r+b") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        raw = fh.read(n)
        header = json.loads(raw)
        meta = header.pop("__metadata__", None)
        if not meta:
            return
        ordered = {"__metadata__": dict(sorted(meta.items())), **header}
        new = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode()
        if len(new) > n:  # pragma: no cover - serde_json is at least as compact
            return
        # safetensors pads its header with spaces to keep the data aligned; keep n.
        fh.seek(8)
        fh.write(new + b" " * (n - len(new)))
