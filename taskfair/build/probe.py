"""The ``head_init: probe`` variant: the base's head fitted as a linear probe.

The seeded head of the base is replaced by a logistic regression on the frozen base's
features of the FFT training rows, before any fine-tune starts, so every fine-tune (FFT,
LoRA and each subgroup's) starts from the same fitted head (docs/FINDINGS.md, "Variants").
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from taskfair.build.rows import Rows
from taskfair.build.targets import HEAD_NAMES, detect_head_modules
from taskfair.errors import TrainError
from taskfair.inference import model_inputs

__all__ = ["PROBE_C", "fit_probe_head"]

#: Inverse L2 strength of the linear probe (scikit-learn's ``C``): the default of
#: ``LogisticRegression``; the features are bounded (tanh pooler outputs, pooled CNN
#: activations), so no scaling is applied and the fit maps straight back to the head.
PROBE_C = 1.0


def _output_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The two-class output layer: the last ``nn.Linear`` inside the head modules."""
    mods = dict(model.named_modules())
    last = None
    for name in detect_head_modules(model):
        for sub in mods[name].modules():
            if isinstance(sub, torch.nn.Linear):
                last = sub
    if last is None or last.out_features != 2:
        raise TrainError(
            "head_init: probe needs a two-class nn.Linear output layer in the head "
            f"({', '.join(HEAD_NAMES)}); this {type(model).__name__} has none."
        )
    return last


@torch.no_grad()
def fit_probe_head(
    model: torch.nn.Module, rows: Rows, *, batch_size: int = 64, c: float = PROBE_C
) -> dict:
    """Fit the head's output layer as a logistic regression on the frozen model's features.

    The features are the inputs of the output ``nn.Linear`` (for BERT-style models the
    pooler output) of every row in ``rows``, computed in eval mode. The fitted weight
    ``w`` and intercept ``b`` (scikit-learn, lbfgs, L2 with ``C = c``; deterministic) are
    written in place as ``W = [-w/2, w/2]``, ``bias = [-b/2, b/2]``, so the margin
    ``logit[1] - logit[0]`` is the regression's log-odds of label 1. Returns a JSON-able
    summary (rows, train accuracy, ``C``, weight norm, feature count).
    """
    out_layer = _output_linear(model)
    captured: list[tuple[np.ndarray, torch.Tensor]] = []
    current: dict = {}

    def hook(_module, args):
        current["x"] = args[0].detach().float().cpu()

    param = next(model.parameters())
    was_training = model.training
    model.eval()
    handle = out_layer.register_forward_pre_hook(hook)
    try:
        for idx, inputs in rows.encoded.batches(batch_size):
            model(**model_inputs(inputs, param.device, param.dtype))
            captured.append((idx, current["x"]))
    finally:
        handle.remove()
        model.train(was_training)
    feats = np.empty((len(rows), captured[0][1].shape[1]), dtype=np.float64)
    for idx, x in captured:
        feats[idx] = x.numpy()
    if len(np.unique(rows.labels)) < 2:
        raise TrainError(f"head_init: probe needs both labels in {rows.description}.")
    lr = LogisticRegression(C=c, max_iter=5000)
    lr.fit(feats, rows.labels)
    w = torch.as_tensor(lr.coef_[0], dtype=out_layer.weight.dtype, device=out_layer.weight.device)
    b = float(lr.intercept_[0])
    out_layer.weight.copy_(torch.stack([-w / 2, w / 2]))
    if out_layer.bias is not None:
        out_layer.bias.copy_(torch.tensor([-b / 2, b / 2], dtype=out_layer.bias.dtype))
    elif b != 0.0:  # pragma: no cover - every head in HEAD_NAMES has a bias
        raise TrainError("head_init: probe needs an output layer with a bias.")
    return {
        "rows": len(rows),
        "train_accuracy": float(lr.score(feats, rows.labels)),
        "C": float(c),
        "weight_norm": float(np.linalg.norm(lr.coef_[0])),
        "features": int(feats.shape[1]),
    }
