"""Build configuration: frozen dataclasses, validated on construction, loaded from YAML.

A :class:`BuildConfig` says everything a bundle build depends on (model, dataset,
attribute, seeds, hyper-parameters, row caps). Its :meth:`BuildConfig.config_hash` is
stored in the bundle manifest so that a folder built from one config is never resumed
or overwritten by another. Every invalid value raises :class:`ConfigError` naming the
field and the fix.

Example (``configs/demo.yaml``)::

    model: minilm
    dataset: {name: hatexplain, options: {label: toxic}}
    attribute: target
    seeds: [0]
    max_length: 64
    epochs: 1
    train_rows: 2400
    group_train_rows: 700
    train_layers: top-3
    lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: auto}
    eval_rows: {val: 600, test: 1000}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taskfair.build.config_checks import (
    check_choice,
    check_device,
    check_int,
    check_names,
    check_number,
    check_numbers,
    controls_tuple,
    fail,
    groups_tuple,
    known_fields,
    parse_train_layers,
    seeds_tuple,
)
from taskfair.compress.spec import CompressSpec
from taskfair.errors import ConfigError

__all__ = [
    "DatasetConfig",
    "LoraConfig",
    "EvalRows",
    "BuildConfig",
    "load_config",
    "parse_train_layers",
    "TINY_OVERRIDES",
    "VARIANT_DEFAULTS",
    "GROUP_SAMPLINGS",
    "HEAD_INITS",
    "CONTROLS",
    "SEED_DRAWS",
]

# Fields that change where or how fast a build runs, not what it produces: a bundle may
# be resumed with a different value (e.g. started on a laptop, finished on a GPU box).
# ``controls`` only adds artifacts beside the others (it changes none of them), so a
# complete bundle gains its control vectors when rebuilt with them.
_NOT_HASHED = ("device", "eval_batch_size", "name", "controls")

#: Fields :meth:`BuildConfig.to_dict` leaves out at these defaults.
_LATER_FIELDS: dict[str, Any] = {"controls": [], "seed_draws": "order"}

#: Options that depart from the paper's method (docs/FINDINGS.md, "Variants"), with the
#: paper's form as their default. A field at its default is left out of the config hash,
#: so bundles built before the option existed keep their hash.
VARIANT_DEFAULTS: dict[str, Any] = {
    "group_sampling": "stratified",
    "head_init": "seeded",
    "seed_draws": "order",
}
#: What a seed varies: ``order`` (the data order, dropout and LoRA's initialisation; every
#: seed trains on the same rows), ``rows`` (that, and every seed draws its own training
#: rows: FFT, LoRA, each subgroup's, the controls'; the eval rows stay the same) or
#: ``rows+head`` (that, and every seed starts from its own classification head: seed S's
#: base is the base with its head seeded by ``head_seed + S``, stored in ``heads/``).
SEED_DRAWS = ("order", "rows", "rows+head")
GROUP_SAMPLINGS = ("stratified", "balanced")
HEAD_INITS = ("seeded", "probe")
#: Mechanism controls a build can add (off by default; docs/FINDINGS.md, "Mechanism
#: controls"): ``prior_only``: per group, a vector fine-tuned on the group's rows with
#: their labels shuffled within the group (its class ratio kept); ``no_group``: a vector
#: for the training rows in no group (τ_none), sampled as a subgroup's rows are.
CONTROLS = ("prior_only", "no_group")


@dataclass(frozen=True)
class DatasetConfig:
    """``name``: a built-in dataset (``hatexplain``, ``utkface``, ...) or a table path;
    ``options``: keyword options passed to :func:`taskfair.data.load_dataset`."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise fail(
                "dataset.name",
                f"expected a dataset name or path, got {self.name!r}",
                "Write e.g. `dataset: {name: hatexplain}`.",
            )
        if not isinstance(self.options, Mapping):
            raise fail(
                "dataset.options",
                f"expected a mapping, got {self.options!r}",
                "Write e.g. `options: {label: toxic}`.",
            )
        object.__setattr__(self, "options", dict(self.options))


@dataclass(frozen=True)
class LoraConfig:
    """LoRA hyper-parameters. ``target_modules``: ``"auto"`` detects the attention
    projections from the architecture, or a list of module-name suffixes.
    ``modules_to_save``: the modules that train fully (the classification head);
    ``"auto"`` finds ``classifier`` / ``pre_classifier`` / ``score``."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: str | tuple[str, ...] = "auto"
    modules_to_save: str | tuple[str, ...] = "auto"
    lr: float = 5e-4
    epochs: int | None = None

    def __post_init__(self):
        check_int(self.r, "lora.r", 1)
        check_number(self.alpha, "lora.alpha", 0.0, 1e6, open_low=True)
        check_number(self.dropout, "lora.dropout", 0.0, 0.99)
        check_number(self.lr, "lora.lr", 0.0, 1.0, open_low=True)
        check_int(self.epochs, "lora.epochs", 1, allow_none=True)
        for name in ("target_modules", "modules_to_save"):
            value = getattr(self, name)
            if isinstance(value, str):
                if value != "auto":
                    value = (value,)
            elif (
                isinstance(value, (list, tuple))
                and value
                and all(isinstance(v, str) and v for v in value)
            ):
                value = tuple(value)
            else:
                raise fail(
                    f"lora.{name}",
                    f"expected 'auto' or a list of names, got {value!r}",
                    "Write e.g. `[query, value]` or `auto`.",
                )
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class EvalRows:
    """How many val and test rows ``eval.parquet`` keeps (``None``: all of them)."""

    val: int | None = 600
    test: int | None = 1000

    def __post_init__(self):
        check_int(self.val, "eval_rows.val", 1, allow_none=True)
        check_int(self.test, "eval_rows.test", 1, allow_none=True)


@dataclass(frozen=True)
class BuildConfig:
    """Everything a bundle build depends on.

    Row caps (``train_rows`` for FFT and LoRA, ``group_train_rows`` per subgroup) are
    sampled deterministically (``data_seed``) and stratified by label x group; ``None``
    uses every training row. ``min_group_rows``: a subgroup with fewer training rows is
    refused. ``seeds``: one full set of vectors per seed (data order, dropout, LoRA init).
    ``head_seed``: the seeded classification head of the base, shared by every fine-tune.
    ``compress``: store the dense vectors compressed (a
    :class:`~taskfair.compress.CompressSpec`, e.g. ``{form: lowrank, rank: 16}``), each
    with its measured fidelity in the manifest; unset, vectors are stored compact but
    lossless (untrained tensors absent, LoRA adapters factored).

    Variants (departures from the paper's method, off by default; docs/FINDINGS.md):
    ``group_sampling``: ``"stratified"`` (the paper's form: a subgroup's rows as they
    come, capped at ``group_train_rows``) or ``"balanced"`` (as many label-1 as label-0
    rows per subgroup: the larger class is subsampled to the smaller one's count, then
    both to at most ``group_train_rows / 2``). ``head_init``: ``"seeded"`` (the paper's
    form: a seeded random head) or ``"probe"`` (the seeded head is then fitted as a
    logistic regression on the frozen base's features of the FFT training rows, before
    any fine-tune starts; every fine-tune, FFT and LoRA included, starts from it).
    ``seed_draws``: what a seed varies (:data:`SEED_DRAWS`): ``"order"`` (the paper's
    form: data order, dropout, LoRA init), ``"rows"`` (each seed also draws its own
    training rows) or ``"rows+head"`` (each seed also starts from its own classification
    head, seeded by ``head_seed + seed``: every vector, reference point and merge of
    seed S is relative to that seed's base; :meth:`seed_head` gives its seed).
    ``controls``: mechanism controls (:data:`CONTROLS`) trained beside the vectors into
    ``controls/`` (:mod:`taskfair.build.controls`); not hashed, since they change nothing
    else the bundle holds.
    """

    dataset: DatasetConfig
    attribute: str
    model: str = "minilm"
    name: str | None = None
    groups: tuple[str, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    head_seed: int = 0
    data_seed: int = 0
    max_length: int = 128
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    epochs: int = 1
    train_rows: int | None = None
    group_train_rows: int | None = None
    group_epochs: int | None = None
    train_layers: str = "all"
    lora: LoraConfig = field(default_factory=LoraConfig)
    eval_rows: EvalRows = field(default_factory=EvalRows)
    min_group_rows: int = 50
    log_every: int = 5
    image_size: int = 224
    device: str = "auto"
    compress: CompressSpec | None = None
    group_sampling: str = "stratified"
    head_init: str = "seeded"
    controls: tuple[str, ...] = ()
    seed_draws: str = "order"

    def __post_init__(self):
        self._coerce_sections()
        check_names(self.model, self.attribute, self.name)
        object.__setattr__(self, "seeds", seeds_tuple(self.seeds))
        object.__setattr__(self, "groups", groups_tuple(self.groups))
        check_numbers(self)
        for name, allowed in (
            ("group_sampling", GROUP_SAMPLINGS),
            ("head_init", HEAD_INITS),
            ("seed_draws", SEED_DRAWS),
        ):
            check_choice(name, getattr(self, name), allowed)
        object.__setattr__(self, "controls", controls_tuple(self.controls, CONTROLS))
        if self.seed_heads and self.head_init != "seeded":
            raise fail(
                "seed_draws",
                f"'rows+head' draws a seeded head per seed, but head_init is {self.head_init!r}",
                "Use seed_draws: rows with head_init: probe (the fitted head is the same in "
                "every seed), or head_init: seeded.",
            )
        check_device(self.device)

    def _coerce_sections(self) -> None:
        """The nested sections given as mappings (from YAML) made their dataclasses."""
        if isinstance(self.dataset, Mapping):
            object.__setattr__(
                self,
                "dataset",
                DatasetConfig(**known_fields(self.dataset, DatasetConfig, "dataset")),
            )
        if isinstance(self.lora, Mapping):
            object.__setattr__(
                self, "lora", LoraConfig(**known_fields(self.lora, LoraConfig, "lora"))
            )
        if isinstance(self.compress, (Mapping, str)):
            object.__setattr__(
                self,
                "compress",
                CompressSpec.from_dict(
                    dict(self.compress) if isinstance(self.compress, Mapping) else self.compress
                ),
            )
        if self.compress is not None and not isinstance(self.compress, CompressSpec):
            raise fail(
                "compress",
                f"expected a mapping, got {self.compress!r}",
                "Write e.g. `compress: {form: lowrank, rank: 16}`, or leave it out.",
            )
        if isinstance(self.eval_rows, Mapping):
            object.__setattr__(
                self, "eval_rows", EvalRows(**known_fields(self.eval_rows, EvalRows, "eval_rows"))
            )
        if not isinstance(self.dataset, DatasetConfig):
            raise fail(
                "dataset",
                f"expected a mapping, got {self.dataset!r}",
                "Write `dataset: {name: hatexplain, options: {label: toxic}}`.",
            )

    # -- derived -------------------------------------------------------------------
    @property
    def train_layers_n(self) -> int | None:
        return parse_train_layers(self.train_layers)

    def epochs_for(self, kind: str) -> int:
        """Epochs of a run of ``kind`` (``fft`` | ``lora`` | ``subgroup``): ``lora.epochs``
        and ``group_epochs`` override ``epochs`` when set."""
        if kind == "lora":
            return self.lora.epochs or self.epochs
        if kind == "subgroup":
            return self.group_epochs or self.epochs
        return self.epochs

    def training_data_seed(self, seed: int) -> int:
        """The data seed seed ``seed``'s training rows are drawn with: ``data_seed``, or
        with ``seed_draws: rows`` (or ``rows+head``: the same rows) one derived from it
        and the seed."""
        if self.seed_draws == "order":
            return self.data_seed
        return zlib.crc32(f"{self.data_seed}/{seed}".encode())

    @property
    def seed_heads(self) -> bool:
        """Whether every seed starts from its own classification head (``rows+head``)."""
        return self.seed_draws == "rows+head"

    def seed_head(self, seed: int) -> int:
        """The head seed of seed ``seed``'s base: ``head_seed + seed`` with per-seed heads
        (seed 0 keeps the stored base's head), else ``head_seed``."""
        return self.head_seed + int(seed) if self.seed_heads else self.head_seed

    def to_dict(self) -> dict:
        """A JSON-able dict (tuples as lists) that :meth:`from_dict` reads back. The
        fields added after bundles were first shared (``controls``, ``seed_draws``) are
        left out at their defaults, so a default build's manifest reads as before."""
        d = json.loads(json.dumps(dataclasses.asdict(self), default=str))
        for k, default in _LATER_FIELDS.items():
            if d.get(k) == default:
                del d[k]
        return d

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of every field that affects what is built."""
        d = self.to_dict()
        for k in _NOT_HASHED:
            d.pop(k, None)
        if d.get("compress") is None:  # added later: configs without it keep their hash
            d.pop("compress", None)
        for k, default in VARIANT_DEFAULTS.items():
            if d.get(k) == default:
                d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()

    def replace(self, **changes) -> BuildConfig:
        return dataclasses.replace(self, **changes)

    def tiny(self) -> BuildConfig:
        """The same build at test size: a few dozen rows, short sequences, small eval set."""
        return self.replace(**TINY_OVERRIDES, name=(self.name or "bundle") + "-tiny")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"A build config is a mapping of fields, not {type(data).__name__}.")
        return cls(**known_fields(data, cls, None))


# `--tiny`: small enough to build in well under a minute on 2 CPU cores, large enough
# that every group is present in every split of the evaluation rows.
TINY_OVERRIDES: dict[str, Any] = {
    "max_length": 32,
    "batch_size": 16,
    "epochs": 1,
    "group_epochs": 1,
    "train_rows": 48,
    "group_train_rows": 16,
    "min_group_rows": 8,
    "train_layers": "top-1",
    "eval_rows": EvalRows(val=40, test=60),
    "lora": LoraConfig(r=4, alpha=8, dropout=0.1, lr=5e-4, epochs=1),
}


def load_config(path: str | os.PathLike) -> BuildConfig:
    """Read a YAML build config; any problem raises :class:`ConfigError`."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"No config file at {p}: give a YAML file such as configs/demo.yaml.")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p} is not valid YAML: {exc}") from exc
    if data is None:
        raise ConfigError(f"{p} is empty: see configs/demo.yaml for the fields.")
    try:
        cfg = BuildConfig.from_dict(data)
    except TypeError as exc:  # pragma: no cover - _known catches the usual cases
        raise ConfigError(f"{p}: {exc}") from exc
    if cfg.name is None:
        cfg = cfg.replace(name=p.stem)
    return cfg
