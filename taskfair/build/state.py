"""What the steps of a build share (:class:`BuildState`) and what a step is (:class:`Step`).

A step answers two questions. ``reuse(state)``: is my artifact recorded and intact? If
so it takes from it what later steps need (the base model, the eval rows) and the
build skips it. ``run(state)``: build the artifact and return the files to record.
The steps themselves: :mod:`taskfair.build.groundwork` (base, eval rows),
:mod:`taskfair.build.vector_step` (each vector), :mod:`taskfair.build.controls`
(mechanism controls) and :mod:`taskfair.build.sweep_step` (the sweep cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from taskfair.build.config import BuildConfig
from taskfair.build.manifest import ManifestWriter
from taskfair.data import Dataset
from taskfair.models import ModelHandle
from taskfair.progress import Progress

if TYPE_CHECKING:
    from taskfair.build.vector_step import Inputs, VectorStep

__all__ = ["BuildState", "Step"]


@dataclass
class BuildState:
    """What the steps of one build share. The first block is known when the build
    starts; ``handle``/``fingerprint`` are set by the base step (``heads`` by the heads
    step), ``eval_frame`` by the
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
    # ``seed_draws: rows+head``: each seed's head and its base's fingerprint (heads step)
    heads: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    seed_fingerprints: dict[int, str] = field(default_factory=dict)
    eval_frame: pd.DataFrame | None = None
    samples: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: Inputs | None = None
    work_total: int = 0  # training examples (rows x epochs) of the vectors still to build
    work_done: int = 0

    @property
    def m(self) -> dict:
        """The manifest being written."""
        return self.writer.m

    def head_of(self, seed: int) -> dict[str, torch.Tensor] | None:
        """Seed ``seed``'s own head (``seed_draws: rows+head``), or None: the base's."""
        return self.heads.get(int(seed))

    def fingerprint_of(self, seed: int) -> str | None:
        """The fingerprint of the base seed ``seed``'s runs start from."""
        return self.seed_fingerprints.get(int(seed), self.fingerprint)

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
