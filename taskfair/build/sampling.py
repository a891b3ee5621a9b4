"""Which rows a build uses: the evaluation rows and each run's training rows.

Every choice is deterministic in (``data_seed``, purpose) and stratified, so a bundle
rebuilt from the same config and data uses the same rows, and small caps keep every
label x group combination present.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from taskfair.build.config import BuildConfig
from taskfair.data import EVAL_SPLITS

__all__ = [
    "stratified_sample",
    "balanced_sample",
    "strata",
    "eval_sample",
    "fft_sample",
    "matched_fft_sample",
    "train_samples",
]


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


def balanced_sample(
    index: np.ndarray, labels: np.ndarray, cap: int | None, seed: int, purpose: str
) -> np.ndarray:
    """As many entries of each label as the rarest label has, at most ``cap // 2`` each
    (``cap=None``: no cap), sorted; deterministic in (``seed``, ``purpose``).

    The ``group_sampling: balanced`` variant: a subgroup's vector then learns no prior
    towards its majority label. ``labels`` are 0/1, aligned with ``index``.
    """
    index, labels = np.asarray(index), np.asarray(labels)
    rng = np.random.default_rng([int(seed), zlib.crc32(purpose.encode())])
    present = np.unique(labels)
    per = min(int((labels == v).sum()) for v in present) if len(present) else 0
    if cap is not None:
        per = min(per, cap // len(present)) if len(present) else 0
    chosen = []
    for v in present:
        members = index[labels == v]
        chosen.append(members[rng.permutation(len(members))[:per]])
    return np.sort(np.concatenate(chosen)) if chosen else index[:0]


def strata(frame: pd.DataFrame, attribute: str | None) -> np.ndarray:
    """One stratum name per row: ``"<label>|<group>"`` (rows of no group: ``(no group)``),
    or the label alone when ``attribute`` is ``None``."""
    label = frame["label"].astype(str).to_numpy()
    if attribute is None:
        return label
    group = frame[attribute].astype(object).where(frame[attribute].notna(), "(no group)")
    return np.char.add(
        np.char.add(label.astype(str), "|"), group.astype(str).to_numpy().astype(str)
    )


def eval_sample(ds, cfg: BuildConfig) -> pd.DataFrame:
    """The bundle's evaluation rows (``eval.parquet``): the val then the test rows, each
    capped by ``eval_rows`` and stratified by label x attribute; columns content, label,
    split, attribute, index reset."""
    frame = ds.frame
    parts = []
    for split in EVAL_SPLITS:
        cap = getattr(cfg.eval_rows, split)
        rows = frame.index[frame["split"] == split].to_numpy()
        sub = frame.loc[rows]
        keep = stratified_sample(
            rows, strata(sub, cfg.attribute), cap, cfg.data_seed, f"eval-{split}"
        )
        parts.append(frame.loc[keep])
    # Every sensitive attribute of the data travels with the eval rows (the trained one
    # first), so the dashboard can read metrics over intersections (e.g. gender x race);
    # only the trained attribute enters the cache keys (taskfair.sweep.keys).
    attributes = [cfg.attribute, *(a for a in ds.attributes if a != cfg.attribute)]
    out = pd.concat(parts)[[ds.content_column, "label", "split", *attributes]]
    return out.reset_index(drop=True)


def fft_sample(ds, cfg: BuildConfig) -> np.ndarray:
    """The FFT and LoRA training rows (labels of ``ds.frame``): ``train_rows`` training
    rows, stratified by label x attribute."""
    frame = ds.frame
    train_idx = frame.index[frame["split"] == "train"].to_numpy()
    return stratified_sample(
        train_idx,
        strata(frame.loc[train_idx], cfg.attribute),
        cfg.train_rows,
        cfg.data_seed,
        "train-all",
    )


def matched_fft_sample(ds, cfg: BuildConfig) -> np.ndarray:
    """The matched FFT / LoRA rows of ``group_sampling: balanced``: the ordinary FFT
    sample's share of each group (rows of no group as one more group), each share drawn
    as :func:`balanced_sample` draws a subgroup's rows (as many label-1 as label-0 rows,
    at most the share). A group whose rarer label has fewer rows than half its share
    gives fewer rows, so the matched sample can be smaller than ``train_rows``."""
    frame = ds.frame
    train_idx = frame.index[frame["split"] == "train"].to_numpy()
    train_frame = frame.loc[train_idx]
    ordinary = fft_sample(ds, cfg)
    group_of = (
        train_frame[cfg.attribute]
        .astype(object)
        .where(train_frame[cfg.attribute].notna(), "(no group)")
    )
    share = group_of.loc[ordinary].value_counts()
    chosen = []
    for g, n in share.items():
        rows = train_idx[(group_of == g).to_numpy()]
        chosen.append(
            balanced_sample(
                rows, frame.loc[rows, "label"].to_numpy(), int(n), cfg.data_seed, f"matched-{g}"
            )
        )
    return np.sort(np.concatenate(chosen)) if chosen else train_idx[:0]


def train_samples(ds, cfg: BuildConfig, groups: list[str]) -> dict[str, np.ndarray]:
    """Each vector's training rows (labels of ``ds.frame``), by vector name.

    ``fft`` and ``lora``: the same ``train_rows`` training rows, stratified by label x
    attribute; each group: ``group_train_rows`` of that group's training rows, stratified
    by label (the paper's form: each group's own label balance), or with
    ``group_sampling: balanced`` as many label-1 as label-0 rows (:func:`balanced_sample`),
    and then also ``fft_balanced`` and ``lora_balanced``, the matched baselines
    (:func:`matched_fft_sample`).
    """
    frame = ds.frame
    train_idx = frame.index[frame["split"] == "train"].to_numpy()
    train_frame = frame.loc[train_idx]
    samples = {"fft": fft_sample(ds, cfg)}
    for g in groups:
        rows = train_idx[(train_frame[cfg.attribute] == g).fillna(False).to_numpy()]
        if cfg.group_sampling == "balanced":
            samples[g] = balanced_sample(
                rows,
                frame.loc[rows, "label"].to_numpy(),
                cfg.group_train_rows,
                cfg.data_seed,
                f"train-{g}",
            )
            continue
        samples[g] = stratified_sample(
            rows, strata(frame.loc[rows], None), cfg.group_train_rows, cfg.data_seed, f"train-{g}"
        )
    samples["lora"] = samples["fft"]
    if cfg.group_sampling == "balanced":
        samples["fft_balanced"] = samples["lora_balanced"] = matched_fft_sample(ds, cfg)
    return samples
