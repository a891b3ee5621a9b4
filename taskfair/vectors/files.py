"""A task vector's file: one safetensors file, its metadata in the header, never a pickle.

The metadata (base fingerprint, dataset, subgroup, seed, hyper-parameters) is JSON under
the ``taskfair`` key of the safetensors header, and the records of compact entries
under ``taskfair_forms`` (files with compact entries say ``taskfair_format: 2``).
:func:`read_header` checks a file's framing before any tensor is read (a missing,
truncated or renamed-pickle file is refused with a message); tensors are read through
safetensors' memory map, one at a time, straight to the asked device and dtype.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from taskfair.errors import VectorError
from taskfair.io import atomic_path, sort_safetensors_metadata
from taskfair.vectors.forms import Entry, decode_entries, encode_entry

__all__ = ["VECTOR_FORMAT", "read_forms", "read_header", "read_vector_file", "write_vector_file"]

_META_KEY = "taskfair"
_FORMS_KEY = "taskfair_forms"
_FORMAT_KEY = "taskfair_format"
#: The newest vector file format this taskfair reads: 1 dense tensors only, 2 with
#: compact entries (their records under ``taskfair_forms``).
VECTOR_FORMAT = 2
# A safetensors header is JSON; anything bigger than this is not one of ours.
_MAX_HEADER = 100 * 1024 * 1024


def write_vector_file(path: str | os.PathLike, entries: Mapping[str, Entry], meta: Mapping) -> Path:
    """Write ``entries`` (dense tensors or compact forms) and ``meta`` as one safetensors
    file, atomically."""
    path = Path(path)
    tensors, forms = {}, {}
    for key, e in entries.items():
        parts, record = encode_entry(key, e)
        tensors.update({n: t.detach().to("cpu").contiguous() for n, t in parts.items()})
        if record is not None:
            forms[key] = record
    header = {_META_KEY: json.dumps(dict(meta), sort_keys=True, default=str)}
    if forms:
        header[_FORMS_KEY] = json.dumps(forms, sort_keys=True)
        header[_FORMAT_KEY] = str(VECTOR_FORMAT)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
        if len(header) > 1:  # several metadata keys: fix their order, and the bytes
            sort_safetensors_metadata(tmp)
    return path


def read_vector_file(
    path: Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None
) -> tuple[dict[str, Entry], dict]:
    """``(entries, meta)`` of a vector file (checked: framing, format, finite values); floating
    tensors converted to ``dtype`` on ``device`` when given."""
    meta = read_header(path)
    forms = read_forms(path)
    try:
        tensors = {}
        with safe_open(str(path), framework="pt", device=str(device)) as fh:
            for name in fh.keys():
                t = fh.get_tensor(name)
                if dtype is not None and torch.is_floating_point(t):
                    t = t.to(dtype)
                tensors[name] = t
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise VectorError(f"{path} could not be read as safetensors ({exc}); rebuild it.") from exc
    bad = _non_finite(tensors)
    if bad is not None:
        key, count, total = bad
        raise VectorError(
            f"{path.name} holds NaN or infinite values ({count:,} of {total:,} values, e.g. "
            f"at {key}): the file was damaged or its training diverged, and a merge with it "
            "would give meaningless numbers. Delete it and rerun the build to restore it."
        )
    return decode_entries(tensors, forms, path.name), meta


def _non_finite(tensors: Mapping[str, torch.Tensor]) -> tuple[str, int, int] | None:
    """``(first key, non-finite values, values)`` of tensors holding NaN or inf, else None."""
    first, count, total = None, 0, 0
    for k, t in tensors.items():
        total += t.numel()
        n = int((~torch.isfinite(t)).sum()) if torch.is_floating_point(t) else 0
        if n:
            first = first or k
            count += n
    return None if first is None else (first, count, total)


def read_forms(path: str | os.PathLike) -> dict[str, dict]:
    """The records of a vector file's compact entries (``{}`` for an all-dense file).

    A file of a newer vector format than :data:`VECTOR_FORMAT` is refused with a message
    that says to upgrade or rebuild, before any tensor is read."""
    path = Path(path)
    with safe_open(str(path), framework="pt") as fh:
        header = fh.metadata() or {}
    fmt = header.get(_FORMAT_KEY, "1")
    if not fmt.isdigit() or int(fmt) > VECTOR_FORMAT:
        raise VectorError(
            f"{path.name} is a task vector of format {fmt}; this taskfair reads formats up to "
            f"{VECTOR_FORMAT}. Upgrade taskfair, or rebuild the bundle with this one."
        )
    raw = header.get(_FORMS_KEY)
    try:
        forms = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise VectorError(f"{path.name} has unreadable compact-entry records.") from exc
    if not isinstance(forms, dict) or not all(isinstance(v, dict) for v in forms.values()):
        raise VectorError(f"{path.name} has malformed compact-entry records; rebuild it.")
    return forms


def read_header(path: str | os.PathLike) -> dict:
    """Validate a safetensors file's framing and return its taskfair metadata.

    Catches the cases a user can cause before any tensor is read: a missing file, a
    pickle (or any other file) renamed ``.safetensors``, a truncated file.
    """
    path = Path(path)
    if not path.is_file():
        raise VectorError(f"No task vector file at {path}.")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise VectorError(f"{path.name} is not a safetensors file (only {size} bytes).")
        (n,) = struct.unpack("<Q", head)
        if n <= 0 or n > min(_MAX_HEADER, size - 8):
            kind = (
                " It looks like a torch pickle; taskfair never loads pickles."
                if head[:2] in (b"\x80\x02", b"\x80\x04", b"PK")
                else ""
            )
            raise VectorError(
                f"{path.name} is not a valid safetensors file (bad header length).{kind} "
                "Export the weights with safetensors."
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VectorError(
            f"{path.name} has a corrupt safetensors header; rebuild the file."
        ) from exc
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise VectorError(
            f"{path.name} is truncated ({size} bytes, header promises {8 + n + end}); "
            "the write was interrupted. Delete it and rebuild."
        )
    meta_raw = (header.get("__metadata__") or {}).get(_META_KEY)
    try:
        return json.loads(meta_raw) if meta_raw else {}
    except json.JSONDecodeError as exc:
        raise VectorError(f"{path.name} has unreadable taskfair metadata.") from exc
