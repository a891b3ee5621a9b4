"""The point store's intersections: an exact point read over several attributes at once.

The groups of a split crossed (e.g. gender × race, one cell per combination, with its
``n``) and scored from the point's cached logits by the count-table scorer: no model
time. :class:`StoreIntersections` is one part of
:class:`~taskfair.sweep.store.PointStore`, which supplies ``split``, ``key``, ``logits``,
``seed``, ``positive_label`` and the memo ``_crossed``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from taskfair.metrics import PreviewScorer, intersection_labels
from taskfair.sweep.rows import tidy_rows
from taskfair.sweep.settings import Setting

__all__ = ["StoreIntersections"]


class StoreIntersections:
    """Scorers and rows over the intersections of sensitive attributes."""

    def intersection_scorer(self, split: str, attributes: Sequence[str]) -> PreviewScorer:
        """The count-table scorer of a split over the intersections of ``attributes``."""
        memo = ("scorer", split, tuple(attributes))
        got = self._crossed.get(memo)
        if got is None:
            sp = self.split(split)
            if sp.attributes is None:
                raise ValueError(
                    "These evaluation rows keep one sensitive attribute only: rebuild the "
                    "bundle to read intersections."
                )
            cells = intersection_labels(sp.attributes, attributes).reset_index(drop=True)
            got = self._crossed[memo] = PreviewScorer(sp.labels, cells, self.positive_label)
        return got

    def intersection_rows(
        self, setting: Setting, split: str, attributes: Sequence[str]
    ) -> pd.DataFrame | None:
        """Tidy rows of an exact point with its groups read over the intersections of
        ``attributes`` (e.g. gender × race; one row per cell, with its ``n``), scored from
        the cached logits by the count-table scorer (equal to fairlearn with both
        attributes as sensitive features); None if the point is not exact."""
        logits = self.logits(setting, split)
        if logits is None:
            return None
        memo = (self.key(setting, split), tuple(attributes))
        got = self._crossed.get(memo)
        if got is None:
            sp, scorer = self.split(split), self.intersection_scorer(split, attributes)
            got, _ = tidy_rows(setting, split, self.seed, logits, sp.labels, None, scorer=scorer)
            self._crossed[memo] = got
        return got
