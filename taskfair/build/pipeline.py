"""Build a bundle: a base model and a grouped dataset -> base, eval rows, task vectors.

:func:`build_bundle` runs these steps, in order, into ``out`` (layout in
``docs/ARCHITECTURE.md``):

========== ===================================================================
data       load the dataset and check attribute, groups, group names and sizes and
           splits, before the folder is created or locked: a refusal writes nothing.
           A complete bundle whose files are all intact ends here.
manifest   ``manifest.json`` with ``complete: false`` and the config hash, first, so
           that a folder is never resumed or overwritten by a different config
base       ``base/``: the base model with its seeded classification head
heads      with ``seed_draws: rows+head``: ``heads/seed-S.safetensors``, each seed's
           own head (seed S's base is the base with it)
eval       ``eval.parquet``: the val and test rows the bundle is evaluated on
           (stratified, deterministic, capped by ``eval_rows``)
seed-S/…   per seed: ``fft`` (all training rows, capped), ``lora`` (peft, merged)
           and one vector per subgroup (that group's training rows only), each with
           its training log
results    test accuracy of base, FFT, ... and the majority-class baseline, computed
           after training and never fed back into it; then ``complete: true``
sweeps     with ``sweeps=True`` (the ``build`` command's default): every point the
           dashboard's pages read, evaluated on val and test and cached in
           ``sweeps/``, resumed by a rerun even when the rest is complete
========== ===================================================================

The artifact steps (base, eval, each vector) are :mod:`taskfair.build.steps`: each one
is skipped when its files are recorded and intact, and otherwise built, written
atomically and recorded with its sha256 and its time as soon as it exists, so a rerun of
the same command resumes at the first missing artifact (a killed build's temporary
files are removed first). A folder holding a bundle of another config is refused, with
``--replace`` (``replace=True``) named in the message: it clears that bundle and builds
this one. Epoch selection uses validation rows only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from taskfair.build.config import BuildConfig
from taskfair.build.controls import control_samples, control_steps
from taskfair.build.dataset import dataset_section, load_checked, majority_label
from taskfair.build.manifest import (
    ManifestWriter,
    check_out,
    check_same_data,
    clear_bundle,
    drop_leftovers,
    folder_lock,
    intact,
    new_manifest,
    read_manifest,
)
from taskfair.build.rows import evaluate_rows
from taskfair.build.sampling import train_samples
from taskfair.build.steps import (
    BaseStep,
    BuildState,
    EvalStep,
    HeadsStep,
    Inputs,
    Step,
    SweepStep,
    VectorStep,
    vector_steps,
)
from taskfair.bundle import FORMAT_VERSION
from taskfair.data import Dataset
from taskfair.errors import BuildError
from taskfair.models import resolve_device
from taskfair.names import name_problem, shown
from taskfair.progress import Progress

__all__ = ["BuildResult", "build_bundle"]


@dataclass
class BuildResult:
    """What a build call did: ``trained`` lists the artifacts made in this call
    (``base``, ``eval``, ``seed-S/<name>``), ``skipped`` those found intact."""

    root: Path
    manifest: dict
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def build_bundle(
    config: BuildConfig,
    out: str | os.PathLike,
    *,
    dataset: Dataset | None = None,
    progress: Progress | None = None,
    echo: Callable[[str], None] | None = None,
    on_artifact: Callable[[str], None] | None = None,
    replace: bool = False,
    sweeps: bool = False,
    sweep_progress: Progress | None = None,
    remote: Callable | None = None,
) -> BuildResult:
    """Build (or resume) the bundle of ``config`` in ``out``; see the module docstring.

    ``dataset``: an already loaded :class:`taskfair.data.Dataset` (else the config's is
    loaded). ``progress(done, total, message)`` advances over training examples of the
    runs still to do. ``echo`` receives human-readable status lines. ``on_artifact(key)``
    is called after each artifact is recorded (tests inject interruptions there).
    ``replace``: a folder holding a bundle of another config (or data) is cleared and
    built afresh instead of refused.
    ``sweeps``: then evaluate and cache every point the dashboard reads (the last step,
    :class:`~taskfair.build.steps.SweepStep`; ``sweep_progress`` counts its settings).
    ``remote(state, steps, record)``: runs the vectors still to build elsewhere and calls
    ``record(step, outcome, seconds)`` for each in order, e.g. on Ray
    (:func:`taskfair.distributed.build.ray_runner`); the bundle is the same as a local
    build's.
    """
    t_start = time.perf_counter()
    root = Path(out)
    found, damaged = _found(root, replace)
    # An unfinished build that recorded nothing (it failed, or was killed, before its
    # first artifact) holds nothing to lose: another config may take the folder over.
    check_out(root, found, config, replace or _nothing_built(found))
    echo = echo if echo is not None else _silent
    # -- data: checked before the folder is made or locked, so a refusal leaves nothing
    ds, groups = load_checked(config, dataset)
    echo(ds.summary())
    data = dataset_section(ds, config, groups)
    stale = _stale(root, found, damaged, config, replace, data["fingerprint"])
    with _removed_if_nothing_built(root), folder_lock(root):
        result = BuildResult(root=root, manifest={})
        if stale:
            echo(f"{root}: removing the bundle of another config that was there")
            clear_bundle(root)
            found = None
        for rel in drop_leftovers(root):
            echo(f"{root}: removed {rel}, left by an interrupted write")
        planned = [*vector_steps(config, groups), *control_steps(config, groups)]
        if _complete_and_intact(root, found, echo, planned):
            result.manifest, result.skipped = found, ["all"]
            if sweeps and not SweepStep.complete(root, found):  # an interrupted last step
                writer = ManifestWriter(root, found, result.trained, t_start, on_artifact)
                state = _state(config, root, ds, groups, writer, echo, progress)
                _run(state, SweepStep(sweep_progress))
            result.seconds = time.perf_counter() - t_start
            return result
        # -- manifest: complete=false + config hash, before anything else is written
        vectors = vector_steps(config, groups)
        manifest = new_manifest(config, root, found, data, [v.entry() for v in vectors])
        writer = ManifestWriter(root, manifest, result.trained, t_start, on_artifact)
        writer.save()
        state = _state(config, root, ds, groups, writer, echo, progress)
        # -- base, eval, vectors, results
        _build(state, vectors, result, remote)
        # -- sweeps: the points every page reads, once the bundle is complete
        if sweeps:
            step = SweepStep(sweep_progress)
            if not _reuse(state, step, result):
                _run(state, step)
        result.manifest = manifest
        result.seconds = time.perf_counter() - t_start
        return result


def _found(root: Path, replace: bool) -> tuple[dict | None, bool]:
    """The manifest in the --out folder (``None``: none) and whether it is damaged (a
    damaged one is refused unless ``replace``); the folder's name is checked first."""
    problem = name_problem(root.resolve().name)
    if problem is not None:
        raise BuildError(
            f"The --out folder's name {shown(root.resolve().name)} cannot name a bundle (the "
            f"dashboard serves bundles by folder name): {problem}. Choose another --out."
        )
    try:
        return read_manifest(root), False
    except BuildError:
        if not replace:
            raise
        return None, True


def _stale(
    root: Path,
    found: dict | None,
    damaged: bool,
    config: BuildConfig,
    replace: bool,
    fingerprint: str,
) -> bool:
    """Whether the folder's bundle is to be cleared; a kept one must hold the same data."""
    # --replace discards only what this build could not resume: a damaged folder, or a
    # bundle of another config, format or data. The same bundle is resumed as always.
    stale = (replace and damaged) or (
        (replace or _nothing_built(found)) and _foreign(found, config, fingerprint)
    )
    if not stale:
        check_same_data(root, found, fingerprint)
    return stale


def _state(
    config: BuildConfig,
    root: Path,
    ds: Dataset,
    groups: list[str],
    writer: ManifestWriter,
    echo: Callable[[str], None],
    progress: Progress | None,
) -> BuildState:
    """The state the steps share, on the config's device."""
    device = resolve_device(None if config.device == "auto" else config.device)
    return BuildState(config, root, ds, groups, writer, device, echo, progress)


@contextlib.contextmanager
def _removed_if_nothing_built(root: Path):
    """A build that fails before its first artifact leaves nothing behind: the folder it
    made is removed (a folder that was there keeps what it had)."""
    created = not root.exists()
    try:
        yield
    except BaseException:
        if created and _nothing_built(_read_manifest_quiet(root)):
            shutil.rmtree(root, ignore_errors=True)
        raise


def _silent(text: str) -> None:
    pass


def _nothing_built(found: dict | None) -> bool:
    """An unfinished manifest with no artifact recorded (or no manifest at all)."""
    return found is None or (not found.get("complete") and not found.get("artifacts"))


def _read_manifest_quiet(root: Path) -> dict | None:
    try:
        return read_manifest(root)
    except BuildError:
        return None


def _foreign(found: dict | None, config: BuildConfig, fingerprint: str) -> bool:
    """Whether the bundle ``found`` in the folder is not one this build can resume."""
    if found is None:
        return False
    recorded = (found.get("dataset") or {}).get("fingerprint")
    return (
        found.get("config_hash") != config.config_hash()
        or found.get("format_version") != FORMAT_VERSION
        or bool(recorded and recorded != fingerprint)
    )


def _complete_and_intact(
    root: Path, found: dict | None, echo: Callable[[str], None], vectors: list[VectorStep]
) -> bool:
    """Whether the bundle in ``root`` is complete with every recorded file intact and
    every vector this taskfair plans for its config recorded (a bundle from before the
    matched baselines lacks them: the build then adds them)."""
    if found is None or not found.get("complete"):
        return False
    artifacts = found.get("artifacts", {})
    missing = [v.key for v in vectors if v.vector_path not in artifacts]
    if missing:
        echo(f"{root}: complete, but without {', '.join(missing)}; building them.")
        return False
    if all(intact(root, rel, artifacts) for rel in artifacts):
        echo(f"{root}: already complete and intact; nothing to do.")
        return True
    echo(f"{root}: complete but some files are missing or changed; rebuilding them.")
    return False


def _build(
    state: BuildState, vectors: list[VectorStep], result: BuildResult, remote: Callable | None
) -> None:
    """The artifact steps in order, then the results; ``complete: true`` at the end."""
    cfg, m = state.cfg, state.m
    # Groundwork first, each built as soon as it is found missing: every vector is
    # relative to the base, and whether a vector on disk still holds depends on it.
    groundwork = [BaseStep(), *([HeadsStep()] if cfg.seed_heads else []), EvalStep()]
    for step in groundwork:
        if not _reuse(state, step, result):
            _run(state, step)
    controls = control_steps(cfg, state.groups)
    state.samples = _samples(state, bool(controls))
    if controls:  # mechanism controls (off by default), apart from the vectors
        m["controls"] = [c.entry() for c in controls]
    m["dataset"]["train_rows_used"] = {k: len(v) for k, v in state.samples.items()}
    m["dataset"]["majority_label"] = majority_label(state.ds)
    # The vectors: check them all, then encode once every row the missing ones need.
    # Seed by seed (a seed's controls right after its vectors), so that an interrupted
    # build leaves whole seeds behind.
    ordered = sorted([*vectors, *controls], key=lambda step: step.seed)
    todo = [step for step in ordered if not _reuse(state, step, result)]
    state.writer.save()
    if todo or "test_accuracy" not in m["results"].get("base", {}):
        state.inputs = Inputs(state, todo)
    state.work_total = sum(step.work(state) for step in todo)
    if todo:
        keys = ", ".join(step.key for step in todo)
        state.echo(f"training {len(todo)} run(s) on {state.device}: {keys}")
    if remote is not None and todo:
        remote(state, todo, lambda step, outcome, s: _recorded(state, step, outcome, s))
    else:
        for step in todo:
            _run(state, step)
    for step, entry in zip(
        [*vectors, *controls], [*m["vectors"], *m.get("controls", [])], strict=True
    ):
        entry.update(step.stored(state))
    _results(state)
    m["complete"] = True
    state.writer.save()


def _samples(state: BuildState, controls: bool) -> dict[str, np.ndarray]:
    """Every run's training rows by vector name (the controls' too), or, when each seed
    draws its own rows (``seed_draws: rows`` or ``rows+head``), by ``seed-S/<name>``."""
    cfg, ds, groups = state.cfg, state.ds, state.groups

    def draw(c: BuildConfig) -> dict[str, np.ndarray]:
        got = train_samples(ds, c, groups)
        return {**got, **(control_samples(ds, c, got, groups) if controls else {})}

    if cfg.seed_draws == "order":
        return draw(cfg)
    out = {}
    for seed in cfg.seeds:
        drawn = draw(cfg.replace(data_seed=cfg.training_data_seed(seed)))
        out.update({f"seed-{seed}/{name}": rows for name, rows in drawn.items()})
    return out


def _reuse(state: BuildState, step: Step, result: BuildResult) -> bool:
    if step.reuse(state):
        result.skipped.append(step.key)
        return True
    return False


def _run(state: BuildState, step: Step) -> None:
    t0 = time.perf_counter()
    files = step.run(state)
    state.writer.record(step.key, files, time.perf_counter() - t0)
    message = step.done_message(state)
    if message:
        state.echo(message)


def _recorded(state: BuildState, step: VectorStep, outcome, seconds: float) -> None:
    """Record a vector trained elsewhere (a Ray task) as :func:`_run` records a local one."""
    state.writer.record(step.key, step.record(state, outcome), seconds)
    message = step.done_message(state)
    if message:
        state.echo(message)


def _results(state: BuildState) -> None:
    """The manifest's ``results``: base and majority-baseline test accuracy (evaluated
    when anything was trained or they are missing), and the FFT summary over seeds."""
    cfg, m = state.cfg, state.m
    results = m["results"]
    if state.inputs is not None:
        t0 = time.perf_counter()
        majority = m["dataset"]["majority_label"]
        test = state.inputs.test
        base_m = evaluate_rows(state.handle.model, test, cfg.eval_batch_size)
        results["base"] = {"test_accuracy": base_m["accuracy"], "test_loss": base_m["loss"]}
        results["majority"] = {
            "label": majority,
            "test_accuracy": float((test.labels == majority).mean()),
        }
        m["timings"]["results"] = round(time.perf_counter() - t0, 3)
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
