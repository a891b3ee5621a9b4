"""A bundle's vectors compressed: measured against the dense ones, and written as a new bundle.

:func:`measure_compression` compresses every vector of one seed under each of several
:class:`~taskfair.compress.CompressSpec` settings, writes them to a scratch folder to
learn their size on disk, and measures their fidelity on the bundle's eval rows (the
dense merges are evaluated once and shared by every setting): the trade-off curve of
size against fidelity. :func:`compress_bundle` writes one setting as a new bundle (base,
eval rows and logs copied, vectors compressed), its manifest recording the setting, the
source's checksums, each vector's form, size and ratio, and the fidelity; the copy is
assembled in a hidden sibling folder and renamed into place once it opens.

Sizes are compared with :func:`dense_reference_bytes`: one float32 value for every float
tensor of the base, which is what a vector file held before vectors were stored compact.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from taskfair.build.config import BuildConfig
from taskfair.bundle import MANIFEST, Bundle, check_new_copy
from taskfair.compress.fidelity import measure_fidelity, worst_of
from taskfair.compress.methods import compress_vector
from taskfair.compress.spec import CompressSpec
from taskfair.data import EVAL_SPLITS
from taskfair.errors import BundleError
from taskfair.inference import encode
from taskfair.io import atomic_write_json, safe_child, sha256_file
from taskfair.models import float_state
from taskfair.progress import Progress

__all__ = ["compress_bundle", "dense_reference_bytes", "measure_compression"]


def dense_reference_bytes(model: torch.nn.Module) -> int:
    """Bytes of a dense float32 vector over every float tensor of ``model``."""
    return sum(t.numel() * 4 for t in float_state(model).values())


class _Setup:
    """What every setting of one seed shares: the base, the dense vectors, the encoded
    eval rows (val and test), their labels and groups, and the dense merges' logits."""

    def __init__(self, bundle: Bundle, seed: int, device=None):
        self.bundle, self.seed = bundle, seed
        self.handle = bundle.load_base(device=device, seed=seed)
        self.vectors = bundle.load_vectors(seed=seed, device=self.handle.device)
        frame = bundle.eval_frame
        frame = frame[frame["split"].isin(EVAL_SPLITS)].reset_index(drop=True)
        content = "image" if bundle.modality == "image" else "text"
        max_length = bundle.model_spec.get("max_length", 128)
        self.encoded = encode(
            self.handle.processor, frame[content].tolist(), bundle.modality, max_length
        )
        self.labels = frame["label"].to_numpy(dtype=np.int64)
        self.groups = frame[bundle.attribute]
        self.subgroups = [g for g in bundle.groups if g in self.vectors]
        self.dense_bytes = dense_reference_bytes(self.handle.model)
        self.dense_logits: dict = {}

    def compress(self, spec: CompressSpec) -> dict:
        return {n: compress_vector(v, spec) for n, v in self.vectors.items()}

    def fidelity(self, compact: dict, progress: Progress | None) -> dict:
        return measure_fidelity(
            self.handle.model,
            self.vectors,
            compact,
            self.encoded,
            self.labels,
            self.groups,
            subgroups=self.subgroups,
            progress=progress,
            dense_logits=self.dense_logits,
        )


def _sizes(setup: _Setup, compact: dict, folder: Path) -> dict[str, int]:
    out = {}
    for name, vec in compact.items():
        out[name] = vec.save(folder / f"{name}.safetensors").stat().st_size
    return out


def _record(
    setup: _Setup, spec: CompressSpec, compact: dict, sizes: dict, fid: dict | None
) -> dict:
    vectors = {}
    for name, size in sizes.items():
        vectors[name] = {
            "form": compact[name].form,
            "bytes": int(size),
            "ratio": setup.dense_bytes / size,
        }
        if fid is not None:
            vectors[name]["fidelity"] = fid["vectors"].get(name)
    total = sum(sizes.values())
    out = {
        "spec": spec.to_dict(),
        "name": spec.name,
        "seed": setup.seed,
        "dense_bytes": setup.dense_bytes,
        "bytes": int(total),
        "ratio": setup.dense_bytes * len(sizes) / total,
        "min_ratio": min(v["ratio"] for v in vectors.values()),
        "vectors": vectors,
    }
    if fid is not None:
        out["task_addition"] = fid.get("task_addition")
        out["worst"] = fid["worst"]
        out["rows"] = fid["rows"]
    return out


def measure_compression(
    bundle: Bundle,
    specs: Sequence[CompressSpec],
    *,
    seed: int | None = None,
    device=None,
    fidelity: bool = True,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> list[dict]:
    """Size and fidelity of one seed's vectors under each of ``specs`` (nothing written
    to the bundle). Returns one record per setting: ``spec``, ``name``, ``bytes``,
    ``ratio`` (dense float32 bytes over compressed bytes, all vectors), ``min_ratio``,
    ``vectors`` ({name: form, bytes, ratio, fidelity}), ``task_addition`` and ``worst``."""
    say = echo or (lambda _msg: None)
    seed = bundle.seeds[0] if seed is None else int(seed)
    setup = _Setup(bundle, seed, device)
    out = []
    with tempfile.TemporaryDirectory(prefix="taskfair-compress-") as tmp:
        for spec in specs:
            compact = setup.compress(spec)
            sizes = _sizes(setup, compact, Path(tmp))
            fid = setup.fidelity(compact, progress) if fidelity else None
            rec = _record(setup, spec, compact, sizes, fid)
            out.append(rec)
            worst = rec.get("worst") or {}
            say(
                f"{spec.name}: {rec['bytes'] / 1e6:.2f} MB ({rec['ratio']:.1f}x smaller, worst "
                f"vector {rec['min_ratio']:.1f}x)"
                + (
                    f"; worst agreement {worst['agreement']:.4f}, |Δacc| {worst['d_accuracy']:.4f}, "
                    f"|ΔDPD| {worst['d_dpd']:.4f}, |ΔEOD| {worst['d_eod']:.4f}"
                    if worst
                    else ""
                )
            )
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link a file the copy shares unchanged (the base, the eval rows); copy when
    the file system cannot link."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def compress_bundle(
    src: str | os.PathLike,
    out: str | os.PathLike,
    spec: CompressSpec,
    *,
    fidelity: bool = True,
    device=None,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Write ``src`` with every seed's vectors compressed under ``spec`` to ``out`` (a new
    folder); see the module docstring. Returns ``out``. The source is not changed."""
    say = echo or (lambda _msg: None)
    bundle = Bundle.open(src, verify=True)
    if not bundle.has_weights:
        raise BundleError(
            f"{bundle.name} was shipped without weights: there is nothing to compress."
        )
    out = Path(out)
    check_new_copy(bundle.root, out, example="models/demo-lowrank16", again="compress")
    m = copy.deepcopy(bundle.manifest)
    vector_paths = {e.path for e in bundle.vector_entries()}
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for rel in sorted(set(m.get("artifacts", {})) - vector_paths):
            _link_or_copy(safe_child(bundle.root, rel), tmp / rel)
        records = {}
        for seed in bundle.seeds:
            setup = _Setup(bundle, seed, device)
            compact = setup.compress(spec)
            entries = {e.name: e for e in bundle.vector_entries(seed)}
            sizes = _sizes(setup, compact, tmp)  # scratch names; moved below
            for name, vec in compact.items():
                (tmp / f"{name}.safetensors").unlink()
                vec.save(safe_child(tmp, entries[name].path))
            fid = setup.fidelity(compact, progress) if fidelity else None
            records[str(seed)] = _record(setup, spec, compact, sizes, fid)
            for name, rec in records[str(seed)]["vectors"].items():
                say(
                    f"seed {seed} · {name}: {rec['form']}, {rec['bytes'] / 1e6:.2f} MB ({rec['ratio']:.1f}x)"
                )
        source = {rel: m["artifacts"][rel] for rel in sorted(vector_paths) if rel in m["artifacts"]}
        for entry in m["vectors"]:
            rel = entry["path"]
            m["artifacts"][rel] = sha256_file(safe_child(tmp, rel))
            rec = records[str(entry["seed"])]["vectors"][entry["name"]]
            entry.update(form=rec["form"], bytes=rec["bytes"])
        m["compression"] = {
            "spec": spec.to_dict(),
            "name": spec.name,
            "source": {"bundle": bundle.name, "vectors": source},
            "seeds": records,
            "worst": worst_of([r["worst"] for r in records.values()]) if fidelity else None,
            "note": (
                "fidelity: the compressed vectors' merges against the source's at each λ on "
                "the eval rows (val and test together); sizes against one float32 value per "
                "float tensor of the base"
            ),
        }
        # The folder's config is the source's with this setting, so a rebuild in it
        # makes the same compressed vectors, and the source's config refuses to.
        cfg = BuildConfig.from_dict(m["config"]).replace(compress=spec)
        m["config"], m["config_hash"] = cfg.to_dict(), cfg.config_hash()
        m["name"] = out.name
        atomic_write_json(tmp / MANIFEST, m)
        Bundle.open(tmp, verify=True)  # the copy must open (checksums)
        if out.is_dir():
            out.rmdir()  # empty (checked above): the rename needs it gone
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
