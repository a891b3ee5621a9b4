"""The lambda grid, defined in exactly one place.

The paper sweeps lambda from 0 to 1 in steps of 0.1 (task addition) and injects
subgroup vectors from 0 to 1 in steps of 0.2. Sweeps, the dashboard's sliders and the
benchmark all read these constants.
"""

from __future__ import annotations

__all__ = ["LAMBDA_GRID", "INJECTION_GRID", "COARSE_GRID", "LAMBDA_MIN", "LAMBDA_MAX", "LAMBDA_STEP",
           "lambda_grid"]

LAMBDA_MIN = 0.0
LAMBDA_MAX = 1.0
LAMBDA_STEP = 0.1
LAMBDA_GRID: tuple[float, ...] = tuple(round(i * LAMBDA_STEP, 10) for i in range(11))
INJECTION_GRID: tuple[float, ...] = tuple(round(i * 0.2, 10) for i in range(6))
# Evaluated first so that a complete (if coarse) curve appears quickly.
COARSE_GRID: tuple[float, ...] = (0.0, 0.3, 0.6, 1.0)


def lambda_grid(start: float = LAMBDA_MIN, stop: float = LAMBDA_MAX, step: float = LAMBDA_STEP) -> tuple[float, ...]:
    """An inclusive grid rounded to 10 decimals (so 0.30000000000000004 is 0.3)."""
    if step <= 0 or stop < start:
        raise ValueError(f"Invalid lambda grid start={start}, stop={stop}, step={step}.")
    n = int(round((stop - start) / step))
    return tuple(round(start + i * step, 10) for i in range(n + 1))
