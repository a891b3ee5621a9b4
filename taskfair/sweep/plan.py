"""What a view needs: the exact points each page reads, most wanted first.

A plan is an ordered list of items ``(setting, split)`` (or ``(setting, split, seed)``
where a view spans seeds). The dashboard evaluates a plan's missing items in order,
drawing previews meanwhile, so the order is the user's experience: the point they look
at first, then a coarse curve (complete early), its baselines, the refined curve, and
the other split (where λ is chosen). :func:`page_settings` is the union over every page:
what the hosted viewer ships and what a build evaluates as its last step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from taskfair.grid import COARSE_GRID, INJECTION_GRID, LAMBDA_GRID
from taskfair.merge import NORMALIZATIONS
from taskfair.sweep.settings import (
    Setting,
    injection_settings,
    reference_settings,
    task_addition_settings,
)

if TYPE_CHECKING:
    from taskfair.progress import Progress
    from taskfair.sweep.store import PointStore

__all__ = [
    "Item",
    "coarse_first",
    "compare_plan",
    "curve_plan",
    "dedupe",
    "export_plan",
    "injection_plan",
    "lam_points",
    "page_settings",
    "tradeoff_plan",
    "work",
]

#: ``(setting, split)`` or ``(setting, split, seed)``.
Item = tuple

_COARSE = frozenset(round(x, 10) for x in COARSE_GRID)


def coarse_first(settings: Iterable[Setting]) -> list[Setting]:
    """Coarse-grid points first (λ in :data:`~taskfair.grid.COARSE_GRID`), then the rest,
    each part in the given order: a complete (if coarse) curve exists early."""
    settings = list(settings)
    first = [s for s in settings if s.lam is not None and s.lam in _COARSE]
    chosen = set(first)
    return first + [s for s in settings if s not in chosen]


def dedupe(items: Iterable[Item]) -> list[Item]:
    return list(dict.fromkeys(items))


def lam_points(settings: Sequence[Setting]) -> list[tuple[float, Setting]]:
    """``[(lam, setting)]`` of a global-λ curve (the x positions previews interpolate on)."""
    return [(s.lam, s) for s in settings]


def curve_plan(settings: Sequence[Setting], split: str, coarse: bool = True) -> list[Item]:
    """A curve on one split, coarse grid first unless ``coarse=False`` (kept in order)."""
    ordered = coarse_first(settings) if coarse else list(settings)
    return dedupe((s, split) for s in ordered)


def tradeoff_plan(
    curve: Sequence[Setting],
    current: Setting,
    refs: Sequence[Setting],
    split: str,
    splits: Sequence[str],
) -> list[Item]:
    """The Trade-off page: the current point, a coarse curve, its baselines, the refined
    curve, then the other splits (validation: the recommended λ) and their baselines."""
    ordered = coarse_first(curve)
    coarse = [s for s in ordered if s.lam in _COARSE]
    fine = ordered[len(coarse) :]
    others = [o for o in splits if o != split]
    return dedupe(
        [(current, split)]
        + [(s, split) for s in coarse]  # a first complete (coarse) curve
        + [(r, split) for r in refs]  # its baselines
        + [(s, split) for s in fine]  # the refined curve
        + [(s, o) for o in others for s in ordered]  # validation: the recommended λ
        + [(r, o) for o in others for r in refs]
    )


def injection_plan(
    current: Setting, curve: Sequence[Setting], refs: Sequence[Setting], split: str
) -> list[Item]:
    """The injection page: the current mix, the curve along one group, the baselines."""
    return dedupe([(current, split)] + [(s, split) for s in curve] + [(r, split) for r in refs])


def export_plan(
    curve: Sequence[Setting],
    refs: Sequence[Setting],
    current: Setting,
    split: str,
    splits: Sequence[str],
) -> list[Item]:
    """The export page: everything it writes, the shown split first."""
    first = [(current, split)] + [(s, split) for s in curve] + [(r, split) for r in refs]
    rest = [(s, o) for o in splits if o != split for s in [*curve, *refs]]
    return dedupe(first + rest)


def compare_plan(per_seed: Mapping[int, Sequence[Setting]], split: str) -> list[Item]:
    """The compare page: every method's point for every seed (items carry their seed)."""
    return dedupe((x, split, seed) for seed, settings in per_seed.items() for x in settings)


def page_settings(groups: Sequence[str], names: Iterable[str]) -> list[Setting]:
    """Every setting the dashboard's pages read for one seed: task addition ("sum" and
    "mean") over the λ grid, injection over its grid (when there is an FFT vector), the
    reference points."""
    names = list(names)
    out: list[Setting] = []
    for normalize in NORMALIZATIONS:
        out += task_addition_settings(groups, LAMBDA_GRID, normalize)
    if "fft" in names:
        out += injection_settings(groups, INJECTION_GRID)
    out += reference_settings(names)
    return list(dict.fromkeys(out))


def work(
    store_of: Callable[[Item], PointStore],
    items: Sequence[Item],
    budget_s: float,
    progress_for: Callable[[int, int, Item], Progress | None] = lambda i, n, item: None,
) -> int:
    """Evaluate ``items`` in order until ``budget_s`` seconds are spent (at least one).

    ``store_of(item)`` is the item's store (a view over several seeds has one per seed);
    ``progress_for(i, n, item)`` gives item ``i``'s per-batch progress callback. Returns
    how many items were evaluated.
    """
    start, done = time.monotonic(), 0
    for i, item in enumerate(items):
        if done and time.monotonic() - start > budget_s:
            break
        store_of(item).evaluate(item[0], item[1], progress_for(i, len(items), item))
        done += 1
    return done
