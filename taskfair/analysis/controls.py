"""The mechanism controls measured: does the collapse of the paper's form go away?

For one seed of a bundle, task addition ``θ₀ + λ Σ_g τ_g`` at each λ and three controls,
each scored on the test rows against the *matched* FFT (``fft_balanced`` in a bundle of
the balanced variant, else ``fft``: the paper's FFT draws its rows as the paper's
subgroup vectors do) with paired intervals (:func:`taskfair.metrics.paired_intervals`:
Δaccuracy, ΔDPD, ΔEOD, Δselection rate, the same resampled rows for both):

``prior_subtracted``  ``θ₀ + λ Σ_g (τ_g − τ_g^prior)``, the prior-only control vectors
                      (``controls: [prior_only]``, :mod:`taskfair.build.controls`)
                      subtracted: what is left once each group's label prior is removed.
``val_threshold``     task addition with its decision threshold chosen on the validation
                      rows' accuracy (:func:`~taskfair.analysis.diagnostics.best_threshold`),
                      then read on test. A threshold is itself a fairness lever: it moves
                      every group's selection rate, so these DPD / EOD are those of a
                      recalibrated predictor, not of the merge.
``with_no_group``     ``θ₀ + λ (Σ_g τ_g + τ_none)``, the vector of the rows in no group
                      (``controls: [no_group]``) added.

None of them changes the training rows of the paper's vectors: (a) and (c) add vectors
trained on the same or other rows, (b) only reads the merge's logits. A control whose
vectors the bundle lacks is skipped (said in the result).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taskfair.analysis.diagnostics import best_threshold, margins
from taskfair.bundle import Bundle
from taskfair.io import safe_child

__all__ = ["CONTROL_ROWS", "control_table", "matched_fft", "table_markdown"]

#: The rows of a controls table, in order (``task_addition``: the merge itself).
CONTROL_ROWS = ("task_addition", "prior_subtracted", "val_threshold", "with_no_group")
#: A prediction this one-sided (share of one class) counts as collapsed.
COLLAPSE = 0.95
_DELTAS = ("accuracy", "dpd", "eod", "selection_rate")


def matched_fft(names: Sequence[str]) -> str:
    """The FFT the controls compare with: ``fft_balanced`` when the bundle has it, else
    ``fft`` (matched in a bundle of the paper's form, the ordinary one in a balanced
    bundle built before matched baselines: records then say ``matched: False``)."""
    return "fft_balanced" if "fft_balanced" in names else "fft"


def _evaluator(bundle: Bundle, seed: int, device=None):
    from taskfair.build.controls import CONTROL_DIR
    from taskfair.sweep import Evaluator
    from taskfair.sweep.keys import bundle_max_length
    from taskfair.vectors import TaskVector

    handle = bundle.load_base(device=device, seed=seed)
    vectors = bundle.load_vectors(seed=seed)
    for entry in bundle.manifest.get("controls", []):
        path = entry["path"]
        ours = int(entry["seed"]) == seed and path.startswith(CONTROL_DIR + "/")
        if ours and (bundle.root / path).is_file():
            vectors[entry["name"]] = TaskVector.load(
                safe_child(bundle.root, path),
                expect_base_fingerprint=bundle.base_fingerprint_of(seed),
            )
    return Evaluator(
        handle,
        vectors,
        bundle.eval_frame,
        bundle.attribute,
        base_fingerprint=bundle.base_fingerprint_of(seed),
        max_length=bundle_max_length(bundle),
        seed=seed,
    )


def _coeffs(row: str, lam: float, groups: Sequence[str], names: Sequence[str]) -> dict | None:
    if row in ("task_addition", "val_threshold"):
        return {g: lam for g in groups}
    if row == "prior_subtracted":
        if not all(f"prior-{g}" in names for g in groups):
            return None
        return {**{g: lam for g in groups}, **{f"prior-{g}": -lam for g in groups}}
    if "no-group" not in names:
        return None
    return {**{g: lam for g in groups}, "no-group": lam}


def control_table(
    bundle: Bundle,
    lams: Sequence[float] = (0.5, 1.0),
    seed: int | None = None,
    n_boot: int = 1000,
    device=None,
) -> list[dict]:
    """One record per (control row, λ): the test accuracy, selection rate, DPD, EOD,
    whether it collapsed, and Δ against the matched FFT with 95% paired intervals
    (``d_<metric>``: ``(estimate, lo, hi)``); ``skipped`` names a control the bundle
    cannot run. The matched FFT's own record comes first (``row == "matched_fft"``)."""
    from taskfair.metrics import paired_intervals

    seed = bundle.seeds[0] if seed is None else int(seed)
    ev = _evaluator(bundle, seed, device)
    names, groups = ev.names, [g for g in bundle.groups if g in ev.names]
    y = {s: ev.labels(s) for s in ("val", "test")}
    sens = ev.groups("test").astype(object).where(ev.groups("test").notna(), None)
    memo = _cached(bundle, seed, groups, names, lams)

    def logits(coeffs: dict) -> dict:
        key = tuple(sorted(coeffs.items()))
        if key not in memo:
            memo[key] = ev.logits_many(coeffs, ["val", "test"])
        return memo[key]

    fft = matched_fft(names)
    variant = bundle.manifest.get("config", {}).get("group_sampling", "stratified")
    matched = fft != "fft" or variant == "stratified"
    ref = logits({fft: 1.0})["test"].argmax(axis=1)
    out = [_record("matched_fft", None, fft, ref, ref, y["test"], sens, paired_intervals, 0)]
    out[0]["matched"] = matched
    for lam in lams:
        for row in CONTROL_ROWS:
            coeffs = _coeffs(row, lam, groups, names)
            if coeffs is None:
                out.append({"row": row, "lam": lam, "against": fft, "skipped": "no vectors"})
                continue
            lg = logits(coeffs)
            if row == "val_threshold":
                t = best_threshold(margins(lg["val"]), y["val"])
                pred = (margins(lg["test"]) > t).astype(int)
            else:
                pred = lg["test"].argmax(axis=1)
            rec = _record(row, lam, fft, pred, ref, y["test"], sens, paired_intervals, n_boot)
            if row == "val_threshold":
                rec["threshold"] = t
            out.append(rec)
    return out


def _cached(bundle, seed, groups, names, lams) -> dict[tuple, dict]:
    """The logits the bundle's sweep cache already holds (task addition at ``lams``, the
    reference points) on val and test, keyed as :func:`control_table` keys merges."""
    from taskfair.sweep import PointStore, reference_settings, task_addition_settings

    store = PointStore.for_bundle(bundle, seed)
    out = {}
    for setting in [*task_addition_settings(groups, lams), *reference_settings(names)]:
        got = {split: store.logits(setting, split) for split in ("val", "test")}
        if all(v is not None for v in got.values()):
            out[tuple(sorted(setting.effective.items()))] = got
    return out


def _record(row, lam, fft, pred, ref, labels, sens, paired, n_boot) -> dict:
    rate = float(pred.mean())
    rec = {
        "row": row,
        "lam": lam,
        "against": fft,
        "accuracy": float((pred == labels).mean()),
        "selection_rate": rate,
        "collapsed": max(rate, 1 - rate) >= COLLAPSE,
    }
    if n_boot:
        got = paired(labels, pred, ref, sensitive_features=sens.to_numpy(), n_boot=n_boot)
        for m in _DELTAS:
            iv = got[m]
            rec[f"d_{m}"] = (float(iv.estimate), float(iv.lo), float(iv.hi))
    return rec


def _iv(t) -> str:
    if t is None:
        return "—"
    est, lo, hi = t
    if not np.isfinite(est):
        return "n/a"
    return f"{est:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def table_markdown(records: Sequence[dict]) -> str:
    """The records as a markdown table (one line per control row and λ)."""
    head = (
        "| row | λ | accuracy | selection rate | collapsed | Δaccuracy | ΔDPD | ΔEOD | "
        "Δselection rate |\n|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in records:
        lam = "" if r["lam"] is None else f"{r['lam']:g}"
        if "skipped" in r:
            lines.append(f"| {r['row']} | {lam} | skipped: {r['skipped']} ||||||| ")
            continue
        lines.append(
            f"| {r['row']} | {lam} | {r['accuracy']:.3f} | {r['selection_rate']:.3f} | "
            f"{'yes' if r['collapsed'] else 'no'} | "
            + " | ".join(_iv(r.get(f"d_{m}")) for m in _DELTAS)
            + " |"
        )
    return "\n".join(lines)
