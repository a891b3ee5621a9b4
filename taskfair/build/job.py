"""One fine-tune as a self-contained job: its rows and settings in, its vector and log out.

A :class:`VectorJob` holds everything a run needs and nothing of the build's state, so it
runs the same in the build's process (:meth:`taskfair.build.steps.VectorStep.run`) and in
another one (a Ray task, :mod:`taskfair.distributed.build`). :func:`run_job` trains a
deep copy of the base, takes the difference, stores it compact (the tensors the run left
unchanged are dropped: absent means zero; a LoRA run keeps its adapters factored), and,
when the build asks for a lossy :class:`~taskfair.compress.CompressSpec`, compresses it
and measures the compressed vector's fidelity against the dense one on the eval rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from taskfair.build.rows import Rows, evaluate_rows
from taskfair.build.train import HParams, LoraHParams, TrainResult, finetune, lora_finetune
from taskfair.compress import CompressSpec, compress_vector, measure_fidelity
from taskfair.io import atomic_write_bytes
from taskfair.models import with_head
from taskfair.progress import Progress
from taskfair.vectors import TaskVector

__all__ = ["FidelityRows", "VectorJob", "VectorOutcome", "run_job"]


@dataclass
class FidelityRows:
    """The rows a compressed vector's fidelity is measured on (a bundle's eval rows):
    encoded inputs, 0/1 ``labels`` ``(n,)`` and ``groups`` (a name or missing per row)."""

    encoded: object
    labels: np.ndarray
    groups: pd.Series


@dataclass
class VectorJob:
    """One run: ``kind`` ``fft`` | ``lora`` | ``subgroup``, its rows and settings.

    ``select`` (a subgroup's validation rows) picks the epoch when given, else ``val``;
    ``test`` is scored after training only. ``meta``: the vector header's fields known
    before training (base fingerprint, dataset, config hash, ...). ``compress``: a lossy
    setting to store the vector in (None: lossless compact), measured on ``fidelity``.
    ``head``: the seed's own classification head (``seed_draws: rows+head``): the run
    starts from the base with it, and the vector is relative to that seed base."""

    name: str
    kind: str
    group: str | None
    seed: int
    hp: HParams
    train: Rows
    val: Rows
    test: Rows
    select: Rows | None = None
    lora: LoraHParams | None = None
    lora_lr: float | None = None
    meta: dict = field(default_factory=dict)
    compress: CompressSpec | None = None
    fidelity: FidelityRows | None = None
    label: str = ""
    head: dict[str, torch.Tensor] | None = None


@dataclass
class VectorOutcome:
    """What a run gives back: the vector (or its file's bytes, from another process), the
    training log, the test scores and, for a compressed vector, its fidelity."""

    log: dict
    test: dict
    vector: TaskVector | None = None
    vector_bytes: bytes | None = None
    fidelity: dict | None = None
    dense_bytes: int = 0

    def write_vector(self, path: Path) -> None:
        """Write the vector file (atomically), from the vector or from its bytes."""
        if self.vector_bytes is not None:
            atomic_write_bytes(path, self.vector_bytes)
        else:
            self.vector.save(path)


def _train(base: torch.nn.Module, job: VectorJob, progress: Progress | None) -> TrainResult:
    common = {"seed": job.seed, "progress": progress, "label": job.label or job.name}
    if job.kind == "lora":
        return lora_finetune(
            base,
            job.train,
            job.val,
            job.hp,
            job.lora,
            lr=job.lora_lr,
            epochs=job.hp.epochs,
            **common,
        )
    return finetune(base, job.train, job.val, job.hp, select=job.select, **common)


def run_job(
    base: torch.nn.Module, job: VectorJob, progress: Progress | None = None
) -> VectorOutcome:
    """Train ``job`` from a deep copy of ``base`` (which is not modified); see the module
    docstring. ``progress(done, total, message)`` advances over the run's training rows."""
    t0 = time.perf_counter()
    if job.head is not None:
        base = with_head(base, job.head)  # the seed's base: a copy, ``base`` is kept
    res = _train(base, job, progress)
    meta = dict(
        job.meta,
        chosen_epoch=res.log["chosen_epoch"],
        hparams=res.log["hparams"] | ({"lora": res.log["lora"]} if "lora" in res.log else {}),
    )
    dense = TaskVector.from_models(base, res.model, meta)
    norm = dense.norm()
    dense_bytes = dense.nbytes
    vec = dense.compacted(res.factors)
    fidelity = None
    if job.compress is not None and not job.compress.is_identity:
        compact = compress_vector(vec, job.compress)
        if job.fidelity is not None:
            rows = job.fidelity
            fidelity = measure_fidelity(
                base,
                {job.name: vec},
                {job.name: compact},
                rows.encoded,
                rows.labels,
                rows.groups,
                batch_size=job.hp.eval_batch_size,
            )
        vec = compact
    log = {
        "name": job.name,
        "kind": job.kind,
        "group": job.group,
        "seed": job.seed,
        "rows_used": len(job.train),
        **res.log,
        "seconds": round(time.perf_counter() - t0, 3),
        "vector_norm": norm,
    }
    # Test accuracy for the manifest, after training: it never feeds back into it.
    test = evaluate_rows(res.model, job.test, job.hp.eval_batch_size)
    return VectorOutcome(
        log=log, test=test, vector=vec, fidelity=fidelity, dense_bytes=int(dense_bytes)
    )
