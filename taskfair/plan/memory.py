"""What an evaluator takes on one device, part by part, from the tensors' shapes alone.

The parts are those the library holds (:class:`~taskfair.sweep.Evaluator`,
:class:`~taskfair.merge.Merger`):

* **base**: the working model, every float tensor in the model's dtype;
* **anchor**: the merger's copy of the tensors any vector touches, same dtype (a LoRA
  vector touches only its adapted weights and the head);
* **vectors**: each vector as stored on the device in the model's dtype: dense
  (every tensor, or only the trained ones), LoRA (``r·(in + out)`` per adapted
  weight plus the dense head), low-rank (``r·(m + n)`` per matrix where smaller, the
  rest dense) or sparse (a value and an int32 index per kept entry);
* **activations**: one forward pass over a batch of ``tokens`` padded tokens (the
  evaluator cuts batches by tokens on a GPU): the residual stream, the attention
  projections and the feed-forward block of one layer at a time, in the model's dtype;
* **runtime**: the CUDA context, kernels' workspaces and the allocator's slack, a fixed
  allowance (:data:`RUNTIME_BYTES`).

The activation and runtime terms are estimates (the largest layer's working set, and a
constant); the weight terms are exact counts from the shapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from taskfair.errors import ConfigError
from taskfair.plan.shapes import ModelTensors, numel

__all__ = ["GIB", "RUNTIME_BYTES", "MemoryPlan", "VectorSpec", "parse_device", "plan_memory"]

GIB = 1024**3
#: CUDA context, cuBLAS / attention workspaces and allocator slack.
RUNTIME_BYTES = int(1.0 * GIB)
_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
_DEVICES = {
    "rtx4090": 24,
    "l4": 24,
    "a10": 24,
    "a100-40gb": 40,
    "a100-80gb": 80,
    "h100": 80,
    "h200": 141,
}


def _dtype_name(name: str) -> str:
    name = str(name).lower().removeprefix("torch.")
    name = _DTYPE_ALIASES.get(name, name)
    if name not in _BYTES:
        raise ConfigError(f"Unknown dtype {name!r}: use float32, bfloat16 or float16.")
    return name


@dataclass(frozen=True)
class VectorSpec:
    """``count`` vectors of one ``form``: ``dense`` (every trained tensor), ``lora``
    (rank ``rank`` on the model's LoRA targets, the head dense), ``lowrank`` (rank
    ``rank`` per trained matrix) or ``sparse`` (``density`` of each trained tensor's
    entries kept). ``layers``: the runs trained the top ``layers`` blocks only
    (``train_layers: top-N``; frozen tensors are absent); None: everything."""

    count: int
    form: str
    rank: int | None = None
    density: float | None = None
    layers: int | None = None

    @classmethod
    def parse(cls, text: str) -> VectorSpec:
        """``"8xlora:r=16"``, ``"8xdense"``, ``"8xlowrank:rank=64"``, ``"8xsparse:density=0.05"``,
        ``"6xdense:layers=2"`` (top-2 trained)."""
        m = re.fullmatch(r"\s*(\d+)\s*[x×*]\s*([a-z]+)\s*(?::(.*))?", text.lower())
        if not m:
            raise ConfigError(
                f"--vectors {text!r}: write COUNTxFORM[:field=value], e.g. 8xlora:r=16, "
                "8xdense, 8xlowrank:rank=64 or 8xsparse:density=0.05."
            )
        count, form, rest = int(m.group(1)), m.group(2), m.group(3) or ""
        fields = {}
        for part in filter(None, (p.strip() for p in rest.split(","))):
            key, _, value = part.partition("=")
            key = {"r": "rank"}.get(key.strip(), key.strip())
            if key not in ("rank", "density", "layers"):
                raise ConfigError(
                    f"--vectors {text!r}: unknown field {key!r} (rank, density, layers)."
                )
            try:
                fields[key] = float(value) if key == "density" else int(value)
            except ValueError:
                raise ConfigError(f"--vectors {text!r}: {key}={value!r} is not a number.") from None
        spec = cls(count, form, **fields)
        if form not in ("dense", "lora", "lowrank", "sparse"):
            raise ConfigError(f"--vectors {text!r}: form must be dense, lora, lowrank or sparse.")
        if form in ("lora", "lowrank") and not spec.rank:
            raise ConfigError(f"--vectors {text!r}: {form} needs a rank, e.g. {form}:r=16.")
        if form == "sparse" and not spec.density:
            raise ConfigError(
                f"--vectors {text!r}: sparse needs a density, e.g. sparse:density=0.05."
            )
        return spec

    @property
    def label(self) -> str:
        extra = (
            f" r={self.rank}" if self.rank else f" density={self.density:g}" if self.density else ""
        )
        if self.layers is not None and self.form != "lora":
            extra += f" top-{self.layers}"
        return f"{self.count} × {self.form}{extra}"


def parse_device(text: str) -> tuple[str, int]:
    """``"24GB"`` / ``"40"`` / ``"a100-80gb"`` → ``(label, bytes)``; GB here means GiB,
    as GPU memory sizes are quoted."""
    t = text.strip().lower()
    if t in _DEVICES:
        return text, _DEVICES[t] * GIB
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(gib|gb|g)?", t)
    if not m:
        raise ConfigError(
            f"--device {text!r}: give a memory size such as 24GB, 40GB, 80GB, or one of "
            f"{', '.join(_DEVICES)}."
        )
    return f"{float(m.group(1)):g} GB", int(float(m.group(1)) * GIB)


@dataclass
class MemoryPlan:
    """Bytes per part (see the module docstring) and the totals."""

    model: str
    dtype: str
    tokens: int
    parts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def fits(self, capacity: int) -> bool:
        return self.total <= capacity


def _matrix(shape) -> tuple[int, int] | None:
    """A tensor of 2 or more dimensions as the matrix ``(first, rest)`` it is merged as."""
    return (int(shape[0]), numel(shape[1:])) if len(shape) >= 2 else None


def _vector_values(t: ModelTensors, spec: VectorSpec) -> tuple[int, int, set[str]]:
    """``(values, index entries, touched keys)`` of one vector of ``spec``."""
    values, index, touched = 0, 0, set()
    trained = t.trained(spec.layers if spec.form != "lora" else None)
    for key, shape in t.shapes.items():
        if key not in trained:
            continue  # frozen: absent from the vector
        size = numel(shape)
        mn = _matrix(shape)
        if spec.form == "lora":
            module = key.rsplit(".", 1)[0]
            is_target = key.endswith(".weight") and module.rsplit(".", 1)[-1] in t.lora_targets
            in_head = any(module == h or module.startswith(h + ".") for h in t.head_modules)
            if is_target and mn and not in_head:
                values += spec.rank * (mn[0] + mn[1])
            elif in_head:
                values += size
            else:
                continue
        elif spec.form == "lowrank" and mn and spec.rank * (mn[0] + mn[1]) < size:
            values += spec.rank * (mn[0] + mn[1])
        elif spec.form == "sparse" and size >= 4096:
            kept = max(1, round(spec.density * size))
            values, index = values + kept, index + kept
        else:
            values += size
        touched.add(key)
    return values, index, touched


def _activations(t: ModelTensors, tokens: int, width: int) -> int:
    """One layer's working set for ``tokens`` padded tokens: the residual stream (twice:
    in and out), the attention projections and the feed-forward block."""
    hidden = intermediate = 0
    for key, shape in t.shapes.items():
        if len(shape) == 2:
            hidden = max(hidden, min(shape))
            intermediate = max(intermediate, max(shape) if "embed" not in key else 0)
    # residual in/out + q, k, v + attention output + up/gate/activation of the MLP
    per_token = 2 * hidden + 4 * hidden + 3 * intermediate
    return tokens * per_token * width


def plan_memory(
    t: ModelTensors, vectors: list[VectorSpec], dtype: str = "bfloat16", tokens: int = 32768
) -> MemoryPlan:
    """The parts of an evaluator of ``t`` with ``vectors`` in ``dtype`` (see the module
    docstring); ``tokens``: padded tokens per batch."""
    dtype = _dtype_name(dtype)
    width = _BYTES[dtype]
    plan = MemoryPlan(t.name, dtype, int(tokens))
    plan.parts["base"] = t.num_params * width
    touched: set[str] = set()
    for spec in vectors:
        values, index, keys = _vector_values(t, spec)
        touched |= keys
        plan.parts[f"vectors: {spec.label}"] = spec.count * (values * width + index * 4)
    anchor = sum(numel(t.shapes[k]) for k in touched)
    plan.parts["anchor (touched tensors)"] = anchor * width
    plan.parts[f"activations ({tokens:,} tokens)"] = _activations(t, tokens, width)
    plan.parts["runtime (CUDA context, workspaces)"] = RUNTIME_BYTES
    if any(s.form == "lora" for s in vectors) and not t.lora_targets:
        plan.notes.append(
            "no LoRA targets were detected for this model: LoRA counted as the head only"
        )
    return plan
