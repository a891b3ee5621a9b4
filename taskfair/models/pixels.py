"""Decoded images cached on disk: a bundle decodes its evaluation images once.

Sweeps, previews and the dashboard evaluate the same few hundred images under many
weight settings. Decoding and resizing them is done once per process anyway
(:class:`taskfair.inference.EncodedImages`); this module also keeps the decoded uint8
tensor on disk, in the bundle (``eval_pixels.safetensors``), so that a restarted server
(or a viewer copy shipped without the image folder) does not decode them again.

The file is one safetensors tensor ``pixels`` uint8 ``(n, 3, S, S)`` in row order, and
its header names a *key*: the sha256 of the preprocessor's spec (size, mean, std,
resampling) and the list of image paths relative to their common folder. A file whose
key, shape or dtype does not match is ignored and rewritten, so a changed
preprocessor or row list can never be served stale pixels. What the key does not see:
an image file replaced under the same name (the dataset fingerprint does not either).
Writes are atomic (temporary file + rename); a folder that cannot be written (a
read-only viewer copy) only costs the disk cache, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from taskfair.io import atomic_path
from taskfair.progress import Progress

__all__ = [
    "PIXELS_FILE",
    "pixel_key",
    "load_pixels",
    "save_pixels",
    "cached_decode",
    "keep_decoded",
]

PIXELS_FILE = "eval_pixels.safetensors"
_VERSION = 1


def _relative(paths: Sequence[str]) -> list[str]:
    """Paths relative to their common folder, '/'-separated: the key survives a move."""
    if not paths:
        return []
    root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths])
    return [Path(os.path.relpath(os.path.abspath(p), root)).as_posix() for p in paths]


def pixel_key(spec: dict, paths: Sequence[str]) -> str:
    """sha256 of a preprocessor spec and an ordered list of image paths (relative)."""
    payload = {"v": _VERSION, "spec": spec, "paths": _relative([str(p) for p in paths])}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def load_pixels(path: str | os.PathLike, key: str, n: int, size: int) -> torch.Tensor | None:
    """The cached uint8 ``(n, 3, size, size)`` pixels at ``path`` when its key matches,
    else None (missing, unreadable, another key, another shape)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as fh:
            if (fh.metadata() or {}).get("key") != key:
                return None
            pixels = fh.get_tensor("pixels")
    except (SafetensorError, OSError, KeyError, ValueError):
        return None
    if pixels.dtype != torch.uint8 or tuple(pixels.shape) != (n, 3, size, size):
        return None
    return pixels


def save_pixels(path: str | os.PathLike, pixels: torch.Tensor, key: str) -> bool:
    """Write uint8 ``pixels`` with ``key`` atomically; False when the folder is not writable."""
    if pixels.dtype != torch.uint8:
        raise ValueError(f"Only uint8 pixels are cached, not {pixels.dtype}.")
    try:
        with atomic_path(Path(path)) as tmp:
            save_file({"pixels": pixels.contiguous()}, str(tmp), metadata={"key": key})
    except OSError:
        return False
    return True


def cached_decode(
    preprocessor,
    paths: Sequence[str],
    cache_path: str | os.PathLike | None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """``preprocessor.decode(paths)`` (uint8 ``(n, 3, S, S)``), read from ``cache_path``
    when it holds these paths under this preprocessor, else decoded and written there.

    ``preprocessor`` is a :class:`taskfair.models.ImagePreprocessor` (``decode``,
    ``to_spec``, ``image_size``). With a valid cache no image file is opened.
    """
    paths = [str(p) for p in paths]
    if cache_path is None:
        return preprocessor.decode(paths, progress)
    key = pixel_key(preprocessor.to_spec(), paths)
    got = load_pixels(cache_path, key, len(paths), preprocessor.image_size)
    if got is not None:
        return got
    pixels = preprocessor.decode(paths, progress)
    save_pixels(cache_path, pixels, key)
    return pixels


def keep_decoded(
    bundle_root: str | os.PathLike, preprocessor, paths: Sequence[str], encoded
) -> bool:
    """Write a build's already decoded evaluation images (``encoded``, an
    :class:`taskfair.inference.EncodedImages` of ``paths`` in eval-row order) as the
    bundle's pixel cache. Only uint8 pixels of an ``ImagePreprocessor`` are kept (a
    transformers processor's float output is not cached); returns whether it wrote."""
    pixels = getattr(encoded, "pixels", None)
    if pixels is None or pixels.dtype != torch.uint8 or not hasattr(preprocessor, "to_spec"):
        return False
    key = pixel_key(preprocessor.to_spec(), [str(p) for p in paths])
    return save_pixels(Path(bundle_root) / PIXELS_FILE, pixels, key)
