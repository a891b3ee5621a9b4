"""What a modality supplies to the one benchmark driver, and which modality a run is.

The driver (:mod:`taskfair.bench.driver`) and its phases (:mod:`taskfair.bench.phases`)
are the same for every modality; a modality module (:mod:`taskfair.bench.text`,
:mod:`taskfair.bench.image`) provides the members of :class:`Modality`: where its rows
and model come from, how the paper's pipeline prepares its inputs and round-trips its
weights through disk, how (b)'s FLOPs are counted, and its own keys and table lines.
A new modality is a module with these members and one entry in :data:`MODALITIES`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import torch

from taskfair.bench import image, text
from taskfair.bench.workload import Workload

__all__ = ["MODALITIES", "Modality", "bundle_modality", "modality_of"]


class Modality(Protocol):
    """The members of a modality module (see :mod:`taskfair.bench.text`)."""

    #: ``"text"`` | ``"image"``: the key in :data:`MODALITIES`
    NAME: str
    #: the result's ``flops_formula``, also quoted in the table
    FLOPS_FORMULA: str
    #: the CLI options (argument names) that (b) reads; the run's ``setup`` records them
    OPTIONS: tuple[str, ...]
    #: the key of (a)'s one-time input preparation in the result (the set-up row)
    NAIVE_SETUP_KEY: str
    #: measure the matmul rate right before and after (b), in (b)'s dtype and process,
    #: and judge (b) against it (else against the fp32 rate measured before the phases)
    RATE_BESIDE_EXACT: bool

    def workload(self, spec: dict) -> Workload:
        """The model, subgroup vectors and ``spec["rows"]`` rows to benchmark."""

    def naive_inputs(self, handle, frame) -> tuple[list[dict], dict]:
        """(a)'s input batches in row order, and its figures (``NAIVE_SETUP_KEY``, ...)."""

    def round_trip(self, model: torch.nn.Module, merged: dict, folder: Path) -> torch.nn.Module:
        """(a)'s per-λ disk round trip: ``merged`` into ``model``, to disk, a fresh model back."""

    def evaluator_options(self, spec: dict) -> dict:
        """Keyword options of (b)'s :class:`taskfair.sweep.Evaluator`."""

    def exact_figures(self, ev, encoded) -> dict:
        """``exact_flops`` (per λ) and what else the result reports of (b)'s inputs."""

    def summary(self, spec: dict, naive: dict, ours: dict) -> dict:
        """The modality's own keys of the result, from the phases' raw figures."""

    def notes(self, res: dict) -> list[str]:
        """The modality's lines of the table, between the columns and the merge line."""


MODALITIES: dict[str, Modality] = {text.NAME: text, image.NAME: image}


def bundle_modality(path) -> str:
    """``"image"`` or ``"text"``: the modality of the bundle at ``path``, from its manifest
    only (no weights read); ``"text"`` when there is no readable manifest (opening the
    bundle then raises the clear error)."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text())
    except (OSError, ValueError):
        return text.NAME
    return image.NAME if manifest.get("dataset", {}).get("modality") == image.NAME else text.NAME


def modality_of(spec: dict) -> Modality:
    """The modality a bench spec runs: the bundle's, or text for the synthetic stand-in."""
    if spec.get("kind") == "synthetic":
        return text
    return MODALITIES[bundle_modality(spec["path"])]
