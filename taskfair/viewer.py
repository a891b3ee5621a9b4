"""``python -m taskfair export-viewer``: a read-only copy of a bundle for the hosted demo.

The hosted dashboard (``TASKFAIR_MODE=viewer``) never trains and, without weights, never
evaluates: every number it shows must already be in the bundle's sweep cache. This module
runs the sweeps every page reads (task addition "sum" and "mean" over
:data:`~taskfair.grid.LAMBDA_GRID`, injection over :data:`~taskfair.grid.INJECTION_GRID`,
the reference points; on val and test; for every seed), cached in the source bundle as
any sweep is, then copies manifest, evaluation rows, logs and sweeps (and the weights,
unless ``--no-weights``) into a new folder.

Without weights the manifest is rewritten: ``artifacts`` lists only the files shipped
(:meth:`~taskfair.bundle.Bundle.open` verifies every listed file), the checksums of the
others move to ``withheld`` (the sweep cache keys are built from the vectors'
checksums, so the copy still finds its points) and ``weights`` is false. The copy is
assembled in a hidden sibling folder and renamed into place only once it opens and
finds every point, so a half-written viewer is never served.
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import os
import shutil
import stat
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from taskfair.bundle import MANIFEST, Bundle, check_new_copy
from taskfair.data import EVAL_SPLITS
from taskfair.errors import BundleError
from taskfair.io import atomic_write_json, safe_child
from taskfair.models import PIXELS_FILE
from taskfair.progress import Progress, tqdm_progress
from taskfair.sweep import Evaluator, PointStore, Setting, page_settings
from taskfair.views.payloads import write_payloads

__all__ = ["check_out", "configure", "export_viewer", "run", "viewer_settings"]


def viewer_settings(bundle: Bundle, seed: int) -> list[Setting]:
    """The settings the dashboard's pages read for one seed, without a model."""
    names = bundle.vector_names(seed)
    return page_settings([g for g in bundle.groups if g in names], names)


def _splits(bundle: Bundle) -> list[str]:
    frame = bundle.eval_frame
    return [s for s in EVAL_SPLITS if (frame["split"] == s).any()]


def _missing(bundle: Bundle, seed: int, settings: Sequence, splits: Sequence[str]) -> list:
    """Settings with at least one split not in ``bundle``'s cache (keys computed without a model)."""
    store = PointStore.for_bundle(bundle, seed)
    return [s for s in settings if any(not store.has(s, sp) for sp in splits)]


def _weight_files(bundle: Bundle) -> set[str]:
    """Manifest artifacts that are weights: the base folder, every vector file and each
    seed's own head (per-seed heads)."""
    base = bundle.manifest["base"]["path"].rstrip("/") + "/"
    vectors = {e.path for e in bundle.vector_entries()}
    vectors |= {h["path"] for h in bundle.seed_heads.values()}
    vectors |= {c["path"] for c in bundle.manifest.get("controls", [])}  # control vectors
    return {
        rel
        for rel in bundle.manifest.get("artifacts", {})
        if rel.startswith(base) or rel in vectors
    }


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst, follow_symlinks=False)


def _regular_inside(path: Path, root: Path) -> str | None:
    """Why ``path`` may not be shipped (a link, not a regular file, or a file whose real
    path leaves ``root``), or None. A link is never followed: a link in a bundle to a key
    or a secrets file would otherwise become a world-readable file in the viewer copy."""
    try:
        info = path.lstat()
    except OSError as exc:
        return f"it cannot be read ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link (links are never followed)"
    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    real, top = path.resolve(), root.resolve()
    if real != top and top not in real.parents:
        return "its real path leaves the bundle folder"
    return None


def check_out(out: Path) -> None:
    """Refuse an ``--out`` that cannot be written before anything is swept: its parent
    must be an existing, writable folder (raises :class:`BundleError`)."""
    parent = out.absolute().parent
    if not parent.is_dir():
        raise BundleError(
            f"--out {out}: its parent folder {parent.name or parent} does not exist. Create "
            "it first, or choose a folder whose parent exists (e.g. models/demo-viewer)."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BundleError(
            f"--out {out}: its parent folder {parent.name or parent} is not writable. "
            "Choose a folder you can write to (e.g. models/demo-viewer)."
        )


def _copy_sweeps(bundle: Bundle, tmp: Path, say: Callable[[str], None]) -> int:
    """Copy the regular files of ``sweeps/`` (never through a link); the parquet count."""
    folder, n_points = bundle.sweeps_dir, 0
    if folder.is_symlink():
        say("sweeps/ is a symbolic link: not followed, no cached point shipped")
        return 0
    if not folder.is_dir():
        return 0
    for f in sorted(folder.iterdir()):
        if f.name.startswith("."):  # unfinished temp files
            continue
        if f.is_dir() and not f.is_symlink():
            continue  # steering states and cards: not read by the viewer
        why = _regular_inside(f, bundle.root)
        if why is not None:
            say(f"skipped sweeps/{f.name}: {why}")
            continue
        _copy(f, tmp / "sweeps" / f.name)
        n_points += f.suffix == ".parquet"
    return n_points


def export_viewer(
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    weights: bool = True,
    sweep: bool = True,
    device=None,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Sweep ``src`` where needed and write its viewer copy to ``out`` (a new folder).

    Returns ``out``. Raises :class:`~taskfair.bundle.BundleError` for a damaged source
    or an ``out`` that is not new; ``src`` gains cached sweep points and their band records
    (:meth:`taskfair.sweep.PointStore.bands`), nothing else.
    ``sweep=False`` copies the points already cached and evaluates nothing: the pages
    then show previews (or nothing) where points are missing.
    """
    say = echo or (lambda _msg: None)
    bundle = Bundle.open(src, verify=True)
    out = Path(out)
    check_new_copy(bundle.root, out, example="models/demo-viewer", again="export")
    check_out(out)
    splits = _splits(bundle)

    # 1. Every point the pages read, cached in the source bundle (resumable, as any sweep).
    wanted = {seed: viewer_settings(bundle, seed) for seed in bundle.seeds}
    _sweep_wanted(bundle, wanted, splits, sweep=sweep, device=device, progress=progress, say=say)

    # 2. The copy, assembled beside ``out`` and renamed into place at the end.
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        n_points = _assemble(bundle, tmp, weights, say)
        _check_copy(tmp, wanted, splits, weights=weights, sweep=sweep)
        if out.is_dir():
            out.rmdir()  # empty (checked above): the rename needs it gone
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(
        f"viewer copy of {bundle.name} in {out}: {n_points} cached points, "
        f"{'with' if weights else 'without'} weights"
    )
    return out


def _sweep_wanted(
    bundle: Bundle,
    wanted: dict,
    splits: Sequence[str],
    *,
    sweep: bool,
    device,
    progress: Progress | None,
    say: Callable[[str], None],
) -> None:
    """Cache every wanted point in the source bundle (unless ``sweep`` is off) and its bands."""
    for seed, settings in wanted.items():
        todo = _missing(bundle, seed, settings, splits)
        say(f"seed {seed}: {len(settings) - len(todo)} of {len(settings)} settings cached")
        if todo and not sweep:
            say(f"seed {seed}: {len(todo)} settings left out (--cached-only)")
            continue
        if todo:  # one model in memory at a time: the store loads it, and goes with it
            load = partial(Evaluator.from_bundle, bundle, seed=seed, device=device)
            PointStore.for_bundle(bundle, seed, load, source="viewer").sweep(todo, splits, progress)
        if _missing(bundle, seed, settings, splits):  # pragma: no cover - a key mismatch bug
            raise RuntimeError("The sweep's cache keys differ from the bundle's: report a bug.")
        # The points' bootstrap bands, stored beside them, so the hosted copy (which never
        # writes) redraws without resampling; from cached logits, no model.
        cached = PointStore.for_bundle(bundle, seed, None, source="viewer")
        for setting in settings:
            for split in splits:
                cached.bands(setting, split)


def _assemble(bundle: Bundle, tmp: Path, weights: bool, say: Callable[[str], None]) -> int:
    """Copy the shipped artifacts, sweeps and images into ``tmp`` and write its manifest;
    return the number of cached points copied."""
    artifacts = dict(bundle.manifest.get("artifacts", {}))
    held = _weight_files(bundle) if not weights else set()
    for rel in sorted(set(artifacts) - held):
        src = safe_child(bundle.root, rel)
        why = _regular_inside(src, bundle.root)
        if why is not None:
            raise BundleError(
                f"{bundle.name}: the artifact {rel} cannot be shipped: {why}. Rebuild the "
                "bundle, or replace the link by the file itself."
            )
        _copy(src, tmp / rel)
    n_points = _copy_sweeps(bundle, tmp, say)
    pixels = bundle.root / PIXELS_FILE
    if weights and pixels.exists():  # decoded eval images: a cache
        why = _regular_inside(pixels, bundle.root)
        if why is None:
            _copy(pixels, tmp / PIXELS_FILE)
        else:
            say(f"skipped {PIXELS_FILE}: {why}")
    m = copy.deepcopy(bundle.manifest)
    m["artifacts"] = {rel: d for rel, d in artifacts.items() if rel not in held}
    m["withheld"] = {rel: artifacts[rel] for rel in sorted(held)}
    m["weights"] = bool(weights)
    m["viewer"] = {
        "source": bundle.name,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "cached_points": n_points,
    }
    atomic_write_json(tmp / MANIFEST, m)
    # Builds write private files (0600); a hosted copy is read by another user (the
    # image's non-root user reading a mount): make it readable by all.
    for p in [tmp, *tmp.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return n_points


def _check_copy(
    tmp: Path, wanted: dict, splits: Sequence[str], *, weights: bool, sweep: bool
) -> None:
    """Check the assembled copy, then pack the views a first visitor opens."""
    # The copy must open (checksums) and find every point without a model.
    copy_ = Bundle.open(tmp, verify=True)
    if copy_.has_weights != bool(weights):  # pragma: no cover - a layout change
        raise RuntimeError("The viewer copy's weights flag is wrong: report a bug.")
    for seed, settings in wanted.items():
        if sweep and _missing(copy_, seed, settings, splits):  # pragma: no cover
            raise RuntimeError("The viewer copy misses cached points: report a bug.")
    if sweep:  # the views a first visitor opens, packed once here, not by each server
        write_payloads(copy_)


# ----------------------------------------------------------------------------- CLI


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="source bundle, e.g. models/demo")
    parser.add_argument("--out", required=True, help="new folder, e.g. models/demo-viewer")
    parser.add_argument(
        "--no-weights",
        action="store_true",
        help="ship sweeps only (no base model, no vectors): the viewer shows the cached grid "
        "and previews between its points, and evaluates nothing",
    )
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="copy the points already cached and evaluate nothing (pages preview the rest)",
    )
    parser.add_argument(
        "--device", default=None, help="cpu | cuda | mps for the sweeps (default: auto)"
    )


def run(args) -> int:
    out = export_viewer(
        args.bundle,
        args.out,
        weights=not args.no_weights,
        sweep=not args.cached_only,
        device=args.device,
        progress=tqdm_progress("sweep for the viewer"),
        echo=tqdm.write,
    )
    print(f"serve it with: TASKFAIR_MODE=viewer TASKFAIR_BUNDLE={out} streamlit run app.py")
    return 0
