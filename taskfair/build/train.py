"""Training loops: full fine-tuning (all rows or one subgroup's rows) and LoRA.

Every run starts from a deep copy of the *same* base model (classification head
included), so that ``tau = theta_ft - theta_0`` carries what the data taught and not the
difference of two random heads. Runs are reproducible: a seeded ``torch.Generator``
fixes the data order and ``torch.manual_seed(seed)`` the dropout masks and LoRA's
initialisation.

Epoch (checkpoint) selection uses validation rows only: the caller passes them and
never passes test rows. Each run returns the fine-tuned model (kept in memory, so
callers and tests can compare it with ``base + tau``) and a JSON-able training log.

Inputs are prepared once with :func:`taskfair.evaluate.encode`; the loops only use the
encoded objects' ``batches()``, so text and image models train the same way.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from taskfair.errors import TrainError
from taskfair.evaluate import EncodedImages, EncodedText, predict_encoded
from taskfair.models import logits_of
from taskfair.progress import Progress, report

__all__ = [
    "Rows",
    "HParams",
    "LoraHParams",
    "TrainResult",
    "TrainError",
    "ATTENTION_FAMILIES",
    "CONV_FAMILIES",
    "HEAD_NAMES",
    "finetune",
    "lora_finetune",
    "detect_lora_targets",
    "detect_head_modules",
    "find_blocks",
    "freeze_for",
    "evaluate_rows",
    "subset_encoded",
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
# lukemelas naming that taskfair.vision keeps). Depthwise convs are left alone.
CONV_FAMILIES: tuple[tuple[str, ...], ...] = (("_expand_conv", "_project_conv"),)
# Classification heads: new, randomly (seeded) initialised modules that must train in LoRA
# (``_fc``: EfficientNet's).
HEAD_NAMES: tuple[str, ...] = ("pre_classifier", "classifier", "score", "_fc")


@dataclass
class Rows:
    """Encoded inputs with their labels: ``labels`` int64 ``(n,)`` in {0, 1}."""

    encoded: EncodedText | EncodedImages
    labels: np.ndarray
    description: str = ""

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.encoded):
            raise TrainError(
                f"{len(self.encoded)} encoded rows but {len(self.labels)} labels ({self.description})."
            )

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class HParams:
    """Optimisation settings shared by all runs. ``train_layers``: ``None`` trains
    everything, ``N`` the top N blocks plus everything above them (0: head only)."""

    lr: float = 5e-5
    epochs: int = 1
    batch_size: int = 32
    eval_batch_size: int = 64
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    train_layers: int | None = None
    log_every: int = 5


@dataclass(frozen=True)
class LoraHParams:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: str | tuple[str, ...] = "auto"
    modules_to_save: str | tuple[str, ...] = "auto"


@dataclass
class TrainResult:
    """``model``: the fine-tuned model in eval mode (a LoRA run returns the merged model,
    same architecture and keys as the base); ``log``: JSON-able training log."""

    model: torch.nn.Module
    log: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- evaluation


def evaluate_rows(model: torch.nn.Module, rows: Rows, batch_size: int = 64) -> dict:
    """Accuracy and mean cross-entropy of ``model`` on ``rows`` (argmax; ties go to 0)."""
    if len(rows) == 0:
        return {"accuracy": None, "loss": None, "n": 0}
    logits = predict_encoded(model, rows.encoded, batch_size).logits.astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(-logp[np.arange(len(rows)), rows.labels].mean())
    acc = float((logits.argmax(axis=1) == rows.labels).mean())
    return {"accuracy": acc, "loss": loss, "n": len(rows)}


# --------------------------------------------------------------------------- what trains


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
    linear_types: tuple[type, ...] = (torch.nn.Linear,)
    try:
        from transformers.pytorch_utils import Conv1D

        linear_types = (*linear_types, Conv1D)
    except ImportError:  # pragma: no cover
        pass
    heads = set(detect_head_modules(model, required=False))

    def leaves(types: tuple[type, ...], pointwise: bool = False) -> set[str]:
        return {
            name.rsplit(".", 1)[-1]
            for name, mod in model.named_modules()
            if isinstance(mod, types)
            and not any(name == h or name.startswith(h + ".") for h in heads)
            and (not pointwise or (mod.kernel_size == (1, 1) and mod.groups == 1))
        }

    linear = leaves(linear_types)
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


# --------------------------------------------------------------------------- batching


def subset_encoded(encoded, idx: np.ndarray):
    """The rows ``idx`` (positions) of an encoded object, as the same type."""
    if isinstance(encoded, EncodedText):
        return EncodedText(
            ids=[encoded.ids[i] for i in idx], pad_id=encoded.pad_id, max_length=encoded.max_length
        )
    if isinstance(encoded, EncodedImages):
        return encoded.subset(idx)
    raise TypeError(f"Cannot train on {type(encoded).__name__}; use taskfair.evaluate.encode().")


def _epoch_batches(
    encoded, n: int, batch_size: int, gen: torch.Generator, bucket: int = 16
) -> list[np.ndarray]:
    """Row-index batches for one epoch: a seeded shuffle, then (text) sorting within
    windows of ``bucket`` batches by length so little compute goes to padding, then a
    seeded shuffle of the batch order so lengths do not trend through the epoch."""
    perm = torch.randperm(n, generator=gen).numpy()
    lengths = getattr(encoded, "lengths", None)
    batches = []
    window = batch_size * bucket
    for start in range(0, n, window):
        chunk = perm[start : start + window]
        if lengths is not None:
            chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    order = torch.randperm(len(batches), generator=gen).numpy()
    return [batches[i] for i in order]


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    # Standard practice: no weight decay on biases and normalisation weights.
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


# --------------------------------------------------------------------------- the loop


def _train_loop(
    model: torch.nn.Module,
    train: Rows,
    val: Rows,
    select: Rows | None,
    hp: HParams,
    lr: float,
    epochs: int,
    seed: int,
    progress: Progress | None,
    label: str,
) -> dict:
    """Train ``model``'s trainable parameters in place; restore the best epoch by
    validation accuracy on ``select`` (or ``val``); return the log fields."""
    if len(train) == 0:
        raise TrainError(f"{label}: no training rows.")
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optim = torch.optim.AdamW(_param_groups(model, hp.weight_decay), lr=lr)
    steps_per_epoch = math.ceil(len(train) / hp.batch_size)
    total_steps = steps_per_epoch * epochs
    warmup = int(round(hp.warmup_ratio * total_steps))

    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
    loss_fn = torch.nn.CrossEntropyLoss()
    labels_all = torch.as_tensor(np.array(train.labels, dtype=np.int64))
    select_rows = select if select is not None else val
    curve, epoch_logs = [], []
    best = {"key": None, "epoch": 0, "state": None}
    restore_bn = _raise_bn_momentum(model)
    # The chosen epoch's weights and its batch-norm statistics (float buffers) go together.
    kept = trainable + [(n, b) for n, b in model.named_buffers() if torch.is_floating_point(b)]
    done_rows, step, window = 0, 0, []
    total_rows = len(train) * epochs
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        _freeze_frozen_norms(model)
        epoch_losses = []
        for idx in _epoch_batches(train.encoded, len(train), hp.batch_size, gen):
            local, inputs = subset_encoded(train.encoded, idx).batches(len(idx))[0]
            rows = idx[local]
            inputs = {k: v.to(device) for k, v in inputs.items()}
            y = labels_all[rows].to(device)
            loss = loss_fn(logits_of(model(**inputs)).float(), y)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in trainable], hp.max_grad_norm)
            optim.step()
            sched.step()
            step += 1
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainError(
                    f"{label}: the loss became {value} at step {step}; lower lr (now {lr})."
                )
            window.append(value)
            epoch_losses.append(value)
            done_rows += len(idx)
            if step % hp.log_every == 0 or step == total_steps:
                curve.append(
                    {
                        "step": step,
                        "epoch": epoch,
                        "examples": done_rows,
                        "loss": float(np.mean(window)),
                        "lr": float(sched.get_last_lr()[0]),
                    }
                )
                window = []
            report(
                progress,
                done_rows,
                total_rows,
                f"{label} · epoch {epoch}/{epochs} · loss {value:.3f}",
            )
        val_m = evaluate_rows(model, val, hp.eval_batch_size)
        sel_m = val_m if select is None else evaluate_rows(model, select, hp.eval_batch_size)
        entry = {
            "epoch": epoch,
            "train_loss": float(np.mean(epoch_losses)),
            "val_accuracy": val_m["accuracy"],
            "val_loss": val_m["loss"],
            "select_accuracy": sel_m["accuracy"],
            "select_loss": sel_m["loss"],
            "seconds": round(time.perf_counter() - t0, 3),
        }
        epoch_logs.append(entry)
        # Higher validation accuracy wins; ties go to the lower validation loss.
        key = (sel_m["accuracy"], -sel_m["loss"]) if sel_m["accuracy"] is not None else (epoch, 0)
        if best["key"] is None or key > best["key"]:
            best["key"], best["epoch"] = key, epoch
            if epoch < epochs:  # the last epoch's weights are already in the model
                best["state"] = {n: p.detach().clone() for n, p in kept}
            else:
                best["state"] = None
    if best["state"] is not None:
        with torch.no_grad():
            for n, p in kept:
                p.copy_(best["state"][n])
    restore_bn()
    model.eval()
    return {
        "loss_curve": curve,
        "epochs": epoch_logs,
        "chosen_epoch": best["epoch"],
        "selection": (
            f"highest accuracy on {select_rows.description or 'the validation rows'} "
            f"({len(select_rows)} rows; ties: lower loss); the test split is never used"
        ),
        "steps": step,
        "lr": lr,
        "epochs_run": epochs,
    }


#: Batch-norm momentum while fine-tuning. TF-trained CNNs (EfficientNet-Lite0) ship 0.01
#: (TF's decay 0.99), made for hundreds of thousands of steps: after the few dozen steps
#: of a fine-tune the running statistics would still be mostly ImageNet's while the
#: weights adapted to the new data's batch statistics, and evaluation (which uses the
#: running statistics) would match neither. 0.1 (PyTorch's default) follows the data
#: within a few dozen steps. The model's own value is restored after training.
FINETUNE_BN_MOMENTUM = 0.1


def _raise_bn_momentum(model: torch.nn.Module):
    """Set trainable batch-norm layers' momentum to at least :data:`FINETUNE_BN_MOMENTUM`;
    return a function that restores the previous values."""
    saved = []
    for mod in model.modules():
        if (
            isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)
            and mod.momentum is not None
            and any(p.requires_grad for p in mod.parameters(recurse=False))
        ):
            saved.append((mod, mod.momentum))
            mod.momentum = max(mod.momentum, FINETUNE_BN_MOMENTUM)

    def restore() -> None:
        for mod, momentum in saved:
            mod.momentum = momentum

    return restore


def _freeze_frozen_norms(model: torch.nn.Module) -> None:
    """Keep batch-norm layers whose parameters do not train in eval mode.

    In train mode a batch-norm layer normalises with the batch's statistics and updates
    its running statistics even when its weights are frozen, so a "top-N" fine-tune
    (or LoRA) would still move every frozen layer's statistics and the task vector would
    not be zero outside what trains. Layers that train keep train mode: their running
    statistics change and are part of the vector (float buffers; ``num_batches_tracked``
    is an integer and skipped).
    """
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            params = list(mod.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                mod.eval()


def _count(model: torch.nn.Module) -> tuple[int, int]:
    ps = list(model.parameters())
    return sum(p.numel() for p in ps if p.requires_grad), sum(p.numel() for p in ps)


def finetune(
    base_model: torch.nn.Module,
    train: Rows,
    val: Rows,
    hp: HParams,
    *,
    seed: int,
    select: Rows | None = None,
    progress: Progress | None = None,
    label: str = "fine-tune",
) -> TrainResult:
    """Fine-tune a deep copy of ``base_model`` on ``train`` (all rows, or one subgroup's).

    ``val``: validation rows, evaluated after every epoch; ``select`` (default ``val``)
    picks the epoch kept (a subgroup run selects on its own group's validation rows).
    ``base_model`` is not modified.
    """
    t0 = time.perf_counter()
    torch.manual_seed(int(seed))  # dropout masks
    model = copy.deepcopy(base_model)
    trained = freeze_for(model, hp.train_layers)
    n_train, n_total = _count(model)
    log = _train_loop(model, train, val, select, hp, hp.lr, hp.epochs, seed, progress, label)
    for p in model.parameters():
        p.requires_grad_(False)
    log.update(
        method="full fine-tuning",
        hparams=asdict(hp),
        rows={"train": len(train), "val": len(val), "select": len(select or val)},
        trainable_params=n_train,
        total_params=n_total,
        trained_tensors=len(trained),
        seconds=round(time.perf_counter() - t0, 3),
    )
    return TrainResult(model=model, log=log)


def _resolve(value, detect) -> list[str]:
    return detect() if value == "auto" else list(value)


def lora_finetune(
    base_model: torch.nn.Module,
    train: Rows,
    val: Rows,
    hp: HParams,
    lora: LoraHParams,
    *,
    seed: int,
    lr: float | None = None,
    epochs: int | None = None,
    progress: Progress | None = None,
    label: str = "lora",
) -> TrainResult:
    """LoRA (peft) on a deep copy of ``base_model``, merged back with ``merge_and_unload``.

    Adapters go on the attention projections (:func:`detect_lora_targets` or
    ``lora.target_modules``); the classification head trains fully
    (``modules_to_save``). The returned model has the base's architecture and keys, so
    ``merged - base`` is an ordinary task vector.
    """
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    t0 = time.perf_counter()
    model = copy.deepcopy(base_model)
    for p in model.parameters():
        p.requires_grad_(False)
    targets = _resolve(lora.target_modules, lambda: detect_lora_targets(model))
    heads = _resolve(lora.modules_to_save, lambda: detect_head_modules(model))
    torch.manual_seed(int(seed))  # LoRA A-matrix initialisation, then dropout masks
    cfg = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=targets,
        modules_to_save=heads,
        bias="none",
    )
    try:
        with warnings.catch_warnings():
            # peft calls a transformers helper that transformers 5 marks deprecated.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            peft_model = get_peft_model(model, cfg)
    except ValueError as exc:
        raise TrainError(
            f"LoRA could not be applied (target_modules={targets}, modules_to_save={heads}): "
            f"{exc}. Name the modules in the config: lora: {{target_modules: [...]}}."
        ) from exc
    n_train, n_total = _count(peft_model)
    lr = hp.lr if lr is None else lr
    epochs = hp.epochs if epochs is None else epochs
    log = _train_loop(peft_model, train, val, None, hp, lr, epochs, seed, progress, label)
    merged = peft_model.merge_and_unload()
    for p in merged.parameters():
        p.requires_grad_(False)
    merged.eval()
    log.update(
        method="LoRA (peft), merged into the base with merge_and_unload",
        hparams={**asdict(hp), "lr": lr, "epochs": epochs},
        lora={**asdict(lora), "target_modules": targets, "modules_to_save": heads},
        rows={"train": len(train), "val": len(val), "select": len(val)},
        trainable_params=n_train,
        total_params=n_total,
        seconds=round(time.perf_counter() - t0, 3),
    )
    return TrainResult(model=merged, log=log)
