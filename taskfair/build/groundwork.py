"""The groundwork steps every vector stands on: ``base/`` (the base model with its seeded,
or probe-fitted, head), ``heads/`` (with ``seed_draws: rows+head``: each seed's own
head) and ``eval.parquet`` (the rows sweeps evaluate and training selects epochs on).
Each is built as soon as it is found missing.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pandas as pd

from taskfair.build.manifest import BASE_DIR, EVAL_FILE
from taskfair.build.probe import fit_probe_head
from taskfair.build.rows import Rows
from taskfair.build.sampling import eval_sample, fft_sample
from taskfair.build.state import BuildState, Step
from taskfair.data import EVAL_SPLITS
from taskfair.inference import encode
from taskfair.io import atomic_path
from taskfair.models import (
    HEADS_DIR,
    apply_head_,
    head_names,
    load_base,
    load_head,
    load_model,
    save_base,
    save_head,
    seeded_head,
    state_fingerprint,
)

__all__ = ["BaseStep", "EvalStep", "HeadsStep"]


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


class HeadsStep(Step):
    """``heads/seed-S.safetensors`` (``seed_draws: rows+head``): each seed's own
    classification head, seeded by ``head_seed + S``, and the fingerprint of that seed's
    base (the base with the head put on it), which the seed's vectors record."""

    key = "heads"

    def _rel(self, seed: int) -> str:
        return f"{HEADS_DIR}/seed-{seed}.safetensors"

    def reuse(self, state: BuildState) -> bool:
        recorded = state.m.get("heads") or {}
        cfg = state.cfg
        for seed in cfg.seeds:
            entry = recorded.get(str(seed)) or {}
            if not (
                entry.get("base_fingerprint") == state.fingerprint
                and entry.get("head_seed") == cfg.seed_head(seed)
                and state.writer.intact(self._rel(seed))
            ):
                return False
        names = head_names(state.handle.spec)
        for seed in cfg.seeds:
            state.heads[seed] = load_head(state.root / self._rel(seed), names)
            state.seed_fingerprints[seed] = recorded[str(seed)]["fingerprint"]
        return True

    def run(self, state: BuildState) -> list[str]:
        cfg, handle = state.cfg, state.handle
        work = copy.deepcopy(handle.model)
        heads, files = {}, []
        for seed in cfg.seeds:
            head = seeded_head(handle, cfg.seed_head(seed))
            apply_head_(work, head)
            fingerprint = state_fingerprint(work)
            save_head(
                state.root / self._rel(seed),
                head,
                {"seed": seed, "head_seed": cfg.seed_head(seed), "fingerprint": fingerprint},
            )
            state.heads[seed], state.seed_fingerprints[seed] = head, fingerprint
            heads[str(seed)] = {
                "path": self._rel(seed),
                "head_seed": cfg.seed_head(seed),
                "fingerprint": fingerprint,
                "base_fingerprint": state.fingerprint,
            }
            files.append(self._rel(seed))
        state.m["heads"] = heads
        state.echo(
            "heads: one classification head per seed (head seeds "
            + ", ".join(str(cfg.seed_head(s)) for s in cfg.seeds)
            + f") -> {state.root / HEADS_DIR}"
        )
        return files


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
