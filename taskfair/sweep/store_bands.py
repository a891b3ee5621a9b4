"""The point store's uncertainty: bootstrap bands, paired differences, per-group CIs.

Each is computed from a point's cached logits (no model time) and, for bands and paired
differences, kept as a named JSON record beside the points so that a redraw never
resamples twice. :class:`StoreBands` is one part of
:class:`~taskfair.sweep.store.PointStore`, which supplies ``split``, ``key``, ``logits``,
``scorer``, ``cache``, ``persist`` and the memo ``_bands``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pandas as pd

from taskfair.metrics import fairness_report
from taskfair.sweep.bands import band_name, band_record, intact, pair_name, pair_record
from taskfair.sweep.settings import Setting

__all__ = ["StoreBands"]


class StoreBands:
    """Named records (bands, paired differences) and fairlearn's per-group bootstrap."""

    def record(self, name: str, make: Callable[[], dict]) -> dict:
        """A named JSON record (a band, a paired difference) from memory, else the sweep
        cache, else ``make()`` -- then stored beside the points when the cache is
        writable (in memory only otherwise), so a redraw never resamples twice. A stored
        record of an older version or whose checksum fails is a miss: made again."""
        memo = self._bands
        got = memo.get(name)
        if got is None and self.cache is not None:
            got = self.cache.get_json(name)
        if got is not None and not intact(got):
            got = None
        if got is None:
            got = make()
            if self.persist and self.cache is not None:
                with contextlib.suppress(OSError, ValueError):  # read-only: memory only
                    self.cache.put_json(name, got)
        memo[name] = got
        return got

    def bands(self, setting: Setting, split: str) -> dict | None:
        """The 95% bootstrap band record of an exact point (count-table bootstrap over the
        split's rows, from its cached logits: no model time), or None if not exact. See
        :func:`taskfair.metrics.fairness_intervals`."""
        logits = self.logits(setting, split)
        if logits is None:
            return None
        name = band_name(self.key(setting, split))
        return self.record(name, lambda: band_record(self.scorer(split), logits))

    def paired(self, a: Setting, b: Setting, split: str, looks: int = 1) -> dict | None:
        """Paired intervals of ``a − b`` (accuracy, DPD, EOD) on the same rows, from both
        points' cached logits; None unless both are exact. ``looks``: how many such
        differences a page reads together (e.g. every λ of a grid; Šidák). See
        :func:`taskfair.metrics.paired_intervals`."""
        la, lb = self.logits(a, split), self.logits(b, split)
        if la is None or lb is None:
            return None
        name = pair_name(self.key(a, split), self.key(b, split))
        name += f"looks{int(looks)}" if looks > 1 else ""
        return self.record(name, lambda: pair_record(self.scorer(split), la, lb, looks=looks))

    def bootstrap(self, setting: Setting, split: str, n_boot: int = 200) -> pd.DataFrame | None:
        """Per-group bootstrap CIs (fairlearn) of an exact point; None if it is not exact."""
        logits = self.logits(setting, split)
        if logits is None:
            return None
        sp = self.split(split)
        rep = fairness_report(
            sp.labels, logits.argmax(axis=1), sensitive_features=sp.groups, n_boot=n_boot
        )
        return rep.by_group
