"""Per-seed classification heads: seed S's base is the stored base with seed S's head.

A build with ``seed_draws: rows+head`` gives every seed its own freshly seeded head (the
paper's seeds vary it). The backbone is the same in every seed, so a bundle keeps one
base and, per seed, only the head's tensors (``heads/seed-S.safetensors``, a few KB).
:func:`seeded_head` draws a head exactly as :func:`~taskfair.models.load_model` does for
that head seed; :func:`with_head` / :func:`apply_head_` put it on a base. A head file is
read through safetensors only and checked against the model it is put on (names, shapes).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from taskfair.errors import ModelLoadError
from taskfair.io import atomic_path
from taskfair.models.handle import ModelHandle
from taskfair.models.loading import load_model

__all__ = [
    "HEADS_DIR",
    "apply_head_",
    "head_names",
    "head_tensors",
    "load_head",
    "save_head",
    "seeded_head",
    "with_head",
]

#: The folder of a bundle that holds one head per seed (``seed-S.safetensors``).
HEADS_DIR = "heads"


def head_names(spec: Mapping) -> list[str]:
    """The parameter names of the classification head a base's ``spec`` records."""
    names = spec.get("head")
    if names is None:
        raise ModelLoadError(
            "This base does not record which parameters are its classification head (it "
            "was built before per-seed heads existed): rebuild the bundle with --replace "
            "to use seed_draws: rows+head."
        )
    if not names:
        raise ModelLoadError(
            f"The model {spec.get('name')!r} brings its own classification head (its "
            "checkpoint has one, so no head is seeded): a seed cannot draw another. Use "
            "seed_draws: rows, or a backbone without a classification head."
        )
    return list(names)


def head_tensors(model: torch.nn.Module, names: list[str]) -> dict[str, torch.Tensor]:
    """Copies (CPU, contiguous) of ``model``'s parameters ``names``."""
    params = dict(model.named_parameters())
    return {n: params[n].detach().to("cpu").contiguous().clone() for n in names}


@torch.no_grad()
def apply_head_(model: torch.nn.Module, head: Mapping[str, torch.Tensor]) -> None:
    """Set ``model``'s head parameters to ``head`` in place (its dtype and device)."""
    params = dict(model.named_parameters())
    for name, t in head.items():
        p = params.get(name)
        if p is None or tuple(p.shape) != tuple(t.shape):
            got = None if p is None else tuple(p.shape)
            raise ModelLoadError(
                f"The head tensor {name!r} {tuple(t.shape)} does not fit this model "
                f"(its parameter: {got}): the head belongs to another base. Rebuild the bundle."
            )
        p.copy_(t.to(device=p.device, dtype=p.dtype))


def with_head(model: torch.nn.Module, head: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """A deep copy of ``model`` with ``head`` put on it (``model`` is not changed)."""
    out = copy.deepcopy(model)
    apply_head_(out, head)
    return out


def seeded_head(handle: ModelHandle, head_seed: int) -> dict[str, torch.Tensor]:
    """The head a base of ``handle``'s model would have with head seed ``head_seed``:
    the model loaded again with that seed (the same code path as the base's own head)."""
    spec = handle.spec
    names = head_names(spec)
    if int(spec.get("head_seed", -1)) == int(head_seed):
        return head_tensors(handle.model, names)
    kwargs = {"max_length": spec["max_length"]} if "max_length" in spec else {}
    if "image_size" in spec:
        kwargs["image_size"] = spec["image_size"]
    fresh = load_model(
        spec["name"],
        num_labels=int(spec.get("num_labels", 2)),
        device="cpu",
        head_seed=int(head_seed),
        modality=spec.get("modality"),
        **kwargs,
    )
    return head_tensors(fresh.model, names)


def save_head(path: str | os.PathLike, head: Mapping[str, torch.Tensor], meta: dict) -> Path:
    """Write ``head`` to ``path`` (safetensors, written then renamed), ``meta`` as strings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(dict(head), str(tmp), metadata={k: str(v) for k, v in meta.items()})
    return path


def load_head(path: str | os.PathLike, names: list[str]) -> dict[str, torch.Tensor]:
    """A head file's tensors, which must be exactly the head parameters ``names``."""
    try:
        with safe_open(str(path), framework="pt") as f:
            keys = sorted(f.keys())
            if keys != sorted(names):
                raise ModelLoadError(
                    f"{path} holds {keys}, not this base's head {sorted(names)}: it belongs "
                    "to another model. Rebuild the bundle."
                )
            return {k: f.get_tensor(k) for k in keys}
    except (OSError, ValueError, RuntimeError) as exc:  # safetensors' own errors
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(
            f"Could not read the head file {path}: {exc}. Rebuild the bundle."
        ) from exc
