"""Hugging Face classifiers, text and image: detect a folder's modality, load a
pretrained backbone with a two-class head, seed that new head, reload a saved base, and
load the processor (tokenizer or image processor) that goes with it.

Weights come from safetensors only (``use_safetensors=True``) and ``trust_remote_code``
is never set. transformers is imported inside the functions that call it: importing its
Auto classes takes seconds, and most users of :mod:`taskfair.models` (the evaluator on an
EfficientNet bundle, the read-only viewer, the previews) never load a Hugging Face model.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from taskfair.models.preprocessing import HFImagePreprocessor

__all__ = [
    "align_pad_token",
    "guess_modality",
    "is_image_folder",
    "load_pretrained",
    "load_processor",
    "load_saved",
    "seed_new_head_",
]


def is_image_folder(path: Path) -> bool:
    """Whether a local Hugging Face folder holds an image model (an image processor
    config and no tokenizer files)."""
    has_tok = any(
        (path / f).exists() for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")
    )
    return (path / "preprocessor_config.json").exists() and not has_tok


def guess_modality(path: str) -> str:
    """``"image"`` when the config at ``path`` (folder or hub id) describes an image
    model (it has ``image_size`` and ``num_channels``), else ``"text"``."""
    # transformers: heavy to import (seconds); only a Hugging Face model needs it.
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(path, trust_remote_code=False)
    except OSError:
        return "text"  # the load that follows raises the clear error
    return "image" if hasattr(cfg, "image_size") and hasattr(cfg, "num_channels") else "text"


def load_pretrained(
    path: str, modality: str, num_labels: int, attn_implementation: str | None
) -> tuple[torch.nn.Module, list[str]]:
    """A pretrained sequence (``modality == "text"``) or image classifier with a new
    ``num_labels`` head, and the state-dict keys the checkpoint did not provide (the new
    head's, to be seeded by :func:`seed_new_head_`)."""
    # transformers: heavy to import (seconds); only a Hugging Face model needs it.
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    kwargs = {
        "num_labels": num_labels,
        "trust_remote_code": False,
        "use_safetensors": True,
        "output_loading_info": True,
    }
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if modality == "image":
        # An ImageNet checkpoint's 1000-class head does not fit: replace it, do not fail.
        model, info = AutoModelForImageClassification.from_pretrained(
            path, ignore_mismatched_sizes=True, **kwargs
        )
        missing = list(info.get("missing_keys", []))
        return model, missing + [k for k, *_ in info.get("mismatched_keys", [])]
    model, info = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    if getattr(model.config, "pad_token_id", None) is None:
        # Decoder-only classifiers pool on the last non-pad token: they need a pad id.
        model.config.pad_token_id = getattr(model.config, "eos_token_id", None) or 0
    return model, list(info.get("missing_keys", []))


def align_pad_token(model: torch.nn.Module, processor) -> None:
    """Make the model's ``pad_token_id`` the tokenizer's, in place.

    A decoder classifier (Qwen2, Llama) pools the last token that is not the config's
    pad id, while the rows are padded with the tokenizer's: the two must be one id, or
    the pooled token is a pad (or a real token is taken for one). Encoders ignore it."""
    pad = getattr(processor, "pad_token_id", None)
    config = getattr(model, "config", None)
    if pad is not None and config is not None and getattr(config, "pad_token_id", None) != pad:
        config.pad_token_id = int(pad)


def seed_new_head_(model: torch.nn.Module, missing_keys: list[str], seed: int) -> None:
    """Re-initialise, in place, the modules whose parameters the checkpoint did not
    provide (the new head) from a private generator seeded with ``seed``: weights
    ``N(0, initializer_range²)`` (the config's, 0.02 by default), biases 0, 1-D weights
    (a LayerNorm inside a head) 1. Independent of the global RNG, so every fine-tune of a
    base starts from the same head."""
    std = getattr(model.config, "initializer_range", 0.02)
    prefixes = {k.rsplit(".", 1)[0] for k in missing_keys}
    mods = dict(model.named_modules())
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for prefix in sorted(prefixes):
            if prefix not in mods:
                continue
            for name, p in mods[prefix].named_parameters(recurse=False):
                if name == "bias":
                    p.zero_()
                elif p.dim() >= 2:
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
                else:  # e.g. a LayerNorm weight inside a head
                    p.fill_(1.0)


def load_saved(
    base: str | os.PathLike,
    modality: str,
    attn_implementation: str | None,
    dtype: torch.dtype | None = None,
) -> torch.nn.Module:
    """The classifier a base folder holds (written by ``save_pretrained``), head included.

    ``dtype``: convert while reading (transformers reads safetensors through its memory
    map, tensor by tensor), so a bf16 model of an fp32 folder never exists in fp32."""
    # transformers: heavy to import (seconds); only a Hugging Face model needs it.
    import transformers
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    auto = (
        AutoModelForImageClassification
        if modality == "image"
        else AutoModelForSequenceClassification
    )
    kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if dtype is not None:
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        # transformers renamed torch_dtype to dtype in 4.56.
        kw["dtype" if (major, minor) >= (4, 56) else "torch_dtype"] = dtype
    return auto.from_pretrained(base, trust_remote_code=False, use_safetensors=True, **kw)


def load_processor(path: str | os.PathLike, modality: str):
    """The tokenizer (``modality == "text"``; a pad token is set when the model has none)
    or the image processor, as an :class:`HFImagePreprocessor`, saved at ``path``."""
    if modality != "text":
        return HFImagePreprocessor.from_pretrained(path)
    # transformers: heavy to import (seconds); only a Hugging Face model needs it.
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok
