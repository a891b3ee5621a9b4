"""Training loops: full fine-tuning (all rows or one subgroup's rows) and LoRA.

Every run starts from a deep copy of the *same* base model (classification head
included), so that ``tau = theta_ft - theta_0`` carries what the data taught and not the
difference of two random heads. Runs are reproducible: a seeded ``torch.Generator``
fixes the data order and ``torch.manual_seed(seed)`` the dropout masks and LoRA's
initialisation.

Epoch (checkpoint) selection uses validation rows only: the caller passes them and
never passes test rows. Each run returns the fine-tuned model (kept in memory, so
callers and tests can compare it with ``base + tau``) and a JSON-able training log.

What trains is decided in :mod:`taskfair.build.targets`, batch-norm layers are handled
by :mod:`taskfair.build.batchnorm`, and the rows come as :class:`~taskfair.build.rows.Rows`.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from taskfair.build.adapters import lora_entries
from taskfair.build.batchnorm import freeze_frozen_norms, raise_bn_momentum
from taskfair.build.rows import Rows, evaluate_rows, subset_encoded
from taskfair.build.targets import (
    detect_head_modules,
    detect_lora_targets,
    freeze_for,
    resolve_modules,
)
from taskfair.errors import TrainError
from taskfair.models import logits_of
from taskfair.progress import Progress, report

__all__ = ["HParams", "LoraHParams", "TrainResult", "finetune", "lora_finetune"]


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
    same architecture and keys as the base); ``log``: JSON-able training log;
    ``factors``: a LoRA run's adapters as compact vector entries by weight key
    (:func:`taskfair.build.adapters.lora_entries`), empty for a full fine-tune."""

    model: torch.nn.Module
    log: dict = field(default_factory=dict)
    factors: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- batching


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


# --------------------------------------------------------------------------- the loop's parts


def _optimizer(
    model: torch.nn.Module, weight_decay: float, lr: float, total_steps: int, warmup: int
):
    """AdamW (no weight decay on biases and normalisation weights, as is standard) with
    a linear warm-up over ``warmup`` steps, then a linear decay to 0 at ``total_steps``."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    optim = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=lr,
    )

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup))

    return optim, torch.optim.lr_scheduler.LambdaLR(optim, schedule)


@dataclass
class _Curve:
    """The logged loss curve: one point per ``every`` steps (and at the last step), the
    mean loss of the steps since the previous point (the window runs across epochs)."""

    every: int
    total_steps: int
    points: list[dict] = field(default_factory=list)
    _window: list[float] = field(default_factory=list)

    def add(self, step: int, epoch: int, examples: int, loss: float, lr: float) -> None:
        self._window.append(loss)
        if step % self.every == 0 or step == self.total_steps:
            self.points.append(
                {
                    "step": step,
                    "epoch": epoch,
                    "examples": examples,
                    "loss": float(np.mean(self._window)),
                    "lr": lr,
                }
            )
            self._window = []


class _BestEpoch:
    """The epoch to keep: the highest accuracy on the selection rows, ties to the lower
    loss. ``kept``: the tensors a chosen epoch restores, its weights with its batch-norm
    statistics (float buffers), which belong together."""

    def __init__(self, kept: list[tuple[str, torch.Tensor]]):
        self.kept = kept
        self.key: tuple | None = None
        self.epoch = 0
        self._state: dict[str, torch.Tensor] | None = None

    def offer(self, epoch: int, scores: dict, last: bool) -> None:
        acc = scores["accuracy"]
        key = (acc, -scores["loss"]) if acc is not None else (epoch, 0)
        if self.key is None or key > self.key:
            self.key, self.epoch = key, epoch
            # The last epoch's weights are already in the model: no copy needed.
            self._state = None if last else {n: p.detach().clone() for n, p in self.kept}

    def restore(self) -> None:
        if self._state is not None:
            with torch.no_grad():
                for n, p in self.kept:
                    p.copy_(self._state[n])


def _step(model, inputs: dict, y: torch.Tensor, optim, sched, params, max_grad_norm) -> float:
    """One optimisation step on one batch; returns the batch's loss."""
    loss = torch.nn.functional.cross_entropy(logits_of(model(**inputs)).float(), y)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optim.step()
    sched.step()
    return float(loss.detach())


def _epoch_end(
    model, val: Rows, select: Rows | None, hp: HParams, epoch: int, losses: list, t0: float
) -> tuple[dict, dict]:
    """An epoch's log entry (its validation and selection scores) and the selection
    scores the kept epoch is chosen by (``select``'s, or ``val``'s without one)."""
    val_m = evaluate_rows(model, val, hp.eval_batch_size)
    sel_m = val_m if select is None else evaluate_rows(model, select, hp.eval_batch_size)
    return {
        "epoch": epoch,
        "train_loss": float(np.mean(losses)),
        "val_accuracy": val_m["accuracy"],
        "val_loss": val_m["loss"],
        "select_accuracy": sel_m["accuracy"],
        "select_loss": sel_m["loss"],
        "seconds": round(time.perf_counter() - t0, 3),
    }, sel_m


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
    trainable = [p for p in model.parameters() if p.requires_grad]
    total_steps = math.ceil(len(train) / hp.batch_size) * epochs
    optim, sched = _optimizer(
        model, hp.weight_decay, lr, total_steps, int(round(hp.warmup_ratio * total_steps))
    )
    labels_all = torch.as_tensor(np.array(train.labels, dtype=np.int64))
    select_rows = select if select is not None else val
    curve, epoch_logs = _Curve(hp.log_every, total_steps), []
    floats = [(n, b) for n, b in model.named_buffers() if torch.is_floating_point(b)]
    best = _BestEpoch([(n, p) for n, p in model.named_parameters() if p.requires_grad] + floats)
    restore_bn = raise_bn_momentum(model)
    done_rows, step, total_rows = 0, 0, len(train) * epochs
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        freeze_frozen_norms(model)
        epoch_losses = []
        for idx in _epoch_batches(train.encoded, len(train), hp.batch_size, gen):
            local, inputs = subset_encoded(train.encoded, idx).batches(len(idx))[0]
            inputs = {k: v.to(device) for k, v in inputs.items()}
            y = labels_all[idx[local]].to(device)
            value = _step(model, inputs, y, optim, sched, trainable, hp.max_grad_norm)
            step += 1
            if not math.isfinite(value):
                raise TrainError(
                    f"{label}: the loss became {value} at step {step}; lower lr (now {lr})."
                )
            epoch_losses.append(value)
            done_rows += len(idx)
            curve.add(step, epoch, done_rows, value, float(sched.get_last_lr()[0]))
            report(
                progress,
                done_rows,
                total_rows,
                f"{label} · epoch {epoch}/{epochs} · loss {value:.3f}",
            )
        log, sel_m = _epoch_end(model, val, select, hp, epoch, epoch_losses, t0)
        epoch_logs.append(log)
        best.offer(epoch, sel_m, last=epoch == epochs)
    best.restore()
    restore_bn()
    model.eval()
    return {
        "loss_curve": curve.points,
        "epochs": epoch_logs,
        "chosen_epoch": best.epoch,
        "selection": (
            f"highest accuracy on {select_rows.description or 'the validation rows'} "
            f"({len(select_rows)} rows; ties: lower loss); the test split is never used"
        ),
        "steps": step,
        "lr": lr,
        "epochs_run": epochs,
    }


def _count(model: torch.nn.Module) -> tuple[int, int]:
    ps = list(model.parameters())
    return sum(p.numel() for p in ps if p.requires_grad), sum(p.numel() for p in ps)


# --------------------------------------------------------------------------- the runs


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
    # peft is imported here, not at the top: it takes seconds to import (more than torch
    # itself on a small machine) and only LoRA runs need it, so `import taskfair.build`
    # stays quick for everything else (configs, full fine-tunes, tests of them).
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    t0 = time.perf_counter()
    model = copy.deepcopy(base_model)
    for p in model.parameters():
        p.requires_grad_(False)
    targets = resolve_modules(lora.target_modules, lambda: detect_lora_targets(model))
    heads = resolve_modules(lora.modules_to_save, lambda: detect_head_modules(model))
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
    factors = lora_entries(peft_model)  # before the merge folds them into the weights
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
    return TrainResult(model=merged, log=log, factors=factors)
