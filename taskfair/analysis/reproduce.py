"""``python -m taskfair reproduce --bundle DIR [--out DIR]``: the claims report of a bundle.

Sweeps (or reads from the bundle's sweep cache) task addition over the λ grid, subgroup
injection at one λ and the FFT / LoRA / base references on the test rows, for every seed
of the bundle; judges the paper's claims C1–C5 (:mod:`taskfair.analysis.claims`); writes
``claims.md`` and a standalone ``claims.html`` (default: ``<bundle>/claims/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from taskfair.analysis.claims import DEFAULT_DELTA, ClaimResult, estimates, judge
from taskfair.analysis.claims_report import claims_html, claims_markdown
from taskfair.bundle import Bundle
from taskfair.errors import BundleError
from taskfair.grid import LAMBDA_GRID
from taskfair.io import atomic_path
from taskfair.progress import Progress, tqdm_progress
from taskfair.sweep import (
    SweepCache,
    bundle_keys,
    injection_settings,
    reference_settings,
    sweep_bundle,
    task_addition_settings,
)

__all__ = ["ClaimsRun", "bundle_claims", "configure", "run", "write_report"]

SPLIT = "test"
DEFAULT_N_BOOT = 1000
DEFAULT_INJECTION_LAM = 1.0


class ClaimsRun:
    """What :func:`bundle_claims` measured: the verdicts, the estimates, a description."""

    def __init__(self, results: list[ClaimResult], est: pd.DataFrame, about: dict[str, str]):
        self.results, self.estimates, self.about = results, est, about


def _settings(bundle: Bundle, seed: int, normalize: str, injection_lam: float):
    names = bundle.vector_names(seed)
    groups = [g for g in bundle.groups if g in names]
    ta = task_addition_settings(groups, LAMBDA_GRID, normalize)
    inj = injection_settings(groups, [injection_lam])
    return groups, ta, inj, reference_settings(names)


def _point(setting, groups) -> tuple:
    vector = ""
    if setting.method == "injection":
        vector = next(n for n, _ in setting.coeffs if n != "fft")
    return setting.method, setting.lam, vector


def bundle_claims(
    bundle: Bundle,
    *,
    normalize: str = "sum",
    injection_lam: float = DEFAULT_INJECTION_LAM,
    n_boot: int = DEFAULT_N_BOOT,
    delta: float = DEFAULT_DELTA,
    progress: Progress | None = None,
    device=None,
) -> ClaimsRun:
    """Sweep what the claims need (cached in the bundle), then estimate and judge them.

    Raises :class:`BundleError` when a seed lacks the ``fft`` vector (C1, C3 and C4
    compare with FFT) or when points are missing and the bundle has no weights.
    """
    cache = SweepCache(bundle.sweeps_dir)
    frames, logits = [], {}
    for seed in bundle.seeds:
        names = bundle.vector_names(seed)
        if "fft" not in names:
            raise BundleError(
                f"Bundle {bundle.name} has no fft vector for seed {seed}; the claims compare "
                "task addition and injection with FFT. Build it with the default config "
                "(FFT is always trained) or pick another bundle."
            )
        groups, ta, inj, refs = _settings(bundle, seed, normalize, injection_lam)
        kw = dict(splits=(SPLIT,), seed=seed, progress=progress, device=device)
        try:
            frames.append(
                sweep_bundle(bundle, "task_addition", normalize, LAMBDA_GRID, references=True, **kw)
            )
            frames.append(sweep_bundle(bundle, "injection", "sum", [injection_lam], **kw))
        except FileNotFoundError as exc:  # a viewer copy without weights and an empty cache
            raise BundleError(
                f"Bundle {bundle.name} lacks sweep points the claims need and has no weights "
                f"to compute them ({exc}). Run the report on the full bundle."
            ) from exc
        keys = bundle_keys(bundle, seed)
        for st in ta + inj + refs:
            got = cache.logits(keys.key(st, SPLIT))
            if got is None:
                raise BundleError(
                    f"The cached logits of {st.label()} (seed {seed}) in {bundle.sweeps_dir} "
                    "cannot be read; delete that folder and rerun to recompute them."
                )
            logits[(seed, *_point(st, groups))] = got
    rows = pd.concat(frames, ignore_index=True)
    test = bundle.eval_frame[bundle.eval_frame["split"] == SPLIT].reset_index(drop=True)
    labels = test["label"].to_numpy(dtype="int64")
    groups_col = test[bundle.attribute].astype(object).where(test[bundle.attribute].notna(), None)
    if progress is not None:
        progress(0, 1, f"bootstrap ({n_boot} resamples)")
    est = estimates(rows, logits, labels, groups_col.tolist(), n_boot=n_boot)
    if progress is not None:
        progress(1, 1, "verdicts")
    results = judge(est, delta)
    m = bundle.manifest
    about = {
        "bundle": f"{bundle.name}: model {m['model'].get('name')}, dataset "
        f"{m['dataset'].get('name')}, attribute {bundle.attribute} "
        f"({', '.join(bundle.groups)})",
        "seeds": f"{len(bundle.seeds)} ({', '.join(map(str, bundle.seeds))})",
        "rows": f"{len(test)} test rows; {n_boot} bootstrap resamples",
        "task addition": f"normalisation {normalize!r}, λ grid {LAMBDA_GRID[0]:g}–{LAMBDA_GRID[-1]:g}",
        "injection": f"θ_FFT + λ τ_g at λ = {injection_lam:g}",
        "δ": f"{delta}",
    }
    return ClaimsRun(results, est, about)


def write_report(run_: ClaimsRun, out: str | Path) -> list[Path]:
    """Write ``claims.md``, ``claims.html`` and ``estimates.csv`` into ``out`` (atomically)."""
    out = Path(out)
    texts = {
        "claims.md": claims_markdown(run_.results, run_.about),
        "claims.html": claims_html(run_.results, run_.about),
        "estimates.csv": run_.estimates.to_csv(index=False, float_format="%.6g"),
    }
    paths = []
    for name, text in texts.items():
        with atomic_path(out / name) as tmp:
            tmp.write_text(text, encoding="utf-8")
        paths.append(out / name)
    return paths


def _n_boot(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 100:
        raise argparse.ArgumentTypeError(f"{text!r}: use an integer of at least 100")
    return n


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, help="bundle folder, e.g. models/demo")
    p.add_argument("--out", default=None, help="report folder (default: <bundle>/claims)")
    p.add_argument("--normalize", choices=("sum", "mean"), default="sum",
                   help="task addition's normalisation (default: sum)")  # fmt: skip
    p.add_argument("--injection-lam", type=float, default=DEFAULT_INJECTION_LAM,
                   help="λ of θ_FFT + λ τ_g for C3/C4 (default: 1)")  # fmt: skip
    p.add_argument("--n-boot", type=_n_boot, default=DEFAULT_N_BOOT,
                   help=f"bootstrap resamples (default: {DEFAULT_N_BOOT}, at least 100)")  # fmt: skip
    p.add_argument("--delta", type=float, default=DEFAULT_DELTA,
                   help="accuracy margin δ of C1 and C3 (default: 0.03)")  # fmt: skip
    p.add_argument("--device", default=None, help="cpu | cuda (default: auto)")


def run(args) -> int:
    bundle = Bundle.open(args.bundle)
    result = bundle_claims(
        bundle,
        normalize=args.normalize,
        injection_lam=args.injection_lam,
        n_boot=args.n_boot,
        delta=args.delta,
        progress=tqdm_progress("claims"),
        device=args.device,
    )
    out = Path(args.out) if args.out else bundle.root / "claims"
    for path in write_report(result, out):
        print(f"wrote {path}")
    for r in result.results:
        print(f"{r.claim}: {r.verdict} — {r.measured}")
    return 0
