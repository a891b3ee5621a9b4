"""The vector steps: every row the pending runs need, encoded once (:class:`Inputs`), and
one task vector with its training log per :class:`VectorStep` (FFT, LoRA, each
subgroup's, and a sampling variant's matched baselines), in the order
:func:`vector_steps` plans them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from taskfair.build.config import BuildConfig
from taskfair.build.job import FidelityRows, VectorJob, VectorOutcome, run_job
from taskfair.build.rows import Rows, subset_encoded
from taskfair.build.state import BuildState, Step
from taskfair.build.train import HParams, LoraHParams
from taskfair.inference import encode
from taskfair.io import atomic_write_json
from taskfair.models import keep_decoded
from taskfair.progress import report
from taskfair.vectors import read_forms, read_header

__all__ = ["Inputs", "VectorStep", "vector_steps"]


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
        ours = meta.get("config_hash") == state.cfg.config_hash() and meta.get(
            "base_fingerprint"
        ) == state.fingerprint_of(self.seed)
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
            head=state.head_of(self.seed),
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
            "base_fingerprint": state.fingerprint_of(self.seed),
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
