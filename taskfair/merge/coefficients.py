"""Coefficients: the one place that turns a method's λ into what the merger applies.

A merge is ``anchor + sum_g c_g * tau_g``. Task addition names every subgroup vector
with one λ; ``"sum"`` applies it as is (the paper's code), ``"mean"`` divides every
coefficient by the number of vectors named (``λ/G``, the paper's theory). Injection is
the FFT vector at 1 plus one subgroup vector at λ, never normalised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["NORMALIZATIONS", "effective_coeffs", "injection_coeffs", "task_addition_coeffs"]

NORMALIZATIONS = ("sum", "mean")


def effective_coeffs(coeffs: Mapping[str, float], normalize: str = "sum") -> dict[str, float]:
    """``coeffs`` as the merger applies them: ``"mean"`` divides by the number named.

    Raises ``ValueError`` for an unknown normalisation.
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"Unknown normalisation {normalize!r}: use one of {NORMALIZATIONS}.")
    scale = 1.0 / len(coeffs) if normalize == "mean" and coeffs else 1.0
    return {k: float(v) * scale for k, v in coeffs.items()}


def task_addition_coeffs(
    groups: Sequence[str], lam: float, normalize: str = "sum"
) -> dict[str, float]:
    """Coefficients of ``theta_0 + lam * sum_g tau_g`` ("sum", the paper's code) or
    ``theta_0 + lam/G * sum_g tau_g`` ("mean", the paper's theory), already effective."""
    return effective_coeffs({g: float(lam) for g in groups}, normalize)


def injection_coeffs(group: str, lam: float, anchor: str = "fft") -> dict[str, float]:
    """Coefficients of ``theta_FFT + lam * tau_g``."""
    return {anchor: 1.0, group: float(lam)}
