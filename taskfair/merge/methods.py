"""The registry of merge methods: each declares its name, parameters and what it computes.

A merge method turns its parameters into the coefficients of
``anchor + sum_g c_g * tau_g`` (before normalisation, see
:mod:`taskfair.merge.coefficients`). A method may also *transform* the subgroup vectors
first (TIES, DARE, magnitude pruning: :mod:`taskfair.merge.transforms`); the
coefficients then apply to the transformed vectors, ``anchor + sum_g c_g * tau'_g``.
The dashboard builds its controls from the declared :class:`Param` list and the sweep
layer keys its cache on the method's name and parameter values, so adding a method is
one :func:`register` call: nothing else dispatches on method names.

Methods that are curves in one global λ (``curve=True``) can be swept by the Trade-off
page and the sweeps; their ``lam`` parameter is the x axis and ``normalize`` the
sidebar's choice, the other parameters get their own controls.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taskfair.merge.coefficients import NORMALIZATIONS
from taskfair.merge.transforms import dare, magnitude_trim, ties

__all__ = [
    "MergeMethod",
    "Param",
    "curve_methods",
    "get_method",
    "method_names",
    "register",
    "unregister",
]

#: Parameters every curve method shares: the x axis and the sidebar's normalisation.
SHARED_PARAMS = ("lam", "normalize")
KINDS = ("float", "int", "choice", "group", "per_group")


@dataclass(frozen=True)
class Param:
    """One declared parameter.

    ``kind``: ``"float"`` / ``"int"`` (bounded by ``low``/``high``, inclusive; ``step``
    for controls), ``"choice"`` (one of ``choices``), ``"group"`` (one of the bundle's
    subgroup vectors) or ``"per_group"`` (a float in ``[low, high]`` per subgroup vector,
    as a mapping). :meth:`check` returns the value coerced to its kind or raises
    ``ValueError`` naming the parameter and its range. Scalar parameters (float, int,
    choice) other than λ and the normalisation are *keyed*: they enter the sweep cache's
    key; group and per-group values are already in the coefficients.
    """

    name: str
    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = ()
    help: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Parameter {self.name!r}: unknown kind {self.kind!r}.")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"Parameter {self.name!r}: default not among {self.choices}.")

    @property
    def keyed(self) -> bool:
        return self.kind in ("float", "int", "choice") and self.name not in SHARED_PARAMS

    def check(self, value: Any, groups: Sequence[str] = ()) -> Any:
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {list(self.choices)}, not {value!r}.")
            return value
        if self.kind == "group":
            if value not in groups:
                raise ValueError(
                    f"{self.name} must be one of the groups {list(groups)}, not {value!r}."
                )
            return value
        if self.kind == "per_group":
            if not isinstance(value, Mapping) or not value:
                raise ValueError(f"{self.name} must map one or more groups to a number.")
            unknown = sorted(set(value) - set(groups))
            if unknown:
                raise ValueError(f"{self.name}: unknown group(s) {unknown}; have {list(groups)}.")
            return {g: self._number(v) for g, v in value.items()}
        return self._number(value)

    def _number(self, value: Any) -> float | int:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number, not {value!r}.") from None
        if not math.isfinite(number):
            raise ValueError(f"{self.name} must be a finite number, not {value!r}.")
        if (self.low is not None and number < self.low) or (
            self.high is not None and number > self.high
        ):
            raise ValueError(f"{self.name}={value!r} is outside [{self.low}, {self.high}].")
        if self.kind == "int":
            if number != int(number):
                raise ValueError(f"{self.name} must be a whole number, not {value!r}.")
            return int(number)
        return round(number, 10)


@dataclass(frozen=True)
class MergeMethod:
    """A merge method of the registry.

    ``coefficients(vectors, params)`` gets the subgroup vector names (in the bundle's
    order) and the checked parameters, and returns ``{vector name: coefficient}`` before
    normalisation (``params["normalize"]`` says which; the merger applies it).
    ``anchor`` is the vector added at 1 before the mix (``"fft"`` for injection) or
    None for the base. ``reference`` points at the method's source.

    ``transform(vectors, params)``, when given, maps the subgroup vectors a setting
    names (``{name: TaskVector}``) to new vectors under the same names; it must depend
    only on the *keyed* parameters (those in the cache key), and the coefficients are
    applied to its result. None: the method is linear in the raw vectors.
    """

    name: str
    title: str
    formula: str
    coefficients: Callable[[Sequence[str], Mapping[str, Any]], dict[str, float]]
    params: tuple[Param, ...] = ()
    reference: str = ""
    anchor: str | None = None
    curve: bool = False
    transform: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]] | None = None

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise ValueError(f"{self.name} has no parameter {name!r}; it has {self.param_names}.")

    @property
    def param_names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def own_params(self) -> tuple[Param, ...]:
        """The parameters a page draws controls for (not λ and the normalisation)."""
        return tuple(p for p in self.params if p.name not in SHARED_PARAMS)

    def resolve(self, groups: Sequence[str], params: Mapping[str, Any] | None = None) -> dict:
        """Every declared parameter, checked against ``groups``, defaults filled in;
        unknown names refused. A group parameter without a value takes the first group."""
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise ValueError(
                f"{self.name} has no parameter(s) {unknown}; it has {self.param_names}."
            )
        out = {}
        for p in self.params:
            value = params.get(p.name, p.default)
            if p.kind == "group" and value is None and groups:
                value = groups[0]
            out[p.name] = p.check(value, groups)
        return out

    def coeffs(self, groups: Sequence[str], params: Mapping[str, Any]) -> dict[str, float]:
        """The coefficient map at already resolved ``params`` over the subgroup vectors
        ``groups``, the anchor vector (if any) at 1 first."""
        out = dict(self.coefficients(list(groups), params))
        return {self.anchor: 1.0, **out} if self.anchor is not None else out

    def transform_vectors(self, vectors: Mapping[str, Any], params: Mapping[str, Any]) -> dict:
        """``vectors`` as this method merges them: transformed, or as given when linear.
        ``params``: at least the keyed parameters (a setting's ``param_dict``)."""
        if self.transform is None:
            return dict(vectors)
        return self.transform(vectors, params)

    def keyed(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The resolved parameters that enter the cache key (see :attr:`Param.keyed`)."""
        return {p.name: params[p.name] for p in self.params if p.keyed}


_REGISTRY: dict[str, MergeMethod] = {}


def register(method: MergeMethod, *, replace: bool = False) -> MergeMethod:
    """Add ``method`` to the registry (``replace=True`` to redefine a name)."""
    if method.name in _REGISTRY and not replace:
        raise ValueError(f"A merge method named {method.name!r} is registered already.")
    _REGISTRY[method.name] = method
    return method


def unregister(name: str) -> None:
    """Remove a method (tests register toy methods and take them out again)."""
    _REGISTRY.pop(name, None)


def get_method(name: str) -> MergeMethod:
    """The registered method ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown merge method {name!r}: use one of {method_names()}.") from None


def method_names() -> list[str]:
    return list(_REGISTRY)


def curve_methods() -> list[MergeMethod]:
    """Methods that are curves in one global λ from the base (the Trade-off page's)."""
    return [m for m in _REGISTRY.values() if m.curve]


# ----------------------------------------------------------------------------- entries


def _global_lam(vectors: Sequence[str], p: Mapping[str, Any]) -> dict[str, float]:
    """One λ for every vector: the coefficients of a curve method."""
    return {g: p["lam"] for g in vectors}


_LAM = Param("lam", "float", 0.3, low=-10.0, high=10.0, step=0.1, help="global coefficient λ")
_NORMALIZE = Param(
    "normalize",
    "choice",
    "sum",
    choices=NORMALIZATIONS,
    help="sum: λ Σ_g τ_g (the paper's code); mean: λ/G Σ_g τ_g (its theory)",
)

register(
    MergeMethod(
        name="task_addition",
        title="Task addition",
        formula="θ₀ + λ·Σ_g τ_g (sum) or θ₀ + λ/G·Σ_g τ_g (mean)",
        coefficients=_global_lam,
        params=(_LAM, _NORMALIZE),
        reference="https://arxiv.org/abs/2212.04089",
        curve=True,
    )
)
register(
    MergeMethod(
        name="injection",
        title="Subgroup injection",
        formula="θ_FFT + λ·τ_g",
        coefficients=lambda groups, p: {p["group"]: p["lam"]},
        params=(_LAM, Param("group", "group", None, help="the injected subgroup")),
        reference="On Fairness of Task Arithmetic: The Role of Task Vectors (subgroup injection)",
        anchor="fft",
    )
)
register(
    MergeMethod(
        name="per_vector",
        title="Per-vector coefficients",
        formula="θ₀ + Σ_g λ_g·τ_g (or θ_FFT + Σ_g λ_g·τ_g)",
        coefficients=lambda groups, p: dict(p["lams"]),
        params=(
            Param("lams", "per_group", None, low=-10.0, high=10.0, step=0.1, help="λ_g per vector"),
            _NORMALIZE,
        ),
        reference="On Fairness of Task Arithmetic: The Role of Task Vectors (Lemma 1)",
    )
)


# Non-linear methods: transform the subgroup vectors, then merge them like task addition.
_K = Param(
    "k",
    "float",
    20.0,
    low=1.0,
    high=100.0,
    step=1.0,
    help="keep the top k% of each tensor's entries by magnitude (100: keep all)",
)

register(
    MergeMethod(
        name="ties",
        title="TIES",
        formula="θ₀ + λ·Σ_g τ'_g, τ' = trim to top-k%, elect sign, disjoint mean (×G)",
        coefficients=_global_lam,
        params=(_LAM, _NORMALIZE, _K),
        reference="https://arxiv.org/abs/2306.01708 (TIES-Merging; mean normalisation is its merge)",
        curve=True,
        transform=lambda vectors, p: ties(vectors, p["k"]),
    )
)
register(
    MergeMethod(
        name="dare",
        title="DARE",
        formula="θ₀ + λ·Σ_g τ'_g, τ' = drop each entry with probability p, rescale by 1/(1-p)",
        coefficients=_global_lam,
        params=(
            _LAM,
            _NORMALIZE,
            Param("p", "float", 0.5, low=0.0, high=0.95, step=0.05, help="drop rate"),
            Param("seed", "int", 0, low=0, high=9999, step=1, help="seed of the drop masks"),
        ),
        reference="https://arxiv.org/abs/2311.03099 (DARE, linear merge after drop and rescale)",
        curve=True,
        transform=lambda vectors, p: dare(vectors, p["p"], p["seed"]),
    )
)
register(
    MergeMethod(
        name="magnitude",
        title="Magnitude pruning",
        formula="θ₀ + λ·Σ_g τ'_g, τ' = each tensor trimmed to its top-k% entries",
        coefficients=_global_lam,
        params=(_LAM, _NORMALIZE, _K),
        reference="https://arxiv.org/abs/2306.01708 (the trim step of TIES, alone)",
        curve=True,
        transform=lambda vectors, p: magnitude_trim(vectors, p["k"]),
    )
)
