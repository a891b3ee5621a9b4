"""Batch-norm layers during a fine-tune: what follows the new data and what stays put.

A task vector must be zero outside what trains, and its batch-norm statistics must match
the weights it was selected with. Two rules give that: frozen batch-norm layers stay in
eval mode (:func:`freeze_frozen_norms`), and trainable ones follow the data quickly
enough for a short fine-tune (:func:`raise_bn_momentum`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["FINETUNE_BN_MOMENTUM", "raise_bn_momentum", "freeze_frozen_norms"]

#: Batch-norm momentum while fine-tuning. TF-trained CNNs (EfficientNet-Lite0) ship 0.01
#: (TF's decay 0.99), made for hundreds of thousands of steps: after the few dozen steps
#: of a fine-tune the running statistics would still be mostly ImageNet's while the
#: weights adapted to the new data's batch statistics, and evaluation (which uses the
#: running statistics) would match neither. 0.1 (PyTorch's default) follows the data
#: within a few dozen steps. The model's own value is restored after training.
FINETUNE_BN_MOMENTUM = 0.1


def raise_bn_momentum(model: torch.nn.Module) -> Callable[[], None]:
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


def freeze_frozen_norms(model: torch.nn.Module) -> None:
    """Keep batch-norm layers whose parameters do not train in eval mode.

    In train mode a batch-norm layer normalises with the batch's statistics and updates
    its running statistics even when its weights are frozen, so a "top-N" fine-tune
    (or LoRA) would still move every frozen layer's statistics and the task vector would
    not be zero outside what trains. Layers that train keep train mode: their running
    statistics change and are part of the vector (float buffers; ``num_batches_tracked``
    is an integer and skipped). Call it after every ``model.train()``.
    """
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            params = list(mod.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                mod.eval()
