"""``python -m taskfair build``: a base model and a grouped dataset -> a bundle.

The build writes, into ``--out`` (layout in ``docs/ARCHITECTURE.md``):

1. ``manifest.json`` with ``complete: false`` and the config hash, first, so that a
   folder is never resumed or overwritten by a different config;
2. ``base/``: the base model with its seeded classification head (``models.save_base``);
3. ``eval.parquet``: the val and test rows the bundle is evaluated on (stratified,
   deterministic, capped by ``eval_rows``);
4. per seed: ``fft`` (all training rows, capped), ``lora`` (peft, merged) and one
   vector per subgroup (that group's training rows only), each with its training log;
5. ``results`` (test accuracy of base, FFT, ... and the majority-class baseline,
   computed after training and never fed back into it), then ``complete: true``.

Every artifact is written atomically and recorded with its sha256 as soon as it
exists; a rerun of the same command skips what is recorded and intact and resumes at
the first missing artifact. Epoch selection uses validation rows only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.bundle import FORMAT_VERSION, MANIFEST, RESERVED_NAMES
from taskfair.config import BuildConfig, load_config
from taskfair.errors import BuildError
from taskfair.io import atomic_path, atomic_write_json, safe_child, sha256_file
from taskfair.progress import Progress, report

__all__ = [
    "BuildError",
    "BuildResult",
    "build_bundle",
    "stratified_sample",
    "configure",
    "run",
]

EVAL_FILE = "eval.parquet"
BASE_DIR = "base"
_LOCK = ".build.lock"



@dataclass
class BuildResult:
    """What a build call did: ``trained`` lists the artifacts made in this call
    (``base``, ``eval``, ``seed-S/<name>``), ``skipped`` those found intact."""

    root: Path
    manifest: dict
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Run:
    name: str
    kind: str  # fft | lora | subgroup
    group: str | None
    seed: int

    @property
    def key(self) -> str:
        return f"seed-{self.seed}/{self.name}"

    @property
    def vector_path(self) -> str:
        return f"vectors/seed-{self.seed}/{self.name}.safetensors"

    @property
    def log_path(self) -> str:
        return f"logs/seed-{self.seed}/{self.name}.json"


# --------------------------------------------------------------------------- sampling


def stratified_sample(
    index: np.ndarray, strata: np.ndarray, cap: int | None, seed: int, purpose: str
) -> np.ndarray:
    """Up to ``cap`` entries of ``index``, proportionally from each stratum, sorted.

    Deterministic in (``seed``, ``purpose``). When ``cap`` is at least the number of
    strata, every non-empty stratum keeps at least one row (so no group vanishes from a
    small evaluation set); the rest is shared by largest remainder. ``cap=None`` or a cap
    above ``len(index)`` keeps everything.
    """
    index = np.asarray(index)
    strata = np.asarray(strata, dtype=object).astype(str)
    n = len(index)
    if cap is None or cap >= n:
        return np.sort(index)
    rng = np.random.default_rng([int(seed), zlib.crc32(purpose.encode())])
    names, counts = np.unique(strata, return_counts=True)
    exact = cap * counts / n
    quota = np.floor(exact).astype(int)
    if cap >= len(names):
        quota = np.maximum(quota, 1)
    # Hand out (or take back) the difference by largest (smallest) remainder.
    diff = cap - int(quota.sum())
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    i = 0
    while diff != 0 and i < 4 * len(names) + 4:
        j = order[i % len(names)] if diff > 0 else order[::-1][i % len(names)]
        if diff > 0 and quota[j] < counts[j]:
            quota[j] += 1
            diff -= 1
        elif diff < 0 and quota[j] > 1:
            quota[j] -= 1
            diff += 1
        i += 1
    chosen = []
    for name, q in zip(names, quota, strict=True):
        members = index[strata == name]
        chosen.append(members[rng.permutation(len(members))[:q]])
    return np.sort(np.concatenate(chosen)) if chosen else index[:0]


def _strata(frame: pd.DataFrame, attribute: str | None) -> np.ndarray:
    label = frame["label"].astype(str).to_numpy()
    if attribute is None:
        return label
    group = frame[attribute].astype(object).where(frame[attribute].notna(), "(no group)")
    return np.char.add(
        np.char.add(label.astype(str), "|"), group.astype(str).to_numpy().astype(str)
    )


# --------------------------------------------------------------------------- manifest


def _versions() -> dict:
    import numpy
    import peft
    import safetensors
    import torch
    import transformers

    import taskfair

    return {
        "taskfair": taskfair.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
    }


def _read_manifest(root: Path) -> dict | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise BuildError(
            f"{path} is not valid JSON ({exc}): the folder is damaged. Delete {root} and rebuild."
        ) from exc


def _check_out(root: Path, manifest: dict | None, cfg: BuildConfig) -> None:
    """Refuse a folder that holds something else, or a bundle of a different config."""
    if manifest is None:
        if root.exists() and any(p.name != _LOCK for p in root.iterdir()):
            raise BuildError(
                f"{root} is not empty and holds no {MANIFEST}: refusing to write a bundle into "
                "it. Choose a new or empty --out folder."
            )
        return
    theirs = manifest.get("config_hash")
    if theirs != cfg.config_hash():
        raise BuildError(
            f"{root} was built from a different config (config hash {str(theirs)[:12]}, this "
            f"config {cfg.config_hash()[:12]}). Refusing to overwrite it: choose another --out, "
            f"or delete {root} to rebuild it with this config."
        )
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BuildError(
            f"{root} has bundle format {manifest.get('format_version')!r}, this taskfair writes "
            f"{FORMAT_VERSION}: delete it and rebuild."
        )


@contextlib.contextmanager
def _lock(root: Path) -> Iterator[None]:
    """One build per folder at a time; a lock left by a dead process is taken over."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / _LOCK
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


def _intact(root: Path, rel: str, artifacts: dict) -> bool:
    f = root / rel
    return f.is_file() and rel in artifacts and sha256_file(f) == artifacts[rel]


# --------------------------------------------------------------------------- dataset


def _load_data(cfg: BuildConfig, dataset):
    from taskfair.data import load_dataset

    ds = dataset if dataset is not None else load_dataset(cfg.dataset.name, **cfg.dataset.options)
    if cfg.attribute not in ds.attributes:
        raise BuildError(
            f"Unknown attribute {cfg.attribute!r} for dataset {ds.name!r}: its attributes are "
            f"{ds.attributes}. Set `attribute:` in the config to one of them."
        )
    available = ds.groups(cfg.attribute)
    groups = list(cfg.groups) if cfg.groups is not None else available
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise BuildError(
            f"Unknown group(s) {unknown} of attribute {cfg.attribute!r}: its groups are "
            f"{available}. Fix `groups:` in the config (or leave it out for all groups)."
        )
    for g in groups:
        if g in RESERVED_NAMES:
            raise BuildError(
                f"A subgroup may not be called {g!r} (reserved for the {g.upper()} vector): "
                "rename the group in the data."
            )
        try:
            safe_child(".", g)
        except ValueError as exc:
            raise BuildError(f"Group name {g!r} cannot name a file: {exc}") from None
        if "/" in g or "\\" in g:
            raise BuildError(f"Group name {g!r} cannot name a file: rename it without slashes.")
    counts = ds.group_counts(cfg.attribute)
    train_n = counts[counts["split"] == "train"].set_index("group")["n"]
    for g in groups:
        n = int(train_n.get(g, 0))
        if n < cfg.min_group_rows:
            raise BuildError(
                f"Subgroup {g!r} of {cfg.attribute!r} has {n} training rows, fewer than "
                f"min_group_rows={cfg.min_group_rows}: a fine-tune on it would be noise. Lower "
                f"`min_group_rows`, leave the group out with `groups:`, or pick another attribute."
            )
    return ds, groups


def _dataset_section(ds, cfg: BuildConfig, groups: list[str]) -> dict:
    from taskfair.data import NO_GROUP, SPLITS

    counts = ds.group_counts(cfg.attribute)
    frame = ds.frame
    group_counts, base_rates = {}, {}
    for s in SPLITS:
        part = counts[counts["split"] == s]
        group_counts[s] = {str(g): int(n) for g, n in zip(part["group"], part["n"], strict=True)}
        rates = {
            str(g): (None if pd.isna(r) else round(float(r), 6))
            for g, r in zip(part["group"], part["positive_rate"], strict=True)
        }
        labels = frame.loc[frame["split"] == s, "label"]
        rates["__overall__"] = round(float(labels.mean()), 6) if len(labels) else None
        base_rates[s] = rates
    sizes = frame["split"].value_counts()
    return {
        "name": ds.name,
        "source": ds.source,
        "modality": ds.modality,
        "attribute": cfg.attribute,
        # every sensitive attribute column of eval.parquet (the trained one first)
        "attributes": [cfg.attribute, *(a for a in ds.attributes if a != cfg.attribute)],
        "groups": groups,
        "no_group_label": NO_GROUP,
        "label_name": ds.label_name,
        "fingerprint": ds.fingerprint(),
        "split_sizes": {s: int(sizes.get(s, 0)) for s in SPLITS},
        "group_counts": group_counts,
        "base_rates": base_rates,
    }


def _eval_rows(ds, cfg: BuildConfig) -> pd.DataFrame:
    frame = ds.frame
    parts = []
    for split in ("val", "test"):
        cap = getattr(cfg.eval_rows, split)
        rows = frame.index[frame["split"] == split].to_numpy()
        sub = frame.loc[rows]
        keep = stratified_sample(
            rows, _strata(sub, cfg.attribute), cap, cfg.data_seed, f"eval-{split}"
        )
        parts.append(frame.loc[keep])
    # Every sensitive attribute of the data travels with the eval rows (the trained one
    # first), so the dashboard can read metrics over intersections (e.g. gender x race);
    # only the trained attribute enters the cache keys (taskfair.sweep.keys).
    attributes = [cfg.attribute, *(a for a in ds.attributes if a != cfg.attribute)]
    out = pd.concat(parts)[[ds.content_column, "label", "split", *attributes]]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- build


def _echo(echo: Callable[[str], None] | None, text: str) -> None:
    if echo is not None:
        echo(text)


def _hparams(cfg: BuildConfig, epochs: int):
    from taskfair.train import HParams

    return HParams(
        lr=cfg.lr,
        epochs=epochs,
        batch_size=cfg.batch_size,
        eval_batch_size=cfg.eval_batch_size,
        weight_decay=cfg.weight_decay,
        warmup_ratio=cfg.warmup_ratio,
        max_grad_norm=cfg.max_grad_norm,
        train_layers=cfg.train_layers_n,
        log_every=cfg.log_every,
    )


def build_bundle(
    config: BuildConfig,
    out: str | os.PathLike,
    *,
    dataset=None,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
    on_artifact: Callable[[str], None] | None = None,
) -> BuildResult:
    """Build (or resume) the bundle of ``config`` in ``out``; see the module docstring.

    ``dataset``: an already loaded :class:`taskfair.data.Dataset` (else the config's is
    loaded). ``progress(done, total, message)`` advances over training examples of the
    runs still to do. ``echo`` receives human-readable status lines. ``on_artifact(key)``
    is called after each artifact is recorded (tests inject interruptions there).
    """
    t_start = time.perf_counter()
    root = Path(out)
    manifest = _read_manifest(root)
    _check_out(root, manifest, config)
    with _lock(root):
        return _build(config, root, manifest, dataset, progress, echo, on_artifact, t_start)


def _build(cfg, root, manifest, dataset, progress, echo, on_artifact, t_start) -> BuildResult:
    from taskfair.evaluate import encode
    from taskfair.models import load_base, load_model, resolve_device, save_base
    from taskfair.train import (
        LoraHParams,
        Rows,
        TrainResult,
        evaluate_rows,
        finetune,
        lora_finetune,
        subset_encoded,
    )
    from taskfair.vectors import TaskVector, read_header

    result = BuildResult(root=root, manifest={})
    ds, groups = _load_data(cfg, dataset)
    _echo(echo, ds.summary())
    data_section = _dataset_section(ds, cfg, groups)
    if manifest is not None:
        recorded = manifest.get("dataset", {}).get("fingerprint")
        if recorded and recorded != data_section["fingerprint"]:
            raise BuildError(
                f"The data changed since {root} was started (dataset fingerprint "
                f"{recorded[:12]} -> {data_section['fingerprint'][:12]}). Restore the data, or "
                f"delete {root} and rebuild."
            )
        if manifest.get("complete"):
            artifacts = manifest.get("artifacts", {})
            if all(_intact(root, rel, artifacts) for rel in artifacts):
                result.manifest = manifest
                result.skipped = ["all"]
                _echo(echo, f"{root}: already complete and intact; nothing to do.")
                return result
            _echo(echo, f"{root}: complete but some files are missing or changed; rebuilding them.")

    runs = [
        _Run(name, kind, group, seed)
        for seed in cfg.seeds
        for name, kind, group in [
            ("fft", "fft", None),
            ("lora", "lora", None),
            *[(g, "subgroup", g) for g in groups],
        ]
    ]
    old = manifest or {}
    m = {
        "format_version": FORMAT_VERSION,
        "name": cfg.name or root.name,
        "complete": False,
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "model": old.get("model", {}),
        "base": old.get("base", {"path": BASE_DIR, "fingerprint": None}),
        "dataset": data_section,
        "eval": old.get("eval", {"path": EVAL_FILE, "rows": {}, "image_root": None}),
        "seeds": list(cfg.seeds),
        "vectors": [
            {
                "name": r.name,
                "kind": r.kind,
                "group": r.group,
                "seed": r.seed,
                "path": r.vector_path,
                "log": r.log_path,
            }
            for r in runs
        ],
        "artifacts": dict(old.get("artifacts", {})),
        "timings": dict(old.get("timings", {})),
        "versions": _versions(),
        "results": dict(old.get("results", {})),
    }
    artifacts, timings = m["artifacts"], m["timings"]

    # This call's wall time is kept up to date at every save, so an interrupted run
    # still counts towards the bundle's total build time.
    this_run = {"seconds": 0.0, "trained": result.trained}
    timings.setdefault("runs", []).append(this_run)

    def save_manifest() -> None:
        this_run["seconds"] = round(time.perf_counter() - t_start, 3)
        timings["total"] = round(sum(x["seconds"] for x in timings["runs"]), 3)
        atomic_write_json(root / MANIFEST, m)

    def record(key: str, rels: list[str], seconds: float) -> None:
        for rel in rels:
            artifacts[rel] = sha256_file(root / rel)
        timings[key] = round(seconds, 3)
        result.trained.append(key)
        save_manifest()
        if on_artifact is not None:
            on_artifact(key)

    save_manifest()  # complete=false + config hash, before anything else is written

    # -- base -------------------------------------------------------------------------
    device = resolve_device(None if cfg.device == "auto" else cfg.device)
    base_rels = sorted(k for k in artifacts if k.startswith(BASE_DIR + "/"))
    t0 = time.perf_counter()
    recorded_fp = m["base"].get("fingerprint")
    if base_rels and recorded_fp and all(_intact(root, rel, artifacts) for rel in base_rels):
        # Resume from the base on disk: the vectors already built are relative to it.
        handle = load_base(root / BASE_DIR, device=device)
        fingerprint = recorded_fp
        result.skipped.append("base")
    else:
        for rel in base_rels:
            artifacts.pop(rel, None)
        handle = load_model(
            cfg.model,
            device=device,
            head_seed=cfg.head_seed,
            max_length=cfg.max_length,
            image_size=cfg.image_size,
        )
        _echo(echo, f"base: {cfg.model} with a head seeded by {cfg.head_seed} -> {root / BASE_DIR}")
        fingerprint = save_base(handle, root / BASE_DIR)
        if recorded_fp and recorded_fp != fingerprint:
            # A different base (e.g. another version of the packaged model): every vector
            # built so far points the wrong way from it, so all are rebuilt.
            for rel in [k for k in artifacts if k.startswith(("vectors/", "logs/"))]:
                del artifacts[rel]
            m["results"] = {}
        m["base"] = {"path": BASE_DIR, "fingerprint": fingerprint}
        m["model"] = dict(handle.spec, fingerprint=fingerprint)
        files = sorted(
            p.relative_to(root).as_posix() for p in (root / BASE_DIR).rglob("*") if p.is_file()
        )
        record("base", files, time.perf_counter() - t0)

    # -- rows -------------------------------------------------------------------------
    frame = ds.frame
    content = ds.content_column
    if _intact(root, EVAL_FILE, artifacts):
        # The rows on disk are the ones sweeps will use: train-time validation uses them too.
        eval_frame = pd.read_parquet(root / EVAL_FILE)
        if ds.modality == "image" and m["eval"].get("image_root"):
            eval_frame["image"] = [
                str(Path(m["eval"]["image_root"]) / p) for p in eval_frame["image"]
            ]
        result.skipped.append("eval")
    else:
        eval_frame = _eval_rows(ds, cfg)
        t0 = time.perf_counter()
        to_write = eval_frame
        image_root = None
        if ds.modality == "image":
            # Relative paths under one root keep the bundle movable with its images.
            image_root = os.path.commonpath(list(eval_frame["image"]))
            to_write = eval_frame.assign(
                image=[os.path.relpath(p, image_root) for p in eval_frame["image"]]
            )
        with atomic_path(root / EVAL_FILE) as tmp:
            to_write.to_parquet(tmp, index=False)
        m["eval"] = {
            "path": EVAL_FILE,
            "rows": {s: int((eval_frame["split"] == s).sum()) for s in ("val", "test")},
            "image_root": image_root,
            "sampling": f"stratified by label x {cfg.attribute}, data_seed {cfg.data_seed}",
        }
        record("eval", [EVAL_FILE], time.perf_counter() - t0)

    train_idx = frame.index[frame["split"] == "train"].to_numpy()
    train_frame = frame.loc[train_idx]
    samples = {
        "fft": stratified_sample(
            train_idx,
            _strata(train_frame, cfg.attribute),
            cfg.train_rows,
            cfg.data_seed,
            "train-all",
        )
    }
    for g in groups:
        rows = train_idx[(train_frame[cfg.attribute] == g).fillna(False).to_numpy()]
        samples[g] = stratified_sample(
            rows, _strata(frame.loc[rows], None), cfg.group_train_rows, cfg.data_seed, f"train-{g}"
        )
    samples["lora"] = samples["fft"]
    m["dataset"]["train_rows_used"] = {k: len(v) for k, v in samples.items()}
    m["dataset"]["majority_label"] = int(frame.loc[train_idx, "label"].mean() >= 0.5)

    todo = []
    for r in runs:
        vec, logf = root / r.vector_path, root / r.log_path
        done = _intact(root, r.vector_path, artifacts) and _intact(root, r.log_path, artifacts)
        unrecorded = r.vector_path not in artifacts and r.log_path not in artifacts
        if not done and unrecorded and vec.is_file() and logf.is_file():
            # Written but not recorded (the process died between the two): keep it if it
            # is ours, i.e. the same config and base.
            try:
                meta = read_header(vec)
                done = (
                    meta.get("config_hash") == cfg.config_hash()
                    and meta.get("base_fingerprint") == fingerprint
                )
            except ValueError:
                done = False
            if done:
                for rel in (r.vector_path, r.log_path):
                    artifacts[rel] = sha256_file(root / rel)
        if done:
            result.skipped.append(r.key)
        else:
            todo.append(r)
    save_manifest()

    needs_models = bool(todo) or "test_accuracy" not in m["results"].get("base", {})
    if needs_models:
        # Encode every row any run or evaluation needs, once.
        need = np.unique(np.concatenate([samples[r.name] for r in todo])) if todo else []
        eval_val_idx = np.flatnonzero(eval_frame["split"].to_numpy() == "val")
        eval_test_idx = np.flatnonzero(eval_frame["split"].to_numpy() == "test")
        enc_eval = encode(
            handle.processor, eval_frame[content].tolist(), ds.modality, cfg.max_length
        )
        if ds.modality == "image":
            from taskfair.models import keep_decoded

            # The dashboard's evaluator then reads these pixels instead of decoding again.
            keep_decoded(root, handle.processor, eval_frame[content].tolist(), enc_eval)
        enc_train = (
            encode(handle.processor, frame.loc[need, content].tolist(), ds.modality, cfg.max_length)
            if len(need)
            else None
        )
        pos = {int(i): k for k, i in enumerate(need)}
        labels_eval = eval_frame["label"].to_numpy()

        def eval_rows(idx: np.ndarray, description: str) -> Rows:
            return Rows(subset_encoded(enc_eval, idx), labels_eval[idx], description)

        val_rows = eval_rows(eval_val_idx, "the validation rows (eval.parquet, split val)")
        test_rows = eval_rows(eval_test_idx, "test")
        groups_eval = eval_frame[cfg.attribute]

    total_work = sum(
        len(samples[r.name])
        * (
            cfg.lora.epochs or cfg.epochs
            if r.kind == "lora"
            else (cfg.group_epochs or cfg.epochs)
            if r.kind == "subgroup"
            else cfg.epochs
        )
        for r in todo
    )
    done_work = 0
    lora_hp = LoraHParams(
        r=cfg.lora.r,
        alpha=cfg.lora.alpha,
        dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        modules_to_save=cfg.lora.modules_to_save,
    )
    if todo:
        _echo(echo, f"training {len(todo)} run(s) on {device}: " + ", ".join(r.key for r in todo))
    for r in todo:
        t0 = time.perf_counter()
        idx = samples[r.name]
        train_rows = Rows(
            subset_encoded(enc_train, np.array([pos[int(i)] for i in idx], dtype=int)),
            frame.loc[idx, "label"].to_numpy(),
            f"{r.name} training rows",
        )
        offset = done_work

        def sub_progress(done: int, total: int, msg: str, _o=offset) -> None:
            report(progress, _o + done, total_work, msg)

        label = f"seed {r.seed} · {r.name}"
        res: TrainResult
        if r.kind == "lora":
            epochs = cfg.lora.epochs or cfg.epochs
            res = lora_finetune(
                handle.model,
                train_rows,
                val_rows,
                _hparams(cfg, epochs),
                lora_hp,
                seed=r.seed,
                lr=cfg.lora.lr,
                epochs=epochs,
                progress=sub_progress,
                label=label,
            )
        else:
            epochs = (cfg.group_epochs or cfg.epochs) if r.kind == "subgroup" else cfg.epochs
            select = None
            if r.kind == "subgroup":
                in_group = eval_val_idx[
                    (groups_eval.iloc[eval_val_idx] == r.group).fillna(False).to_numpy()
                ]
                if len(in_group):
                    select = eval_rows(in_group, f"the validation rows of group {r.group!r}")
            res = finetune(
                handle.model,
                train_rows,
                val_rows,
                _hparams(cfg, epochs),
                seed=r.seed,
                select=select,
                progress=sub_progress,
                label=label,
            )
        done_work += len(idx) * epochs
        meta = {
            "base_fingerprint": fingerprint,
            "name": r.name,
            "kind": r.kind,
            "group": r.group,
            "seed": r.seed,
            "dataset": data_section["fingerprint"],
            "dataset_name": ds.name,
            "attribute": cfg.attribute,
            "architecture": handle.spec.get("arch"),
            "config_hash": cfg.config_hash(),
            "rows": len(idx),
            "chosen_epoch": res.log["chosen_epoch"],
            "hparams": res.log["hparams"]
            | ({"lora": res.log["lora"]} if "lora" in res.log else {}),
        }
        vec = TaskVector.from_models(handle.model, res.model, meta)
        log = {
            "name": r.name,
            "kind": r.kind,
            "group": r.group,
            "seed": r.seed,
            "rows_used": len(idx),
            **res.log,
            "seconds": round(time.perf_counter() - t0, 3),
            "vector_norm": vec.norm(),
        }
        atomic_write_json(root / r.log_path, log)
        vec.save(root / r.vector_path)
        # Test accuracy for the manifest, after training: it never feeds back into it.
        test_m = evaluate_rows(res.model, test_rows, cfg.eval_batch_size)
        val_acc = log["epochs"][log["chosen_epoch"] - 1]["val_accuracy"]
        m["results"].setdefault("vectors", {})[r.key] = {
            "val_accuracy": val_acc,
            "test_accuracy": test_m["accuracy"],
            "test_loss": test_m["loss"],
            "norm": log["vector_norm"],
        }
        del res, vec
        record(r.key, [r.vector_path, r.log_path], time.perf_counter() - t0)
        _echo(echo, f"{r.key}: val accuracy {val_acc:.3f}, {log['seconds']:.0f}s")

    # -- results ------------------------------------------------------------------------
    results = m["results"]
    if needs_models:
        t0 = time.perf_counter()
        majority = m["dataset"]["majority_label"]
        base_m = evaluate_rows(handle.model, test_rows, cfg.eval_batch_size)
        results["base"] = {"test_accuracy": base_m["accuracy"], "test_loss": base_m["loss"]}
        results["majority"] = {
            "label": majority,
            "test_accuracy": float((test_rows.labels == majority).mean()),
        }
        timings["results"] = round(time.perf_counter() - t0, 3)
    vec_results = results.get("vectors", {})
    ffts = [
        vec_results[f"seed-{s}/fft"]["test_accuracy"]
        for s in cfg.seeds
        if f"seed-{s}/fft" in vec_results
    ]
    results["fft_test_accuracy"] = float(np.mean(ffts)) if ffts else None
    results["majority_test_accuracy"] = results["majority"]["test_accuracy"]
    results["base_test_accuracy"] = results["base"]["test_accuracy"]
    results["fft_beats_majority"] = (
        bool(ffts) and results["fft_test_accuracy"] > results["majority_test_accuracy"]
    )
    results["test_rows"] = int(m["eval"]["rows"].get("test", 0))
    results["note"] = (
        "test metrics are computed on eval.parquet's test rows after training; "
        "epoch selection used validation rows only"
    )
    m["complete"] = True
    save_manifest()
    result.manifest = m
    result.seconds = time.perf_counter() - t_start
    return result


# --------------------------------------------------------------------------- CLI


def configure(parser) -> None:
    parser.add_argument("--config", required=True, help="YAML build config, e.g. configs/demo.yaml")
    parser.add_argument("--out", required=True, help="bundle folder to write, e.g. models/demo")
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="build at test size (a few dozen rows, sequence length 32; under a minute on CPU)",
    )
    parser.add_argument(
        "--device", default=None, help="override the config's device (auto|cpu|cuda)"
    )


def _fmt_seconds(s: float) -> str:
    return f"{int(s // 60)}m{s % 60:04.1f}s" if s >= 60 else f"{s:.1f}s"


def summary(manifest: dict) -> str:
    """A few lines about a built bundle: FFT vs majority baseline, build time."""
    res = manifest.get("results", {})
    ds = manifest.get("dataset", {})
    lines = [
        f"bundle {manifest.get('name')}: {manifest.get('model', {}).get('name')} on {ds.get('name')}, "
        f"attribute {ds.get('attribute')} ({', '.join(ds.get('groups', []))}), "
        f"seeds {manifest.get('seeds')}",
    ]
    fft, maj, base = (
        res.get("fft_test_accuracy"),
        res.get("majority_test_accuracy"),
        res.get("base_test_accuracy"),
    )
    if fft is not None and maj is not None:
        verdict = "beats" if fft > maj else "does NOT beat"
        lines.append(
            f"test accuracy ({res.get('test_rows')} rows): FFT {fft:.3f} {verdict} the majority "
            f"baseline {maj:.3f} ({fft - maj:+.3f}); base model {base:.3f}"
        )
    for key, v in sorted(res.get("vectors", {}).items()):
        lines.append(
            f"  {key}: val {v['val_accuracy']:.3f}  test {v['test_accuracy']:.3f}  "
            f"|tau| {v['norm']:.3g}"
        )
    total = manifest.get("timings", {}).get("total")
    if total is not None:
        lines.append(f"build time {_fmt_seconds(total)} (all runs of this bundle)")
    return "\n".join(lines)


def run(args) -> int:
    from tqdm.auto import tqdm
    from transformers.utils import logging as hf_logging

    from taskfair.progress import tqdm_progress

    # The base's new head is reported by transformers as MISSING weights on every load;
    # the build initialises it on purpose, so keep the console to our own lines.
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cfg = load_config(args.config)
    if args.tiny:
        cfg = cfg.tiny()
    if args.device:
        cfg = cfg.replace(device=args.device)
    res = build_bundle(
        cfg,
        args.out,
        progress=tqdm_progress("build", unit="rows"),
        echo=tqdm.write,
    )
    print(summary(res.manifest))
    if res.trained:
        print(f"this run: built {', '.join(res.trained)} in {_fmt_seconds(res.seconds)}")
    print(f"bundle ready in {res.root}")
    return 0
