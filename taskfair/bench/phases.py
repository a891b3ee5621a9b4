"""The measured phases of ``bench``, each run in a child process of its own.

``python -m taskfair.bench --phase naive|ours --modality text|image ...`` runs one phase
(see :func:`main`) and writes its figures to ``<out-dir>/<phase>.json`` and the logits of
each timed λ to ``<out-dir>/{naive,exact}_<λ>.npy``, so that the driver can check that
(a) and (b) predict alike. One phase per process: each one's peak RSS is its own.

(a) :func:`naive`: the paper's pipeline per λ (the merged state dict built as a new dict,
    the modality's disk round trip, evaluation in row order), in float32.
(b) :func:`ours`, first half: :meth:`taskfair.merge.Merger.apply` in place, then
    :func:`taskfair.inference.predict_encoded` on inputs encoded once.
(c) :func:`ours`, second half: :class:`taskfair.sweep.InterpolationPreview` over the
    exact global-λ grid plus :class:`taskfair.metrics.PreviewScorer`: the time to redraw
    the metrics of a new λ at :data:`PREVIEW_ROWS` rows (``preview_ms``), its one-time
    set-up (the exact grid, ``preview_setup_s``) and its error against exact evaluation
    at the held-out midpoints of the grid (agreement, |Δaccuracy|, |ΔDPD|, |ΔEOD|);
    then, in fairness units against :data:`taskfair.sweep.refine.PREVIEW_TARGET`, the
    error at held-out λ a third of the way into grid steps (never evaluated for the
    preview itself) before and after adaptive refinement
    (:func:`taskfair.sweep.refine.propose_lambda`: exact points added where
    neighbouring exact points disagree most).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskfair.bench.modality import MODALITIES, Modality
from taskfair.bench.probes import PeakRss, matmul_gflops, matmul_size, max_rss_mb, sync
from taskfair.bench.workload import ATTR
from taskfair.inference import predict_encoded
from taskfair.metrics import PreviewScorer
from taskfair.models import logits_of
from taskfair.sweep import Evaluator, InterpolationPreview, measure_error, task_addition_settings
from taskfair.sweep.refine import MIN_WIDTH, PREVIEW_TARGET, propose_lambda, target_met

__all__ = ["PHASES", "PREVIEW_ROWS", "main", "naive", "ours"]

PHASES = ("naive", "ours")
#: the rows a preview redraw is timed at (the eval rows tiled: same work per row)
PREVIEW_ROWS = 10_000
#: exact points adaptive refinement may add beyond the grid (quick, full)
REFINE_BUDGET = (12, 24)


def naive(modality: Modality, spec: dict, lams: list[float], out_dir: Path) -> dict:
    """(a): the paper's per-λ pipeline; the logits of each λ saved for the agreement check."""
    with PeakRss() as rss:
        # the paper's pipeline runs in float32 whatever (b) uses
        work = modality.workload(dict(spec, dtype=None))
        device = work.handle.device
        batches, figures = modality.naive_inputs(work.handle, work.frame)
        base_sd = {k: v.detach().clone() for k, v in work.handle.model.state_dict().items()}
        model = copy.deepcopy(work.handle.model)
        with torch.no_grad():  # warm-up (allocator, kernels)
            model(**{k: v.to(device) for k, v in batches[-1].items()})
        times = []
        for lam in lams:
            sync(device)
            t = time.perf_counter()
            merged = {k: v.clone() for k, v in base_sd.items()}
            for vec in work.vectors.values():
                for k, d in vec.tensors.items():
                    merged[k] += lam * d.to(merged[k].device, merged[k].dtype)
            with tempfile.TemporaryDirectory() as tmp:
                fresh = modality.round_trip(model, merged, Path(tmp)).to(device).eval()
            out = []
            with torch.no_grad():
                for b in batches:
                    out.append(
                        logits_of(fresh(**{k: v.to(device) for k, v in b.items()})).float().cpu()
                    )
            sync(device)
            times.append(time.perf_counter() - t)
            np.save(out_dir / f"naive_{lam:g}.npy", torch.cat(out).numpy())
            del fresh
    return {
        "naive_s": times,
        **figures,
        "naive_rss_mb": max(rss.mb, max_rss_mb()),
        "device": str(device),
    }


def ours(
    modality: Modality, spec: dict, lams: list[float], grid: list[float], out_dir: Path
) -> dict:
    """(b) exact evaluation per λ, then (c) the preview over ``grid`` and its held-out error."""
    with PeakRss() as rss:
        result, ev, settings, logits = _exact(modality, spec, lams, grid, out_dir)
    result["exact_rss_mb"] = rss.mb
    # the set-up a user waits for once counts the grid points already timed in (b) at
    # their measured cost
    timed = dict(zip(lams, result["exact_s"], strict=True))
    with PeakRss() as rss:
        result.update(_preview(ev, settings, logits, timed, grid, quick=bool(spec.get("quick"))))
    result["preview_rss_mb"] = max(rss.mb, result["exact_rss_mb"])
    result.update(device=str(ev.handle.device), threads=torch.get_num_threads())
    return result


def _exact(modality: Modality, spec: dict, lams, grid, out_dir: Path):
    """(b); returns its figures, the evaluator, the settings of every λ and their logits."""
    work = modality.workload(spec)
    device = work.handle.device
    ev = Evaluator(
        work.handle,
        work.vectors,
        work.frame,
        ATTR,
        base_fingerprint=work.base_fingerprint,
        **modality.evaluator_options(spec),
    )
    t = time.perf_counter()
    enc = ev.encoded("val")  # once, in memory (no pixel cache): the encoding is timed
    result: dict = {"exact_encode_s": time.perf_counter() - t}
    groups = list(work.vectors)
    settings = {s.lam: s for s in task_addition_settings(groups, sorted(set(lams) | set(grid)))}
    # warm-up on the anchor weights (allocator, kernels; the compile when asked): no merge
    forward = ev._forward or ev.merger.model
    predict_encoded(forward, enc, ev.batch_size)
    # the matmul rate right before and after (b), in (b)'s dtype and process: on a
    # shared machine the load moves, and (b) is judged against what it could get
    dtype = next(ev.merger.model.parameters()).dtype
    rate = functools.partial(matmul_gflops, device, n=matmul_size(device), reps=3, dtype=dtype)
    near = [rate()] if modality.RATE_BESIDE_EXACT else []
    merge_s, times, logits = [], [], {}
    for lam in lams:
        # exactly what Evaluator.logits does (one merge under the lock, then the
        # evaluation), with the merge's share timed on its own
        with ev.merger.lock:
            sync(device)
            t = time.perf_counter()
            ev.merger.apply(settings[lam].coeff_dict)
            sync(device)
            merged = time.perf_counter()
            logits[lam] = predict_encoded(forward, enc, ev.batch_size).logits
            sync(device)
            done = time.perf_counter()
        merge_s.append(merged - t)
        times.append(done - t)
        np.save(out_dir / f"exact_{lam:g}.npy", logits[lam])
    if near:
        near.append(rate())
        result["matmul_near_b"] = statistics.mean(near)
    result.update(
        exact_s=times, merge_s=merge_s, rows=len(work.frame), **modality.exact_figures(ev, enc)
    )
    return result, ev, settings, logits


def _preview(ev, settings, logits: dict, timed: dict, grid, quick: bool) -> dict:
    """(c): the preview's set-up over ``grid``, its held-out error, its redraw time."""
    t = time.perf_counter()
    for lam in grid:
        if lam not in logits:
            logits[lam] = ev.logits(settings[lam].coeff_dict, "val")
    preview = InterpolationPreview(grid, [logits[x] for x in grid])
    labels, grp = ev.labels("val"), ev.groups("val")
    PreviewScorer(labels, grp)
    setup = time.perf_counter() - t + sum(s for lam, s in timed.items() if lam in grid)
    mids = [round((a + b) / 2, 10) for a, b in zip(grid[:-1], grid[1:], strict=True)]
    if quick:
        mids = mids[::2]  # every other held-out midpoint: fewer exact evaluations
    groups = list(ev.vectors)
    exact_mid = {
        m: ev.logits(task_addition_settings(groups, [m])[0].coeff_dict, "val") for m in mids
    }
    err = measure_error(preview.logits, exact_mid.__getitem__, mids, labels, grp)
    # redraw cost at PREVIEW_ROWS rows: tile the rows (same work per row as real ones)
    reps = math.ceil(PREVIEW_ROWS / len(labels))
    big = InterpolationPreview(grid, [np.tile(logits[x], (reps, 1))[:PREVIEW_ROWS] for x in grid])
    big_scorer = PreviewScorer(
        np.tile(labels, reps)[:PREVIEW_ROWS],
        pd.concat([grp] * reps, ignore_index=True).iloc[:PREVIEW_ROWS],
    )
    probe = [m + 0.013 for m in mids[:: max(1, len(mids) // 5)]] or [grid[0]]
    big_scorer.report(big.logits(probe[0]))
    ms = []
    for _ in range(4):
        for lam in probe:
            t = time.perf_counter()
            big_scorer.report(big.logits(min(lam, grid[-1])))
            ms.append((time.perf_counter() - t) * 1e3)
    refined = _refine(ev, groups, dict(logits), grid, labels, grp, quick)
    return {
        **refined,
        "preview_setup_s": setup,
        "preview_ms": statistics.median(ms),
        "preview_ms_max": max(ms),
        "preview_agreement": err["agreement"],
        "preview_agreement_min": err["agreement_min"],
        "preview_d_accuracy": err["d_accuracy"],
        "preview_d_dpd": err["d_dpd"],
        "preview_d_eod": err["d_eod"],
    }


def held_out(grid, quick: bool) -> list[float]:
    """λ the preview is judged at before and after refinement: a third and two thirds of
    the way into each grid step (quick: a third of the way into every other step).
    Refinement only ever adds midpoints of intervals, so none of these is ever an exact
    anchor of the preview."""
    steps = list(zip(grid[:-1], grid[1:], strict=True))
    if quick:
        return [round(a + (b - a) / 3, 10) for a, b in steps[::2]]
    return [round(a + f * (b - a), 10) for a, b in steps for f in (1 / 3, 2 / 3)]


def _refine(ev, groups, anchors: dict, grid, labels, grp, quick: bool) -> dict:
    """The preview's error in fairness units at held-out λ, on the grid alone and after
    adaptive refinement (up to :data:`REFINE_BUDGET` extra exact points)."""

    def exact_at(lam):
        return ev.logits(task_addition_settings(groups, [lam])[0].coeff_dict, "val")

    held = held_out(list(grid), quick)
    truth = {lam: exact_at(lam) for lam in held}
    before = measure_error(
        InterpolationPreview({x: anchors[x] for x in grid}).logits, truth.__getitem__, held,
        labels, grp,
    )  # fmt: skip
    scorer = PreviewScorer(labels, grp)
    added, budget = [], REFINE_BUDGET[0] if quick else REFINE_BUDGET[1]
    t = time.perf_counter()
    while len(added) < budget:
        lam = propose_lambda(anchors, scorer, PREVIEW_TARGET, MIN_WIDTH)
        if lam is None:
            break
        if lam in truth:  # pragma: no cover - held-out λ are never midpoints
            raise RuntimeError("refinement proposed a held-out λ")
        anchors[lam] = exact_at(lam)
        added.append(lam)
    refine_s = time.perf_counter() - t
    after = measure_error(
        InterpolationPreview(anchors).logits, truth.__getitem__, held, labels, grp
    )
    return {
        "preview_target": PREVIEW_TARGET,
        "preview_heldout": held,
        "preview_before_agreement": before["agreement"],
        "preview_before_d_accuracy": before["d_accuracy"],
        "preview_before_d_dpd": before["d_dpd"],
        "preview_before_d_eod": before["d_eod"],
        "preview_before_target_met": target_met(before),
        "preview_refined_points": added,
        "preview_refine_s": refine_s,
        "preview_refined_converged": len(added) < budget,
        "preview_refined_agreement": after["agreement"],
        "preview_refined_d_accuracy": after["d_accuracy"],
        "preview_refined_d_dpd": after["d_dpd"],
        "preview_refined_d_eod": after["d_eod"],
        "preview_target_met": target_met(after),
    }


def main(argv=None) -> int:
    """The child process's entry: one phase, its figures to ``<out-dir>/<phase>.json``."""
    p = argparse.ArgumentParser(prog="python -m taskfair.bench")
    p.add_argument("--phase", required=True, choices=PHASES)
    p.add_argument("--modality", required=True, choices=sorted(MODALITIES))
    p.add_argument("--spec", required=True)
    p.add_argument("--lams", required=True)
    p.add_argument("--grid", required=True)
    p.add_argument("--out-dir", required=True)
    a = p.parse_args(argv)
    modality, spec, out = MODALITIES[a.modality], json.loads(a.spec), Path(a.out_dir)
    lams = [float(x) for x in a.lams.split(",")]
    grid = [float(x) for x in a.grid.split(",")]
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    if a.phase == "naive":
        res = naive(modality, spec, lams, out)
    else:
        res = ours(modality, spec, lams, grid, out)
    (out / f"{a.phase}.json").write_text(json.dumps(res))
    return 0
