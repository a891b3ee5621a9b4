"""What a point is: one merge setting, and the grids of settings a sweep or a page asks for.

A :class:`Setting` names a merge method of the registry (:mod:`taskfair.merge.methods`)
or a reference point (``fft``, ``lora``, ``base``), its global λ if it has one, the
normalisation, the coefficient of every vector it names and the method's own keyed
parameters. Settings hash and compare by value, so they key caches and de-duplicate
plans.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taskfair.grid import COARSE_GRID, INJECTION_GRID, LAMBDA_GRID
from taskfair.merge import NORMALIZATIONS, effective_coeffs, get_method, method_names
from taskfair.sweep.baselines import (
    BASELINE_CHOICES,
    MATCHED_BASELINES,
    MATCHED_VARIANTS,
    RESERVED_VECTORS,
    baseline_note,
    baseline_parts,
    drawn_baselines,
    matched_name,
    matched_variant,
    subgroups,
)

__all__ = [
    "MATCHED_VARIANTS",
    "MATCHED_BASELINES",
    "RESERVED_VECTORS",
    "REFERENCE_METHODS",
    "BASELINE_CHOICES",
    "baseline_note",
    "baseline_parts",
    "drawn_baselines",
    "matched_variant",
    "matched_name",
    "Setting",
    "bundle_settings",
    "curve_settings",
    "injection_settings",
    "method_mix",
    "method_setting",
    "mix_setting",
    "per_vector_settings",
    "reference_settings",
    "round_lam",
    "settings_for",
    "subgroups",
    "task_addition_settings",
]

#: Reference points: no merge method, a vector at 1 (or none, for the base).
REFERENCE_METHODS = ("fft", "lora", "base", *MATCHED_BASELINES)


# A full per-vector grid grows as len(lams) ** len(groups): refuse silly sizes.
_MAX_GRID_POINTS = 256


def round_lam(x: float) -> float:
    """λ rounded as the grid rounds it (10 decimals), so 0.1 * 3 and 0.3 name one point."""
    return round(float(x), 10)


@dataclass(frozen=True)
class Setting:
    """One merge setting: ``anchor + sum_g coeffs[g] * tau_g`` under ``normalize``.

    ``coeffs`` is stored as a sorted tuple of ``(name, value)`` pairs (pass a dict; it is
    converted) so that settings hash and compare by value. ``lam`` is the global scalar
    of a curve method / injection, ``None`` for per-vector mixes and reference points.
    ``normalize`` is applied by the merger: ``"mean"`` divides every coefficient by the
    number of vectors named. ``params`` holds the method's keyed parameters (see
    :attr:`taskfair.merge.Param.keyed`), sorted pairs like ``coeffs``; empty for the
    paper's methods.
    """

    method: str
    lam: float | None
    normalize: str = "sum"
    coeffs: tuple[tuple[str, float], ...] = field(default=())
    params: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self):
        if self.method not in (*method_names(), *REFERENCE_METHODS):
            raise ValueError(
                f"Unknown sweep method {self.method!r}: use one of "
                f"{(*method_names(), *REFERENCE_METHODS)}."
            )
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(
                f"Unknown normalisation {self.normalize!r}: use one of {NORMALIZATIONS}."
            )
        items = self.coeffs.items() if isinstance(self.coeffs, Mapping) else self.coeffs
        object.__setattr__(self, "coeffs", tuple(sorted((str(k), round_lam(v)) for k, v in items)))
        params = self.params.items() if isinstance(self.params, Mapping) else self.params
        object.__setattr__(self, "params", tuple(sorted((str(k), v) for k, v in params)))
        if self.lam is not None:
            object.__setattr__(self, "lam", round_lam(self.lam))

    @property
    def coeff_dict(self) -> dict[str, float]:
        return dict(self.coeffs)

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def coeffs_json(self) -> str:
        return json.dumps(self.coeff_dict, sort_keys=True)

    @property
    def effective(self) -> dict[str, float]:
        """The coefficients the merger actually applies (``normalize`` resolved)."""
        return effective_coeffs(self.coeff_dict, self.normalize)

    def label(self) -> str:
        extra = "".join(
            f" {k}={v:g}" if isinstance(v, float) else f" {k}={v}" for k, v in self.params
        )
        if self.lam is not None:
            return f"{self.method} λ={self.lam:g}{extra}"
        return f"{self.method} {self.coeffs_json}{extra}"

    def record(self) -> dict[str, Any]:
        """A JSON-able description (the cache's sidecar, exports)."""
        out = {
            "method": self.method,
            "lam": self.lam,
            "normalize": self.normalize,
            "coeffs": self.coeff_dict,
        }
        if self.params:
            out["params"] = self.param_dict
        return out


# ----------------------------------------------------------------------------- from methods


def method_setting(
    method: str, groups: Sequence[str], params: Mapping[str, Any] | None = None
) -> Setting:
    """The setting of a registered merge method at ``params`` over the subgroup vectors.

    Raises ``ValueError`` (naming the parameter and its range) for a bad parameter.
    """
    m = get_method(method)
    resolved = m.resolve(groups, params)
    lam = resolved.get("lam")
    return Setting(
        method,
        None if lam is None or method == "per_vector" else lam,
        resolved.get("normalize", "sum"),
        m.coeffs(groups, resolved),
        m.keyed(resolved),
    )


def curve_settings(
    method: str,
    groups: Sequence[str],
    lams: Iterable[float] = LAMBDA_GRID,
    normalize: str = "sum",
    params: Mapping[str, Any] | None = None,
) -> list[Setting]:
    """A curve method's settings over ``lams`` (its other parameters fixed at ``params``)."""
    return [
        method_setting(method, groups, {**(params or {}), "lam": lam, "normalize": normalize})
        for lam in lams
    ]


def task_addition_settings(
    groups: Sequence[str], lams: Iterable[float] = LAMBDA_GRID, normalize: str = "sum"
) -> list[Setting]:
    """``theta_0 + lam * sum_g tau_g`` (``"sum"``) or ``lam / G * sum_g`` (``"mean"``)."""
    return curve_settings("task_addition", groups, lams, normalize)


def injection_settings(
    groups: Sequence[str], lams: Iterable[float] = INJECTION_GRID
) -> list[Setting]:
    """``theta_FFT + lam * tau_g`` for every group ``g`` and every ``lam`` (group-major)."""
    lams = list(lams)
    return [
        method_setting("injection", groups, {"group": g, "lam": lam})
        for g in groups
        for lam in lams
    ]


def per_vector_settings(
    groups: Sequence[str],
    lams: Iterable[float] = COARSE_GRID,
    normalize: str = "sum",
    others: float | None = None,
) -> list[Setting]:
    """Per-vector coefficients ``theta_0 + sum_g lambda_g tau_g``.

    ``others=None``: the full grid, every combination of ``lams`` over the groups
    (``len(lams) ** len(groups)`` points, refused above 256). ``others=x``: one vector
    at a time over ``lams`` while every other vector stays at ``x``.
    """
    groups, lams = list(groups), list(lams)
    if others is None:
        size = len(lams) ** len(groups)
        if size > _MAX_GRID_POINTS:
            raise ValueError(
                f"A full per-vector grid over {len(groups)} vectors and {len(lams)} values has "
                f"{size} points; pass others=1.0 to vary one vector at a time, or fewer values."
            )
        mixes = [
            dict(zip(groups, c, strict=True)) for c in itertools.product(lams, repeat=len(groups))
        ]
    else:
        mixes = [{h: (lam if h == g else others) for h in groups} for g in groups for lam in lams]
    out = [method_setting("per_vector", groups, {"lams": m, "normalize": normalize}) for m in mixes]
    return list(dict.fromkeys(out))


def reference_settings(names: Iterable[str]) -> list[Setting]:
    """Base (no vector), and FFT / LoRA (ordinary and matched) at coefficient 1 when
    those vectors exist."""
    names = set(names)
    out = [Setting("base", None, "sum", {})]
    out += [Setting(m, None, "sum", {m: 1.0}) for m in RESERVED_VECTORS if m in names]
    return out


def mix_setting(
    groups: Sequence[str], lams: Mapping[str, float], anchor: str, normalize: str
) -> Setting:
    """The setting of a per-group mix ``anchor + Σ λ_g τ_g`` (``anchor``: ``"fft"`` or
    ``"base"``) under the names the sweeps use.

    A mix that *is* a task-addition or injection point gets that setting, so it shares
    the cache with the sweeps (and the Trade-off page).
    """
    lams = {g: round_lam(v) for g, v in lams.items()}
    if anchor == "fft":
        if len(lams) == 1:
            ((g, v),) = lams.items()
            return method_setting("injection", groups, {"group": g, "lam": v})
        return Setting("per_vector", None, "sum", {"fft": 1.0, **lams})
    values = set(lams.values())
    if set(lams) == set(groups) and len(values) == 1:
        return method_setting(
            "task_addition", groups, {"lam": values.pop(), "normalize": normalize}
        )
    return method_setting("per_vector", groups, {"lams": lams, "normalize": normalize})


def method_mix(
    method: str,
    groups: Sequence[str],
    lams: Mapping[str, float],
    normalize: str = "sum",
    params: Mapping[str, Any] | None = None,
) -> Setting:
    """A per-vector mix ``anchor + Σ_g λ_g τ'_g`` of a registered merge method.

    A linear method's mix is :func:`mix_setting`'s (a per-vector point, shared with the
    other pages' caches); a method that transforms its vectors (TIES, DARE, ...) keeps
    its name and keyed parameters, with every subgroup vector named (0 where ``lams``
    has none, since the transform combines them all). Equal λ_g give the method's own
    curve point at that λ, so the mix shares the Trade-off page's cache.
    """
    m = get_method(method)
    unknown = sorted(set(lams) - set(groups))
    if unknown:
        raise ValueError(f"Unknown subgroup vector(s) {unknown}; have {list(groups)}.")
    if m.transform is None:
        anchor = "fft" if m.anchor == "fft" else "base"
        return mix_setting(groups, {g: lams.get(g, 0.0) for g in groups}, anchor, normalize)
    resolved = m.resolve(groups, {**(params or {}), "normalize": normalize})
    full = {g: round_lam(lams.get(g, 0.0)) for g in groups}
    if m.curve and len(set(full.values())) == 1:
        return method_setting(method, groups, {**resolved, "lam": next(iter(full.values()))})
    return Setting(method, None, normalize, full, m.keyed(resolved))


def settings_for(
    method: str,
    groups: Sequence[str],
    lams: Iterable[float] | None = None,
    normalize: str = "sum",
    names: Iterable[str] = (),
    params: Mapping[str, Any] | None = None,
) -> list[Setting]:
    """The settings of one sweep ``method`` with its default grid when ``lams`` is None:
    a curve method of the registry (its own parameters at ``params``, defaults
    otherwise), ``injection``, ``per_vector`` or ``references``."""
    if method == "references":
        return reference_settings(names)
    if method == "injection":
        return injection_settings(groups, INJECTION_GRID if lams is None else lams)
    if method == "per_vector":
        return per_vector_settings(groups, COARSE_GRID if lams is None else lams, normalize)
    if get_method(method).curve:
        lams = LAMBDA_GRID if lams is None else lams
        return curve_settings(method, groups, lams, normalize, params)
    raise ValueError(
        f"Unknown sweep {method!r}: use a curve method, injection, per_vector or references."
    )


def bundle_settings(
    bundle,
    method: str,
    normalize: str,
    lams,
    seed: int,
    references: bool = False,
    params: Mapping | None = None,
) -> list[Setting]:
    """The settings a sweep of one seed of ``bundle`` evaluates: ``method`` is a curve
    method of the registry (``task_addition``, ``ties``, ... with its parameters at
    ``params``) | ``injection`` | ``per_vector`` | ``references`` | ``all`` (task
    addition, injection and references); ``references=True`` appends the fft / lora /
    base points to any other."""
    names = bundle.vector_names(seed)
    groups = [g for g in bundle.groups if g in names]
    methods = ["task_addition", "injection", "references"] if method == "all" else [method]
    out: list[Setting] = []
    for m in methods:
        if m == "injection" and "fft" not in names:
            raise ValueError("Injection needs the bundle's fft vector, which it lacks.")
        out += settings_for(m, groups, lams, normalize, names, params if m == method else None)
    if references and method not in ("references", "all"):
        out += reference_settings(names)
    return out
