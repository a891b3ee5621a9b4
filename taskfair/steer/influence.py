"""Which vector moves which group: the influence matrix at a mix.

The rates of argmax predictions are step functions of λ (a row flips or does not), so
their derivative is 0 almost everywhere and undefined at the flips. What is computed
instead is the derivative of their smooth counterparts, from the model's predicted
probability of the positive class ``p = softmax(logits)[:, 1]``:

* soft selection rate of group g: mean of ``p`` over g's rows;
* soft TPR: mean of ``p`` over g's positive rows; soft FPR: over its negative rows.

With the first-order preview's directional derivatives ``J_v = ∂logits/∂c_v`` (one JVP
per vector, :mod:`taskfair.sweep.jvp`) the derivative of ``p`` along vector ``v`` is
``p (1 − p) (J_v[:, 1] − J_v[:, 0])``, and ``∂/∂λ_v = s · ∂/∂c_v`` with ``s`` the
normalisation's scale (1 for ``sum``, ``1/G`` for ``mean``). A cell reads "raising λ_v
by 0.1 moves group g's (soft) rate by 0.1 × cell". The soft rates track the hard ones
where predictions are not near 0.5 for many rows; the page says which is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from taskfair.metrics._inputs import as_groups, as_labels
from taskfair.sweep.preview import FirstOrderPreview

__all__ = ["RATES", "influence_at", "influence_matrix", "soft_rates"]

#: The rates of the matrix's rows, per group.
RATES = ("selection_rate", "tpr", "fpr")


def _probability(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))


def _masks(labels, groups, n: int) -> list[tuple[str, str, np.ndarray]]:
    y = as_labels(labels, "labels")
    codes, names = as_groups(groups, n)
    out = []
    for i, name in enumerate(names):
        member = codes == i
        for rate, rows in (("selection_rate", member), ("tpr", member & (y == 1)),
                           ("fpr", member & (y == 0))):  # fmt: skip
            out.append((str(name), rate, rows))
    return out


def soft_rates(logits: np.ndarray, labels, groups) -> pd.Series:
    """Soft selection rate, TPR and FPR per group (a Series indexed by (group, rate));
    NaN where a group has no such rows. ``logits`` ``(n, 2)``, class 1 positive."""
    p = _probability(logits)
    masks = _masks(labels, groups, len(p))
    values = [float(p[m].mean()) if m.any() else np.nan for _, _, m in masks]
    index = pd.MultiIndex.from_tuples([(g, r) for g, r, _ in masks], names=["group", "rate"])
    return pd.Series(values, index=index, dtype=np.float64)


def influence_matrix(
    logits: np.ndarray,
    jvps: Mapping[str, np.ndarray],
    labels,
    groups,
    names: Sequence[str] | None = None,
    scale: float = 1.0,
) -> pd.DataFrame:
    """``∂ soft rate / ∂ λ_v``: rows (group, rate), columns the vectors ``names``.

    ``logits`` ``(n, 2)`` at the mix, ``jvps[v]`` ``(n, 2)`` the logits' derivative along
    vector ``v`` with respect to its effective coefficient at the same mix; ``scale``:
    effective coefficient per raw λ (see the module docstring).
    """
    names = list(jvps if names is None else names)
    p = _probability(logits)
    dp = p * (1.0 - p)
    masks = _masks(labels, groups, len(p))
    data = {}
    for v in names:
        j = np.asarray(jvps[v], dtype=np.float64)
        d = dp * (j[:, 1] - j[:, 0]) * float(scale)
        data[v] = [float(d[m].mean()) if m.any() else np.nan for _, _, m in masks]
    index = pd.MultiIndex.from_tuples([(g, r) for g, r, _ in masks], names=["group", "rate"])
    return pd.DataFrame(data, index=index)


def influence_at(evaluator, setting, split: str = "val", progress=None) -> pd.DataFrame:
    """The influence matrix at an exact ``setting`` (a :class:`taskfair.sweep.Setting`) on
    ``split``: one JVP per subgroup vector the setting names (its method's transformed
    vectors where it has a transform), about 3.4 forward passes each."""
    names = [n for n, _ in setting.coeffs if n in evaluator.subgroups]
    fo = FirstOrderPreview.build(evaluator, {}, split, names=names, progress=progress,
                                 setting=setting)  # fmt: skip
    scale = 1.0 / len(setting.coeffs) if setting.normalize == "mean" and setting.coeffs else 1.0
    return influence_matrix(
        fo.anchor_logits, fo.jvps, evaluator.labels(split), evaluator.groups(split), names, scale
    )
