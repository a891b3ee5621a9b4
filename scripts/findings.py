"""Why a bundle's task-addition model does what it does: the tables of docs/FINDINGS.md.

    python scripts/findings.py models/demo                 # Markdown on stdout
    python scripts/findings.py models/demo --out FILE.md   # ... and into a file
    python scripts/findings.py models/demo --sections data,geometry

Everything is computed from the bundle (its manifest, logs, vectors and eval rows); the
only model work is exact evaluation of a few dozen merges on the val and test rows
(about 15 s each on 2 CPU cores), whose logits are kept in ``<bundle>/findings/`` so a
rerun costs nothing. Sections:

* ``data``: each subgroup's training rows (count, share toxic) and the eval rows;
* ``training``: learning rate, epochs (run, chosen on validation), rows, trained tensors;
* ``geometry``: norms, pairwise cosines, the mean vector and each vector's residual, and
  where each vector's norm sits (classifier head, pooler, blocks, embeddings);
* ``effects``: test accuracy, ROC AUC of the logit margin, accuracy at a threshold
  chosen on validation, selection rates, DPD and EOD of: each vector alone, sum and mean,
  the mean and the residuals, head-only and body-only parts, the output-space
  ensembles (the same combinations taken on logits instead of weights), FFT and LoRA;
* ``grid``: task addition over the λ grid (sum and mean), with each point's lowest and
  highest group selection rate;
* ``choice``: λ chosen on validation (smallest DPD within 0.02 of FFT's validation
  accuracy, :func:`taskfair.analysis.select_lambda`), its test numbers against FFT's
  with the paired intervals of the differences in DPD and EOD on the same test rows
  (:func:`taskfair.metrics.paired_intervals`).

Label encoding: 1 = the positive class (HateXplain "toxic"); the margin is
``logit[1] - logit[0]`` and a row is predicted positive when it is > 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from taskfair.analysis import select_lambda
from taskfair.build.config import BuildConfig
from taskfair.build.dataset import load_checked
from taskfair.build.sampling import train_samples
from taskfair.bundle import Bundle
from taskfair.grid import LAMBDA_GRID
from taskfair.metrics import fairness_intervals, fairness_report, paired_intervals
from taskfair.sweep import OVERALL, Evaluator, Setting
from taskfair.vectors import TaskVector

SECTIONS = ("data", "training", "geometry", "effects", "grid", "choice")
HEAD_PREFIX = "classifier."  # the new, seeded two-class head of a *ForSequenceClassification
N_BOOT = 1000
#: --quick: a coarse grid (mean at λ is sum at λ/G: mean 1.0 = sum 0.25 for 4 groups).
QUICK_LAMS = {"sum": (0.25, 0.5, 0.75, 1.0), "mean": (0.5, 1.0)}


# ----------------------------------------------------------------------------- parts


def part_of(key: str) -> str:
    """Which part of the network a state-dict key belongs to (BERT-style names)."""
    if key.startswith(HEAD_PREFIX) or key.startswith("_fc."):
        return "head"
    if ".pooler." in key or key.startswith("pooler."):
        return "pooler"
    if ".embeddings." in key or key.startswith("embeddings.") or key.startswith("_conv_stem"):
        return "embeddings"
    for marker in (".layer.", "_blocks."):
        if marker in key:
            rest = key.split(marker, 1)[1]
            head = rest.split(".", 1)[0]
            if head.isdigit():
                return f"block {int(head)}"
    return "other"


def restrict(vec: TaskVector, keep) -> TaskVector:
    """The entries of ``vec`` whose key satisfies ``keep(key)`` (others left out = 0)."""
    return TaskVector({k: t for k, t in vec.items() if keep(k)}, dict(vec.meta))


def is_head(key: str) -> bool:
    return part_of(key) == "head"


# ----------------------------------------------------------------------------- metrics


def margin(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    return logits[:, 1] - logits[:, 0]


def _best_threshold(m: np.ndarray, y: np.ndarray) -> float:
    """The margin threshold with the highest accuracy on (m, y) (midpoints of sorted m)."""
    order = np.argsort(m)
    ms, ys = m[order], y[order]
    # predicted positive iff m > t; t below all -> all positive
    pos_right = np.concatenate([[ys.sum()], ys.sum() - np.cumsum(ys)])
    neg_left = np.concatenate([[0], np.cumsum(1 - ys)])
    acc = (pos_right + neg_left) / len(ys)
    k = int(np.argmax(acc))
    if k == 0:
        return float(ms[0] - 1.0)
    if k == len(ms):
        return float(ms[-1] + 1.0)
    return float((ms[k - 1] + ms[k]) / 2)


def point_metrics(val_logits, test_logits, ev: Evaluator) -> dict:
    """Test metrics of one point (val is used only for the calibrated threshold)."""
    y, g = ev.labels("test"), ev.groups("test")
    m = margin(test_logits)
    pred = (m > 0).astype(int)
    rep = fairness_report(y, pred, sensitive_features=g)
    sel = rep.by_group["selection_rate"]
    t = _best_threshold(margin(val_logits), ev.labels("val"))
    grouped = g.notna().to_numpy()
    return {
        "accuracy": rep.accuracy,
        "acc (grouped rows)": float((pred[grouped] == y[grouped]).mean()),
        "acc (no-group rows)": float((pred[~grouped] == y[~grouped]).mean()),
        "auc": float(roc_auc_score(y, m)),
        "acc_at_val_threshold": float(((m > t).astype(int) == y).mean()),
        "selection_rate": float(pred.mean()),
        "min_group_sel": float(sel.min()),
        "max_group_sel": float(sel.max()),
        "dpd": rep.dpd,
        "eod": rep.eod,
        "mean_margin": float(m.mean()),
        "margin_sd": float(m.std()),
    }


# ----------------------------------------------------------------------------- cache


class LogitCache:
    """Logits of named points, on val and test, kept in ``<bundle>/findings/``.

    A point's file is named by the hash of the base weights, the eval rows, and the
    checksums of the vector files its coefficients draw on (a derived vector such as
    ``mean·head`` draws on every subgroup's file), so bundles that share files (a copy
    whose subgroup vectors were retrained) share the points that use only those.
    """

    def __init__(self, bundle: Bundle, seed: int):
        self.dir = bundle.root / "findings"
        art = bundle.manifest["artifacts"]
        self.stamp = json.dumps([bundle.base_fingerprint_of(seed), art.get("eval.parquet"), seed])
        self.files = {e.name: art.get(e.path) for e in bundle.vector_entries(seed)}
        self.groups = bundle.groups
        self.bundle, self.seed = bundle, seed
        self._ev: Evaluator | None = None
        self.vectors: dict[str, TaskVector] = {}

    def _deps(self, name: str) -> list[str]:
        root = name.split("·", 1)[0]
        return self.groups if root == "mean" else [root]

    def _file(self, coeffs: dict[str, float]) -> Path:
        deps = sorted({d for n in coeffs for d in self._deps(n)})
        key = json.dumps([self.stamp, [self.files[d] for d in deps], sorted(coeffs.items())])
        return self.dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"

    def evaluator(self) -> Evaluator:
        if self._ev is None:
            base = self.bundle.load_base(seed=self.seed)
            self._ev = Evaluator(
                base,
                self.vectors,
                self.bundle.eval_frame,
                self.bundle.attribute,
                base_fingerprint=self.bundle.base_fingerprint_of(self.seed),
                seed=self.seed,
            )
        return self._ev

    def logits(self, coeffs: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
        f = self._file(coeffs)
        if f.is_file():
            with np.load(f) as z:
                return z["val"], z["test"]
        out = self.evaluator().logits_many(coeffs, ["val", "test"])
        self.dir.mkdir(exist_ok=True)
        tmp = f.with_suffix(".tmp.npz")
        np.savez(tmp, val=out["val"], test=out["test"])
        tmp.replace(f)
        return out["val"], out["test"]


# ----------------------------------------------------------------------------- sections


def _cell(value, floatfmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (float, np.floating)):
        return format(float(value), floatfmt)
    return str(value)


def _md(frame: pd.DataFrame, floatfmt: str = ".3f", index: bool = False) -> str:
    """A Markdown (pipe) table of ``frame``."""
    if index:
        frame = frame.reset_index()
    head = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(v, floatfmt) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def _rows_used_share(bundle: Bundle) -> dict[str, float]:
    """Share of label 1 among each subgroup's training rows, re-drawn with the build's own
    sampling (deterministic in the config)."""
    cfg = BuildConfig.from_dict(bundle.manifest["config"])
    ds, groups = load_checked(cfg)
    samples = train_samples(ds, cfg, groups)
    return {g: float(ds.frame.loc[samples[g], "label"].mean()) for g in groups}


def section_data(bundle: Bundle) -> str:
    ds = bundle.manifest["dataset"]
    used = ds.get("train_rows_used", {})
    rates = ds["base_rates"]
    counts = ds["group_counts"]
    share_used = _rows_used_share(bundle)
    ev = bundle.eval_frame
    test = ev[ev["split"] == "test"]
    rows = []
    for g in bundle.groups:
        rows.append(
            {
                "group": g,
                "train rows (all)": counts["train"].get(g),
                "share toxic (all train rows)": rates["train"].get(g),
                "train rows used": used.get(g),
                "share toxic (rows used)": share_used.get(g),
                "share toxic (test)": rates["test"].get(g),
                "test rows (eval)": int((test[bundle.attribute] == g).sum()),
            }
        )
    rows.append(
        {
            "group": "(no group)",
            "train rows (all)": counts["train"].get("(no group)"),
            "share toxic (all train rows)": rates["train"].get("(no group)"),
            "train rows used": "0 (FFT: its share)",
            "share toxic (rows used)": None,
            "share toxic (test)": rates["test"].get("(no group)"),
            "test rows (eval)": int(test[bundle.attribute].isna().sum()),
        }
    )
    rows.append(
        {
            "group": "all rows",
            "train rows (all)": ds["split_sizes"]["train"],
            "share toxic (all train rows)": rates["train"].get("__overall__"),
            "train rows used": f"{used.get('fft')} (FFT, LoRA)",
            "share toxic (rows used)": None,
            "share toxic (test)": rates["test"].get("__overall__"),
            "test rows (eval)": len(test),
        }
    )
    return _md(pd.DataFrame(rows).astype(object))


def section_training(bundle: Bundle, seed: int) -> str:
    rows = []
    for name in bundle.vector_names(seed):
        log = bundle.log(name, seed)
        hp = log.get("hparams", {})
        rows.append(
            {
                "vector": name,
                "rows": log.get("rows_used"),
                "lr": log.get("lr"),
                "epochs run": log.get("epochs_run"),
                "chosen epoch": log.get("chosen_epoch"),
                "trained layers": "all" if hp.get("train_layers") is None else hp["train_layers"],
                "trainable params": log.get("trainable_params"),
                "steps": log.get("steps"),
                "val acc by epoch: all rows / selection rows": "; ".join(
                    f"{e['val_accuracy']:.3f} / {e['select_accuracy']:.3f}" for e in log["epochs"]
                ),
                "seconds": log.get("seconds"),
            }
        )
    return _md(pd.DataFrame(rows), ".3g")


def section_geometry(vectors: dict[str, TaskVector], groups: list[str]) -> str:
    taus = [vectors[g] for g in groups]
    mean = TaskVector.sum(taus) / len(taus)
    out = []
    cos = pd.DataFrame(
        [[taus[i].cosine(taus[j]) for j in range(len(taus))] for i in range(len(taus))],
        index=groups,
        columns=groups,
    )
    names = [g for g in groups] + [n for n in ("fft", "lora") if n in vectors]
    rows = []
    for n in names:
        v = vectors[n]
        norms = v.layer_norms()
        tot = sum(x * x for x in norms.values())
        by_part: dict[str, float] = {}
        for k, x in norms.items():
            p = part_of(k)
            p = "blocks" if p.startswith("block") else p
            by_part[p] = by_part.get(p, 0.0) + x * x
        row = {"vector": n, "norm": math.sqrt(tot)}
        for p in ("head", "pooler", "blocks", "embeddings"):
            row[f"{p} share of norm²"] = by_part.get(p, 0.0) / tot if tot else math.nan
        if n in groups:
            res = v - mean
            row["cos(τ_g, mean)"] = v.cosine(mean)
            row["‖residual‖/‖τ_g‖"] = res.norm() / v.norm()
        if n == "fft":
            row["cos(τ_FFT, mean)"] = v.cosine(mean)
        rows.append(row)
    out.append(
        "Pairwise cosines of the subgroup vectors:\n\n"
        + _md(cos.rename_axis("").round(3), index=True)
    )
    out.append(
        f"Norm of the mean vector m = (1/G) Σ τ_g: {mean.norm():.4g} "
        f"(the mean of the norms is {np.mean([t.norm() for t in taus]):.4g}; "
        f"for G orthogonal vectors of equal norm it would be 1/√G = {1 / math.sqrt(len(taus)):.2f} "
        "of it).\n\n" + _md(pd.DataFrame(rows), ".3g")
    )
    # head weights in detail: the bias entries and the weight rows' difference
    hrows = []
    for n in names:
        v = vectors[n]
        b = v.tensors.get(HEAD_PREFIX + "bias")
        w = v.tensors.get(HEAD_PREFIX + "weight")
        if b is None or w is None:
            continue
        hrows.append(
            {
                "vector": n,
                "Δ bias (toxic − normal)": float(b[1] - b[0]),
                "‖Δ w_toxic − Δ w_normal‖": float((w[1] - w[0]).double().norm()),
            }
        )
    if hrows:
        out.append(
            "The classifier head's change (bias difference moves every row's margin by the "
            "same amount):\n\n" + _md(pd.DataFrame(hrows), ".3g")
        )
    return "\n\n".join(out)


def effect_points(
    vectors: dict[str, TaskVector],
    groups: list[str],
    residuals: bool = False,
    quick: bool = False,
) -> list[tuple[str, dict]]:
    """(label, coeffs) over an extended vector dict; adds derived vectors to ``vectors``.

    ``residuals`` adds each group's body-only part and its residual τ_g − m alone (8 more
    evaluations for 4 groups); ``quick`` keeps only the base, each vector alone, the
    mean, its head-only and body-only parts, sum at λ = 1, FFT and LoRA."""
    G = len(groups)
    taus = [vectors[g] for g in groups]
    mean = TaskVector.sum(taus) / G
    vectors["mean"] = mean
    vectors["mean·head"] = restrict(mean, is_head)
    vectors["mean·body"] = restrict(mean, lambda k: not is_head(k))
    pts: list[tuple[str, dict]] = [("base (λ = 0)", {})]
    for g in groups:
        vectors[f"{g}·head"] = restrict(vectors[g], is_head)
        vectors[f"{g}·body"] = restrict(vectors[g], lambda k: not is_head(k))
        vectors[f"{g}·residual"] = vectors[g] - mean
        pts.append((f"{g} alone (λ_g = 1)", {g: 1.0}))
    if quick:
        pts += [
            ("mean: sum at λ = 1/G", {g: 1.0 / G for g in groups}),
            ("sum at λ = 1", {g: 1.0 for g in groups}),
            ("mean, head part only", {"mean·head": 1.0}),
            ("mean, body part only", {"mean·body": 1.0}),
        ]
        return pts + [(n.upper(), {n: 1.0}) for n in ("fft", "lora") if n in vectors]
    pts += [
        ("mean: sum at λ = 1/G", {g: 1.0 / G for g in groups}),
        ("sum at λ = 0.5", {g: 0.5 for g in groups}),
        ("sum at λ = 1", {g: 1.0 for g in groups}),
        ("mean, head part only", {"mean·head": 1.0}),
        ("mean, body part only", {"mean·body": 1.0}),
        ("sum, head part only", {"mean·head": float(G)}),
        ("sum, body part only", {"mean·body": float(G)}),
    ]
    for g in groups:
        pts.append((f"{g}: head part only", {f"{g}·head": 1.0}))
    if residuals:
        for g in groups:
            pts.append((f"{g}: body part only", {f"{g}·body": 1.0}))
            pts.append((f"{g}: residual τ_g − m only", {f"{g}·residual": 1.0}))
    for n in ("fft", "lora"):
        if n in vectors:
            pts.append((n.upper(), {n: 1.0}))
    if "fft" in vectors:
        vectors["fft·head"] = restrict(vectors["fft"], is_head)
        vectors["fft·body"] = restrict(vectors["fft"], lambda k: not is_head(k))
        pts.append(("FFT, head part only", {"fft·head": 1.0}))
        pts.append(("FFT, body part only", {"fft·body": 1.0}))
    return pts


def section_effects(cache: LogitCache, groups: list[str], quick: bool = False):
    pts = effect_points(cache.vectors, groups, quick=quick)
    ev = cache.evaluator()
    # The derived vectors were added after the evaluator was made: rebuild its merger.
    if any(n not in ev.names for _, c in pts for n in c):
        cache._ev = None
        ev = cache.evaluator()
    logits = {}
    rows = []
    for i, (label, coeffs) in enumerate(pts):
        print(f"[{i + 1}/{len(pts)}] {label}", file=sys.stderr, flush=True)
        logits[label] = cache.logits(coeffs)
        rows.append({"model": label, **point_metrics(*logits[label], ev)})
    # Output-space combinations: the same sums taken on the logit margins (no merge).
    base_v, base_t = (margin(x) for x in logits["base (λ = 0)"])
    dv = [margin(logits[f"{g} alone (λ_g = 1)"][0]) - base_v for g in groups]
    dt = [margin(logits[f"{g} alone (λ_g = 1)"][1]) - base_t for g in groups]

    def as_logits(m):
        return np.stack([np.zeros_like(m), m], axis=1)

    G = len(groups)
    for label, scale in (
        ("output space: base + mean of the Δmargins", 1.0 / G),
        ("output space: base + sum of the Δmargins", 1.0),
    ):
        lv = as_logits(base_v + scale * np.sum(dv, axis=0))
        lt = as_logits(base_t + scale * np.sum(dt, axis=0))
        logits[label] = (lv, lt)
        rows.append({"model": label, **point_metrics(lv, lt, ev)})
    frame = pd.DataFrame(rows)
    # Linearity: how much of the merged margin change the output-space sum predicts.
    lin = []
    for merged, out in (
        ("mean: sum at λ = 1/G", "output space: base + mean of the Δmargins"),
        ("sum at λ = 1", "output space: base + sum of the Δmargins"),
    ):
        a = margin(logits[merged][1]) - base_t
        b = margin(logits[out][1]) - base_t
        lin.append(
            {
                "merge": merged,
                "corr(Δmargin merged, Δmargin output-space)": float(np.corrcoef(a, b)[0, 1]),
                "mean Δmargin merged": float(a.mean()),
                "mean Δmargin output-space": float(b.mean()),
                "same prediction": float((((a + base_t) > 0) == ((b + base_t) > 0)).mean()),
            }
        )
    text = (
        _md(frame)
        + "\n\nWeight space against output space (test rows):\n\n"
        + _md(pd.DataFrame(lin))
    )
    return text, logits


def grid_frame(cache: LogitCache, groups: list[str], lams, normalizes=("sum", "mean")):
    """Tidy sweep rows (:data:`taskfair.sweep.COLUMNS`) of task addition over ``lams``
    for each normalisation, plus FFT, LoRA and the base, on val and test."""
    ev = cache.evaluator()
    settings = [
        Setting("task_addition", lam, n, {g: lam for g in groups})
        for n in normalizes
        for lam in lams
    ]
    settings += [Setting(n, None, "sum", {n: 1.0}) for n in ("fft", "lora") if n in ev.names]
    settings.append(Setting("base", None, "sum", {}))
    frames = []
    for i, st in enumerate(settings):
        print(f"[grid {i + 1}/{len(settings)}] {st.label()} ({st.normalize})", file=sys.stderr)
        eff = {k: v for k, v in st.effective.items() if v != 0.0}
        val, test = cache.logits(eff)
        for split, lg in (("val", val), ("test", test)):
            frames.append(ev.tidy(st, split, lg)[0])
    return pd.concat(frames, ignore_index=True)


def section_grid(df: pd.DataFrame) -> str:
    test = df[df["split"] == "test"]
    rows = []
    for (method, normalize, lam, _coeffs), part in test.groupby(
        ["method", "normalize", "lam", "coeffs"], dropna=False, sort=False
    ):
        top = part[part["group"] == OVERALL].iloc[0]
        grp = part[part["group"] != OVERALL]
        rows.append(
            {
                "method": method if method != "task_addition" else f"TA ({normalize})",
                "λ": lam,
                "accuracy": top["accuracy"],
                "selection rate": top["selection_rate"],
                "min group sel.": grp["selection_rate"].min(),
                "max group sel.": grp["selection_rate"].max(),
                "DPD": top["dpd"],
                "EOD": top["eod"],
            }
        )
    return _md(pd.DataFrame(rows))


def bootstrap(y, groups: pd.Series, preds: dict, n_boot: int = N_BOOT, seed: int = 0) -> dict:
    """95% intervals of DPD and EOD of each prediction vector in ``preds`` and of the
    paired differences ``preds[k] - preds[ref]`` for ``ref`` the first key, on the same
    rows: :func:`taskfair.metrics.fairness_intervals` / :func:`paired_intervals`, the
    intervals every page shows (estimates are fairlearn's numbers)."""
    out: dict = {}
    for key, p in preds.items():
        r = fairness_intervals(y, p, sensitive_features=groups, random_state=seed, n_boot=n_boot)
        out[key] = {m: (r[m].estimate, r[m].lo, r[m].hi) for m in ("dpd", "eod")}
    ref = next(iter(preds))
    for key in preds:
        if key == ref:
            continue
        d = paired_intervals(y, preds[key], preds[ref], sensitive_features=groups,
                             random_state=seed, n_boot=n_boot)  # fmt: skip
        for m in ("dpd", "eod"):
            out[key][f"d_{m}"] = (d[m].estimate, d[m].lo, d[m].hi)
    return out


def section_choice(grid: pd.DataFrame, cache: LogitCache) -> str:
    out = []
    ev = cache.evaluator()
    y, g = ev.labels("test"), ev.groups("test")
    _, fft_t = cache.logits({"fft": 1.0})
    fft_pred = (margin(fft_t) > 0).astype(int)
    fft_acc = float((fft_pred == y).mean())

    def fmt(t):
        return f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"

    def fmt_d(t):
        return f"{t[0]:+.3f} [{t[1]:+.3f}, {t[2]:+.3f}]"

    for normalize in sorted(set(grid.loc[grid["method"] == "task_addition", "normalize"])):
        val = grid[grid["split"] == "val"]
        val = val[(val["method"] != "task_addition") | (val["normalize"] == normalize)]
        for metric in ("dpd", "eod"):
            sel = select_lambda(val, metric=metric, within=0.02, methods=("task_addition",))
            st = Setting("task_addition", sel.lam, normalize, json.loads(sel.coeffs))
            _, lt = cache.logits({k: v for k, v in st.effective.items() if v != 0.0})
            pred = (margin(lt) > 0).astype(int)
            rep = fairness_report(y, pred, sensitive_features=g)
            rates = rep.by_group["selection_rate"]
            b = bootstrap(y, g, {"fft": fft_pred, "ta": pred})
            out.append(
                {
                    "TA": normalize,
                    "chosen by": f"min val {metric.upper()}",
                    "feasible": sel.feasible,
                    "λ": sel.lam,
                    "val acc (FFT val)": f"{sel.val_metrics['accuracy']:.3f} "
                    f"({sel.reference_accuracy:.3f})",
                    "test acc": rep.accuracy,
                    "FFT test acc": fft_acc,
                    "group sel. rates": ", ".join(f"{k} {v:.2f}" for k, v in rates.items()),
                    "DPD [95% CI]": fmt(b["ta"]["dpd"]),
                    "FFT DPD": fmt(b["fft"]["dpd"]),
                    "ΔDPD vs FFT [95% CI]": fmt_d(b["ta"]["d_dpd"]),
                    "EOD [95% CI]": fmt(b["ta"]["eod"]),
                    "FFT EOD": fmt(b["fft"]["eod"]),
                    "ΔEOD vs FFT [95% CI]": fmt_d(b["ta"]["d_eod"]),
                }
            )
    return _md(pd.DataFrame(out))


# ----------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--out", default=None, help="also write the Markdown here")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="screening: fewer effect points and a coarse λ grid (sum 0.25..1, mean 0.5, 1)",
    )
    args = ap.parse_args(argv)
    want = [s.strip() for s in args.sections.split(",") if s.strip()]
    bundle = Bundle.open(args.bundle)
    seed = bundle.seeds[0] if args.seed is None else args.seed
    cache = LogitCache(bundle, seed)
    cache.vectors.update(bundle.load_vectors(seed=seed))
    groups = bundle.groups
    parts = [f"## {bundle.name} (seed {seed}, config hash {bundle.manifest['config_hash'][:12]})"]
    lams = QUICK_LAMS if args.quick else {"sum": LAMBDA_GRID, "mean": LAMBDA_GRID}
    grid = None
    for s in want:
        if s == "data":
            parts.append("### Rows per group\n\n" + section_data(bundle))
        elif s == "training":
            parts.append("### Training runs\n\n" + section_training(bundle, seed))
        elif s == "geometry":
            parts.append(
                "### Geometry of the vectors\n\n" + section_geometry(cache.vectors, groups)
            )
        elif s == "effects":
            text, _ = section_effects(cache, groups, quick=args.quick)
            parts.append("### Effects on the test rows\n\n" + text)
        elif s in ("grid", "choice"):
            if grid is None:
                grid = pd.concat(
                    [grid_frame(cache, groups, lams[n], (n,)) for n in ("sum", "mean")],
                    ignore_index=True,
                ).drop_duplicates(subset=["method", "lam", "normalize", "split", "group"])
            if s == "grid":
                parts.append(
                    "### Task addition over the λ grid (test rows)\n\n" + section_grid(grid)
                )
            else:
                parts.append(
                    "### λ chosen on validation, reported on test\n\n" + section_choice(grid, cache)
                )
        else:
            ap.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
