"""Image files → the float tensors an image classifier reads.

:class:`ImagePreprocessor` is EfficientNet-Lite0's own (PIL decode, bilinear resize to a
square, ``(x / 255 - mean) / std``); :class:`HFImagePreprocessor` puts a transformers
image processor (e.g. ViT's) behind the same call. Both decode on a thread pool (PIL
releases the GIL) and report progress. :func:`preprocessor_from_spec` rebuilds either
from the ``to_spec()`` a bundle records.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from PIL import Image

from taskfair.progress import Progress, report

__all__ = [
    "HFImagePreprocessor",
    "ImagePreprocessor",
    "preprocessor_from_spec",
]


def _default_workers() -> int:
    # PIL releases the GIL while decoding and resizing, so threads scale with cores.
    return max(1, min(8, os.cpu_count() or 1))


def _open_rgb(path: str | os.PathLike, draft_size: tuple[int, int] | None = None):
    try:
        with Image.open(path) as im:
            if draft_size is not None and im.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale in the DCT when the result stays at
                # least draft_size: most of the decode cost disappears for big photos.
                im.draft("RGB", draft_size)
            im.load()
            # convert() always copies; skip it for the common case of an RGB file.
            return im if im.mode == "RGB" else im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"Cannot decode image {path}: {exc}") from exc


def _parallel(
    fn: Callable[[int], None], n: int, workers: int, progress: Progress | None, message: str
) -> None:
    """Run ``fn(i)`` for i in range(n) on a thread pool, reporting progress in order."""
    step = max(1, n // 100)
    report(progress, 0, n, message)
    if workers <= 1 or n <= 1:
        for i in range(n):
            fn(i)
            if (i + 1) % step == 0 or i + 1 == n:
                report(progress, i + 1, n, message)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i, _ in enumerate(pool.map(fn, range(n))):
            if (i + 1) % step == 0 or i + 1 == n:
                report(progress, i + 1, n, message)


class ImagePreprocessor:
    """Image files → normalised float32 tensors for :class:`EfficientNetLite0`.

    Each image is decoded with PIL, converted to RGB, resized to
    ``image_size × image_size`` (bilinear, aspect ratio not kept) and mapped to
    ``(x / 255 - mean) / std``, i.e. [-1, 1] with the defaults.

    ``__call__(paths, progress=None)`` → float32 ``(N, 3, image_size, image_size)``.
    ``decode`` / ``normalize`` split that in two so callers can cache the uint8 tensor
    (4× smaller than float32) and normalise batch by batch.
    """

    kind = "efficientnet"

    def __init__(
        self,
        image_size: int = 224,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        num_workers: int | None = None,
    ) -> None:
        if int(image_size) != image_size or int(image_size) < 8:
            raise ValueError(f"image_size must be an integer >= 8, got {image_size!r}.")
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got {mean}, {std}.")
        self.image_size = int(image_size)
        self.mean, self.std = mean, std
        self.num_workers = num_workers

    def __repr__(self) -> str:
        return f"ImagePreprocessor(image_size={self.image_size}, mean={self.mean}, std={self.std})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImagePreprocessor) and self.to_spec() == other.to_spec()

    def __hash__(self) -> int:  # equal specs, equal hashes (usable as a cache key)
        return hash((self.image_size, self.mean, self.std))

    def decode(
        self, paths: Iterable[str | os.PathLike], progress: Progress | None = None
    ) -> torch.Tensor:
        """uint8 ``(N, 3, image_size, image_size)``, values 0..255."""
        paths = list(paths)
        s = self.image_size
        out = np.empty((len(paths), 3, s, s), dtype=np.uint8)

        def one(i: int) -> None:
            im = _open_rgb(paths[i], (s, s))
            if im.size != (s, s):
                im = im.resize((s, s), Image.Resampling.BILINEAR)
            # HWC → CHW per image inside the worker, so no full-batch permute is needed.
            out[i] = np.asarray(im).transpose(2, 0, 1)

        _parallel(
            one, len(paths), self.num_workers or _default_workers(), progress, "decoding images"
        )
        return torch.from_numpy(out)

    def normalize(self, images: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """uint8 ``(N, 3, H, W)`` → float32 ``(N, 3, H, W)`` = ``(x / 255 - mean) / std``.

        With the default mean = std = 0.5 the result lies in [-1, 1] exactly: 0 → -1.0,
        255 → 1.0 (divide, subtract, divide, rather than one fused multiply-add, which
        could overshoot by an ulp).
        """
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"normalize expects uint8 (N, 3, H, W); got {images.dtype} {tuple(images.shape)}."
            )
        mean = torch.tensor(self.mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
        out = torch.empty(images.shape, dtype=torch.float32, device=images.device)
        # In place on cache-sized slices of the output: no full-size float temporaries.
        for i in range(0, images.shape[0], chunk):
            part = out[i : i + chunk]
            part.copy_(images[i : i + chunk])
            part.div_(255.0).sub_(mean).div_(std)
        return out

    def __call__(
        self, paths: Iterable[str | os.PathLike], progress: Progress | None = None
    ) -> torch.Tensor:
        return self.normalize(self.decode(paths, progress))

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "image_size": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "resample": "bilinear",
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ImagePreprocessor:
        if spec.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"Not an ImagePreprocessor spec (kind={spec.get('kind')!r}).")
        if spec.get("resample", "bilinear") != "bilinear":
            raise ValueError(f"Unsupported resample {spec['resample']!r}: only 'bilinear'.")
        return cls(
            image_size=spec["image_size"],
            mean=spec.get("mean", (0.5, 0.5, 0.5)),
            std=spec.get("std", (0.5, 0.5, 0.5)),
        )


class HFImagePreprocessor:
    """A transformers image processor (e.g. for ViT) behind the :class:`ImagePreprocessor`
    call: ``__call__(paths, progress=None)`` → float32 ``(N, 3, H, W)`` ``pixel_values``.

    Files are decoded (RGB) on a thread pool; resizing and normalisation are the
    processor's own.
    """

    kind = "hf"

    def __init__(
        self, processor: Any, batch_size: int = 64, num_workers: int | None = None
    ) -> None:
        self.processor = processor
        self.batch_size = int(batch_size)
        self.num_workers = num_workers

    def __repr__(self) -> str:
        return f"HFImagePreprocessor({type(self.processor).__name__}, image_size={self.image_size})"

    @property
    def image_size(self) -> int | None:
        size = getattr(self.processor, "size", None)
        for key in ("height", "shortest_edge"):
            value = getattr(size, key, None)
            if value is None and isinstance(size, dict):
                value = size.get(key)
            if value is not None:
                return int(value)
        return int(size) if isinstance(size, int) else None

    def __call__(
        self, paths: Iterable[str | os.PathLike], progress: Progress | None = None
    ) -> torch.Tensor:
        paths = list(paths)
        workers = self.num_workers or _default_workers()
        parts = []
        report(progress, 0, len(paths), "decoding images")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(paths), self.batch_size):
                images = list(pool.map(_open_rgb, paths[start : start + self.batch_size]))
                pixels = self.processor(images=images, return_tensors="pt")["pixel_values"]
                parts.append(pixels.to(torch.float32))
                report(
                    progress,
                    min(start + self.batch_size, len(paths)),
                    len(paths),
                    "decoding images",
                )
        if not parts:
            s = self.image_size or 224
            return torch.empty((0, 3, s, s), dtype=torch.float32)
        return torch.cat(parts)

    def save_pretrained(self, out_dir: str | os.PathLike) -> None:
        self.processor.save_pretrained(out_dir)

    def to_spec(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "processor_class": type(self.processor).__name__,
            "image_size": self.image_size,
        }

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> HFImagePreprocessor:
        # transformers: heavy to import (seconds); only a Hugging Face model needs it.
        from transformers import AutoImageProcessor

        return cls(AutoImageProcessor.from_pretrained(path, trust_remote_code=False))


def preprocessor_from_spec(spec: dict[str, Any], path: str | os.PathLike | None = None):
    """Rebuild a preprocessor from ``to_spec()``; an ``hf`` one loads from ``path``."""
    kind = spec.get("kind")
    if kind == ImagePreprocessor.kind:
        return ImagePreprocessor.from_spec(spec)
    if kind == HFImagePreprocessor.kind:
        if path is None:
            raise ValueError(
                "An 'hf' preprocessor spec needs the folder its processor was saved in."
            )
        return HFImagePreprocessor.from_pretrained(path)
    raise ValueError(f"Unknown preprocessor kind {kind!r}: expected 'efficientnet' or 'hf'.")
