"""What trains: the block stack, freezing for ``train_layers``, LoRA targets and the head.

Detection reads the modules of the model in hand (names and types), so one config works
across architectures: BERT-style ``query/key/value``, DistilBERT's ``q_lin/...``,
Llama/Qwen2's ``q_proj/...``, GPT-2's ``c_attn`` and, for CNNs without attention,
EfficientNet's pointwise convolutions. Every "cannot tell" raises :class:`TrainError`
naming the config field that settles it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from taskfair.errors import TrainError

__all__ = [
    "ATTENTION_FAMILIES",
    "CONV_FAMILIES",
    "HEAD_NAMES",
    "find_blocks",
    "freeze_for",
    "detect_lora_targets",
    "detect_head_modules",
    "resolve_modules",
]

# Attention projections by architecture family, tried in order: the first family with
# any nn.Linear (or GPT-2 Conv1D) whose last name component matches wins.
ATTENTION_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("query", "key", "value"),  # BERT, RoBERTa, MiniLM, ViT
    ("q_lin", "k_lin", "v_lin"),  # DistilBERT
    ("q_proj", "k_proj", "v_proj", "o_proj"),  # Llama, Qwen2, Mistral, OPT
    ("c_attn",),  # GPT-2 (Conv1D)
    ("qkv",),  # timm-style ViT
)
# 1x1 convolutions LoRA adapts in CNNs when no attention projection exists, by family:
# the expansion and projection of EfficientNet / MobileNet-style MBConv blocks (the
# lukemelas naming that taskfair.models.vision keeps). Depthwise convs are left alone.
CONV_FAMILIES: tuple[tuple[str, ...], ...] = (("_expand_conv", "_project_conv"),)
# Classification heads: new, randomly (seeded) initialised modules that must train in LoRA
# (``_fc``: EfficientNet's).
HEAD_NAMES: tuple[str, ...] = ("pre_classifier", "classifier", "score", "_fc")


def find_blocks(model: torch.nn.Module) -> tuple[str, int] | None:
    """The backbone's stack of blocks: ``(module name, count)`` of the longest
    ``nn.ModuleList`` whose children are all of one class (transformer layers)."""
    best = None
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) > 0:
            kinds = {type(m) for m in mod}
            if len(kinds) == 1 and (best is None or len(mod) > best[1]):
                best = (name, len(mod))
    return best


def freeze_for(model: torch.nn.Module, train_layers: int | None) -> list[str]:
    """Set ``requires_grad`` for ``train_layers`` and return the names that train.

    ``None``: everything. ``N``: the top ``N`` blocks and every parameter registered
    after the block stack (final norm, pooler, head); parameters before the stack
    (embeddings) and lower blocks stay frozen. Position in ``named_parameters`` order
    is what "before/after" means, which holds for transformers' BERT, DistilBERT,
    RoBERTa, Llama, Qwen2 and ViT classes.
    """
    params = list(model.named_parameters())
    if train_layers is None:
        for _, p in params:
            p.requires_grad_(True)
        return [n for n, _ in params]
    blocks = find_blocks(model)
    if blocks is None:
        raise TrainError(
            "train_layers: no stack of blocks (nn.ModuleList) found in this model, so "
            "'top-N' has no meaning; use train_layers: all."
        )
    prefix, count = blocks
    first_trained = max(count - train_layers, 0)
    in_blocks = [i for i, (n, _) in enumerate(params) if n.startswith(prefix + ".")]
    last_block_param = in_blocks[-1] if in_blocks else -1
    trained = []
    for i, (name, p) in enumerate(params):
        if name.startswith(prefix + "."):
            index = int(name[len(prefix) + 1 :].split(".", 1)[0])
            on = index >= first_trained
        else:
            on = i > last_block_param
        p.requires_grad_(on)
        if on:
            trained.append(name)
    if not trained:
        raise TrainError("train_layers left nothing to train; use 'head', 'top-N' or 'all'.")
    return trained


def detect_lora_targets(model: torch.nn.Module) -> list[str]:
    """The module names LoRA should adapt, detected from the modules.

    Scans linear layers (``nn.Linear``, and GPT-2's ``Conv1D``) outside the head for the
    first family of :data:`ATTENTION_FAMILIES` present: ``query/key/value`` (BERT,
    RoBERTa, MiniLM), ``q_lin/k_lin/v_lin`` (DistilBERT), ``q_proj/k_proj/v_proj/o_proj``
    (Llama, Qwen2, and ViT since transformers 5). A CNN without attention falls back to
    the 1×1 ``nn.Conv2d`` families of :data:`CONV_FAMILIES` (EfficientNet's
    ``_expand_conv`` / ``_project_conv``; peft adapts Conv2d with conv LoRA factors).
    Raises :class:`TrainError` when none is found.
    """
    # transformers is imported here, not at the top: importing it takes seconds, which
    # `import taskfair.build` should not cost a user who only reads configs. Its Conv1D
    # (GPT-2's transposed linear) only occurs in models transformers built, and those
    # have loaded it already, so here the import is free.
    from transformers.pytorch_utils import Conv1D

    heads = set(detect_head_modules(model, required=False))

    def leaves(types: tuple[type, ...], pointwise: bool = False) -> set[str]:
        return {
            name.rsplit(".", 1)[-1]
            for name, mod in model.named_modules()
            if isinstance(mod, types)
            and not any(name == h or name.startswith(h + ".") for h in heads)
            and (not pointwise or (mod.kernel_size == (1, 1) and mod.groups == 1))
        }

    linear = leaves((torch.nn.Linear, Conv1D))
    for family in ATTENTION_FAMILIES:
        found = [n for n in family if n in linear]
        if found:
            return found
    convs = leaves((torch.nn.Conv2d,), pointwise=True)
    for family in CONV_FAMILIES:
        found = [n for n in family if n in convs]
        if found:
            return found
    raise TrainError(
        f"No known attention projections or 1x1 convolutions in this {type(model).__name__} "
        f"(linear layers: {sorted(linear)[:8]}, 1x1 convs: {sorted(convs)[:8]}). Name them in "
        "the config: lora: {target_modules: [...]}."
    )


def detect_head_modules(model: torch.nn.Module, required: bool = True) -> list[str]:
    """Full names of the classification-head modules (:data:`HEAD_NAMES`), outermost only."""
    names = [
        name for name, _ in model.named_modules() if name and name.rsplit(".", 1)[-1] in HEAD_NAMES
    ]
    names = [n for n in names if not any(n.startswith(o + ".") for o in names if o != n)]
    if not names and required:
        raise TrainError(
            f"No classification head ({', '.join(HEAD_NAMES)}) found in this "
            f"{type(model).__name__}: name it in the config: lora: {{modules_to_save: [...]}}."
        )
    return names


def resolve_modules(value: str | tuple[str, ...], detect: Callable[[], list[str]]) -> list[str]:
    """A config's module list: ``"auto"`` asks ``detect()``, a tuple of names is kept."""
    return detect() if value == "auto" else list(value)
