"""The mechanism-control tables of docs/FINDINGS.md ("Mechanism controls").

    python scripts/controls.py --bundle models/demo --lams 0.5 1.0 --out controls-demo.md

For one seed of a bundle: task addition at each λ, the prior-only controls subtracted,
the validation-threshold recalibration and τ_none added, each against the matched FFT
with 95% paired intervals (taskfair.analysis.controls). Controls whose vectors the bundle
lacks are listed as skipped: build it with `controls: [prior_only, no_group]`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from taskfair.analysis.controls import control_table, table_markdown
from taskfair.bundle import Bundle
from taskfair.io import atomic_write_bytes, atomic_write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True, help="bundle folder")
    p.add_argument("--lams", type=float, nargs="+", default=[0.5, 1.0], help="task addition λ")
    p.add_argument("--seed", type=int, default=None, help="the bundle's first seed by default")
    p.add_argument("--n-boot", type=int, default=1000, help="paired bootstrap resamples")
    p.add_argument("--device", default=None)
    p.add_argument("--out", default=None, help="markdown file (a .json beside it)")
    args = p.parse_args(argv)
    bundle = Bundle.open(args.bundle)
    t0 = time.perf_counter()
    records = control_table(bundle, args.lams, args.seed, args.n_boot, args.device)
    seed = bundle.seeds[0] if args.seed is None else args.seed
    against = records[0]["against"]
    kind = "the matched FFT" if records[0]["matched"] else "the ordinary FFT (no matched one)"
    text = (
        f"Bundle {bundle.name}, seed {seed}, test rows, against {against}: {kind} "
        f"({args.n_boot} paired resamples; Δ = row − {against}; "
        f"{time.perf_counter() - t0:.0f} s)\n\n{table_markdown(records)}\n"
    )
    print(text)
    if args.out:
        out = Path(args.out)
        atomic_write_bytes(out, text.encode())
        atomic_write_json(out.with_suffix(".json"), records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
