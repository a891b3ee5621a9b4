"""``python -m taskfair bench`` on an image bundle: the paper's per-λ pipeline against ours.

The same three columns as :mod:`taskfair.bench` (which hands image bundles to
:func:`run`), with the image equivalents:

(a) **naive** — per λ: build the merged state dict ``θ_0 + λ Σ_g τ_g`` as a new dict,
    write it to a temporary folder and read it back, then evaluate in batches of 32 in
    row order. The custom EfficientNet-Lite0 has no ``save_pretrained`` /
    ``from_pretrained``, so the disk round trip is its equivalent:
    :func:`taskfair.vision.save_efficientnet` + :func:`taskfair.vision.load_efficientnet`
    (safetensors), or ``save_pretrained`` / ``from_pretrained`` for a transformers image
    model. Images are decoded and resized once and that time is reported apart
    (``naive_decode_s``), which favours (a): a ``Dataset`` with transforms decodes every
    image again on every pass.
(b) **exact** — ours per λ: :meth:`taskfair.merge.Merger.apply` in place, then
    :func:`taskfair.evaluate.predict_encoded` on uint8 pixels decoded once (normalised
    batch by batch), batches of 64.
(c) **preview** — the interpolation preview over the exact global-λ grid, its redraw
    time at 10,000 rows and its agreement at held-out midpoints.

FLOPs of (b): :func:`taskfair.vision.conv_flops` (2 × multiply-accumulates of every
Conv2d and Linear layer at the bundle's input size; batch norm, activations and pooling
not counted) times the rows. Each phase runs in its own process, so its peak RSS is its
own. On a shared, loaded machine every timing is pessimistic.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskfair.grid import LAMBDA_GRID

__all__ = ["FLOPS_FORMULA", "is_image_bundle", "run", "run_bench"]

FLOPS_FORMULA = "FLOPs = rows × conv_flops(model, image_size) (Conv2d + Linear MACs × 2)"
_ATTR = "group"
_NAIVE_BATCH = 32
_PREVIEW_ROWS = 10_000


def is_image_bundle(path) -> bool:
    """True when ``path`` is a bundle whose dataset is images (manifest only, no weights)."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("dataset", {}).get("modality") == "image"


# ----------------------------------------------------------------------------- set-up


def _setup(spec: dict):
    """``(bundle, handle, vectors, frame)``: the subgroup vectors and ``rows`` eval rows
    (val then test, repeated when the bundle has fewer) as ``image, label, split, group``."""
    from taskfair.bundle import Bundle

    bundle = Bundle.open(spec["path"])
    handle = bundle.load_base(device=spec.get("device"), dtype=spec.get("dtype"))
    names = [g for g in bundle.groups if g in bundle.vector_names()]
    vectors = bundle.load_vectors(names=names)
    ev = bundle.eval_frame
    ev = pd.concat([ev[ev.split == "val"], ev[ev.split == "test"]])
    rows = int(spec["rows"])
    if len(ev) < rows:  # repeat rows to reach the asked size: same images, same work
        ev = pd.concat([ev] * math.ceil(rows / len(ev)))
    # A seeded sample, not the first rows: UTKFace's rows are ordered by file name, i.e.
    # by age, so the first 128 would be nearly all one label (EOD undefined).
    ev = ev.sample(n=rows, random_state=0).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "image": ev["image"].astype(str),
            "label": ev["label"].astype(int),
            "split": "val",
            _ATTR: ev[bundle.attribute],
        }
    )
    return bundle, handle, vectors, frame


def _image_size(handle) -> int:
    return int(handle.spec.get("image_size") or getattr(handle.processor, "image_size", 224))


def _round_trip(model, merged: dict, folder: Path):
    """Write ``merged`` to disk as the model's own format and read a fresh model back."""
    from taskfair import vision

    model.load_state_dict(merged)
    if isinstance(model, vision.EfficientNetLite0):
        vision.save_efficientnet(model, folder / "model.safetensors")
        return vision.load_efficientnet(folder / "model.safetensors")
    from transformers import AutoModelForImageClassification

    model.save_pretrained(folder)
    return AutoModelForImageClassification.from_pretrained(folder, use_safetensors=True)


# ----------------------------------------------------------------------------- phases


def _phase_naive(spec: dict, lams: list[float], out_dir: Path) -> dict:
    from taskfair.bench.driver import _max_rss_mb, _PeakRss, _sync
    from taskfair.evaluate import encode
    from taskfair.models import logits_of

    with _PeakRss() as rss:
        _, handle, vectors, frame = _setup(dict(spec, dtype=None))  # the paper ran fp32
        device = handle.device
        t = time.perf_counter()
        pixels = encode(handle.processor, frame["image"].tolist(), "image")
        decode_s = time.perf_counter() - t
        batches = [b for _, b in pixels.batches(_NAIVE_BATCH)]  # float inputs, row order
        base_sd = {k: v.detach().clone() for k, v in handle.model.state_dict().items()}
        work = copy.deepcopy(handle.model)
        with torch.no_grad():
            work(**{k: v.to(device) for k, v in batches[-1].items()})  # warm-up
        times = []
        for lam in lams:
            _sync(device)
            t = time.perf_counter()
            merged = {k: v.clone() for k, v in base_sd.items()}
            for vec in vectors.values():
                for k, d in vec.tensors.items():
                    merged[k] += lam * d.to(merged[k].device, merged[k].dtype)
            with tempfile.TemporaryDirectory() as tmp:
                model = _round_trip(work, merged, Path(tmp)).to(device).eval()
            out = []
            with torch.no_grad():
                for b in batches:
                    out.append(
                        logits_of(model(**{k: v.to(device) for k, v in b.items()})).float().cpu()
                    )
            _sync(device)
            times.append(time.perf_counter() - t)
            np.save(out_dir / f"naive_{lam:g}.npy", torch.cat(out).numpy())
            del model
    return {
        "naive_s": times,
        "naive_decode_s": decode_s,
        "naive_rss_mb": max(rss.mb, _max_rss_mb()),
        "device": str(device),
    }


def _phase_ours(spec: dict, lams: list[float], grid: list[float], out_dir: Path) -> dict:
    from taskfair import vision
    from taskfair.bench.driver import _PeakRss, _sync
    from taskfair.preview import InterpolationPreview, PreviewScorer, measure_error
    from taskfair.sweep import Evaluator, task_addition_settings

    result: dict = {}
    with _PeakRss() as rss:
        _, handle, vectors, frame = _setup(spec)
        device = handle.device
        ev = Evaluator(handle, vectors, frame, _ATTR, batch_size=int(spec.get("batch_size", 64)))
        t = time.perf_counter()
        ev.encoded("val")  # decoded once, uint8; no disk cache: the decode is timed
        result["exact_encode_s"] = time.perf_counter() - t
        groups = list(vectors)
        settings = {s.lam: s for s in task_addition_settings(groups, sorted(set(lams) | set(grid)))}
        ev.logits(settings[lams[0]].coeff_dict, "val")  # warm-up (allocator, kernels)
        merge_s, times, logits = [], [], {}
        for lam in lams:
            _sync(device)
            t = time.perf_counter()
            ev.merger.apply(settings[lam].coeff_dict)
            _sync(device)
            merge_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            logits[lam] = ev.logits(settings[lam].coeff_dict, "val")
            _sync(device)
            times.append(time.perf_counter() - t)
            np.save(out_dir / f"exact_{lam:g}.npy", logits[lam])
        size = _image_size(handle)
        per_image = vision.conv_flops(ev.merger.model, size)
        result.update(
            exact_s=times,
            merge_s=merge_s,
            exact_flops=float(per_image) * len(frame),
            flops_per_image=per_image,
            image_size=size,
            rows=len(frame),
        )
    result["exact_rss_mb"] = rss.mb

    with _PeakRss() as rss:
        t = time.perf_counter()
        for lam in grid:
            if lam not in logits:
                logits[lam] = ev.logits(settings[lam].coeff_dict, "val")
        preview = InterpolationPreview(grid, [logits[x] for x in grid])
        labels, grp = ev.labels("val"), ev.groups("val")
        setup = time.perf_counter() - t + sum(times[lams.index(x)] for x in grid if x in lams)
        mids = [round((a + b) / 2, 10) for a, b in zip(grid[:-1], grid[1:], strict=True)]
        if spec.get("quick"):
            mids = mids[::2]
        exact_mid = {
            m: ev.logits(task_addition_settings(groups, [m])[0].coeff_dict, "val") for m in mids
        }
        err = measure_error(preview.logits, exact_mid.__getitem__, mids, labels, grp)
        reps = math.ceil(_PREVIEW_ROWS / len(frame))
        big = InterpolationPreview(
            grid, [np.tile(logits[x], (reps, 1))[:_PREVIEW_ROWS] for x in grid]
        )
        scorer = PreviewScorer(
            np.tile(labels, reps)[:_PREVIEW_ROWS],
            pd.concat([grp] * reps, ignore_index=True).iloc[:_PREVIEW_ROWS],
        )
        probe = [m + 0.013 for m in mids] or [grid[0]]
        scorer.report(big.logits(probe[0]))
        ms = []
        for _ in range(4):
            for lam in probe:
                t = time.perf_counter()
                scorer.report(big.logits(min(lam, grid[-1])))
                ms.append((time.perf_counter() - t) * 1e3)
    result.update(
        preview_setup_s=setup,
        preview_ms=statistics.median(ms),
        preview_ms_max=max(ms),
        preview_agreement=err["agreement"],
        preview_agreement_min=err["agreement_min"],
        preview_d_accuracy=err["d_accuracy"],
        preview_d_dpd=err["d_dpd"],
        preview_d_eod=err["d_eod"],
        preview_rss_mb=max(rss.mb, result["exact_rss_mb"]),
        device=str(device),
        threads=torch.get_num_threads(),
    )
    return result


def _run_phase(phase: str, spec: dict, lams, grid, out_dir: Path, timeout: float) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "taskfair.bench.image",
        "--phase",
        phase,
        "--spec",
        json.dumps(spec),
        "--lams",
        ",".join(map(str, lams)),
        "--grid",
        ",".join(map(str, grid)),
        "--out-dir",
        str(out_dir),
    ]
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"bench phase {phase!r} failed:\n{proc.stderr[-4000:]}")
    return json.loads((out_dir / f"{phase}.json").read_text())


def _phase_main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskfair.bench.image")
    p.add_argument("--phase", required=True, choices=["naive", "ours"])
    p.add_argument("--spec", required=True)
    p.add_argument("--lams", required=True)
    p.add_argument("--grid", required=True)
    p.add_argument("--out-dir", required=True)
    a = p.parse_args(argv)
    spec, out = json.loads(a.spec), Path(a.out_dir)
    lams = [float(x) for x in a.lams.split(",")]
    grid = [float(x) for x in a.grid.split(",")]
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    res = (
        _phase_naive(spec, lams, out) if a.phase == "naive" else _phase_ours(spec, lams, grid, out)
    )
    (out / f"{a.phase}.json").write_text(json.dumps(res))
    return 0


# ----------------------------------------------------------------------------- driver


def run_bench(spec: dict, quick: bool = False, rows: int | None = None, progress=print) -> dict:
    """(a), (b), (c) on an image bundle (``spec["path"]``); the JSON-able result dict."""
    from taskfair.bench.driver import matmul_gflops

    if rows is None and not quick:
        from taskfair.bundle import Bundle

        frame = Bundle.open(spec["path"]).eval_frame
        rows = int(frame["split"].isin(["val", "test"]).sum())
    rows = int(rows or 128)
    spec = dict(spec, rows=rows, quick=bool(quick), kind="bundle")
    naive_lams = [0.5] if quick else [0.3, 0.5, 0.7]
    exact_lams = [0.3, 0.5, 0.7]  # grid points: the preview reuses them
    grid = list(LAMBDA_GRID)
    device = spec.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    if spec.get("threads"):
        torch.set_num_threads(int(spec["threads"]))
    progress(f"bench (images): {spec['path']}, {rows} rows, device {device}")
    size = 8192 if str(device).startswith("cuda") else 2048
    gflops = matmul_gflops(device, n=size, reps=3 if quick else 5)
    progress(f"matmul fp32: {gflops:.1f} GFLOP/s")
    with tempfile.TemporaryDirectory(prefix="taskfair-bench-") as tmp:
        out = Path(tmp)
        timeout = 600 if quick else 3600
        t = time.perf_counter()
        naive = _run_phase("naive", spec, naive_lams, grid, out, timeout)
        progress(f"(a) naive done in {time.perf_counter() - t:.1f}s")
        t = time.perf_counter()
        ours = _run_phase("ours", spec, exact_lams, grid, out, timeout)
        progress(f"(b)+(c) ours done in {time.perf_counter() - t:.1f}s")
        agree = [
            float(
                (
                    np.load(out / f"naive_{lam:g}.npy").argmax(1)
                    == np.load(out / f"exact_{lam:g}.npy").argmax(1)
                ).mean()
            )
            for lam in sorted(set(naive_lams) & set(exact_lams))
        ]
    naive_s, exact_s = statistics.mean(naive["naive_s"]), statistics.mean(ours["exact_s"])
    achieved = ours["exact_flops"] / exact_s / 1e9
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "modality": "image",
        "naive_s_per_lambda": naive_s,
        "exact_s_per_lambda": exact_s,
        "speedup": naive_s / exact_s,
        "preview_ms": ours["preview_ms"],
        "preview_ms_max": ours["preview_ms_max"],
        "preview_rows": _PREVIEW_ROWS,
        "preview_setup_s": ours["preview_setup_s"],
        "preview_agreement": ours["preview_agreement"],
        "preview_agreement_min": ours["preview_agreement_min"],
        "preview_d_accuracy": ours["preview_d_accuracy"],
        "preview_d_dpd": ours["preview_d_dpd"],
        "preview_d_eod": ours["preview_d_eod"],
        "matmul_gflops": gflops,
        "achieved_gflops": achieved,
        "matmul_fraction": achieved / gflops,
        "flops_formula": FLOPS_FORMULA,
        "gflops_per_image": ours["flops_per_image"] / 1e9,
        "image_size": ours["image_size"],
        "peak_rss_mb": {
            "naive": naive["naive_rss_mb"],
            "exact": ours["exact_rss_mb"],
            "preview": ours["preview_rss_mb"],
        },
        "naive_decode_s": naive["naive_decode_s"],
        "exact_encode_s": ours["exact_encode_s"],
        "merge_ms": 1e3 * statistics.mean(ours["merge_s"]),
        "naive_exact_agreement": min(agree) if agree else math.nan,
        "rows": ours["rows"],
        "lambdas": {"naive": naive_lams, "exact": exact_lams, "preview_grid": grid},
        "device": ours["device"],
        "threads": ours["threads"],
        "load_avg": list(load),
        "quick": bool(quick),
        "setup": {k: v for k, v in spec.items() if v is not None},
    }


def table(res: dict) -> str:
    """The result as the text table the CLI prints."""
    rss = res["peak_rss_mb"]
    return "\n".join(
        [
            f"{'':<34}{'(a) paper pipeline':>20}{'(b) exact (ours)':>18}{'(c) preview':>14}",
            f"{'seconds per λ':<34}{res['naive_s_per_lambda']:>20.3f}"
            f"{res['exact_s_per_lambda']:>18.3f}{res['preview_ms'] / 1e3:>14.4f}",
            f"{'speedup vs (a)':<34}{1.0:>20.1f}{res['speedup']:>18.2f}"
            f"{res['naive_s_per_lambda'] / (res['preview_ms'] / 1e3):>14.0f}",
            f"{'peak RSS (MB)':<34}{rss['naive']:>20.0f}{rss['exact']:>18.0f}"
            f"{rss['preview']:>14.0f}",
            f"{'one-time set-up (s)':<34}{res['naive_decode_s']:>20.2f}"
            f"{res['exact_encode_s']:>18.2f}{res['preview_setup_s']:>14.2f}",
            "",
            f"rows {res['rows']} images at {res['image_size']} px "
            f"({res['gflops_per_image']:.3f} GFLOP each); device {res['device']}, "
            f"{res['threads']} threads, load avg {res['load_avg'][0]:.2f}",
            f"(a) decodes once, apart (set-up row): a Dataset decoding per pass would add "
            f"{res['naive_decode_s']:.2f} s per λ; its disk round trip is the safetensors "
            "state dict (the custom CNN has no save_pretrained)",
            f"matmul fp32 {res['matmul_gflops']:.1f} GFLOP/s; (b) achieves "
            f"{res['achieved_gflops']:.1f} GFLOP/s = {100 * res['matmul_fraction']:.0f}% of it "
            f"({FLOPS_FORMULA}; depthwise convs are memory-bound)",
            f"merge {res['merge_ms']:.1f} ms per λ; (a) vs (b) prediction agreement "
            f"{res['naive_exact_agreement']:.4f}",
            f"preview: {res['preview_ms']:.2f} ms per redraw at {res['preview_rows']} rows (max "
            f"{res['preview_ms_max']:.2f}); agreement at held-out midpoints "
            f"{res['preview_agreement']:.4f} (min {res['preview_agreement_min']:.4f}), max "
            f"|Δacc| {res['preview_d_accuracy']:.4f}, |ΔDPD| {res['preview_d_dpd']:.4f}, "
            f"|ΔEOD| {res['preview_d_eod']:.4f}",
        ]
    )


def run(args) -> int:
    """The CLI entry for an image bundle (``args`` as parsed by :func:`taskfair.bench.configure`)."""
    spec = {
        "path": str(args.bundle),
        "device": args.device,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "threads": args.threads,
    }
    res = run_bench(spec, quick=args.quick, rows=args.rows, progress=lambda m: print(m, flush=True))
    print(table(res))
    if args.json:
        from taskfair.io import atomic_write_json

        atomic_write_json(args.json, res)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_phase_main())
