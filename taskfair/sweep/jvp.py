"""Forward-mode derivatives of a model's logits along a task vector (for first-order previews).

``d logits / d t`` of ``model(θ + t τ)`` at ``t = 0`` is one JVP per batch
(``torch.func.jvp``), about 3.4 forward passes. Two things stand in its way and are
handled here, on the caller's private working model under its merger's lock:

* forward-mode AD is not implemented for the SDPA attention kernel on CPU, so a
  transformers model is switched to eager attention for the duration;
* ``torch.batch_norm`` has no forward-mode derivative with respect to the running
  statistics, which a CNN's vectors move: eval-mode batch norm is written out as the
  affine map it is.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch.func import functional_call
from torch.func import jvp as torch_jvp

from taskfair.inference import model_inputs
from taskfair.models import logits_of

__all__ = ["differentiable_batchnorm", "jvp_logits", "switch_to_eager"]


def switch_to_eager(model) -> str | None:
    """Switch a transformers model to eager attention; return the previous setting."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if current in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        return None
    model.set_attn_implementation("eager")
    return current


def jvp_logits(model, encoded, vector, batch_size: int) -> np.ndarray:
    """``d logits / d t`` of ``model(θ + t τ)`` at ``t = 0``, ``(n, 2)`` in row order."""
    state = dict(model.named_parameters())
    state.update(dict(model.named_buffers()))
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    keys = [k for k in vector.tensors if k in state]
    primals = {k: state[k].detach() for k in keys}
    tangents = {k: vector.tensors[k].to(device=device, dtype=primals[k].dtype) for k in keys}
    out = np.empty((len(encoded), 2), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), differentiable_batchnorm(model):
            for idx, inputs in encoded.batches(batch_size):
                inputs = model_inputs(inputs, device, dtype)

                def f(p, inputs=inputs):
                    return logits_of(functional_call(model, p, args=(), kwargs=inputs))

                _, tangent = torch_jvp(f, (primals,), (tangents,))
                out[idx] = tangent.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


@contextlib.contextmanager
def differentiable_batchnorm(model):
    """Batch-norm layers in eval mode as explicit affine maps, for the duration.

    ``torch.batch_norm`` has no forward-mode derivative with respect to the running
    mean and variance, and a CNN's task vectors move them (they are float buffers of
    the vector). In eval mode batch norm is ``(x - mean) / sqrt(var + eps) * w + b``;
    written out, every term has a JVP. Only this process's private working model is
    patched, under the merger's lock, and the instance attribute is removed afterwards.
    """
    patched = []
    for mod in model.modules():
        if (
            isinstance(mod, torch.nn.modules.batchnorm._BatchNorm)
            and not mod.training
            and mod.running_mean is not None
        ):
            mod.forward = _explicit_bn_forward(mod)
            patched.append(mod)
    try:
        yield
    finally:
        for mod in patched:
            del mod.forward


def _explicit_bn_forward(mod):
    def forward(x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        # Attributes are read at call time: functional_call swaps in the dual tensors.
        y = (x - mod.running_mean.view(shape)) * torch.rsqrt(mod.running_var + mod.eps).view(shape)
        if mod.weight is not None:
            y = y * mod.weight.view(shape) + mod.bias.view(shape)
        return y

    return forward
