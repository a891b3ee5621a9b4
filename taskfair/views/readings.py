"""What the pages show beyond rows, computed from a point store: the recommended λ, the
Pareto front, the vectors' geometry and the bound's estimated L.

Every function reads exact points only; the dashboard caches their results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from taskfair.analysis import (
    LipschitzEstimate,
    estimate_lipschitz,
    gram_matrix,
    pareto_front,
    select_lambda,
)
from taskfair.metrics import OVERALL, overall_rows
from taskfair.sweep.bands import BANDS_VERSION, seed_band_record, with_bands
from taskfair.sweep.keys import digest
from taskfair.sweep.rows import concat_rows
from taskfair.sweep.settings import Setting, baseline_parts
from taskfair.sweep.store import PointStore

__all__ = [
    "RECOMMEND_WITHIN",
    "front",
    "lipschitz",
    "recommend",
    "seed_curve_frame",
    "vector_geometry",
]

#: The recommendation's accuracy margin: the fairest λ within this of FFT's accuracy.
RECOMMEND_WITHIN = 0.02


def front(
    frame: pd.DataFrame | None, metric: str, include_degenerate: bool = False
) -> pd.DataFrame | None:
    """The Pareto front (lower ``metric``, higher accuracy) of the exact points of one
    split, without degenerate points unless ``include_degenerate``."""
    if frame is None or frame.empty:
        return None
    exact = frame[frame["exact"].astype(bool)]
    if exact.empty:
        return None
    pts = pareto_front(
        exact, x=metric, y="accuracy", split=None, include_degenerate=include_degenerate
    )
    return pts.assign(group=OVERALL)


def recommend(
    store: PointStore,
    curve: Sequence[Setting],
    refs: Sequence[Setting],
    metric: str,
    include_degenerate: bool = False,
) -> dict | None:
    """λ chosen on validation (smallest ``metric`` within :data:`RECOMMEND_WITHIN` of FFT's
    accuracy, degenerate points left out unless ``include_degenerate``), once the
    validation grid and FFT are exact; None before that. Never looks at test. Returns
    ``{"lam", "selection", "text"}``; ``lam`` is None (and ``text`` says why) when every
    point is degenerate."""
    if "val" not in store.splits or any(not store.has(s, "val") for s in [*curve, *refs]):
        return None
    val = store.known_rows([*curve, *refs], "val")
    reference, ref_name = None, "FFT"
    # The FFT the page draws: the ordinary one, or its matched form (fft_balanced).
    ffts = [r.method for r in refs if (baseline_parts(r.method) or ("",))[0] == "fft"]
    if ffts and ffts[0] != "fft":
        ref_name = f"matched FFT, {ffts[0]}"
        reference = float(overall_rows(val[val["method"] == ffts[0]])["accuracy"].iloc[0])
    elif not (val["method"] == "fft").any():  # no FFT vector: the best task-addition point
        reference, ref_name = float(overall_rows(val)["accuracy"].max()), "the best λ"
    methods = tuple(dict.fromkeys(s.method for s in curve))
    try:
        sel = select_lambda(
            val,
            metric=metric,
            within=RECOMMEND_WITHIN,
            reference_accuracy=reference,
            methods=methods,
            include_degenerate=include_degenerate,
        )
    except ValueError as exc:  # every λ of the curve is degenerate: no honest choice
        return {"lam": None, "selection": None, "text": str(exc)}
    return {
        "lam": sel.lam,
        "selection": sel,
        "text": f"{sel.reason} ({ref_name}); chosen on **val** over {len(curve)} λ.",
    }


def vector_geometry(vectors: Mapping) -> dict:
    """Norms, Gram matrix and pairwise cosines of task vectors ``{name: TaskVector}``."""
    names, gram = gram_matrix(vectors)
    norms = np.sqrt(np.clip(np.diag(gram), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = gram / np.outer(norms, norms)
    return {
        "names": names,
        "gram": gram,
        "norms": dict(zip(names, norms.tolist(), strict=True)),
        "cosine": cos,
    }


def lipschitz(
    store: PointStore,
    settings: Sequence[Setting],
    split: str,
    geometry: Mapping,
    estimator: str = "per_example",
) -> LipschitzEstimate | None:
    """An empirical (lower) estimate of L from the exact points of a curve, or None with
    fewer than two (see :data:`taskfair.analysis.ESTIMATOR_NOTE`). ``geometry`` is
    :func:`vector_geometry` of the store's vectors."""
    exact = [(s, lg) for s in settings if (lg := store.logits(s, split)) is not None]
    if len(exact) < 2:
        return None
    names = list(store.groups)
    idx = [geometry["names"].index(n) for n in names]
    gram = np.asarray(geometry["gram"])[np.ix_(idx, idx)]
    return estimate_lipschitz(
        [lg for _, lg in exact],
        [s.effective for s, _ in exact],
        names,
        gram,
        pairs="adjacent",
        estimator=estimator,
        groups=store.split(split).groups if estimator == "group_mean" else None,
    )


def seed_curve_frame(
    stores: Sequence[PointStore], points: Sequence[tuple[float, Setting]], split: str
) -> pd.DataFrame:
    """Rows of one curve over several seeds (one store each): every seed's rows (exact,
    or previews between), so a figure draws their mean ± one standard error across
    seeds, and at each λ exact in every seed band columns holding the interval *of the
    seed mean* (:func:`taskfair.metrics.fairness_intervals` of every seed's predictions
    on the same rows), cached beside the first seed's points."""
    first = stores[0]
    frames = []
    for x, setting in points:
        per_seed = [st.curve_point(points, split, x, setting) for st in stores]
        logits = [st.logits(setting, split) for st in stores]
        record = None
        if all(lg is not None for lg in logits):
            name = "seeds" + digest([st.key(setting, split) for st in stores])[:48]
            name += f"v{BANDS_VERSION}"
            record = first.record(name, lambda lg=logits: seed_band_record(first.scorer(split), lg))
        frames += [with_bands(r, record) for r in per_seed if r is not None]
    return concat_rows(frames)
