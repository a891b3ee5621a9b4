"""``python -m taskfair reproduce --bundle DIR [--out DIR]``: the claims report of a bundle.

Sweeps (or reads from the bundle's sweep cache) task addition over the λ grid, subgroup
injection over the paper's injection sweep (λ 0.2 to 1, step 0.2) and the FFT / LoRA /
base references on the test rows, for every seed of the bundle; judges the paper's claims
C1–C5 (:mod:`taskfair.analysis.claims`) with a δ sensitivity table; reads the per-group
threshold-free and calibration metrics off the same cached logits; names the bundle's
departures from the paper's method (:mod:`taskfair.variant`); writes ``claims.md``, a
standalone ``claims.html``, ``estimates.csv`` and ``ranking.csv`` (default:
``<bundle>/claims/``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from taskfair.analysis.claims import (
    C4_LAM,
    DEFAULT_DELTA,
    ClaimResult,
    delta_table,
    estimates,
    judge,
)
from taskfair.analysis.claims_report import claims_html, claims_markdown
from taskfair.bundle import Bundle
from taskfair.errors import BundleError
from taskfair.grid import INJECTION_GRID, LAMBDA_GRID
from taskfair.io import atomic_path
from taskfair.metrics import positive_scores, ranking_intervals
from taskfair.progress import Progress, tqdm_progress
from taskfair.sweep import (
    SweepCache,
    bundle_keys,
    injection_settings,
    reference_settings,
    sweep_bundle,
    task_addition_settings,
)
from taskfair.variant import manifest_departures, variant_line

__all__ = ["ClaimsRun", "bundle_claims", "configure", "run", "write_report"]

SPLIT = "test"
DEFAULT_N_BOOT = 1000
#: The injection sweep of C3/C4 (the paper's: λ 0.2 to 1, step 0.2; λ = 0 is FFT itself).
INJECTION_LAMS: tuple[float, ...] = tuple(x for x in INJECTION_GRID if x > 0)
#: Resamples behind the per-group AUC / calibration intervals.
RANKING_N_BOOT = 200


class ClaimsRun:
    """What :func:`bundle_claims` measured: the verdicts, the estimates, a description,
    the δ sensitivity table, the per-group threshold-free metrics and the variant line."""

    def __init__(
        self,
        results: list[ClaimResult],
        est: pd.DataFrame,
        about: dict[str, str],
        deltas: pd.DataFrame | None = None,
        ranking: pd.DataFrame | None = None,
    ):
        self.results, self.estimates, self.about = results, est, about
        self.deltas = pd.DataFrame() if deltas is None else deltas
        self.ranking = pd.DataFrame() if ranking is None else ranking


def _settings(bundle: Bundle, seed: int, normalize: str, injection_lams):
    names = bundle.vector_names(seed)
    groups = [g for g in bundle.groups if g in names]
    ta = task_addition_settings(groups, LAMBDA_GRID, normalize)
    inj = injection_settings(groups, list(injection_lams))
    return groups, ta, inj, reference_settings(names)


def _point(setting, groups) -> tuple:
    vector = ""
    if setting.method == "injection":
        vector = next(n for n, _ in setting.coeffs if n != "fft")
    return setting.method, setting.lam, vector


def _sweep(bundle: Bundle, normalize: str, injection_lams, progress, device):
    """The tidy rows and test logits of every point the claims read, for every seed."""
    cache = SweepCache(bundle.sweeps_dir)
    frames, logits = [], {}
    for seed in bundle.seeds:
        if "fft" not in bundle.vector_names(seed):
            raise BundleError(
                f"Bundle {bundle.name} has no fft vector for seed {seed}; the claims compare "
                "task addition and injection with FFT. Build it with the default config "
                "(FFT is always trained) or pick another bundle."
            )
        groups, ta, inj, refs = _settings(bundle, seed, normalize, injection_lams)
        kw = dict(splits=(SPLIT,), seed=seed, progress=progress, device=device)
        try:
            frames.append(
                sweep_bundle(bundle, "task_addition", normalize, LAMBDA_GRID, references=True, **kw)
            )
            frames.append(sweep_bundle(bundle, "injection", "sum", list(injection_lams), **kw))
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
    return pd.concat(frames, ignore_index=True), logits


def _norm_scale(bundle: Bundle, normalize: str) -> float | None:
    """``c · Σ_g ‖τ_g‖`` (mean over seeds) from the vectors' training logs; None when a
    log lacks the norm (C5 then reports K̂ without L̂)."""
    totals = []
    for seed in bundle.seeds:
        names = [g for g in bundle.groups if g in bundle.vector_names(seed)]
        try:
            norms = [float(bundle.log(g, seed)["vector_norm"]) for g in names]
        except (KeyError, OSError, TypeError, ValueError):
            return None
        totals.append(sum(norms) / (len(norms) if normalize == "mean" else 1))
    return sum(totals) / len(totals) if totals else None


def _ranking(logits, labels, groups, normalize: str) -> pd.DataFrame:
    """Per-group subgroup / BPSN / BNSP AUC, ECE and Brier of FFT, LoRA and task addition
    at λ = C4_LAM and 1, each seed, with stratified-bootstrap intervals."""
    frames = []
    wanted = [("fft", None), ("lora", None), ("task_addition", C4_LAM), ("task_addition", 1.0)]
    for (seed, method, lam, vector), z in sorted(logits.items(), key=lambda kv: str(kv[0])):
        if vector or (method, lam) not in wanted:
            continue
        f = ranking_intervals(labels, positive_scores(z), groups, n_boot=RANKING_N_BOOT)
        point = method if lam is None else f"task addition ({normalize}) λ={lam:g}"
        frames.append(f.assign(point=point, seed=seed))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out[["point", "seed", *[c for c in out.columns if c not in ("point", "seed")]]]


def bundle_claims(
    bundle: Bundle,
    *,
    normalize: str = "sum",
    injection_lams=INJECTION_LAMS,
    n_boot: int = DEFAULT_N_BOOT,
    delta: float = DEFAULT_DELTA,
    progress: Progress | None = None,
    device=None,
) -> ClaimsRun:
    """Sweep what the claims need (cached in the bundle), then estimate and judge them.

    Raises :class:`BundleError` when a seed lacks the ``fft`` vector (C1, C3 and C4
    compare with FFT) or when points are missing and the bundle has no weights.
    """
    rows, logits = _sweep(bundle, normalize, injection_lams, progress, device)
    test = bundle.eval_frame[bundle.eval_frame["split"] == SPLIT].reset_index(drop=True)
    labels = test["label"].to_numpy(dtype="int64")
    col = test[bundle.attribute].astype(object).where(test[bundle.attribute].notna(), None)
    groups = col.tolist()
    if progress is not None:
        progress(0, 1, f"bootstrap ({n_boot} resamples)")
    est = estimates(rows, logits, labels, groups, n_boot=n_boot,
                    norm_scale=_norm_scale(bundle, normalize))  # fmt: skip
    ranking = _ranking(logits, labels, groups, normalize)
    if progress is not None:
        progress(1, 1, "verdicts")
    m = bundle.manifest
    about = {
        "variant": variant_line(manifest_departures(m)) or "none: the paper's method",
        "bundle": f"{bundle.name}: model {m['model'].get('name')}, dataset "
        f"{m['dataset'].get('name')}, attribute {bundle.attribute} "
        f"({', '.join(bundle.groups)})",
        "seeds": f"{len(bundle.seeds)} ({', '.join(map(str, bundle.seeds))})",
        "rows": f"{len(test)} test rows; {n_boot} stratified bootstrap resamples",
        "task addition": f"normalisation {normalize!r}, λ grid {LAMBDA_GRID[0]:g}–{LAMBDA_GRID[-1]:g}",
        "injection": "θ_FFT + λ τ_g at λ = " + ", ".join(f"{x:g}" for x in injection_lams),
        "δ": f"{delta}",
    }
    return ClaimsRun(judge(est, delta), est, about, delta_table(est), ranking)


def write_report(run_: ClaimsRun, out: str | Path) -> list[Path]:
    """Write ``claims.md``, ``claims.html``, ``estimates.csv`` and ``ranking.csv`` into
    ``out`` (atomically)."""
    out = Path(out)
    texts = {
        "claims.md": claims_markdown(
            run_.results, run_.about, deltas=run_.deltas, ranking=run_.ranking
        ),  # fmt: skip
        "claims.html": claims_html(
            run_.results, run_.about, deltas=run_.deltas, ranking=run_.ranking
        ),  # fmt: skip
        "estimates.csv": run_.estimates.to_csv(index=False, float_format="%.6g"),
        "ranking.csv": run_.ranking.to_csv(index=False, float_format="%.6g"),
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
        n_boot=args.n_boot,
        delta=args.delta,
        progress=tqdm_progress("claims"),
        device=args.device,
    )
    out = Path(args.out) if args.out else bundle.root / "claims"
    for path in write_report(result, out):
        print(f"wrote {path}")
    for r in result.results:
        direction = {True: "yes", False: "no", None: "–"}[r.direction]
        print(f"{r.claim}: {r.verdict} (direction reproduced: {direction}) — {r.measured}")
    return 0
