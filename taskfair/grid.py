"""The lambda grid, defined in exactly one place.

The paper sweeps lambda from 0 to 1 in steps of 0.1 (task addition) and injects
subgroup vectors from 0 to 1 in steps of 0.2. Sweeps, the dashboard's sliders and the
benchmark all read these constants.
"""

from __future__ import annotations

__all__ = [
    "LAMBDA_GRID",
    "INJECTION_GRID",
    "COARSE_GRID",
    "LAMBDA_MIN",
    "LAMBDA_MAX",
    "LAMBDA_STEP",
    "lambda_grid",
    "on_grid",
    "snap",
]

LAMBDA_MIN = 0.0
LAMBDA_MAX = 1.0
LAMBDA_STEP = 0.1
LAMBDA_GRID: tuple[float, ...] = tuple(round(i * LAMBDA_STEP, 10) for i in range(11))
INJECTION_GRID: tuple[float, ...] = tuple(round(i * 0.2, 10) for i in range(6))
# Evaluated first so that a complete (if coarse) curve appears quickly.
COARSE_GRID: tuple[float, ...] = (0.0, 0.3, 0.6, 1.0)


def lambda_grid(
    start: float = LAMBDA_MIN, stop: float = LAMBDA_MAX, step: float = LAMBDA_STEP
) -> tuple[float, ...]:
    """An inclusive grid rounded to 10 decimals (so 0.30000000000000004 is 0.3)."""
    if step <= 0 or stop < start:
        raise ValueError(f"Invalid lambda grid start={start}, stop={stop}, step={step}.")
    n = int(round((stop - start) / step))
    return tuple(round(start + i * step, 10) for i in range(n + 1))


def snap(x: float, grid: tuple[float, ...] = LAMBDA_GRID) -> float:
    """The grid point nearest ``x`` (ties: the lower one); ``-0.0`` is ``0.0``."""
    return min(grid, key=lambda g: (abs(g - x), g)) + 0.0


def on_grid(x: float, grid: tuple[float, ...] = LAMBDA_GRID, tol: float = 1e-9) -> bool:
    """Whether ``x`` is a grid point (a value the dashboard's sliders can take). Other
    values reach the dashboard only through a typed or edited link."""
    return abs(snap(x, grid) - x) <= tol
