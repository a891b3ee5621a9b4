"""Check that a bundle gives the same numbers on the GPU as on the CPU.

    python scripts/gpu_check.py models/demo [--lams 0 0.5 1]

For each lambda (task addition, "sum") it evaluates the bundle's test rows exactly on
both devices and prints the largest logit difference, the share of predictions that
agree and both reports' accuracy, DPD and EOD. It exits 1 if predictions agree on fewer
than 99.5% of rows (fp32 kernels differ in summation order, so logits are close, not
bit-equal).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from taskfair.bundle import Bundle
from taskfair.merge import task_addition_coeffs
from taskfair.sweep import Evaluator


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle")
    ap.add_argument("--lams", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 0
    bundle = Bundle.open(args.bundle)
    ev = {d: Evaluator.from_bundle(bundle, device=d) for d in ("cpu", "cuda")}
    worst = 1.0
    for lam in args.lams:
        coeffs = task_addition_coeffs(bundle.groups, lam, "sum")
        out = {}
        for d, e in ev.items():
            t0 = time.perf_counter()
            out[d] = e.logits(coeffs, "test")
            out[d + "_s"] = time.perf_counter() - t0
        agree = float((out["cpu"].argmax(1) == out["cuda"].argmax(1)).mean())
        worst = min(worst, agree)
        rc, rg = ev["cpu"].report(coeffs, "test"), ev["cuda"].report(coeffs, "test")
        print(
            f"lambda={lam:.2f} max|dlogit|={np.abs(out['cpu'] - out['cuda']).max():.2e} "
            f"agreement={agree:.4f} cpu acc/dpd/eod={rc.accuracy:.4f}/{rc.dpd:.4f}/{rc.eod:.4f} "
            f"cuda={rg.accuracy:.4f}/{rg.dpd:.4f}/{rg.eod:.4f} "
            f"time cpu={out['cpu_s']:.2f}s cuda={out['cuda_s']:.3f}s"
        )
    return 0 if worst >= 0.995 else 1


if __name__ == "__main__":
    sys.exit(main())
