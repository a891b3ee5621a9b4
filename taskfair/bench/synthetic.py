"""A synthetic stand-in for a text bundle, for timings where no bundle can travel.

A MiniLM-shaped classifier (pretrained when its weights are in the model folder, else
seeded random), three seeded random "subgroup" vectors at 2% of each tensor's spread, and
HateXplain-like posts (or the rows of a CSV with ``text,label`` columns). The figures it
gives are timings only: its accuracies and fairness numbers mean nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from taskfair.bench.workload import ATTR, Workload
from taskfair.models import (
    KNOWN_MODELS,
    ModelHandle,
    load_model,
    load_processor,
    resolve_device,
    resolve_dtype,
)
from taskfair.vectors import TaskVector

__all__ = ["GROUPS", "synthetic_workload"]

GROUPS = ("group_a", "group_b", "group_c")
_MAX_LENGTH = 128
_WORDS = [
    "they",
    "said",
    "people",
    "like",
    "that",
    "should",
    "never",
    "be",
    "allowed",
    "to",
    "post",
    "here",
    "again",
    "because",
    "the",
    "group",
    "is",
    "always",
    "causing",
    "trouble",
    "for",
    "everyone",
    "else",
]


def _synthetic_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    # HateXplain-like lengths: mostly short posts, a long tail
    lengths = np.clip(rng.lognormal(3.0, 0.5, n).astype(int), 3, 160)
    return [" ".join(rng.choice(_WORDS, k)) for k in lengths]


def _model(model_dir, device, dtype) -> ModelHandle:
    if (Path(model_dir) / "model.safetensors").exists():
        return load_model(model_dir, device=device, dtype=dtype, max_length=_MAX_LENGTH)
    torch.manual_seed(0)
    cfg = AutoConfig.from_pretrained(model_dir, num_labels=2)
    model = AutoModelForSequenceClassification.from_config(cfg)
    model.to(device=resolve_device(device), dtype=resolve_dtype(dtype)).eval()
    return ModelHandle(
        model,
        load_processor(model_dir, "text"),
        "text",
        {"max_length": _MAX_LENGTH, "name": str(model_dir)},
    )


def _random_vectors(model: torch.nn.Module) -> dict[str, TaskVector]:
    gen = torch.Generator().manual_seed(1)
    vectors = {}
    for g in GROUPS:
        tensors = {}
        for k, v in model.state_dict().items():
            if torch.is_floating_point(v):
                scale = 0.02 * float(v.float().std()) if v.numel() > 1 else 0.0
                tensors[k] = (torch.randn(v.shape, generator=gen) * scale).to(v.dtype)
        vectors[g] = TaskVector(tensors, {"name": g})
    return vectors


def synthetic_workload(spec: dict) -> Workload:
    """``spec["rows"]`` rows on the model folder ``spec["model_dir"]`` (default: the
    packaged MiniLM), texts from the CSV ``spec["texts"]`` when given (repeated to reach
    the rows), on ``spec["device"]`` in ``spec["dtype"]``."""
    rows = int(spec["rows"])
    model_dir = spec.get("model_dir") or KNOWN_MODELS["minilm"]["resolve"]()
    handle = _model(model_dir, spec.get("device"), spec.get("dtype"))
    vectors = _random_vectors(handle.model)
    if spec.get("texts"):
        src = pd.read_csv(spec["texts"])
        src = pd.concat([src] * math.ceil(rows / len(src))).iloc[:rows]
        texts = src["text"].astype(str).tolist()
        labels = src["label"].astype(int).clip(0, 1).tolist()
    else:
        texts = _synthetic_texts(rows, 0)
        labels = np.random.default_rng(1).integers(0, 2, rows).tolist()
    groups = np.random.default_rng(2).choice(list(GROUPS), rows)
    frame = pd.DataFrame(
        {"text": texts, "label": labels, "split": "val", ATTR: pd.array(groups, dtype="string")}
    )
    return Workload(handle, vectors, frame, None)
