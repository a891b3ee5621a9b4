"""The text modality of ``bench`` (a :class:`taskfair.bench.modality.Modality`).

(a) **naive**, as the paper's code does it: inputs tokenised with ``truncation=True,
    max_length=512, padding=True`` in chunks of 1,000 rows (so every row is padded to its
    chunk's longest), evaluated in batches of 32 in row order; the disk round trip per λ
    is ``save_pretrained`` to a temporary folder and ``from_pretrained`` back.
    Tokenisation is done once and reported apart (``naive_tokenize_s``), which favours (a).
(b) **exact**: inputs encoded once, sorted by length, padded per batch only to the batch's
    longest row (or cut by a token budget); by default truncated at 512 tokens like (a),
    so both evaluate identical inputs.

FLOPs of (b): :func:`taskfair.bench.flops.encoder_flops` on real tokens. (b) is judged
against the matmul rate measured beside it, in its own dtype and process.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from taskfair.bench.flops import ENCODER_FLOPS_FORMULA, encoder_flops
from taskfair.bench.synthetic import synthetic_workload
from taskfair.bench.workload import Workload, from_bundle
from taskfair.models import resolve_dtype

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

NAME = "text"
FLOPS_FORMULA = ENCODER_FLOPS_FORMULA
OPTIONS = ("batch_size", "token_budget", "max_length", "compile")
NAIVE_SETUP_KEY = "naive_tokenize_s"
RATE_BESIDE_EXACT = True
_NAIVE_MAX_LENGTH = 512
_NAIVE_CHUNK = 1000
_NAIVE_BATCH = 32


def workload(spec: dict) -> Workload:
    """The bundle's first ``spec["rows"]`` eval rows, or the synthetic stand-in."""
    if spec["kind"] == "synthetic":
        return synthetic_workload(spec)
    return from_bundle(spec, "text", sample=False)


def naive_inputs(handle, frame) -> tuple[list[dict], dict]:
    """(a)'s batches in row order (CPU tensors), and ``naive_tokenize_s`` (its one-time
    tokenisation) and ``naive_padded_tokens`` (the tokens it evaluates, padding included)."""
    tok, texts = handle.processor, frame["text"].tolist()
    t = time.perf_counter()
    batches = []
    for start in range(0, len(texts), _NAIVE_CHUNK):
        enc = tok(
            texts[start : start + _NAIVE_CHUNK],
            truncation=True,
            max_length=_NAIVE_MAX_LENGTH,
            padding=True,
            return_tensors="pt",
        )
        enc = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask")}
        n = enc["input_ids"].shape[0]
        batches += [
            {k: v[s : s + _NAIVE_BATCH] for k, v in enc.items()} for s in range(0, n, _NAIVE_BATCH)
        ]
    seconds = time.perf_counter() - t
    padded = int(sum(b["input_ids"].numel() for b in batches))
    return batches, {NAIVE_SETUP_KEY: seconds, "naive_padded_tokens": padded}


def round_trip(model: torch.nn.Module, merged: dict, folder: Path) -> torch.nn.Module:
    """Load ``merged`` into ``model``, ``save_pretrained`` it to ``folder`` and read a fresh
    model back with ``from_pretrained``, as the paper's pipeline does per λ."""
    model.load_state_dict(merged)
    model.save_pretrained(folder)
    return AutoModelForSequenceClassification.from_pretrained(folder)


def _budget(value):
    """``"auto"`` | ``"none"`` | an int, as the CLI gives it, for the Evaluator."""
    if value in (None, "auto"):
        return "auto"
    return None if str(value).lower() in ("none", "0") else int(value)


def evaluator_options(spec: dict) -> dict:
    """(b)'s :class:`taskfair.sweep.Evaluator` options from the CLI's."""
    return {
        "batch_size": int(spec.get("batch_size", 64)),
        "token_budget": _budget(spec.get("token_budget", "auto")),
        # same truncation as (a) by default: identical inputs, a like-for-like timing
        "max_length": int(spec.get("max_length") or _NAIVE_MAX_LENGTH),
        "compile": bool(spec.get("compile")),
    }


def _real_lengths(encoded) -> np.ndarray:
    if hasattr(encoded, "lengths"):
        return np.asarray(encoded.lengths)
    # token-budget batches: count the attention masks
    return np.concatenate([b[1]["attention_mask"].sum(1).numpy() for b in encoded.batches(0)])


def exact_figures(ev, encoded) -> dict:
    """(b)'s FLOPs per λ and the token counts they are computed from."""
    lengths = _real_lengths(encoded)
    return {
        "exact_flops": encoder_flops(ev.merger.model, lengths),
        "real_tokens": int(np.sum(lengths)),
        "mean_tokens": float(np.mean(lengths)),
        "truncated_rows": int(np.sum(np.asarray(lengths) >= ev.max_length)),
    }


def summary(spec: dict, naive: dict, ours: dict) -> dict:
    """The text-only keys of the result."""
    return {
        "matmul_gflops_dtype": ours["matmul_near_b"],
        "naive_tokenize_s": naive[NAIVE_SETUP_KEY],
        "real_tokens": ours["real_tokens"],
        "naive_padded_tokens": naive["naive_padded_tokens"],
        "mean_tokens_per_row": ours["mean_tokens"],
        "truncated_rows": ours["truncated_rows"],
        "dtype": str(resolve_dtype(spec.get("dtype"))).removeprefix("torch."),
    }


def notes(res: dict) -> list[str]:
    """The table's text-only lines: the rows and tokens, the machine, the FLOP rate."""
    return [
        f"rows {res['rows']} (real tokens {res['real_tokens']}, mean {res['mean_tokens_per_row']:.1f}/row; "
        f"(a) pads to {res['naive_padded_tokens']}); device {res['device']}, {res['threads']} threads, "
        f"load avg {res['load_avg'][0]:.2f}",
        f"matmul fp32 {res['matmul_gflops']:.1f} GFLOP/s ({res['dtype']}: "
        f"{res['matmul_gflops_dtype']:.1f}); (b) achieves {res['achieved_gflops']:.1f} GFLOP/s on "
        f"real tokens = {100 * res['matmul_fraction']:.0f}% of the {res['dtype']} rate measured "
        f"beside it ({FLOPS_FORMULA})",
    ]
