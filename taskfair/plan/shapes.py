"""A model's tensors from its configuration alone: no weights, no download.

:func:`model_tensors` builds the two-class sequence classifier of a transformers config
on PyTorch's ``meta`` device (shapes without storage, seconds even for 7B parameters)
and returns every float tensor's shape, the LoRA target modules and head modules that a
build would detect on it (:mod:`taskfair.build.targets`), and where the config came from.

The config is read from a local Hugging Face folder (``config.json``), a bundle's
``base/``, the packaged MiniLM, the local hub cache, or else from :data:`KNOWN_SHAPES`:
the published shapes of the models the recipes in ``configs/recipes/`` name, copied
from each model's ``config.json`` on the Hugging Face hub (the fields that set tensor
shapes), so the planner works offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from taskfair.build.targets import detect_head_modules, detect_lora_targets, find_blocks
from taskfair.errors import ModelLoadError
from taskfair.models import KNOWN_MODELS

__all__ = ["KNOWN_SHAPES", "ModelTensors", "model_config", "model_tensors", "numel", "tensors_of"]

#: ``hub id -> (model_type, config fields)``: the fields of each model's published
#: ``config.json`` (Hugging Face hub) that set its tensors' shapes. Aliases in
#: :data:`_ALIASES`.
KNOWN_SHAPES: dict[str, tuple[str, dict]] = {
    "meta-llama/Llama-2-7b-hf": (
        "llama",
        {
            "hidden_size": 4096,
            "intermediate_size": 11008,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 32,
            "vocab_size": 32000,
            "max_position_embeddings": 4096,
            "tie_word_embeddings": False,
        },
    ),
    "Qwen/Qwen2.5-0.5B": (
        "qwen2",
        {
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "vocab_size": 151936,
            "max_position_embeddings": 32768,
            "tie_word_embeddings": True,
        },
    ),
    "distilbert-base-uncased": (
        "distilbert",
        {
            "dim": 768,
            "hidden_dim": 3072,
            "n_layers": 6,
            "n_heads": 12,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
        },
    ),
    "sentence-transformers/all-MiniLM-L6-v2": (
        "bert",
        {
            "hidden_size": 384,
            "intermediate_size": 1536,
            "num_hidden_layers": 6,
            "num_attention_heads": 12,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
            "type_vocab_size": 2,
        },
    ),
}
_ALIASES = {
    "llama-2-7b": "meta-llama/Llama-2-7b-hf",
    "qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B",
    "distilbert": "distilbert-base-uncased",
    "distilbert/distilbert-base-uncased": "distilbert-base-uncased",
}


@dataclass
class ModelTensors:
    """Every float tensor a model's state dict holds (``{key: shape}``, in state-dict
    order), the modules a build's LoRA would adapt and train fully, the block stack
    (``(module name, count)``, what ``train_layers: top-N`` counts) and the config's source."""

    name: str
    model_type: str
    shapes: dict[str, tuple[int, ...]]
    lora_targets: list[str] = field(default_factory=list)
    head_modules: list[str] = field(default_factory=list)
    blocks: tuple[str, int] | None = None
    source: str = ""

    def trained(self, layers: int | None) -> set[str]:
        """The keys a run with ``train_layers: top-layers`` changes (None: all), by the
        rule of :func:`taskfair.build.targets.freeze_for`: the top blocks and everything
        after the stack train, everything before it stays frozen."""
        keys = list(self.shapes)
        if layers is None or self.blocks is None:
            return set(keys)
        prefix, count = self.blocks
        inside = [i for i, k in enumerate(keys) if k.startswith(prefix + ".")]
        last = inside[-1] if inside else -1
        out = set()
        for i, k in enumerate(keys):
            if k.startswith(prefix + "."):
                if int(k[len(prefix) + 1 :].split(".", 1)[0]) >= count - layers:
                    out.add(k)
            elif i > last:
                out.add(k)
        return out

    @property
    def num_params(self) -> int:
        return sum(numel(s) for s in self.shapes.values())


def numel(shape) -> int:
    """Entries of a tensor of ``shape``."""
    n = 1
    for d in shape:
        n *= int(d)
    return n


def model_config(name: str):
    """``(transformers config, where it came from)`` for a folder, a bundle, a packaged
    or table name, or a hub id in the local cache; a clear error otherwise."""
    # transformers: heavy to import (seconds); only this command needs its configs here.
    from transformers import CONFIG_MAPPING, AutoConfig

    path = Path(name)
    if (path / "base" / "config.json").is_file():  # a bundle
        path = path / "base"
    if name in KNOWN_MODELS and "resolve" in KNOWN_MODELS[name]:
        path = Path(KNOWN_MODELS[name]["resolve"]())
    if (path / "config.json").is_file():
        return AutoConfig.from_pretrained(str(path), trust_remote_code=False), f"{path}/config.json"
    hub = _ALIASES.get(name.lower(), name)
    if hub in KNOWN_SHAPES:
        model_type, fields = KNOWN_SHAPES[hub]
        cfg = CONFIG_MAPPING[model_type](**fields)
        return cfg, f"taskfair.plan.shapes.KNOWN_SHAPES[{hub!r}] (from its config.json on the hub)"
    try:
        cfg = AutoConfig.from_pretrained(hub, trust_remote_code=False, local_files_only=True)
        return cfg, f"{hub} (local hub cache)"
    except (OSError, ValueError):
        pass
    known = ", ".join([*KNOWN_SHAPES, *_ALIASES])
    raise ModelLoadError(
        f"No configuration for {name!r}: give a local Hugging Face folder or a bundle, or one "
        f"of {known}."
    )


def model_tensors(name: str, num_labels: int = 2) -> ModelTensors:
    """The tensors of ``name``'s two-class sequence classifier (see the module docstring)."""
    # transformers: heavy to import (seconds); only this command needs its Auto classes.
    from transformers import AutoModelForSequenceClassification

    cfg, source = model_config(name)
    cfg.num_labels = num_labels
    if getattr(cfg, "pad_token_id", None) is None:
        cfg.pad_token_id = 0  # decoders need one to pool; its value does not change a shape
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(cfg)
    return tensors_of(model, name, source)


def tensors_of(model: torch.nn.Module, name: str = "", source: str = "") -> ModelTensors:
    """:class:`ModelTensors` of a model in hand (on any device, ``meta`` included)."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if v.is_floating_point()}
    try:
        targets = detect_lora_targets(model)
    except ValueError:
        targets = []
    config = getattr(model, "config", None)
    return ModelTensors(
        name=name or type(model).__name__,
        model_type=getattr(config, "model_type", type(model).__name__),
        shapes=shapes,
        lora_targets=targets,
        head_modules=detect_head_modules(model, required=False),
        blocks=find_blocks(model),
        source=source or "the model in hand",
    )
