"""Merging task vectors: the in-place engine and the registry of merge methods.

:class:`Merger` sets a working model to ``anchor + sum_g c_g * tau_g`` in place;
:mod:`~taskfair.merge.methods` says which coefficients each named method uses;
:mod:`~taskfair.merge.coefficients` is the one place that normalises them.
"""

from taskfair.merge.coefficients import (
    NORMALIZATIONS,
    effective_coeffs,
    injection_coeffs,
    task_addition_coeffs,
)
from taskfair.merge.merger import Merger
from taskfair.merge.methods import (
    MergeMethod,
    Param,
    curve_methods,
    get_method,
    method_names,
    register,
    unregister,
)

__all__ = [
    "NORMALIZATIONS",
    "MergeMethod",
    "Merger",
    "Param",
    "curve_methods",
    "effective_coeffs",
    "get_method",
    "injection_coeffs",
    "method_names",
    "register",
    "task_addition_coeffs",
    "unregister",
]
