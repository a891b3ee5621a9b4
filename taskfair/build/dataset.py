"""The dataset a build trains on: loaded, checked before anything is written, described.

:func:`load_checked` refuses, with the fix in the message, an attribute the data lacks,
a group it lacks, a group name that cannot name a file or clashes with a reserved
vector name, and a group too small to fine-tune on. :func:`dataset_section` is the
manifest's description of the data (sizes, group counts, base rates, fingerprint).
"""

from __future__ import annotations

import pandas as pd

from taskfair.build.config import BuildConfig
from taskfair.bundle import RESERVED_NAMES
from taskfair.data import NO_GROUP, SPLITS, load_dataset
from taskfair.errors import BuildError
from taskfair.metrics import OVERALL
from taskfair.names import name_problem, shown

__all__ = ["load_checked", "dataset_section", "majority_label"]


def load_checked(cfg: BuildConfig, dataset=None):
    """``(dataset, groups)``: ``dataset`` (a :class:`taskfair.data.Dataset`, or the
    config's, loaded) and the groups of ``cfg.attribute`` to build vectors for (the
    config's ``groups``, else all of them), after every check."""
    ds = dataset if dataset is not None else load_dataset(cfg.dataset.name, **cfg.dataset.options)
    if cfg.attribute not in ds.attributes:
        raise BuildError(
            f"Unknown attribute {cfg.attribute!r} for dataset {ds.name!r}: its attributes are "
            f"{ds.attributes}. Set `attribute:` in the config to one of them."
        )
    _check_splits(ds)
    available = ds.groups(cfg.attribute)
    groups = list(cfg.groups) if cfg.groups is not None else available
    unknown = [g for g in groups if g not in available]
    if unknown:
        raise BuildError(
            f"Unknown group(s) {unknown} of attribute {cfg.attribute!r}: its groups are "
            f"{available}. Fix `groups:` in the config (or leave it out for all groups)."
        )
    for g in groups:
        _check_group_name(g)
    counts = ds.group_counts(cfg.attribute)
    train_n = counts[counts["split"] == "train"].set_index("group")["n"]
    for g in groups:
        n = int(train_n.get(g, 0))
        if n < cfg.min_group_rows:
            raise BuildError(
                f"Subgroup {g!r} of {cfg.attribute!r} has {n} training rows, fewer than "
                f"min_group_rows={cfg.min_group_rows}: a fine-tune on it would be noise. Lower "
                f"`min_group_rows`, leave the group out with `groups:`, or pick another attribute."
            )
    return ds, groups


def _check_group_name(g: str) -> None:
    """A group names its vector and log files and a dashboard label: it must pass
    :func:`taskfair.names.check_name` (checked before anything is written)."""
    if g in RESERVED_NAMES:
        raise BuildError(
            f"A subgroup may not be called {g!r} (reserved for the {g.upper()} vector): "
            "rename the group in the data."
        )
    problem = name_problem(g)
    if problem is not None:
        raise BuildError(
            f"Group name {shown(g)} cannot name a file: {problem}. Rename the group in the "
            "data (or map its values to shorter names), or leave it out with `groups:`."
        )


def _check_splits(ds) -> None:
    """Training, epoch selection and the dashboard need rows in every split."""
    sizes = ds.frame["split"].value_counts()
    empty = [s for s in SPLITS if int(sizes.get(s, 0)) == 0]
    if empty:
        raise BuildError(
            f"The data has no rows in split(s) {empty} ({len(ds.frame)} rows in all: "
            f"{', '.join(f'{s} {int(sizes.get(s, 0))}' for s in SPLITS)}). A build needs "
            "train, val and test rows: give the table more rows, or a split column with "
            "train/val/test values."
        )


def dataset_section(ds, cfg: BuildConfig, groups: list[str]) -> dict:
    """The manifest's ``dataset`` entry: name, source, modality, attribute, groups, label
    name, fingerprint, rows per split, rows and positive rate per group and split
    (``__overall__``: the split's positive rate)."""
    counts = ds.group_counts(cfg.attribute)
    frame = ds.frame
    group_counts, base_rates = {}, {}
    for s in SPLITS:
        part = counts[counts["split"] == s]
        group_counts[s] = {str(g): int(n) for g, n in zip(part["group"], part["n"], strict=True)}
        rates = {
            str(g): (None if pd.isna(r) else round(float(r), 6))
            for g, r in zip(part["group"], part["positive_rate"], strict=True)
        }
        labels = frame.loc[frame["split"] == s, "label"]
        rates[OVERALL] = round(float(labels.mean()), 6) if len(labels) else None
        base_rates[s] = rates
    sizes = frame["split"].value_counts()
    return {
        "name": ds.name,
        "source": ds.source,
        "modality": ds.modality,
        "attribute": cfg.attribute,
        # every sensitive attribute column of eval.parquet (the trained one first)
        "attributes": [cfg.attribute, *(a for a in ds.attributes if a != cfg.attribute)],
        "groups": groups,
        "no_group_label": NO_GROUP,
        "label_name": ds.label_name,
        "fingerprint": ds.fingerprint(),
        "split_sizes": {s: int(sizes.get(s, 0)) for s in SPLITS},
        "group_counts": group_counts,
        "base_rates": base_rates,
    }


def majority_label(ds) -> int:
    """The more frequent label of the training split (ties: 1), the baseline's prediction."""
    frame = ds.frame
    return int(frame.loc[frame["split"] == "train", "label"].mean() >= 0.5)
