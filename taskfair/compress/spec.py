"""How to compress a dense task vector: :class:`CompressSpec`, validated, named, keyed.

``form``:

* ``dense``: no compression (only ``dtype`` may change the stored precision);
* ``lowrank``: per matrix (2-D and up; a convolution as ``(out, in·kh·kw)``), the
  truncated SVD at ``rank`` or at the smallest rank keeping ``energy`` of the squared
  singular values;
* ``topk``: per tensor, the ``density`` share of entries largest in magnitude;
* ``dare``: per tensor, each entry dropped with probability ``drop`` and the survivors
  rescaled by ``1 / (1 - drop)`` (DARE), from a generator seeded by ``seed`` and the key.

Tensors with fewer than ``min_numel`` entries (biases, norms, a small head) and entries
already compact (a LoRA adapter's factors) are kept as they are. ``dtype`` is the
precision the kept values are stored in (``float32``, ``bfloat16`` or ``float16``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from taskfair.errors import ConfigError

__all__ = ["COMPRESS_FORMS", "STORAGE_DTYPES", "CompressSpec"]

COMPRESS_FORMS = ("dense", "lowrank", "topk", "dare")
STORAGE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class CompressSpec:
    """One compression setting (see the module docstring); invalid values raise
    :class:`~taskfair.errors.ConfigError` naming the field."""

    form: str = "dense"
    rank: int | None = None
    energy: float | None = None
    density: float | None = None
    drop: float | None = None
    seed: int = 0
    dtype: str = "float32"
    min_numel: int = 4096

    def __post_init__(self):
        if self.form not in COMPRESS_FORMS:
            raise ConfigError(
                f"compress form {self.form!r} is not known: use one of {', '.join(COMPRESS_FORMS)}."
            )
        if self.dtype not in STORAGE_DTYPES:
            raise ConfigError(
                f"compress dtype {self.dtype!r} is not known: use one of {', '.join(STORAGE_DTYPES)}."
            )
        need = {"lowrank": ("rank", "energy"), "topk": ("density",), "dare": ("drop",)}
        given = [n for n in ("rank", "energy", "density", "drop") if getattr(self, n) is not None]
        allowed = need.get(self.form, ())
        extra = [n for n in given if n not in allowed]
        if extra:
            raise ConfigError(f"compress form {self.form!r} takes no {', '.join(extra)}.")
        if self.form == "lowrank" and (self.rank is None) == (self.energy is None):
            raise ConfigError(
                "compress form 'lowrank' needs exactly one of rank (e.g. 16) or energy (e.g. 0.9)."
            )
        if self.form in ("topk", "dare") and not given:
            raise ConfigError(
                f"compress form {self.form!r} needs {allowed[0]} (e.g. "
                f"{'0.05' if self.form == 'topk' else '0.9'})."
            )
        if self.rank is not None and (
            isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1
        ):
            raise ConfigError(f"compress rank must be a whole number >= 1, got {self.rank!r}.")
        for name, low_open, high_closed in (
            ("energy", True, True),
            ("density", True, True),
            ("drop", False, False),
        ):
            v = getattr(self, name)
            if v is None:
                continue
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            ok = ok and (v > 0 if low_open else v >= 0) and (v <= 1 if high_closed else v < 1)
            if not ok:
                rng = "(0, 1]" if low_open else "[0, 1)"
                raise ConfigError(f"compress {name} must be a number in {rng}, got {v!r}.")
        if (
            isinstance(self.min_numel, bool)
            or not isinstance(self.min_numel, int)
            or self.min_numel < 1
        ):
            raise ConfigError(
                f"compress min_numel must be a whole number >= 1, got {self.min_numel!r}."
            )

    @property
    def torch_dtype(self) -> torch.dtype:
        return STORAGE_DTYPES[self.dtype]

    @property
    def is_identity(self) -> bool:
        """Whether this setting leaves a float32 vector as it is."""
        return self.form == "dense" and self.dtype == "float32"

    @property
    def name(self) -> str:
        """A short label: ``lowrank-r16``, ``lowrank-e0.9``, ``topk-d0.05``, ``dare-p0.9``
        (``-bf16`` / ``-fp16`` when stored at that precision)."""
        if self.form == "lowrank":
            label = (
                f"lowrank-r{self.rank}" if self.rank is not None else f"lowrank-e{self.energy:g}"
            )
        elif self.form == "topk":
            label = f"topk-d{self.density:g}"
        elif self.form == "dare":
            label = f"dare-p{self.drop:g}-s{self.seed}"
        else:
            label = "dense"
        suffix = {"float32": "", "bfloat16": "-bf16", "float16": "-fp16"}[self.dtype]
        return label + suffix

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data) -> CompressSpec:
        if isinstance(data, str):
            data = {"form": data}
        if not isinstance(data, dict):
            raise ConfigError(
                f"compress: expected a mapping such as {{form: lowrank, rank: 16}}, got {data!r}."
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"compress: unknown field(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}."
            )
        return cls(**data)
