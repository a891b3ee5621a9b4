"""Scale figures on a GPU, in one go: merge timing, exact-point time, peak memory vs the planner.

    python -m scripts.gpu_scale --out benchmarks/gpu-scale.json          # on a CUDA machine
    python -m scripts.gpu_scale --tiny --device cpu --out tiny.json      # the CPU path, tiny

Three measurements, all on random weights (no download, no tokenizer: token ids are drawn
at random, lengths 16-128):

1. **Per-tensor merge** on a LLaMA-2-7B-shaped single layer (q, k, v, o 4096²; gate, up
   4096×11008; down 11008×4096) in bf16: the anchor copy plus 8 vectors added, per form
   (dense ``_foreach_add_``, LoRA/low-rank r=16 and r=64 ``addmm_``, sparse 1%
   ``index_add_``), in ms per layer and extrapolated to 32 layers.
2. **Exact-point time** on a Qwen2.5-0.5B-shaped classifier in bf16 with 8 LoRA r=16
   vectors (the library's :class:`~taskfair.merge.Merger` and token-budget batches):
   seconds per 10,000 rows, merge included.
3. **Peak GPU memory** of that base with its 8 compact vectors during the exact points,
   against :func:`taskfair.plan.plan_memory` for the same shapes, vectors and token budget.

``--tiny`` shrinks every shape (and the rows to 200) so the CPU path runs in seconds; it is
what the test suite runs. Peak memory is measured on CUDA only.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from taskfair.inference import EncodedText, TokenBudgetBatches, predict_encoded
from taskfair.io import atomic_write_json
from taskfair.merge import Merger
from taskfair.plan import GIB, RUNTIME_BYTES, VectorSpec, plan_memory, tensors_of
from taskfair.plan.shapes import KNOWN_SHAPES
from taskfair.sweep import DEFAULT_TOKEN_BUDGET
from taskfair.vectors import TaskVector
from taskfair.vectors.forms import LowRank, Sparse

N_VECTORS = 8


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# ----------------------------------------------------------------------------- 1. merge


def layer_shapes(tiny: bool) -> dict[str, tuple[int, int]]:
    h, i = (64, 172) if tiny else (4096, 11008)
    return {
        "q_proj": (h, h),
        "k_proj": (h, h),
        "v_proj": (h, h),
        "o_proj": (h, h),
        "gate_proj": (i, h),
        "up_proj": (i, h),
        "down_proj": (h, i),
    }


def _entry(form: str, shape, gen, device, dtype):
    m, n = shape
    if form == "dense":
        return (torch.randn(shape, generator=gen) * 1e-3).to(device, dtype)
    if form.startswith("r"):
        r = int(form[1:])
        return LowRank(
            (torch.randn(m, r, generator=gen) * 1e-2).to(device, dtype),
            (torch.randn(r, n, generator=gen) * 1e-2).to(device, dtype),
            2.0,
            shape,
        )
    k = max(1, m * n // 100)
    index = torch.randperm(m * n, generator=gen)[:k].sort().values.to(torch.int32)
    return Sparse(index.to(device), (torch.randn(k, generator=gen) * 1e-3).to(device, dtype), shape)


def merge_timing(device: torch.device, tiny: bool, repeats: int) -> dict:
    """ms per layer for the anchor copy + 8 vectors, per form; 32 layers extrapolated."""
    dtype = torch.bfloat16
    gen = torch.Generator().manual_seed(0)
    shapes = layer_shapes(tiny)
    out = {"shapes": {k: list(v) for k, v in shapes.items()}, "dtype": "bfloat16", "forms": {}}
    for form in ("dense", "r16", "r64", "sparse1%"):
        layer = torch.nn.Module()
        for name, shape in shapes.items():
            layer.register_parameter(
                name, torch.nn.Parameter(torch.randn(shape, generator=gen).to(device, dtype))
            )
        vectors = {
            f"v{j}": TaskVector({n: _entry(form, s, gen, device, dtype) for n, s in shapes.items()})
            for j in range(N_VECTORS)
        }
        merger = Merger(layer, vectors)
        coeffs = {n: 0.5 for n in vectors}
        sec = _timed(lambda merger=merger, coeffs=coeffs: merger.apply(coeffs), device, repeats)
        stored = sum(v.nbytes for v in vectors.values())
        out["forms"][form] = {
            "ms_per_layer": sec * 1e3,
            "ms_32_layers": sec * 1e3 * 32,
            "vector_bytes_per_layer": stored // N_VECTORS,
        }
        del merger, vectors, layer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


# ----------------------------------------------------------------------------- 2, 3. exact points


def qwen_config(tiny: bool):
    from transformers import Qwen2Config  # transformers: heavy; only this script needs it here

    fields = dict(KNOWN_SHAPES["Qwen/Qwen2.5-0.5B"][1])
    if tiny:
        fields.update(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=1000,
        )
    return Qwen2Config(**fields, num_labels=2, pad_token_id=0)


def _lora_vectors(model, targets, rank: int, gen, device, dtype) -> dict[str, TaskVector]:
    sd = model.state_dict()
    keys = [k for k in sd if k.endswith(".weight") and k.rsplit(".", 2)[-2] in targets]
    out = {}
    for j in range(N_VECTORS):
        entries = {}
        for k in keys:
            m, n = sd[k].shape
            entries[k] = LowRank(
                (torch.randn(m, rank, generator=gen) * 1e-2).to(device, dtype),
                (torch.randn(rank, n, generator=gen) * 1e-2).to(device, dtype),
                2.0,
                (m, n),
            )
        entries["score.weight"] = (torch.randn(sd["score.weight"].shape, generator=gen) * 1e-2).to(
            device, dtype
        )
        out[f"g{j}"] = TaskVector(entries)
    return out


def _rows(n: int, vocab: int, seed: int = 0) -> EncodedText:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(1, vocab, size=int(rng.integers(16, 129))) for _ in range(n)]
    return EncodedText(ids=[x.astype(np.int64) for x in ids], pad_id=0, max_length=128)


def exact_points(device: torch.device, tiny: bool, repeats: int, rows: int) -> dict:
    """Seconds per 10,000 rows of an exact point (merge + forward), and peak memory."""
    # transformers: heavy; only this script needs its Auto classes here.
    from transformers import AutoModelForSequenceClassification

    dtype = torch.bfloat16
    gen = torch.Generator().manual_seed(1)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(qwen_config(tiny))
    model = model.to(dtype).eval()
    t = tensors_of(model, "Qwen2.5-0.5B-shaped" + (" (tiny)" if tiny else ""))
    vectors = _lora_vectors(model, t.lora_targets, 16, gen, device, dtype)
    merger = Merger(model, vectors)
    budget = DEFAULT_TOKEN_BUDGET.get(device.type, 32768)
    enc = TokenBudgetBatches(_rows(rows, model.config.vocab_size), budget, max(64, budget // 16))
    coeffs = {n: 0.5 for n in vectors}

    def point():
        with merger.merged(coeffs) as merged:
            return predict_encoded(merged, enc, 64).logits

    sec = _timed(point, device, repeats)
    logits = point()
    out = {
        "model": t.name,
        "parameters": t.num_params,
        "dtype": "bfloat16",
        "vectors": f"{N_VECTORS} x LoRA r=16 on {t.lora_targets} + dense head",
        "rows": rows,
        "token_budget": budget,
        "seconds_per_point": sec,
        "seconds_per_10k_rows": sec * 10_000 / rows,
        "finite": bool(np.isfinite(logits).all()),
    }
    plan = plan_memory(t, [VectorSpec(N_VECTORS, "lora", rank=16)], "bfloat16", budget)
    out["planner"] = {
        "parts_gib": {k: v / GIB for k, v in plan.parts.items()},
        "total_gib": plan.total / GIB,
        "total_without_runtime_gib": (plan.total - RUNTIME_BYTES) / GIB,
    }
    if device.type == "cuda":
        out["peak_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
        out["peak_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
        out["planner_over_measured"] = (
            plan.total - RUNTIME_BYTES
        ) / torch.cuda.max_memory_allocated(device)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes and 200 rows (the CPU path)")
    ap.add_argument("--rows", type=int, default=None, help="rows per exact point (default 10,000)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    rows = args.rows or (200 if args.tiny else 10_000)
    result = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or "cpu",
        "torch": torch.__version__,
        "tiny": bool(args.tiny),
        "merge": merge_timing(device, args.tiny, args.repeats),
        "exact": exact_points(device, args.tiny, args.repeats, rows),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        atomic_write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
