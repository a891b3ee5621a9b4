"""The image modality of ``bench`` (a :class:`taskfair.bench.modality.Modality`).

(a) **naive**: per λ the merged state dict is written to a temporary folder and read
    back, then evaluated in batches of 32 in row order. The custom EfficientNet-Lite0 has
    no ``save_pretrained`` / ``from_pretrained``, so its disk round trip is
    :func:`taskfair.models.save_efficientnet` + :func:`taskfair.models.load_efficientnet`
    (safetensors); a transformers image model uses ``save_pretrained`` /
    ``from_pretrained``. Images are decoded and resized once and that time is reported
    apart (``naive_decode_s``), which favours (a): a ``Dataset`` with transforms decodes
    every image again on every pass.
(b) **exact**: uint8 pixels decoded once (normalised batch by batch).

FLOPs of (b): :func:`taskfair.models.conv_flops` (2 × multiply-accumulates of every
Conv2d and Linear layer at the bundle's input size; batch norm, activations and pooling
not counted) times the rows. (b) is judged against the fp32 matmul rate measured before
the phases.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from transformers import AutoModelForImageClassification

from taskfair.bench.workload import Workload, from_bundle
from taskfair.inference import encode
from taskfair.models import EfficientNetLite0, conv_flops, load_efficientnet, save_efficientnet

__all__ = [
    "FLOPS_FORMULA",
    "NAIVE_SETUP_KEY",
    "NAME",
    "OPTIONS",
    "RATE_BESIDE_EXACT",
    "evaluator_options",
    "exact_figures",
    "naive_inputs",
    "notes",
    "round_trip",
    "summary",
    "workload",
]

NAME = "image"
FLOPS_FORMULA = "FLOPs = rows × conv_flops(model, image_size) (Conv2d + Linear MACs × 2)"
OPTIONS = ("batch_size",)
NAIVE_SETUP_KEY = "naive_decode_s"
RATE_BESIDE_EXACT = False
_NAIVE_BATCH = 32


def workload(spec: dict) -> Workload:
    """A seeded sample of ``spec["rows"]`` of the bundle's eval rows."""
    return from_bundle(spec, "image", sample=True)


def naive_inputs(handle, frame) -> tuple[list[dict], dict]:
    """(a)'s batches of float pixels in row order, and ``naive_decode_s`` (its one-time
    decode and resize)."""
    t = time.perf_counter()
    pixels = encode(handle.processor, frame["image"].tolist(), "image")
    seconds = time.perf_counter() - t
    return [b for _, b in pixels.batches(_NAIVE_BATCH)], {NAIVE_SETUP_KEY: seconds}


def round_trip(model: torch.nn.Module, merged: dict, folder: Path) -> torch.nn.Module:
    """Load ``merged`` into ``model``, write it to ``folder`` in the model's own format and
    read a fresh model back."""
    model.load_state_dict(merged)
    if isinstance(model, EfficientNetLite0):
        save_efficientnet(model, folder / "model.safetensors")
        return load_efficientnet(folder / "model.safetensors")
    model.save_pretrained(folder)
    return AutoModelForImageClassification.from_pretrained(folder, use_safetensors=True)


def evaluator_options(spec: dict) -> dict:
    """(b)'s :class:`taskfair.sweep.Evaluator` options: rows per batch only (the text
    options, token budget, truncation and compile, do not apply)."""
    return {"batch_size": int(spec.get("batch_size", 64))}


def _image_size(handle) -> int:
    return int(handle.spec.get("image_size") or getattr(handle.processor, "image_size", 224))


def exact_figures(ev, encoded) -> dict:
    """(b)'s FLOPs per λ, per image and the input size they are counted at."""
    size = _image_size(ev.handle)
    per_image = conv_flops(ev.merger.model, size)
    return {
        "exact_flops": float(per_image) * len(ev.frame),
        "flops_per_image": per_image,
        "image_size": size,
    }


def summary(spec: dict, naive: dict, ours: dict) -> dict:
    """The image-only keys of the result."""
    return {
        "modality": NAME,
        "gflops_per_image": ours["flops_per_image"] / 1e9,
        "image_size": ours["image_size"],
        "naive_decode_s": naive[NAIVE_SETUP_KEY],
    }


def notes(res: dict) -> list[str]:
    """The table's image-only lines: the rows and input size, what (a) does, the FLOP rate."""
    return [
        f"rows {res['rows']} images at {res['image_size']} px "
        f"({res['gflops_per_image']:.3f} GFLOP each); device {res['device']}, "
        f"{res['threads']} threads, load avg {res['load_avg'][0]:.2f}",
        f"(a) decodes once, apart (set-up row): a Dataset decoding per pass would add "
        f"{res['naive_decode_s']:.2f} s per λ; its disk round trip is the safetensors "
        "state dict (the custom CNN has no save_pretrained)",
        f"matmul fp32 {res['matmul_gflops']:.1f} GFLOP/s; (b) achieves "
        f"{res['achieved_gflops']:.1f} GFLOP/s = {100 * res['matmul_fraction']:.0f}% of it "
        f"({FLOPS_FORMULA}; depthwise convs are memory-bound)",
    ]
