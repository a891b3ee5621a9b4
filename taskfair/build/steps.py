"""The steps of a build, each one artifact: the base, the evaluation rows, each vector,
and last the sweep cache every page of the dashboard reads.

A step answers two questions. ``reuse(state)``: is my artifact recorded and intact? If
so it takes from it what later steps need (the base model, the eval rows) and the
build skips it. ``run(state)``: build the artifact and return the files to record.
Steps share one :class:`BuildState`; :mod:`taskfair.build.pipeline` runs them in order
and records each one's files and time as soon as it finishes.

A new kind of artifact is a new step class here and one entry in the pipeline's list.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskfair.build.config import BuildConfig
from taskfair.build.job import FidelityRows, VectorJob, VectorOutcome, run_job
from taskfair.build.manifest import BASE_DIR, EVAL_FILE, ManifestWriter
from taskfair.build.probe import fit_probe_head
from taskfair.build.rows import Rows, subset_encoded
from taskfair.build.sampling import eval_sample, fft_sample
from taskfair.build.train import HParams, LoraHParams
from taskfair.bundle import Bundle
from taskfair.data import EVAL_SPLITS, Dataset
from taskfair.inference import encode
from taskfair.io import atomic_path, atomic_write_json
from taskfair.models import ModelHandle, keep_decoded, load_base, load_model, save_base
from taskfair.progress import Progress, report
from taskfair.sweep import Evaluator, PointStore, Setting
from taskfair.vectors import read_forms, read_header
from taskfair.viewer import viewer_settings

__all__ = [
    "BuildState",
    "Inputs",
    "Step",
    "BaseStep",
    "EvalStep",
    "VectorStep",
    "SweepStep",
    "vector_steps",
]


@dataclass
class BuildState:
    """What the steps of one build share. The first block is known when the build
    starts; ``handle``/``fingerprint`` are set by the base step, ``eval_frame`` by the
    eval step, ``samples`` (training rows by vector name) before the vectors are planned,
    ``inputs`` before the first vector trains."""

    cfg: BuildConfig
    root: Path
    ds: Dataset
    groups: list[str]
    writer: ManifestWriter
    device: torch.device
    echo: Callable[[str], None]
    progress: Progress | None = None
    handle: ModelHandle | None = None
    fingerprint: str | None = None
    eval_frame: pd.DataFrame | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: Inputs | None = None
    work_total: int = 0  # training examples (rows x epochs) of the vectors still to build
    work_done: int = 0

    @property
    def m(self) -> dict:
        """The manifest being written."""
        return self.writer.m

    def rows_of(self, step: VectorStep) -> np.ndarray:
        """A run's training rows: ``samples`` holds them by vector name, or by
        ``seed-S/<name>`` when each seed draws its own rows (``seed_draws: rows``)."""
        return self.samples[step.key] if step.key in self.samples else self.samples[step.name]


class Step:
    """One artifact of the bundle; see the module docstring."""

    key: str = ""

    def reuse(self, state: BuildState) -> bool:
        raise NotImplementedError

    def run(self, state: BuildState) -> list[str]:
        raise NotImplementedError

    def work(self, state: BuildState) -> int:
        """Training examples this step processes, for the build's progress bar."""
        return 0

    def done_message(self, state: BuildState) -> str | None:
        """A status line for the console once the step is recorded."""
        return None


# --------------------------------------------------------------------------- groundwork


class BaseStep(Step):
    """``base/``: the base model with its seeded classification head. Every vector is
    relative to it, so a base rebuilt differently invalidates every vector."""

    key = "base"

    def _rels(self, state: BuildState) -> list[str]:
        return sorted(k for k in state.writer.artifacts if k.startswith(BASE_DIR + "/"))

    def reuse(self, state: BuildState) -> bool:
        recorded = state.m["base"].get("fingerprint")
        rels = self._rels(state)
        if not (rels and recorded and all(state.writer.intact(rel) for rel in rels)):
            return False
        # Resume from the base on disk: the vectors already built are relative to it.
        state.handle = load_base(state.root / BASE_DIR, device=state.device)
        state.fingerprint = recorded
        return True

    def run(self, state: BuildState) -> list[str]:
        cfg, root, m = state.cfg, state.root, state.m
        recorded = m["base"].get("fingerprint")
        state.writer.forget(self._rels(state))
        state.handle = load_model(
            cfg.model,
            device=state.device,
            head_seed=cfg.head_seed,
            max_length=cfg.max_length,
            image_size=cfg.image_size,
        )
        state.echo(f"base: {cfg.model} with a head seeded by {cfg.head_seed} -> {root / BASE_DIR}")
        probe = _fit_probe(state) if cfg.head_init == "probe" else None
        state.fingerprint = save_base(state.handle, root / BASE_DIR)
        if recorded and recorded != state.fingerprint:
            # A different base (e.g. another version of the packaged model): every vector
            # built so far points the wrong way from it, so all are rebuilt.
            state.writer.forget(
                [
                    k
                    for k in state.writer.artifacts
                    if k.startswith(("vectors/", "logs/", "controls/"))
                ]
            )
            m["results"] = {}
        m["base"] = {"path": BASE_DIR, "fingerprint": state.fingerprint}
        if probe is not None:
            m["base"]["head_init"] = {"kind": "probe", **probe}
        m["model"] = dict(state.handle.spec, fingerprint=state.fingerprint)
        return sorted(
            p.relative_to(root).as_posix() for p in (root / BASE_DIR).rglob("*") if p.is_file()
        )


def _fit_probe(state: BuildState) -> dict:
    """The ``head_init: probe`` variant: fit the base's head on the FFT training rows."""
    ds, cfg, handle = state.ds, state.cfg, state.handle
    part = ds.frame.loc[fft_sample(ds, cfg)]
    enc = encode(handle.processor, part[ds.content_column].tolist(), ds.modality, cfg.max_length)
    rows = Rows(enc, part["label"].to_numpy(), "the FFT training rows")
    info = fit_probe_head(handle.model, rows, batch_size=cfg.eval_batch_size)
    state.echo(
        f"base: head fitted as a linear probe on {info['rows']} training rows "
        f"(train accuracy {info['train_accuracy']:.3f})"
    )
    return info


class EvalStep(Step):
    """``eval.parquet``: the val and test rows sweeps evaluate (and training selects
    epochs on), stratified and capped by ``eval_rows``."""

    key = "eval"

    def reuse(self, state: BuildState) -> bool:
        if not state.writer.intact(EVAL_FILE):
            return False
        # The rows on disk are the ones sweeps will use: train-time validation uses them too.
        frame = pd.read_parquet(state.root / EVAL_FILE)
        image_root = state.m["eval"].get("image_root")
        if state.ds.modality == "image" and image_root:
            frame["image"] = [str(Path(image_root) / p) for p in frame["image"]]
        state.eval_frame = frame
        return True

    def run(self, state: BuildState) -> list[str]:
        cfg = state.cfg
        frame = state.eval_frame = eval_sample(state.ds, cfg)
        to_write, image_root = frame, None
        if state.ds.modality == "image":
            # Relative paths under one root keep the bundle movable with its images.
            image_root = os.path.commonpath(list(frame["image"]))
            to_write = frame.assign(image=[os.path.relpath(p, image_root) for p in frame["image"]])
        with atomic_path(state.root / EVAL_FILE) as tmp:
            to_write.to_parquet(tmp, index=False)
        state.m["eval"] = {
            "path": EVAL_FILE,
            "rows": {s: int((frame["split"] == s).sum()) for s in EVAL_SPLITS},
            "image_root": image_root,
            "sampling": f"stratified by label x {cfg.attribute}, data_seed {cfg.data_seed}",
        }
        return [EVAL_FILE]


# --------------------------------------------------------------------------- inputs


class Inputs:
    """Every row the pending vectors and the final evaluation need, encoded once: the
    bundle's eval rows (``val``, ``test``) and the union of the pending runs' training
    rows. Image builds also keep the decoded eval pixels as the bundle's pixel cache."""

    def __init__(self, state: BuildState, todo: list[VectorStep]):
        ds, cfg, handle, frame = state.ds, state.cfg, state.handle, state.eval_frame
        content = ds.content_column
        need = np.unique(np.concatenate([state.rows_of(s) for s in todo])) if todo else []
        self._eval_split = frame["split"].to_numpy()
        self._eval_groups = frame[cfg.attribute]
        self._eval = encode(handle.processor, frame[content].tolist(), ds.modality, cfg.max_length)
        if ds.modality == "image":
            # The dashboard's evaluator then reads these pixels instead of decoding again.
            keep_decoded(state.root, handle.processor, frame[content].tolist(), self._eval)
        self._train = (
            encode(
                handle.processor, ds.frame.loc[need, content].tolist(), ds.modality, cfg.max_length
            )
            if len(need)
            else None
        )
        self._pos = {int(i): k for k, i in enumerate(need)}
        self._labels_eval = frame["label"].to_numpy()
        self._train_labels = ds.frame["label"]
        self.val = self._eval_rows(
            np.flatnonzero(self._eval_split == "val"),
            "the validation rows (eval.parquet, split val)",
        )
        self.test = self._eval_rows(np.flatnonzero(self._eval_split == "test"), "test")

    def _eval_rows(self, idx: np.ndarray, description: str) -> Rows:
        return Rows(subset_encoded(self._eval, idx), self._labels_eval[idx], description)

    def group_val(self, group: str) -> Rows | None:
        """The validation rows of ``group`` (``None`` when the eval rows hold none)."""
        val_idx = np.flatnonzero(self._eval_split == "val")
        in_group = val_idx[(self._eval_groups.iloc[val_idx] == group).fillna(False).to_numpy()]
        if not len(in_group):
            return None
        return self._eval_rows(in_group, f"the validation rows of group {group!r}")

    def fidelity_rows(self) -> FidelityRows:
        """Every eval row (val and test, in ``eval.parquet``'s order) with labels and
        groups: what a compressed vector's fidelity is measured on."""
        return FidelityRows(self._eval, self._labels_eval, self._eval_groups.reset_index(drop=True))

    def train(self, idx: np.ndarray, description: str) -> Rows:
        """The training rows ``idx`` (labels of the dataset's frame)."""
        return Rows(
            subset_encoded(self._train, np.array([self._pos[int(i)] for i in idx], dtype=int)),
            self._train_labels.loc[idx].to_numpy(),
            description,
        )


# --------------------------------------------------------------------------- vectors


def _hparams(cfg: BuildConfig, epochs: int) -> HParams:
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


def _lora_hparams(cfg: BuildConfig) -> LoraHParams:
    return LoraHParams(
        r=cfg.lora.r,
        alpha=cfg.lora.alpha,
        dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        modules_to_save=cfg.lora.modules_to_save,
    )


@dataclass
class VectorStep(Step):
    """One task vector and its training log: ``kind`` ``fft`` (all training rows,
    capped), ``lora`` (the same rows, peft, merged) or ``subgroup`` (``group``'s
    training rows only, epoch selected on that group's validation rows)."""

    name: str
    kind: str  # fft | lora | subgroup
    group: str | None
    seed: int
    _message: str | None = field(default=None, init=False, repr=False)

    @property
    def key(self) -> str:
        return f"seed-{self.seed}/{self.name}"

    @property
    def vector_path(self) -> str:
        return f"vectors/seed-{self.seed}/{self.name}.safetensors"

    @property
    def log_path(self) -> str:
        return f"logs/seed-{self.seed}/{self.name}.json"

    def entry(self) -> dict:
        """The manifest's ``vectors`` entry."""
        return {
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "seed": self.seed,
            "path": self.vector_path,
            "log": self.log_path,
        }

    def reuse(self, state: BuildState) -> bool:
        w = state.writer
        if w.intact(self.vector_path) and w.intact(self.log_path):
            return True
        vec, log = state.root / self.vector_path, state.root / self.log_path
        unrecorded = self.vector_path not in w.artifacts and self.log_path not in w.artifacts
        if not (unrecorded and vec.is_file() and log.is_file()):
            return False
        # Written but not recorded (the process died between the two): keep it if it is
        # ours, i.e. the same config and base.
        try:
            meta = read_header(vec)
        except ValueError:
            return False
        ours = (
            meta.get("config_hash") == state.cfg.config_hash()
            and meta.get("base_fingerprint") == state.fingerprint
        )
        if ours:
            w.adopt([self.vector_path, self.log_path])
        return ours

    def work(self, state: BuildState) -> int:
        return len(state.rows_of(self)) * state.cfg.epochs_for(self.kind)

    def stored(self, state: BuildState) -> dict:
        """How the vector file stores it (``form``: ``dense`` or its compact forms joined
        by ``+``) and its size in bytes, for the manifest's vector entry."""
        path = state.root / self.vector_path
        forms = sorted({rec.get("form", "?") for rec in read_forms(path).values()})
        return {"form": "+".join(forms) if forms else "dense", "bytes": path.stat().st_size}

    def job(self, state: BuildState) -> VectorJob:
        """This run as a self-contained job (its rows, settings and header fields)."""
        cfg, inputs = state.cfg, state.inputs
        idx = state.rows_of(self)
        compress = (
            cfg.compress if cfg.compress is not None and not cfg.compress.is_identity else None
        )
        return VectorJob(
            name=self.name,
            kind=self.kind,
            group=self.group,
            seed=self.seed,
            hp=_hparams(cfg, cfg.epochs_for(self.kind)),
            train=inputs.train(idx, f"{self.name} training rows"),
            val=inputs.val,
            test=inputs.test,
            select=inputs.group_val(self.group) if self.kind == "subgroup" else None,
            lora=_lora_hparams(cfg) if self.kind == "lora" else None,
            lora_lr=cfg.lora.lr if self.kind == "lora" else None,
            meta=self._meta(state, len(idx)),
            compress=compress,
            fidelity=inputs.fidelity_rows() if compress is not None else None,
            label=f"seed {self.seed} · {self.name}",
        )

    def run(self, state: BuildState) -> list[str]:
        offset = state.work_done

        def progress(done: int, total: int, msg: str) -> None:
            report(state.progress, offset + done, state.work_total, msg)

        outcome = run_job(state.handle.model, self.job(state), progress)
        return self.record(state, outcome)

    def record(self, state: BuildState, outcome: VectorOutcome) -> list[str]:
        """Write a finished run's log and vector, note its results; the files to record."""
        state.work_done += self.work(state)
        log = outcome.log
        atomic_write_json(state.root / self.log_path, log)
        outcome.write_vector(state.root / self.vector_path)
        val_acc = log["epochs"][log["chosen_epoch"] - 1]["val_accuracy"]
        result = {
            "val_accuracy": val_acc,
            "test_accuracy": outcome.test["accuracy"],
            "test_loss": outcome.test["loss"],
            "norm": log["vector_norm"],
            "dense_bytes": outcome.dense_bytes,
        }
        if outcome.fidelity is not None:
            result["fidelity"] = outcome.fidelity
        state.m["results"].setdefault("vectors", {})[self.key] = result
        self._message = f"{self.key}: val accuracy {val_acc:.3f}, {log['seconds']:.0f}s"
        return [self.vector_path, self.log_path]

    def _meta(self, state: BuildState, rows: int) -> dict:
        """The vector file's header fields known before training: what it is trained
        from, on and with (the run adds its chosen epoch and hyper-parameters)."""
        cfg, ds = state.cfg, state.ds
        return {
            "base_fingerprint": state.fingerprint,
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "seed": self.seed,
            "dataset": state.m["dataset"]["fingerprint"],
            "dataset_name": ds.name,
            "attribute": cfg.attribute,
            "architecture": state.handle.spec.get("arch"),
            "config_hash": cfg.config_hash(),
            "rows": rows,
        }

    def done_message(self, state: BuildState) -> str | None:
        return self._message


def vector_steps(cfg: BuildConfig, groups: list[str]) -> list[VectorStep]:
    """Per seed, in order: FFT, LoRA, one vector per group, then the matched baselines
    of a sampling variant (``fft_balanced``, ``lora_balanced`` with ``group_sampling:
    balanced``). The matched ones come last and the config hash does not change, so a
    bundle built before they existed gains them when its build is run again."""
    matched = cfg.group_sampling if cfg.group_sampling != "stratified" else None
    return [
        VectorStep(name, kind, group, seed)
        for seed in cfg.seeds
        for name, kind, group in [
            ("fft", "fft", None),
            ("lora", "lora", None),
            *[(g, "subgroup", g) for g in groups],
            *([(f"{k}_{matched}", k, None) for k in ("fft", "lora")] if matched else []),
        ]
    ]


# --------------------------------------------------------------------------- sweeps


class SweepStep(Step):
    """``sweeps/``: every point the dashboard's pages read
    (:func:`taskfair.sweep.page_settings`: task addition "sum" and "mean" over the λ grid,
    injection over its grid, FFT, LoRA and the base), on val and test, for every seed, so
    that a first visit finds every page complete. Runs once the bundle is complete; each
    point is stored as soon as it is evaluated, so an interrupted step resumes where it
    stopped. The points are not manifest artifacts: the sweep cache checks them by key.
    ``progress(done, total, message)`` counts settings."""

    key = "sweeps"

    def __init__(self, progress: Progress | None = None):
        self.progress = progress
        self._evaluated = 0
        self._message: str | None = None

    @staticmethod
    def _todo(bundle: Bundle) -> dict[int, list[Setting]]:
        """Per seed, the settings with a split not in the cache yet (no model needed)."""
        out = {}
        for seed in bundle.seeds:
            store = PointStore.for_bundle(bundle, seed)
            out[seed] = [
                s
                for s in viewer_settings(bundle, seed)
                if any(store.key(s, sp) not in store.cache for sp in store.splits)
            ]
        return out

    @classmethod
    def complete(cls, root: Path, manifest: dict) -> bool:
        """Whether every point is cached in the (complete) bundle at ``root``."""
        return not any(cls._todo(Bundle(root, manifest)).values())

    def reuse(self, state: BuildState) -> bool:
        return self.complete(state.root, state.m)

    def run(self, state: BuildState) -> list[str]:
        bundle = Bundle(state.root, state.m)
        todo = SweepStep._todo(bundle)
        total = sum(len(v) for v in todo.values())
        state.echo(
            f"sweeps: {total} setting(s) to evaluate on {', '.join(EVAL_SPLITS)} "
            f"(every point the dashboard reads) on {state.device}"
        )
        done = 0
        for seed, settings in todo.items():
            if not settings:
                continue
            load = partial(Evaluator.from_bundle, bundle, seed=seed, device=state.device)
            offset = done

            def progress(i: int, n: int, msg: str, seed=seed, offset=offset) -> None:
                report(self.progress, offset + i, total, f"seed {seed} · {msg}")

            store = PointStore.for_bundle(bundle, seed, load, source="build")
            store.sweep(settings, store.splits, progress)
            done += len(settings)
        self._evaluated = done
        return []

    def done_message(self, state: BuildState) -> str | None:
        seconds = state.m["timings"].get(self.key, 0.0)
        return f"sweeps: {self._evaluated} setting(s) evaluated and cached in {seconds:.0f}s"
