"""How close a compressed vector's merges are to the dense vector's, measured on eval rows.

For each vector ``v`` and each λ in :data:`FIDELITY_LAMS`, the model ``θ₀ + λ·τ_v`` with
the dense ``τ_v`` and with its compressed form is evaluated on the same rows (a bundle's
val and test rows together) and compared: the share of rows with the same prediction
(``agreement``), ``|Δaccuracy|``, ``|ΔDPD|`` and ``|ΔEOD|`` (fairlearn's, over the
attribute's groups). The same is done for task addition over the subgroup vectors
(``θ₀ + λ·Σ_g τ_g``), the curve the dashboard draws. ``worst`` is the largest deviation
over all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from taskfair.inference import predict_encoded
from taskfair.merge import Merger
from taskfair.metrics import fairness_report
from taskfair.progress import Progress, report

__all__ = ["FIDELITY_LAMS", "compare_predictions", "measure_fidelity", "worst_of"]

#: The coefficients fidelity is measured at.
FIDELITY_LAMS = (0.3, 0.5, 1.0)
_DENSE, _COMPACT = "dense:", "compact:"


def compare_predictions(
    dense_logits: np.ndarray, compact_logits: np.ndarray, labels: np.ndarray, groups: pd.Series
) -> dict:
    """Agreement and the absolute differences of accuracy, DPD and EOD between two sets of
    ``(n, 2)`` logits of the same rows (0/1 ``labels``, ``groups`` a name or missing per row)."""
    pd_, pc = dense_logits.argmax(1), compact_logits.argmax(1)
    rd = fairness_report(labels, pd_, sensitive_features=groups)
    rc = fairness_report(labels, pc, sensitive_features=groups)

    def gap(a: float, b: float) -> float:
        return float(abs(a - b)) if math.isfinite(a) and math.isfinite(b) else float("nan")

    return {
        "agreement": float((pd_ == pc).mean()),
        "d_accuracy": gap(rd.accuracy, rc.accuracy),
        "d_dpd": gap(rd.dpd, rc.dpd),
        "d_eod": gap(rd.eod, rc.eod),
    }


def measure_fidelity(
    model: torch.nn.Module,
    dense: Mapping,
    compact: Mapping,
    encoded,
    labels: np.ndarray,
    groups: pd.Series,
    *,
    subgroups: Sequence[str] = (),
    lams: Sequence[float] = FIDELITY_LAMS,
    batch_size: int = 64,
    progress: Progress | None = None,
    dense_logits: dict | None = None,
) -> dict:
    """Fidelity of ``compact`` (``{name: TaskVector}``) against ``dense`` (the same names).

    ``model`` is the base (deep-copied: the caller's model is not touched); ``encoded``
    the rows (:func:`taskfair.inference.encode`), ``labels`` int ``(n,)`` 0/1 and
    ``groups`` (a name or missing per row, index 0..n-1) theirs. ``subgroups``: the
    names task addition sums. Returns ``{"lams", "rows", "vectors": {name: [per λ]},
    "task_addition": [per λ] (with ``subgroups``), "worst"}``; each point holds
    ``lam``, ``agreement``, ``d_accuracy``, ``d_dpd``, ``d_eod``.

    ``dense_logits``: a dict kept across calls with the same ``dense``, model and rows
    (several settings measured in turn): the dense merges are evaluated once.
    """
    names = [n for n in dense if n in compact]
    both = {**{_DENSE + n: dense[n] for n in names}, **{_COMPACT + n: compact[n] for n in names}}
    merger = Merger(model, both, copy=True)
    groups = pd.Series(groups).reset_index(drop=True)
    labels = np.asarray(labels, dtype=np.int64)
    plans: list[tuple[str, float, list[str]]] = [(n, lam, [n]) for n in names for lam in lams]
    subgroups = [g for g in subgroups if g in names]
    if subgroups:
        plans += [("task_addition", lam, subgroups) for lam in lams]
    vectors: dict[str, list] = {}
    task_addition: list = []
    cache = {} if dense_logits is None else dense_logits

    def logits_of(prefix: str, members: list[str], lam: float) -> np.ndarray:
        with merger.merged({prefix + m: lam for m in members}) as merged:
            return predict_encoded(merged, encoded, batch_size).logits

    for i, (name, lam, members) in enumerate(plans):
        key = (name, lam)
        if key not in cache:
            cache[key] = logits_of(_DENSE, members, lam)
        got = {
            "lam": lam,
            **compare_predictions(cache[key], logits_of(_COMPACT, members, lam), labels, groups),
        }
        (task_addition if name == "task_addition" else vectors.setdefault(name, [])).append(got)
        report(progress, i + 1, len(plans), f"fidelity · {name} · λ={lam:g}")
    out: dict = {"lams": list(lams), "rows": int(len(labels)), "vectors": vectors}
    if task_addition:
        out["task_addition"] = task_addition
    out["worst"] = worst_of([p for ps in vectors.values() for p in ps] + task_addition)
    return out


def worst_of(points: Sequence[Mapping]) -> dict:
    """The lowest agreement and the largest |Δ| over ``points`` (NaN deltas skipped)."""

    def biggest(key: str) -> float:
        vals = [p[key] for p in points if not math.isnan(p[key])]
        return float(max(vals)) if vals else float("nan")

    return {
        "agreement": float(min(p["agreement"] for p in points)) if points else float("nan"),
        "d_accuracy": biggest("d_accuracy"),
        "d_dpd": biggest("d_dpd"),
        "d_eod": biggest("d_eod"),
    }
