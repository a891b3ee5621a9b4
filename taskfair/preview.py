"""Instant previews between exactly evaluated points, and their measured error.

Two previews, both on per-example logits ``(n, 2)`` (class 1 = positive):

* :class:`InterpolationPreview` — for a one-dimensional curve (global λ of task
  addition, or λ of one injected vector): the exact logits at the grid points are kept
  and a new λ is linearly interpolated between its two neighbours. Exact at the grid
  points, O(n) per redraw (microseconds for 10,000 rows).
* :class:`FirstOrderPreview` — for per-vector mixes ``sum_g λ_g τ_g``: a first-order
  expansion around an *exactly evaluated* anchor ``a``:
  ``logits(λ) ≈ logits(a) + sum_g (λ_g - a_g) J_g`` with ``J_g = ∂logits/∂λ_g`` at the
  anchor, one forward-mode JVP per vector (the directional derivative along ``τ_g``).
  The expansion is linear in the direction, so the JVPs are computed once per vector
  and combined for any mix. Taken at the base it is poor far from it; taken at the
  nearest exact point it is good nearby: use :func:`nearest_anchor`.

Metrics of a preview come from :class:`PreviewScorer`, which computes the same numbers
as :func:`taskfair.metrics.fairness_report` (checked against it in the tests) from a
``(group, y, y_pred)`` count table with numpy: fairlearn's ``MetricFrame`` costs about
80 ms per call whatever the row count, which alone would break a 50 ms redraw budget.
Exact points always go through :func:`~taskfair.metrics.fairness_report`.

:func:`measure_error` compares a preview with exact evaluation at held-out points
(share of predictions that agree; accuracy, DPD and EOD deltas).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "FirstOrderPreview",
    "InterpolationPreview",
    "PreviewScorer",
    "measure_error",
    "nearest_anchor",
    "preview_report",
]


# ----------------------------------------------------------------------------- metrics


class PreviewScorer:
    """Fast fairness metrics of many prediction vectors over fixed labels and groups.

    ``labels``: ``(n,)`` 0/1; ``groups``: ``(n,)`` group names, missing = no group (kept
    for accuracy only). Group names are sorted (a pandas Categorical keeps its category
    order), as in :mod:`taskfair.metrics`. Undefined numbers are NaN by the same rules:
    DPD needs two groups with rows; EOD also needs positives and negatives in every
    compared group.
    """

    def __init__(self, labels, groups):
        from taskfair.metrics import _as_groups, _as_labels

        self.y = _as_labels(labels, "labels").astype(np.int64)
        codes, names = _as_groups(groups, len(self.y))
        self.codes, self.names = codes, list(names)
        self._grouped = codes >= 0
        self._base = (codes[self._grouped] * 2 + self.y[self._grouped]) * 2
        self._n_groups = len(self.names)

    def report(self, logits: np.ndarray):
        """A :class:`~taskfair.metrics.FairnessReport` of ``argmax(logits)`` (ties → 0)."""
        return self.report_preds(np.asarray(logits).argmax(axis=1))

    def report_preds(self, preds: np.ndarray):
        from taskfair.metrics import REPORT_COLUMNS, FairnessReport

        preds = np.asarray(preds, dtype=np.int64)
        n, k = len(self.y), self._n_groups
        cells = np.bincount(self._base + preds[self._grouped], minlength=4 * k)
        c = cells.reshape(k, 2, 2).astype(np.float64)  # [group, y, y_pred]
        rows, pos, neg = c.sum(axis=(1, 2)), c[:, 1].sum(axis=1), c[:, 0].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            acc = (c[:, 0, 0] + c[:, 1, 1]) / rows
            sel = (c[:, 0, 1] + c[:, 1, 1]) / rows
            tpr = c[:, 1, 1] / pos
            fpr = c[:, 0, 1] / neg
        present = rows > 0
        dpd, eod = _gaps(sel[present], tpr[present], fpr[present], pos[present], neg[present])
        vs_dpd, vs_eod = np.full(k, math.nan), np.full(k, math.nan)
        tot = c.sum(axis=0)
        for g in range(k):
            rest = tot - c[g]
            sides = [s for s in (c[g], rest) if s.sum() > 0]
            if len(sides) < 2:
                continue
            s = np.stack(sides)
            r, p, q = s.sum(axis=(1, 2)), s[:, 1].sum(axis=1), s[:, 0].sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                vs_dpd[g], vs_eod[g] = _gaps(
                    (s[:, 0, 1] + s[:, 1, 1]) / r, s[:, 1, 1] / p, s[:, 0, 1] / q, p, q
                )
        table = pd.DataFrame(
            {
                "n": rows.astype(np.int64),
                "n_pos": pos.astype(np.int64),
                "n_neg": neg.astype(np.int64),
                "accuracy": acc,
                "selection_rate": sel,
                "tpr": np.where(pos > 0, tpr, math.nan),
                "fpr": np.where(neg > 0, fpr, math.nan),
                "vs_rest_dpd": vs_dpd,
                "vs_rest_eod": vs_eod,
            },
            index=pd.Index(self.names, name="group", dtype=object),
        )[list(REPORT_COLUMNS)]
        present_acc = acc[present]
        return FairnessReport(
            accuracy=float((preds == self.y).mean()) if n else math.nan,
            macro_accuracy=float(present_acc.mean()) if present.any() else math.nan,
            worst_group_accuracy=float(present_acc.min()) if present.any() else math.nan,
            dpd=dpd,
            eod=eod,
            by_group=table,
            n=n,
            n_grouped=int(self._grouped.sum()),
            n_pos=int(self.y.sum()),
            n_neg=int(n - self.y.sum()),
        )


def _gaps(sel, tpr, fpr, pos, neg) -> tuple[float, float]:
    """(DPD, EOD) over the compared sides; NaN where undefined (metrics._guarded's rules)."""
    if len(sel) < 2:
        return math.nan, math.nan
    dpd = float(sel.max() - sel.min())
    if (pos == 0).any() or (neg == 0).any():
        return dpd, math.nan
    return dpd, float(max(tpr.max() - tpr.min(), fpr.max() - fpr.min()))


def preview_report(logits: np.ndarray, labels, groups):
    """The fairness report of a preview's logits ``(n, 2)`` (see :class:`PreviewScorer`)."""
    return PreviewScorer(labels, groups).report(logits)


# ----------------------------------------------------------------------------- interpolation


class InterpolationPreview:
    """Per-example logits along a 1-D curve, linearly interpolated between exact points.

    ``lams``: the exactly evaluated λ values (any order, distinct); ``logits_by_lam``:
    their logits, ``(n, 2)`` each, aligned with ``lams`` (or a dict ``{lam: logits}``).
    ``logits(lam)`` is exact at a grid point and refuses λ outside the grid's range
    (extrapolation has no measured error).
    """

    def __init__(self, lams, logits_by_lam=None):
        if logits_by_lam is None and isinstance(lams, Mapping):
            lams, logits_by_lam = list(lams), list(lams.values())
        elif isinstance(logits_by_lam, Mapping):
            lams = list(logits_by_lam)
            logits_by_lam = [logits_by_lam[k] for k in lams]
        lams = np.asarray(lams, dtype=np.float64)
        if lams.ndim != 1 or len(lams) < 1:
            raise ValueError("InterpolationPreview needs at least one λ.")
        stack = np.stack([np.asarray(x, dtype=np.float32) for x in logits_by_lam])
        if stack.shape[0] != len(lams) or stack.ndim != 3 or stack.shape[2] != 2:
            raise ValueError(
                f"Expected {len(lams)} logit arrays of shape (n, 2); got {stack.shape}."
            )
        order = np.argsort(lams, kind="stable")
        self.lams = lams[order]
        if np.any(np.diff(self.lams) <= 0):
            raise ValueError("λ values of an interpolation preview must be distinct.")
        self._logits = stack[order]

    @property
    def n(self) -> int:
        return int(self._logits.shape[1])

    def logits(self, lam: float) -> np.ndarray:
        """float32 ``(n, 2)`` at ``lam``."""
        lam = float(lam)
        lo, hi = self.lams[0], self.lams[-1]
        if not (lo - 1e-9 <= lam <= hi + 1e-9):
            raise ValueError(f"λ={lam:g} is outside the evaluated range [{lo:g}, {hi:g}].")
        i = int(np.searchsorted(self.lams, lam, side="left"))
        if i < len(self.lams) and abs(self.lams[i] - lam) <= 1e-9:
            return self._logits[i].copy()
        if i == 0:
            return self._logits[0].copy()
        a, b = self.lams[i - 1], self.lams[i]
        w = np.float32((lam - a) / (b - a))
        return (1 - w) * self._logits[i - 1] + w * self._logits[i]

    def neighbours(self, lam: float) -> tuple[float, float]:
        """The exact grid points that bracket ``lam``."""
        i = int(np.clip(np.searchsorted(self.lams, float(lam)), 1, len(self.lams) - 1))
        return float(self.lams[i - 1]), float(self.lams[i])


# ----------------------------------------------------------------------------- first order


class FirstOrderPreview:
    """``logits(a) + sum_g (λ_g - a_g) J_g`` around an exactly evaluated anchor ``a``.

    Coefficients here are *effective* (what the merger applies, "mean" already divided;
    see :func:`taskfair.sweep.effective_coeffs`). ``anchor_logits`` ``(n, 2)``;
    ``jvps[g]`` ``(n, 2)``: the derivative of the logits along ``τ_g`` at the anchor.
    """

    def __init__(
        self,
        anchor: Mapping[str, float],
        anchor_logits: np.ndarray,
        jvps: Mapping[str, np.ndarray],
    ):
        self.anchor = {k: float(v) for k, v in anchor.items()}
        self.anchor_logits = np.asarray(anchor_logits, dtype=np.float32)
        self.jvps = {k: np.asarray(v, dtype=np.float32) for k, v in jvps.items()}
        for k, v in self.jvps.items():
            if v.shape != self.anchor_logits.shape:
                raise ValueError(
                    f"JVP of {k!r} has shape {v.shape}, logits {self.anchor_logits.shape}."
                )

    @property
    def names(self) -> list[str]:
        return list(self.jvps)

    def delta(self, coeffs: Mapping[str, float]) -> dict[str, float]:
        """``λ - a`` per vector (vectors not named are at 0); refuses directions without a JVP."""
        names = set(coeffs) | set(self.anchor)
        out = {n: float(coeffs.get(n, 0.0)) - self.anchor.get(n, 0.0) for n in names}
        missing = [n for n, d in out.items() if d != 0.0 and n not in self.jvps]
        if missing:
            raise ValueError(f"No JVP for {missing} at this anchor: the preview cannot move them.")
        return out

    def logits(self, coeffs: Mapping[str, float]) -> np.ndarray:
        """float32 ``(n, 2)`` at the effective coefficients ``coeffs``."""
        out = self.anchor_logits.copy()
        for n, d in self.delta(coeffs).items():
            if d != 0.0:
                out += np.float32(d) * self.jvps[n]
        return out

    @classmethod
    def build(
        cls,
        evaluator,
        anchor: Mapping[str, float],
        split: str,
        normalize: str = "sum",
        names: Sequence[str] | None = None,
        progress=None,
    ) -> FirstOrderPreview:
        """Evaluate ``anchor`` exactly and one JVP per vector in ``names`` (default: all).

        ``evaluator`` is a :class:`taskfair.sweep.Evaluator`. Forward-mode AD is not
        implemented for the SDPA attention kernel on CPU, so the model is switched to
        eager attention for the JVPs (and back), under the merger's lock. One JVP costs
        about 3.4 forward passes. The anchor logits are the exact (SDPA) ones.
        """
        from taskfair.progress import report
        from taskfair.sweep import effective_coeffs

        names = list(evaluator.names if names is None else names)
        anchor_logits = evaluator.logits(anchor, split, normalize)
        effective = effective_coeffs(anchor, normalize)
        encoded = evaluator.encoded(split)
        jvps = {}
        with evaluator.merger.merged(anchor, normalize) as model:
            previous = _switch_to_eager(model)
            try:
                for i, n in enumerate(names):
                    jvps[n] = _jvp_logits(
                        model, encoded, evaluator.vectors[n], evaluator.batch_size
                    )
                    report(progress, i + 1, len(names), f"JVP along {n}")
            finally:
                if previous is not None:
                    model.set_attn_implementation(previous)
        return cls(effective, anchor_logits, jvps)


def _switch_to_eager(model) -> str | None:
    """Switch a transformers model to eager attention; return the previous setting."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if current in (None, "eager") or not hasattr(model, "set_attn_implementation"):
        return None
    model.set_attn_implementation("eager")
    return current


def _jvp_logits(model, encoded, vector, batch_size: int) -> np.ndarray:
    """``d logits / d t`` of ``model(θ + t τ)`` at ``t = 0``, ``(n, 2)`` in row order."""
    import torch
    from torch.func import functional_call, jvp

    from taskfair.evaluate import model_inputs
    from taskfair.models import logits_of

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
        with torch.no_grad(), _differentiable_batchnorm(model):
            for idx, inputs in encoded.batches(batch_size):
                inputs = model_inputs(inputs, device, dtype)

                def f(p, inputs=inputs):
                    return logits_of(functional_call(model, p, args=(), kwargs=inputs))

                _, tangent = jvp(f, (primals,), (tangents,))
                out[idx] = tangent.float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


@contextlib.contextmanager
def _differentiable_batchnorm(model):
    """Batch-norm layers in eval mode as explicit affine maps, for the duration.

    ``torch.batch_norm`` has no forward-mode derivative with respect to the running
    mean and variance, and a CNN's task vectors move them (they are float buffers of
    the vector). In eval mode batch norm is ``(x - mean) / sqrt(var + eps) * w + b``;
    written out, every term has a JVP. Only this process's private working model is
    patched, under the merger's lock, and the instance attribute is removed afterwards.
    """
    import torch

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
    import torch

    def forward(x):
        shape = (1, -1) + (1,) * (x.ndim - 2)
        # Attributes are read at call time: functional_call swaps in the dual tensors.
        y = (x - mod.running_mean.view(shape)) * torch.rsqrt(mod.running_var + mod.eps).view(shape)
        if mod.weight is not None:
            y = y * mod.weight.view(shape) + mod.bias.view(shape)
        return y

    return forward


def nearest_anchor(
    coeffs: Mapping[str, float],
    anchors: Sequence[Mapping[str, float]],
    names: Sequence[str] | None = None,
    gram: np.ndarray | None = None,
) -> int:
    """Index of the anchor closest to ``coeffs`` in parameter space.

    With ``gram`` (``<τ_g, τ_h>`` over ``names``, see :func:`taskfair.analysis.gram_matrix`)
    the distance is ``‖sum_g (λ_g - a_g) τ_g‖``; without it, Euclidean in coefficients.
    """
    if not anchors:
        raise ValueError("No anchors to choose from.")
    names = sorted(set(coeffs).union(*anchors)) if names is None else list(names)
    lam = np.array([coeffs.get(n, 0.0) for n in names])
    best, best_d = 0, math.inf
    for i, a in enumerate(anchors):
        d = lam - np.array([a.get(n, 0.0) for n in names])
        dist = float(d @ gram @ d) if gram is not None else float(d @ d)
        if dist < best_d:
            best, best_d = i, dist
    return best


# ----------------------------------------------------------------------------- error


def measure_error(
    preview: Callable[[object], np.ndarray],
    exact: Callable[[object], np.ndarray],
    points: Sequence,
    labels,
    groups,
) -> dict:
    """A preview's error against exact evaluation at held-out ``points``.

    ``preview(p)`` and ``exact(p)`` return logits ``(n, 2)`` for a point ``p`` (a λ or
    a coefficient dict). Returns ``agreement`` (mean share of rows whose predicted class
    agrees), ``agreement_min`` (worst point), ``d_accuracy``, ``d_dpd``, ``d_eod`` (max
    absolute difference over the points, NaN-aware) and ``points`` (one dict per point).
    """
    scorer = PreviewScorer(labels, groups)
    per_point = []
    for p in points:
        lp, le = np.asarray(preview(p)), np.asarray(exact(p))
        pp, pe = lp.argmax(axis=1), le.argmax(axis=1)
        rp, re = scorer.report_preds(pp), scorer.report_preds(pe)
        per_point.append(
            {
                "point": p if not isinstance(p, Mapping) else dict(p),
                "agreement": float((pp == pe).mean()) if len(pp) else math.nan,
                "d_accuracy": rp.accuracy - re.accuracy,
                "d_dpd": rp.dpd - re.dpd,
                "d_eod": rp.eod - re.eod,
                "max_abs_logit_error": float(np.abs(lp - le).max()) if len(lp) else 0.0,
            }
        )

    def worst(key):
        vals = [abs(x[key]) for x in per_point if not math.isnan(x[key])]
        return float(max(vals)) if vals else math.nan

    agree = [x["agreement"] for x in per_point]
    return {
        "agreement": float(np.mean(agree)) if agree else math.nan,
        "agreement_min": float(np.min(agree)) if agree else math.nan,
        "d_accuracy": worst("d_accuracy"),
        "d_dpd": worst("d_dpd"),
        "d_eod": worst("d_eod"),
        "n_rows": len(scorer.y),
        "points": per_point,
    }
