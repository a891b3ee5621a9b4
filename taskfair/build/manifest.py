"""The record a build keeps in its folder: ``manifest.json``, the folder lock, checksums.

The manifest is written first (``complete: false`` and the config hash), so a folder is
never resumed or overwritten by a different config, and again after every artifact,
with the artifact's sha256 (:class:`ManifestWriter`). What is recorded and intact
(:func:`intact`) is what a rerun skips. :func:`check_out` refuses a folder that holds
something else, or a bundle of another config unless the build was asked to replace it
(``--replace``: :func:`clear_bundle` then removes the old bundle's files);
:func:`folder_lock` keeps two builds out of one folder, and :func:`drop_leftovers`
removes the temporary files of a build that was killed mid-write.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy
import pandas
import safetensors
import torch

from taskfair import __version__
from taskfair.build.config import BuildConfig
from taskfair.bundle import FORMAT_VERSION, MANIFEST
from taskfair.errors import BuildError
from taskfair.io import atomic_write_json, sha256_file

__all__ = [
    "BASE_DIR",
    "EVAL_FILE",
    "LOCK_FILE",
    "versions",
    "read_manifest",
    "check_out",
    "check_same_data",
    "clear_bundle",
    "drop_leftovers",
    "folder_lock",
    "intact",
    "new_manifest",
    "ManifestWriter",
]

BASE_DIR = "base"
EVAL_FILE = "eval.parquet"
LOCK_FILE = ".build.lock"
#: What a build writes into its folder (all that :func:`clear_bundle` removes).
BUNDLE_ENTRIES = (
    MANIFEST,
    BASE_DIR,
    EVAL_FILE,
    "vectors",
    "logs",
    "controls",
    "sweeps",
    "eval_pixels.safetensors",
)
#: How the build's refusals name the way out.
REPLACE_HINT = "rerun with --replace to discard it and build this config"


def versions() -> dict:
    """The software a bundle was built with (recorded in its manifest)."""
    return {
        "taskfair": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        # Read from the installed metadata: importing transformers and peft costs seconds,
        # and a build that needs them imports them where it uses them.
        "transformers": importlib.metadata.version("transformers"),
        "peft": importlib.metadata.version("peft"),
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "platform": platform.platform(),
    }


def read_manifest(root: Path) -> dict | None:
    """The manifest in ``root``, or ``None`` when there is none yet."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BuildError(
            f"{path} is not valid JSON ({exc}): the folder is damaged. Rerun with --replace to "
            f"build it again from scratch (or delete {root})."
        ) from exc
    if not isinstance(found, dict) or not isinstance(found.get("artifacts", {}), dict):
        raise BuildError(
            f"{path} is not a bundle manifest (it holds {type(found).__name__} data of another "
            f"shape): the folder is damaged. Rerun with --replace to build it again from scratch "
            f"(or delete {root})."
        )
    return found


def check_out(root: Path, manifest: dict | None, cfg: BuildConfig, replace: bool = False) -> None:
    """Refuse a folder that holds something else, or a bundle of a different config
    (unless ``replace``: the build then starts afresh in it)."""
    if root.exists() and not root.is_dir():
        raise BuildError(f"{root} is a file, not a folder: choose another --out.")
    if manifest is None:
        if replace and (root / MANIFEST).is_file():
            return  # a damaged manifest: --replace builds the folder again
        if root.exists() and any(p.name != LOCK_FILE and not _leftover(p) for p in root.iterdir()):
            raise BuildError(
                f"{root} is not empty and holds no {MANIFEST}: refusing to write a bundle into "
                "it (--replace only replaces a bundle). Choose a new or empty --out folder."
            )
        return
    if replace:
        return
    theirs = manifest.get("config_hash")
    if theirs != cfg.config_hash():
        state = (
            "a complete bundle"
            if manifest.get("complete")
            else f"an unfinished build ({len(manifest.get('artifacts') or {})} file(s) made)"
        )
        raise BuildError(
            f"{root} holds {state} of a different config (config hash {str(theirs)[:12]}, this "
            f"config {cfg.config_hash()[:12]}). Refusing to overwrite it: {REPLACE_HINT}, or "
            "choose another --out."
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BuildError(
            f"{root} has bundle format {manifest.get('format_version')!r}, this taskfair writes "
            f"{FORMAT_VERSION}: {REPLACE_HINT}."
        )


def clear_bundle(root: Path) -> None:
    """Remove what a build wrote into ``root`` (:data:`BUNDLE_ENTRIES` and leftovers),
    manifest last, so an interrupted clear still reads as a bundle to replace. Anything
    else in the folder is left alone."""
    drop_leftovers(root)
    for name in (*BUNDLE_ENTRIES[1:], BUNDLE_ENTRIES[0]):
        p = root / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def _leftover(p: Path) -> bool:
    """A temporary file or folder of an atomic write (``.NAME.XXXX.tmp``, ``.base.XXXX``)
    that a killed build left behind."""
    return (
        p.name.startswith(".")
        and p.name != LOCK_FILE
        and (p.name.endswith(".tmp") or p.name.startswith(f".{BASE_DIR}."))
    )


def drop_leftovers(root: Path) -> list[str]:
    """Remove the temporary files of writes that never finished (a build killed mid-write)
    from ``root`` and the folders a build writes (not ``sweeps/``: a sweep may be
    writing there now). Called under the folder lock. Returns what was removed."""
    removed = []
    made = ("vectors", "logs", "controls")
    folders = [root, *(p for d in made for p in (root / d).glob("*") if p.is_dir())]
    folders += [root / d for d in made]
    for folder in folders:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if _leftover(p):
                shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
                removed.append(p.relative_to(root).as_posix())
    return removed


def check_same_data(root: Path, manifest: dict | None, fingerprint: str) -> None:
    """Refuse to resume a bundle started on other data (the dataset fingerprint changed)."""
    if manifest is None:
        return
    recorded = (manifest.get("dataset") or {}).get("fingerprint")
    if recorded and recorded != fingerprint:
        raise BuildError(
            f"The data changed since {root} was started (dataset fingerprint "
            f"{str(recorded)[:12]} -> {fingerprint[:12]}). Restore the data, or rerun with "
            "--replace to build the bundle again on the new data."
        )


@contextlib.contextmanager
def folder_lock(root: Path) -> Iterator[None]:
    """One build per folder at a time; a lock left by a dead process is taken over."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
                os.kill(pid, 0)
            except (ValueError, ProcessLookupError, FileNotFoundError):
                path.unlink(missing_ok=True)  # stale: its build died
                continue
            except PermissionError:
                pass
            raise BuildError(
                f"Another build (process {pid}) is writing {root}; wait for it to finish."
            ) from None
        with os.fdopen(fd, "w") as fh:
            fh.write(str(os.getpid()))
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def intact(root: Path, rel: str, artifacts: dict) -> bool:
    """``root / rel`` exists and matches the sha256 recorded for it in ``artifacts``."""
    f = root / rel
    return f.is_file() and rel in artifacts and sha256_file(f) == artifacts[rel]


def new_manifest(
    cfg: BuildConfig, root: Path, old: dict | None, dataset: dict, vectors: list[dict]
) -> dict:
    """The manifest this build writes: this config, ``dataset`` (its section) and
    ``vectors`` (the entries it will build), with what ``old`` (the manifest found in
    the folder, if any) recorded of the model, base, eval rows, artifacts, timings and
    results kept, so that intact artifacts are resumed."""
    old = old or {}
    return {
        "format_version": FORMAT_VERSION,
        "name": cfg.name or root.name,
        "complete": False,
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "model": old.get("model", {}),
        "base": old.get("base", {"path": BASE_DIR, "fingerprint": None}),
        **({"heads": old["heads"]} if cfg.seed_heads and old.get("heads") else {}),
        "dataset": dataset,
        "eval": old.get("eval", {"path": EVAL_FILE, "rows": {}, "image_root": None}),
        "seeds": list(cfg.seeds),
        "vectors": vectors,
        "artifacts": dict(old.get("artifacts", {})),
        "timings": dict(old.get("timings", {})),
        "versions": versions(),
        "results": dict(old.get("results", {})),
    }


class ManifestWriter:
    """Saves ``manifest`` atomically in ``root`` and records artifacts into it.

    Every save also updates this call's wall time (since ``t_start``) in
    ``timings.runs``, so an interrupted run still counts towards the bundle's total
    build time. ``trained`` is the list of keys recorded by this call (shared with the
    caller); ``on_artifact(key)`` is called after each record (tests interrupt there).
    """

    def __init__(
        self,
        root: Path,
        manifest: dict,
        trained: list[str],
        t_start: float,
        on_artifact: Callable[[str], None] | None = None,
    ):
        self.root, self.m, self.t_start, self.on_artifact = root, manifest, t_start, on_artifact
        self.artifacts: dict[str, str] = manifest["artifacts"]
        self.timings: dict = manifest["timings"]
        self.trained = trained
        self._this_run = {"seconds": 0.0, "trained": trained}
        self.timings.setdefault("runs", []).append(self._this_run)

    def save(self) -> None:
        self._this_run["seconds"] = round(time.perf_counter() - self.t_start, 3)
        self.timings["total"] = round(sum(x["seconds"] for x in self.timings["runs"]), 3)
        atomic_write_json(self.root / MANIFEST, self.m)

    def intact(self, rel: str) -> bool:
        return intact(self.root, rel, self.artifacts)

    def adopt(self, rels: list[str]) -> None:
        """Record the checksums of files written but not recorded (no save)."""
        for rel in rels:
            self.artifacts[rel] = sha256_file(self.root / rel)

    def forget(self, rels) -> None:
        """Drop these artifacts from the record: they will be built again."""
        for rel in list(rels):
            self.artifacts.pop(rel, None)

    def record(self, key: str, rels: list[str], seconds: float) -> None:
        """``key`` was built in ``seconds`` and wrote ``rels``: record their checksums and
        the time, save the manifest, then call ``on_artifact(key)``."""
        self.adopt(rels)
        self.timings[key] = round(seconds, 3)
        self.trained.append(key)
        self.save()
        if self.on_artifact is not None:
            self.on_artifact(key)
