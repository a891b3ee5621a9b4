"""``build --ray``: the build's fine-tunes as Ray tasks, recorded as a local build records them.

Every vector still to build (FFT, LoRA and each subgroup, for every seed) is one task
declaring its CPUs and GPUs (:class:`~taskfair.distributed.RayOptions`). A task gets the
base folder's files as bytes (weights as safetensors, never pickled) and its
:class:`~taskfair.build.job.VectorJob` (rows and settings), loads the base, runs
:func:`~taskfair.build.job.run_job` with the declared number of torch threads, and sends
back the vector file's bytes with the log, the test scores and the fidelity. The driver
writes and records each result in the order a local build would, so the vectors,
the logs and the manifest (timings aside) are the same as a local build's.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from taskfair.build.job import VectorJob, VectorOutcome, run_job
from taskfair.distributed.cluster import RayOptions, connect
from taskfair.models import load_base
from taskfair.progress import report

__all__ = ["folder_bytes", "ray_runner", "run_remote", "train_remote"]


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path (the base: config, tokenizer, weights)."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def train_remote(
    base_files: dict[str, bytes], job: VectorJob, threads: int, gpu: bool
) -> VectorOutcome:
    """One fine-tune in a worker: the base rebuilt from its files, the job run with
    ``threads`` torch threads (on the worker's GPU when ``gpu``), the vector back as the
    bytes of its file."""
    torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory(prefix="taskfair-job-") as tmp:
        root = Path(tmp)
        for rel, data in base_files.items():
            (root / "base" / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / "base" / rel).write_bytes(data)
        handle = load_base(root / "base", device="cuda" if gpu else "cpu")
        outcome = run_job(handle.model, job)
        path = outcome.vector.save(root / "vector.safetensors")
        outcome.vector_bytes, outcome.vector = path.read_bytes(), None
    return outcome


def run_remote(
    state,
    steps: Sequence,
    options: RayOptions,
    record: Callable[[object, VectorOutcome, float], None],
) -> None:
    """Run ``steps`` (:class:`~taskfair.build.steps.VectorStep`) of a build's ``state`` as
    Ray tasks; ``record(step, outcome, seconds)`` is called for each, in ``steps``' order."""
    ray = connect(options)
    res = options.resources(state.device)
    state.echo(
        f"ray: {len(steps)} run(s) as tasks of {res['num_cpus']} CPU(s) and "
        f"{res['num_gpus']:g} GPU(s) each"
    )
    base = ray.put(folder_bytes(state.root / "base"))
    task = ray.remote(train_remote).options(**res)
    t0 = time.perf_counter()
    refs = [
        task.remote(base, step.job(state), res["num_cpus"], res["num_gpus"] > 0) for step in steps
    ]
    for step, ref in zip(steps, refs, strict=True):
        outcome = ray.get(ref)
        record(step, outcome, time.perf_counter() - t0)
        report(state.progress, state.work_done, state.work_total, f"ray · {step.key} done")
        t0 = time.perf_counter()


def ray_runner(options: RayOptions) -> Callable:
    """``build_bundle(..., remote=ray_runner(options))``: the build's runs on Ray."""

    def remote(state, steps, record) -> None:
        run_remote(state, steps, options, record)

    return remote
