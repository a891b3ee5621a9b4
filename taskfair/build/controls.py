"""Mechanism controls: vectors a build trains beside the bundle's own, into ``controls/``.

Off by default (``controls:`` in the config, :data:`~taskfair.build.config.CONTROLS`);
docs/FINDINGS.md, "Mechanism controls", says what each one tests:

``prior_only``  per group, ``prior-<group>``: the group's own training rows (the rows its
                vector trained on) with their labels shuffled within the group, so the
                group's class ratio is kept and the content-label link is cut. What such
                a vector learns is the group's prior; task addition with these
                subtracted, ``θ₀ + λ Σ_g (τ_g − τ_g^prior)``, asks whether the merge's
                shift is that prior.
``no_group``    ``no-group``: a vector for the training rows in no group (τ_none),
                sampled as a subgroup's rows are (``group_sampling``), its epoch chosen on
                the validation rows in no group; ``θ₀ + λ (Σ_g τ_g + τ_none)`` asks
                whether the rows every subgroup vector leaves out restore the balance.

The control vectors are not in the manifest's ``vectors`` (no page, sweep or claim sees
them); they are recorded under ``controls`` with their files' checksums, resumed like
any vector, and read by :mod:`taskfair.analysis.controls`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, replace

import numpy as np

from taskfair.build.config import BuildConfig
from taskfair.build.rows import Rows
from taskfair.build.sampling import balanced_sample, strata, stratified_sample
from taskfair.build.steps import BuildState, VectorStep

__all__ = ["CONTROL_DIR", "NO_GROUP", "ControlStep", "control_samples", "control_steps"]

CONTROL_DIR = "controls"
#: The name of τ_none, the vector of the rows in no group.
NO_GROUP = "no-group"


@dataclass
class ControlStep(VectorStep):
    """One control vector (``control``: ``prior_only`` or ``no_group``) and its log,
    written under ``controls/seed-S/``."""

    control: str = "prior_only"

    @property
    def vector_path(self) -> str:
        return f"{CONTROL_DIR}/seed-{self.seed}/{self.name}.safetensors"

    @property
    def log_path(self) -> str:
        return f"{CONTROL_DIR}/seed-{self.seed}/{self.name}.log.json"

    def entry(self) -> dict:
        return {**super().entry(), "control": self.control}

    def job(self, state: BuildState):
        job = super().job(state)
        if self.control == "prior_only":
            labels = shuffled_labels(job.train.labels, state.cfg.data_seed, self.seed, self.name)
            train = Rows(job.train.encoded, labels, f"{self.name}: labels shuffled in-group")
            return replace(job, train=train)
        return replace(job, select=_no_group_val(state))

    def record(self, state: BuildState, outcome) -> list[str]:
        files = super().record(state, outcome)
        results = state.m["results"]
        # The control's scores live apart from the vectors' (which claims and pages read).
        results.setdefault("controls", {})[self.key] = results["vectors"].pop(self.key)
        return files


def shuffled_labels(labels: np.ndarray, data_seed: int, seed: int, name: str) -> np.ndarray:
    """``labels`` permuted (deterministic in data seed, seed and name): the same class
    counts, no link left between a row and its label."""
    rng = np.random.default_rng([int(data_seed), int(seed), zlib.crc32(name.encode())])
    return np.asarray(labels)[rng.permutation(len(labels))]


def _no_group_val(state: BuildState) -> Rows | None:
    """The validation rows in no group (``None`` when the eval rows hold none)."""
    inputs = state.inputs
    val_idx = np.flatnonzero(inputs._eval_split == "val")
    none = val_idx[inputs._eval_groups.iloc[val_idx].isna().to_numpy()]
    return inputs._eval_rows(none, "the validation rows in no group") if len(none) else None


def control_steps(cfg: BuildConfig, groups: list[str]) -> list[ControlStep]:
    """Per seed, the control vectors ``cfg.controls`` asks for (none by default)."""
    out = []
    for seed in cfg.seeds:
        if "prior_only" in cfg.controls:
            out += [ControlStep(f"prior-{g}", "subgroup", g, seed, "prior_only") for g in groups]
        if "no_group" in cfg.controls:
            out.append(ControlStep(NO_GROUP, "subgroup", None, seed, "no_group"))
    return out


def control_samples(
    ds, cfg: BuildConfig, samples: dict[str, np.ndarray], groups: list[str]
) -> dict[str, np.ndarray]:
    """The training rows of the control vectors, by name: a prior-only control trains on
    its group's rows (``samples[group]``); τ_none on ``group_train_rows`` of the rows in
    no group, drawn as ``group_sampling`` draws a subgroup's rows."""
    out = {}
    if "prior_only" in cfg.controls:
        out.update({f"prior-{g}": samples[g] for g in groups})
    if "no_group" in cfg.controls:
        frame = ds.frame
        train_idx = frame.index[frame["split"] == "train"].to_numpy()
        rows = train_idx[frame.loc[train_idx, cfg.attribute].isna().to_numpy()]
        if cfg.group_sampling == "balanced":
            out[NO_GROUP] = balanced_sample(
                rows, frame.loc[rows, "label"].to_numpy(), cfg.group_train_rows, cfg.data_seed,
                f"train-{NO_GROUP}",
            )  # fmt: skip
        else:
            out[NO_GROUP] = stratified_sample(
                rows, strata(frame.loc[rows], None), cfg.group_train_rows, cfg.data_seed,
                f"train-{NO_GROUP}",
            )  # fmt: skip
    return out
