"""The point store's previews and curves: what a slider shows between exact points.

A curve's preview at ``x`` interpolates the logits of the two nearest exact points
(memoised, bounded, shared by every session); its measured error is the leave-one-out
error over the exact points of the curve; adaptive refinement orders the points still
to evaluate by how much their exact neighbours disagree. The reference predictors'
rows are read here too (scored once per split). :class:`StoreCurves` is one part of
:class:`~taskfair.sweep.store.PointStore`, which supplies ``split``, ``key``, ``rows``,
``logits``, ``has``, ``bands``, ``seed``, ``positive_label`` and the memos these
methods fill (``_scorers``, ``_previews``, ``_disagree``, ``_references``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from taskfair.metrics import PreviewScorer
from taskfair.sweep.bands import with_bands
from taskfair.sweep.plan import Item
from taskfair.sweep.preview import InterpolationPreview, bracket
from taskfair.sweep.preview_error import leave_one_out_error
from taskfair.sweep.refine import disagreement, refine_order
from taskfair.sweep.rows import concat_rows, reference_rows, tidy_rows
from taskfair.sweep.settings import Setting

__all__ = ["StoreCurves"]


class StoreCurves:
    """Previews, curve frames, preview error, refinement order, reference predictors."""

    def scorer(self, split: str) -> PreviewScorer:
        """The count-table scorer of a split's labels and groups (built once)."""
        scorer = self._scorers.get(split)
        if scorer is None:
            sp = self.split(split)
            scorer = PreviewScorer(sp.labels, sp.groups, self.positive_label)
            self._scorers[split] = scorer
        return scorer

    def preview_rows(self, setting: Setting, split: str, logits: np.ndarray) -> pd.DataFrame:
        """Tidy rows of a *preview* from its logits (``exact=False``), scored with the fast
        scorer (the same numbers as fairlearn, about 100× faster)."""
        scorer = self.scorer(split)
        sp = self.split(split)
        rows, _ = tidy_rows(
            setting, split, self.seed, logits, sp.labels, sp.groups, exact=False, scorer=scorer
        )
        return rows

    def curve_point(
        self, points: Sequence[tuple[float, Setting]], split: str, x: float, setting: Setting
    ) -> pd.DataFrame | None:
        """Rows of ``setting`` at position ``x`` of a 1-D curve ``[(x_i, setting_i)]``: its
        exact rows if evaluated, else a preview interpolating the logits of the two
        nearest exact points (``exact=False``); None without an exact point on each side."""
        rows = self.rows(setting, split)
        if rows is not None:
            return rows
        exact = sorted(
            ((xi, s, lg) for xi, s in points if (lg := self.logits(s, split)) is not None),
            key=lambda e: e[0],
        )
        found = bracket([e[0] for e in exact], x)
        if found is None:
            return None
        lo, hi = exact[found[0]], exact[found[1]]
        # A preview is a pure function of its two exact neighbours, which never change once
        # stored: every session redrawing the same curve shares it.
        memo = (setting, split, round(float(x), 10), lo[0], lo[1], hi[0], hi[1])
        got = self._previews.get(memo)
        if got is None:
            logits = InterpolationPreview({lo[0]: lo[2], hi[0]: hi[2]}).logits(x)
            got = self.preview_rows(setting, split, logits)
            self._previews[memo] = got
        return got.copy()

    def curve_frame(
        self, points: Sequence[tuple[float, Setting]], split: str, bands: bool = False
    ) -> pd.DataFrame:
        """Rows of every point of a curve: exact where evaluated, previews between. With
        ``bands``, each exact point's rows carry its bootstrap band columns
        (:data:`taskfair.sweep.bands.BAND_COLUMNS`; NaN on previews)."""
        frames = []
        for x, s in points:
            rows = self.curve_point(points, split, x, s)
            if rows is not None and bands:
                rows = with_bands(rows, self.bands(s, split))
            frames.append(rows)
        return concat_rows(frames)

    def with_bands(self, setting: Setting, split: str) -> pd.DataFrame | None:
        """The exact rows of a point with its band columns, or None if not exact."""
        rows = self.rows(setting, split)
        return None if rows is None else with_bands(rows, self.bands(setting, split))

    def preview_error(self, points: Sequence[tuple[float, Setting]], split: str) -> dict | None:
        """Measured error of the curve's interpolation preview: each interior exact point
        predicted from its exact neighbours (leave-one-out, across twice the spacing:
        pessimistic). None with fewer than 3 exact points."""
        exact = {x: lg for x, s in points if (lg := self.logits(s, split)) is not None}
        if len(exact) < 3:
            return None
        sp = self.split(split)
        err = leave_one_out_error(exact, sp.labels, sp.groups)
        err["scheme"] = "leave-one-out over exact points"
        return err

    def refined_plan(
        self, plan: Sequence[Item], points: Sequence[tuple[float, Setting]], split: str
    ) -> list[Item]:
        """``plan`` with its items of the curve ``points`` on ``split`` that are not exact
        yet reordered by adaptive refinement (:func:`taskfair.sweep.refine.refine_order`):
        the interval whose exact ends disagree most in fairness units first. The plan's
        first item (the point the user looks at) and every other item keep their place."""
        at = {s: x for x, s in points}
        slots = [
            i
            for i, item in enumerate(plan)
            if i and item[1] == split and item[0] in at and not self.has(item[0], split)
        ]
        exact = sorted(((x, s) for x, s in points if self.has(s, split)), key=lambda e: e[0])
        if len(slots) < 2 or len(exact) < 2:
            return list(plan)
        scores = {}
        for (a, sa), (b, sb) in zip(exact, exact[1:], strict=False):
            pair = (self.key(sa, split), self.key(sb, split))
            if pair not in self._disagree:
                la, lb = self.logits(sa, split), self.logits(sb, split)
                if la is None or lb is None:
                    continue
                self._disagree[pair] = disagreement(self.scorer(split), la, lb)["score"]
            scores[a, b] = self._disagree[pair]
        ordered = refine_order([(at[plan[i][0]], plan[i]) for i in slots], scores)
        out = list(plan)
        for i, (_, item) in zip(slots, ordered, strict=True):
            out[i] = item
        return out

    # -- reference predictors -----------------------------------------------------------
    def reference_rows(self, split: str) -> pd.DataFrame:
        """Tidy rows of the split's reference predictors (constant all-positive and
        all-negative, label oracle), scored by fairlearn once per split."""
        got = self._references.get(split)
        if got is None:
            sp = self.split(split)
            got = reference_rows(split, sp.labels, sp.groups, self.positive_label)
            got["seed"] = pd.array([self.seed] * len(got), dtype="Int64")
            self._references[split] = got
        return got
