"""Open and validate a built bundle (``models/NAME/``), the unit the dashboard serves.

The layout is documented in ``docs/ARCHITECTURE.md``. A bundle is trusted only after
:func:`Bundle.open` has checked that its manifest names every artifact with a sha256
that matches the file on disk (``verify=True``), so a truncated or swapped file is
refused with a message that names it, before any tensor is read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path

import pandas as pd

from taskfair.bundle_schema import check_manifest
from taskfair.errors import BundleError
from taskfair.io import safe_child, sha256_file
from taskfair.models import apply_head_, head_names, load_base, load_head
from taskfair.vectors import TaskVector

__all__ = [
    "Bundle",
    "BundleError",
    "VectorEntry",
    "resolve_bundle",
    "MANIFEST",
    "FORMAT_VERSION",
    "RESERVED_NAMES",
]

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
# Vector names with a fixed meaning; a subgroup may not use them.
# (``fft_balanced`` / ``lora_balanced``: the matched baselines of a sampling variant.)
RESERVED_NAMES = ("fft", "lora", "fft_balanced", "lora_balanced")


@dataclass(frozen=True)
class VectorEntry:
    """One trained vector of a bundle: ``kind`` is ``fft``, ``lora`` or ``subgroup``;
    ``form`` how its file stores it (``dense``, or the compact forms it uses, e.g.
    ``lowrank`` for a LoRA adapter's factors; bundles from before compact vectors say
    nothing and are ``dense``), ``bytes`` the file's size when recorded."""

    name: str
    kind: str
    group: str | None
    seed: int
    path: str
    log: str | None = None
    form: str = "dense"
    bytes: int | None = None

    @classmethod
    def from_manifest(cls, entry: dict) -> VectorEntry:
        """An entry from its manifest record; fields a later taskfair adds are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in entry.items() if k in known})


def resolve_bundle(
    name_or_path: str | os.PathLike, models_root: str | os.PathLike = "models"
) -> Path:
    """A bundle folder from a user-given name (inside ``models_root``) or an explicit path.

    Names from users (URL parameters, pickers) must be plain names: ``..`` and absolute
    paths are refused. Explicit filesystem paths are for the CLI and environment.
    """
    p = Path(name_or_path)
    if p.is_dir() and (p / MANIFEST).exists():
        return p
    return safe_child(models_root, str(name_or_path))


def check_new_copy(src: Path, out: Path, *, example: str, again: str) -> None:
    """Refuse ``out`` for a copy of the bundle at ``src`` (a viewer export, a compressed
    bundle) when it overlaps the source or already holds files; ``example`` names a good
    folder and ``again`` the command to rerun in the messages."""
    src_r, out_r = src.resolve(), out.resolve()
    if out_r == src_r or src_r in out_r.parents or out_r in src_r.parents:
        raise BundleError(
            f"--out {out} overlaps the source bundle {src}: choose a folder outside it, "
            f"e.g. {example}."
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(
            f"{out} already exists and is not empty: refusing to overwrite it. Choose a new "
            f"--out folder, or delete {out} to {again} again."
        )


class Bundle:
    """A built bundle: base model, task vectors, logs, evaluation rows and manifest."""

    def __init__(self, root: Path, manifest: dict):
        self.root = Path(root)
        self.manifest = manifest

    # -- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, verify: bool = True) -> Bundle:
        root = Path(path)
        mpath = root / MANIFEST
        if not mpath.is_file():
            raise BundleError(
                f"No bundle at {root}: {MANIFEST} is missing. Build one with "
                "`python -m taskfair build --config CONFIG --out DIR` (or `make demo`)."
            )
        try:
            manifest = json.loads(mpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{mpath} is not valid JSON ({exc}); rebuild the bundle.") from exc
        if not isinstance(manifest, dict):
            check_manifest(manifest, root.name)  # raises: says what the file holds instead
        if manifest.get("format_version") != FORMAT_VERSION:
            raise BundleError(
                f"{root} has bundle format {manifest.get('format_version')!r}; this taskfair reads "
                f"format {FORMAT_VERSION}. Rebuild it."
            )
        if not manifest.get("complete", False):
            raise BundleError(
                f"The bundle at {root} is incomplete (its build did not finish): "
                "rerun the same build command to resume it."
            )
        check_manifest(manifest, root.name)
        bundle = cls(root, manifest)
        if verify:
            bundle.verify()
        return bundle

    def verify(self) -> None:
        """Check every artifact's sha256 against the manifest; raise on the first mismatch."""
        for rel, digest in sorted(self.manifest.get("artifacts", {}).items()):
            f = safe_child(self.root, rel)
            if not f.is_file():
                raise BundleError(
                    f"{self.root.name}: {rel} is listed in the manifest but missing. "
                    "Rebuild the bundle (the build resumes at missing files)."
                )
            if sha256_file(f) != digest:
                raise BundleError(
                    f"{self.root.name}: the checksum of {rel} does not match its manifest entry: "
                    "the file was changed, truncated or replaced. Delete it and rerun the build to restore it."
                )

    # -- descriptive ---------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest.get("name", self.root.name)

    @property
    def model_spec(self) -> dict:
        return self.manifest["model"]

    @property
    def modality(self) -> str:
        return self.manifest["dataset"].get("modality", "text")

    @property
    def attribute(self) -> str:
        return self.manifest["dataset"]["attribute"]

    @property
    def attributes(self) -> list[str]:
        """Every sensitive attribute column of the eval rows, the trained one first.

        Bundles built before the eval rows kept the others list the trained one only."""
        listed = self.manifest["dataset"].get("attributes") or [self.attribute]
        return [a for a in listed if a == self.attribute or a in self.eval_frame.columns]

    @property
    def groups(self) -> list[str]:
        return list(self.manifest["dataset"]["groups"])

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.manifest["seeds"]]

    @property
    def base_fingerprint(self) -> str:
        return self.manifest["base"]["fingerprint"]

    @property
    def seed_heads(self) -> dict[int, dict]:
        """``{seed: {path, head_seed, fingerprint}}`` when every seed has its own
        classification head (``seed_draws: rows+head``); empty otherwise."""
        return {int(k): v for k, v in (self.manifest.get("heads") or {}).items()}

    def base_fingerprint_of(self, seed: int | None = None) -> str:
        """The fingerprint of seed ``seed``'s base (the base, or the base with the seed's
        own head): what that seed's vectors record."""
        seed = self.seeds[0] if seed is None else int(seed)
        head = self.seed_heads.get(seed)
        return head["fingerprint"] if head else self.base_fingerprint

    @property
    def has_weights(self) -> bool:
        """False for a viewer copy shipped without model weights (sweeps only): its
        manifest says ``"weights": false`` (``python -m taskfair export-viewer --no-weights``)."""
        if self.manifest.get("weights", True) is False:
            return False
        return (self.root / self.manifest["base"]["path"]).is_dir()

    def vector_entries(self, seed: int | None = None) -> list[VectorEntry]:
        entries = [VectorEntry.from_manifest(v) for v in self.manifest.get("vectors", [])]
        return [e for e in entries if seed is None or e.seed == seed]

    def vector_names(self, seed: int | None = None) -> list[str]:
        seed = self.seeds[0] if seed is None else seed
        return [e.name for e in self.vector_entries(seed)]

    # -- loading -------------------------------------------------------------------
    def load_base(self, device=None, seed: int | None = None, **kwargs):
        """The base model seed ``seed``'s vectors are relative to (default: the first
        seed's): the stored base, with the seed's own head put on it when the bundle
        has per-seed heads. A head file must match the sha256 the manifest recorded."""
        if not self.has_weights:
            raise BundleError(
                f"{self.name} was shipped without model weights: only precomputed sweeps "
                "can be shown."
            )
        handle = load_base(self.root / self.manifest["base"]["path"], device=device, **kwargs)
        seed = self.seeds[0] if seed is None else int(seed)
        head = self.seed_heads.get(seed)
        if head is not None:
            rel = head["path"]
            path = safe_child(self.root, rel)
            recorded = self.manifest.get("artifacts", {}).get(rel)
            if not path.is_file() or recorded is None or sha256_file(path) != recorded:
                raise BundleError(
                    f"{self.name}: seed {seed}'s head {rel} is missing or does not match its "
                    "recorded sha256. Rerun the build command on this bundle to restore it."
                )
            apply_head_(handle.model, load_head(path, head_names(handle.spec)))
        return handle

    def load_vectors(
        self,
        seed: int | None = None,
        names: list[str] | None = None,
        device="cpu",
        dtype=None,
    ) -> dict[str, TaskVector]:
        """One seed's vectors, read through safetensors' memory map straight onto
        ``device`` (in ``dtype`` when given: the model's, so no second copy is made)."""
        seed = self.seeds[0] if seed is None else seed
        out = {}
        for e in self.vector_entries(seed):
            if names is None or e.name in names:
                out[e.name] = TaskVector.load(
                    safe_child(self.root, e.path),
                    device=device,
                    expect_base_fingerprint=self.base_fingerprint_of(seed),
                    dtype=dtype,
                )
        return out

    def log(self, name: str, seed: int | None = None) -> dict:
        seed = self.seeds[0] if seed is None else seed
        for e in self.vector_entries(seed):
            if e.name == name and e.log:
                return json.loads(safe_child(self.root, e.log).read_text())
        return {}

    @cached_property
    def eval_frame(self) -> pd.DataFrame:
        """The val and test rows the bundle is evaluated on (``text``/``image``, ``label``,
        ``split``, the attribute column)."""
        frame = pd.read_parquet(safe_child(self.root, self.manifest["eval"]["path"]))
        if self.modality == "image" and "image" in frame.columns:
            root = self.manifest["eval"].get("image_root")
            if root:
                frame["image"] = [
                    str(Path(root) / p) if not Path(p).is_absolute() else p for p in frame["image"]
                ]
        return frame

    @property
    def sweeps_dir(self) -> Path:
        return self.root / "sweeps"

    def __repr__(self) -> str:
        return f"Bundle({self.name!r}, groups={self.groups}, seeds={self.seeds})"
