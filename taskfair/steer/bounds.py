"""What the assistant refuses before anything is evaluated: too many resamples, a λ range
for a vector the bundle lacks, more parameter combinations than it pools or than the budget
can start."""

from __future__ import annotations

import math
from collections.abc import Sequence

from taskfair.errors import ConfigError
from taskfair.grid import LAMBDA_GRID
from taskfair.steer.problem import Problem

__all__ = ["MAX_COMBINATIONS", "MAX_N_BOOT", "check_bounds"]

#: Bootstrap resamples at most: each holds one index per validation row (10,000 on
#: 1,600 rows: 128 MB of indices); intervals stop changing long before.
MAX_N_BOOT = 10_000
#: Parameter combinations one search may pool (each has a search and a state of its own).
MAX_COMBINATIONS = 16


def check_bounds(problem: Problem, groups: Sequence[str], names: Sequence[str]) -> None:
    """Refuse, before anything is evaluated, what no search can do within its bounds: too
    many resamples, a λ range for a vector the bundle lacks, parameter values with more
    combinations than :data:`MAX_COMBINATIONS` or than the budget can start (each
    combination's search first evaluates the references and the λ grid)."""
    if int(problem.n_boot) > MAX_N_BOOT:
        raise ConfigError(
            f"n_boot {problem.n_boot:,} is more resamples than the assistant draws (at most "
            f"{MAX_N_BOOT:,}; 1,000 is the default): give a smaller --n-boot."
        )
    problem.constraints.bounds(groups)  # unknown vectors in --range: ConfigError
    if not problem.param_values:
        return
    n = math.prod(len(v) for v in problem.param_values.values())
    if n > MAX_COMBINATIONS:
        raise ConfigError(
            f"--param-values gives {n:,} combinations; the assistant pools at most "
            f"{MAX_COMBINATIONS}: give fewer values."
        )
    start = sum(r in names for r in ("fft", "lora")) + len(LAMBDA_GRID)
    if problem.budget // n < start + 1:
        raise ConfigError(
            f"--param-values gives {n} combinations, so each search gets "
            f"{problem.budget // n} of the budget's {problem.budget} exact evaluations, fewer "
            f"than the {start + 1} one needs (its starting grid of {start} points and one "
            f"search step): raise --budget to at least {n * (start + 1)} or give fewer values."
        )
