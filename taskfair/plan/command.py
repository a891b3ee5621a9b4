"""``python -m taskfair plan``: what a model, its vectors and the merge take, and whether it fits.

    python -m taskfair plan --model meta-llama/Llama-2-7b-hf --dtype bf16 \\
        --vectors 8xlora:r=16 --vectors 8xdense --vectors 8xlowrank:rank=64 \\
        --device 24GB --device 40GB --device 80GB

Each ``--vectors`` is one scenario (join sets with ``+``: ``1xdense+8xlora:r=16``); each is
planned for every ``--device``. From the configuration alone (:mod:`taskfair.plan.shapes`),
no weights needed.
"""

from __future__ import annotations

import argparse
import json

from taskfair.plan.memory import GIB, VectorSpec, parse_device, plan_memory
from taskfair.plan.shapes import model_tensors
from taskfair.sweep.evaluator import DEFAULT_TOKEN_BUDGET

__all__ = ["configure", "format_plan", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="hub id (known offline: meta-llama/Llama-2-7b-hf, Qwen/Qwen2.5-0.5B, "
        "distilbert-base-uncased, sentence-transformers/all-MiniLM-L6-v2), a local "
        "Hugging Face folder, a bundle, or minilm",
    )
    parser.add_argument(
        "--vectors",
        action="append",
        required=True,
        help="COUNTxFORM[:field=value], e.g. 8xlora:r=16, 8xdense, 8xlowrank:rank=64, "
        "8xsparse:density=0.05; join with + for one mixed set; repeat for scenarios",
    )
    parser.add_argument(
        "--device", action="append", default=None, help="memory size, e.g. 24GB (repeatable)"
    )
    parser.add_argument(
        "--dtype", default="bfloat16", help="bfloat16 (default) | float16 | float32"
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=DEFAULT_TOKEN_BUDGET["cuda"],
        help="padded tokens per batch (default: the evaluator's GPU token budget)",
    )
    parser.add_argument("--json", action="store_true", help="print the plans as JSON")


def format_plan(plan, devices: list[tuple[str, int]]) -> str:
    """A plan as aligned lines: each part in GiB, the total, and one verdict per device."""
    width = max(len(k) for k in plan.parts)
    lines = [f"{plan.model} in {plan.dtype}:"]
    lines += [f"  {k:<{width}}  {v / GIB:8.2f} GiB" for k, v in plan.parts.items()]
    lines.append(f"  {'total':<{width}}  {plan.total / GIB:8.2f} GiB")
    for label, cap in devices:
        if plan.fits(cap):
            verdict = f"fits ({(cap - plan.total) / GIB:.1f} GiB free)"
        else:
            verdict = f"does NOT fit (short by {(plan.total - cap) / GIB:.1f} GiB)"
        lines.append(f"  on {label}: {verdict}")
    lines += [f"  note: {n}" for n in plan.notes]
    return "\n".join(lines)


def run(args) -> int:
    tensors = model_tensors(args.model)
    devices = [parse_device(d) for d in (args.device or [])]
    out = []
    print(
        f"{args.model}: {tensors.num_params / 1e9:.3f} B parameters ({tensors.model_type}, "
        f"LoRA targets {tensors.lora_targets}, head {tensors.head_modules}); config from "
        f"{tensors.source}"
    ) if not args.json else None
    for text in args.vectors:
        specs = [VectorSpec.parse(part) for part in text.split("+")]
        plan = plan_memory(tensors, specs, args.dtype, args.tokens)
        if args.json:
            out.append(
                {
                    "model": args.model,
                    "vectors": text,
                    "dtype": plan.dtype,
                    "tokens": plan.tokens,
                    "parts": plan.parts,
                    "total": plan.total,
                    "fits": {label: plan.fits(cap) for label, cap in devices},
                }
            )
        else:
            print(format_plan(plan, devices))
    if args.json:
        print(json.dumps(out, indent=2))
    return 0
