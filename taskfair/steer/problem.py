"""What the steering assistant is asked: an objective, constraints, and a search space.

The objective is minimised on the **validation** split: ``dpd`` (demographic parity
difference), ``eod`` (equalized odds difference), ``worst_group_error`` (1 − the lowest
group accuracy) or ``mix``, a weighted sum of those three (weights given, each ≥ 0). The
constraints: overall accuracy ≥ a floor (by default FFT's validation accuracy minus
``margin``), optionally each group's accuracy ≥ its own floor, and a range per λ_g. A
candidate is *accepted* only when the upper end of its objective's bootstrap interval
meets ``target`` (when one is set), the lower end of its accuracy interval meets the
floor (and of each floored group's accuracy, its floor) and it is not degenerate
(:func:`taskfair.steer.certify.degeneracy`; ``allow_degenerate`` lifts that last rule).

All numbers here are plain floats in [0, 1] (metrics) or coefficient units (λ, before
the method's normalisation).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from taskfair.errors import ConfigError
from taskfair.merge import NORMALIZATIONS, get_method

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_MARGIN",
    "DEFAULT_RANGE",
    "METRICS",
    "OBJECTIVES",
    "Constraints",
    "Objective",
    "Problem",
]

#: The metrics an objective can name (``mix`` weighs them).
METRICS = ("dpd", "eod", "worst_group_error")
OBJECTIVES = (*METRICS, "mix")
#: Exact evaluations on validation a search may use, its starting grid included.
DEFAULT_BUDGET = 50
#: The default floor is FFT's validation accuracy minus this (certified: the lower end of
#: a candidate's 95% accuracy interval must reach it, which on 600 rows sits about 0.035
#: below its point estimate).
DEFAULT_MARGIN = 0.05
#: λ_g range of every vector unless the user gives one: the global grid's range.
DEFAULT_RANGE = (0.0, 1.0)


@dataclass(frozen=True)
class Objective:
    """``metric`` to minimise (one of :data:`OBJECTIVES`); ``weights`` for ``mix``
    (``{metric: weight}``, missing = 0); ``target``: the value the upper end of the
    objective's interval must reach for a candidate to be accepted (None: no target)."""

    metric: str = "eod"
    weights: Mapping[str, float] = field(default_factory=dict)
    target: float | None = None

    def __post_init__(self):
        if self.metric not in OBJECTIVES:
            raise ConfigError(f"Unknown objective {self.metric!r}: use one of {OBJECTIVES}.")
        weights = {str(k): float(v) for k, v in dict(self.weights).items()}
        unknown = sorted(set(weights) - set(METRICS))
        if unknown:
            raise ConfigError(f"Unknown mix weight(s) {unknown}: weigh {METRICS}.")
        if any(not math.isfinite(w) or w < 0 for w in weights.values()):
            raise ConfigError(f"Mix weights must be finite and ≥ 0, not {weights}.")
        if self.metric == "mix" and not any(w > 0 for w in weights.values()):
            raise ConfigError("A mix objective needs at least one positive weight, e.g. eod=1.")
        if self.metric != "mix":
            weights = {self.metric: 1.0}
        object.__setattr__(self, "weights", weights)
        if self.target is not None and not (math.isfinite(self.target) and self.target >= 0):
            raise ConfigError(f"The target must be a number ≥ 0, not {self.target!r}.")

    def value(self, metrics: Mapping[str, Any]):
        """The objective from ``{"dpd", "eod", "worst_group_error"}`` (floats, or arrays
        of one shape: then an array); NaN where one it weighs is NaN."""
        total = sum(
            w * np.asarray(metrics[m], dtype=np.float64) for m, w in self.weights.items() if w
        )
        return float(total) if np.ndim(total) == 0 else total

    @property
    def label(self) -> str:
        if self.metric != "mix":
            return (
                self.metric.upper() if self.metric != "worst_group_error" else "worst-group error"
            )
        return " + ".join(f"{w:g}·{m}" for m, w in self.weights.items() if w)

    def record(self) -> dict:
        return {"metric": self.metric, "weights": dict(self.weights), "target": self.target}


@dataclass(frozen=True)
class Constraints:
    """Accuracy floor and λ ranges.

    ``floor``: an absolute overall accuracy floor; None takes FFT's validation accuracy
    minus ``margin`` (:meth:`resolve_floor`). ``group_floors``: ``{group: accuracy}``.
    ``ranges``: ``{vector: (low, high)}`` for λ_g; vectors not named get
    :data:`DEFAULT_RANGE`.
    """

    margin: float = DEFAULT_MARGIN
    floor: float | None = None
    group_floors: Mapping[str, float] = field(default_factory=dict)
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self):
        if not (math.isfinite(self.margin) and 0 <= self.margin <= 1):
            raise ConfigError(f"The accuracy margin must be in [0, 1], not {self.margin!r}.")
        if self.floor is not None and not 0 <= self.floor <= 1:
            raise ConfigError(f"The accuracy floor must be in [0, 1], not {self.floor!r}.")
        floors = {str(g): float(v) for g, v in dict(self.group_floors).items()}
        if any(not 0 <= v <= 1 for v in floors.values()):
            raise ConfigError(f"Group accuracy floors must be in [0, 1], not {floors}.")
        object.__setattr__(self, "group_floors", floors)
        ranges = {}
        for g, r in dict(self.ranges).items():
            lo, hi = (float(x) for x in r)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
                raise ConfigError(f"The λ range of {g!r} must be low ≤ high, not {r!r}.")
            ranges[str(g)] = (lo, hi)
        object.__setattr__(self, "ranges", ranges)

    def bounds(self, groups: Sequence[str]) -> tuple[list[float], list[float]]:
        """``(lows, highs)`` per group, in ``groups`` order."""
        unknown = sorted(set(self.ranges) - set(groups))
        if unknown:
            raise ConfigError(f"λ range for unknown vector(s) {unknown}; have {list(groups)}.")
        r = [self.ranges.get(g, DEFAULT_RANGE) for g in groups]
        return [a for a, _ in r], [b for _, b in r]

    def resolve_floor(self, fft_accuracy: float | None) -> float:
        """The accuracy floor in use: ``floor``, else FFT's validation accuracy − margin."""
        if self.floor is not None:
            return float(self.floor)
        if fft_accuracy is None or not math.isfinite(fft_accuracy):
            raise ConfigError(
                "The default accuracy floor is FFT's validation accuracy minus a margin, and "
                "this bundle has no FFT vector: give an absolute floor (--floor 0.7)."
            )
        return float(fft_accuracy) - self.margin

    def record(self) -> dict:
        return {
            "margin": self.margin,
            "floor": self.floor,
            "group_floors": dict(self.group_floors),
            "ranges": {g: list(r) for g, r in self.ranges.items()},
        }


@dataclass(frozen=True)
class Problem:
    """One steering question over a bundle's subgroup vectors.

    ``method``: a merge method of the registry (linear: ``task_addition`` searches
    per-vector mixes of the raw vectors; ``ties``, ``dare``, ``magnitude`` mix their
    transformed vectors), its own parameters in ``params``, under ``normalize``.
    ``budget``: exact evaluations on validation, the starting grid included.
    ``confidence``: the bootstrap intervals' coverage; ``n_boot`` resamples.
    ``resolution``: λ values are rounded to this step (so revisits hit the cache and the
    card reads well). ``search``: the strategy (:data:`taskfair.steer.search.STRATEGIES`).
    ``allow_degenerate``: accept degenerate points too (they stay flagged, in the result
    and on the card); off by default, since their DPD and EOD of 0 are not fairness.
    ``param_values``: values of the method's own keyed parameters to search as well
    (``{"k": (20, 50, 100)}``): one search per combination, the budget shared equally,
    the results pooled (:func:`taskfair.steer.driver.steer`).
    """

    objective: Objective = field(default_factory=Objective)
    constraints: Constraints = field(default_factory=Constraints)
    method: str = "task_addition"
    params: Mapping[str, Any] = field(default_factory=dict)
    normalize: str = "sum"
    budget: int = DEFAULT_BUDGET
    search: str = "trust_region"
    confidence: float = 0.95
    n_boot: int = 1000
    resolution: float = 0.01
    seed: int = 0
    allow_degenerate: bool = False
    param_values: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self):
        try:
            method = get_method(self.method)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        if method.anchor is not None:
            raise ConfigError(
                f"{self.method} mixes from {method.anchor}; the assistant searches mixes "
                "from the base: use task_addition, ties, dare or magnitude."
            )
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, not {self.normalize!r}.")
        own = {p.name for p in method.own_params if p.keyed}
        unknown = sorted(set(self.params) - own)
        if unknown:
            raise ConfigError(
                f"{self.method} has no parameter(s) {unknown}; it has {sorted(own) or 'none'}."
            )
        try:
            checked = {k: method.param(k).check(v) for k, v in dict(self.params).items()}
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        object.__setattr__(self, "params", checked)
        values = {}
        for name, options in dict(self.param_values).items():
            if name not in own:
                raise ConfigError(
                    f"{self.method} has no parameter {name!r} to search; it has {sorted(own) or 'none'}."
                )
            try:
                values[name] = tuple(dict.fromkeys(method.param(name).check(v) for v in options))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            if not values[name]:
                raise ConfigError(f"Give at least one value of {name} to search.")
        object.__setattr__(self, "param_values", values)
        if int(self.budget) < 1:
            raise ConfigError(f"The budget must be at least 1 exact evaluation, not {self.budget}.")
        object.__setattr__(self, "budget", int(self.budget))
        if not 0.5 <= self.confidence < 1:
            raise ConfigError(f"confidence must be in [0.5, 1), not {self.confidence!r}.")
        if int(self.n_boot) < 100:
            raise ConfigError(f"n_boot must be at least 100, not {self.n_boot!r}.")
        if not 0 < self.resolution <= 0.1:
            raise ConfigError(f"resolution must be in (0, 0.1], not {self.resolution!r}.")

    def record(self) -> dict:
        """A JSON-able description (the search state's header and the merge card)."""
        return {
            "objective": self.objective.record(),
            "constraints": self.constraints.record(),
            "method": self.method,
            "params": dict(self.params),
            "normalize": self.normalize,
            "budget": self.budget,
            "search": self.search,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "resolution": self.resolution,
            "seed": self.seed,
            "allow_degenerate": self.allow_degenerate,
            "param_values": {k: list(v) for k, v in self.param_values.items()},
        }

    def combinations(self) -> list[Problem]:
        """One problem per combination of :attr:`param_values` (the budget shared
        equally, at least one each); ``[self]`` without them."""
        if not self.param_values:
            return [self]
        names = list(self.param_values)
        combos = list(itertools.product(*(self.param_values[n] for n in names)))
        share = max(1, self.budget // len(combos))
        return [
            dataclasses.replace(
                self,
                params={**self.params, **dict(zip(names, c, strict=True))},
                param_values={},
                budget=share,
            )  # fmt: skip
            for c in combos
        ]

    def identity(self) -> dict:
        """What the search's result depends on (the budget is not: a larger budget
        resumes the same search)."""
        out = self.record()
        out.pop("budget")
        return out
