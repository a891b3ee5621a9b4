"""The field checks of a build config: each refuses a bad value with a
:class:`~taskfair.errors.ConfigError` naming the field and the fix, or returns the value
in its stored form (a tuple for a list). :class:`taskfair.build.config.BuildConfig` and
its sections call them on construction; they know no config class, only values.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from taskfair.errors import ConfigError
from taskfair.names import name_problem, shown

__all__ = [
    "check_choice",
    "check_device",
    "check_int",
    "check_names",
    "check_number",
    "check_numbers",
    "controls_tuple",
    "fail",
    "groups_tuple",
    "known_fields",
    "parse_train_layers",
    "seeds_tuple",
]

_TRAIN_LAYERS = re.compile(r"^(all|head|top-(\d+))$")


def fail(field_name: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"config field {field_name!r}: {problem}. {fix}")


# Upper bounds of the whole-number fields: far above any sensible build, low enough that
# a typo (an extra digit, `1e20`) is refused instead of running for ever or overflowing.
_INT_MAX: dict[str, int] = {
    "epochs": 1000,
    "group_epochs": 1000,
    "lora.epochs": 1000,
    "lora.r": 4096,
    "max_length": 8192,
    "batch_size": 65536,
    "eval_batch_size": 65536,
    "log_every": 1_000_000,
    "image_size": 4096,
    "min_group_rows": 10**9,
    "train_rows": 10**9,
    "group_train_rows": 10**9,
    "eval_rows.val": 10**9,
    "eval_rows.test": 10**9,
}
#: Seeds feed numpy and torch generators, which take 32-bit seeds.
_SEED_MAX = 2**32 - 1


def check_int(value: Any, name: str, minimum: int | None = None, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(name, f"expected a whole number, got {value!r}", "Write e.g. `32`.")
    if minimum is not None and value < minimum:
        raise fail(name, f"must be at least {minimum}, got {value}", f"Use a value >= {minimum}.")
    maximum = _SEED_MAX if name.endswith("seed") or name == "seeds" else _INT_MAX.get(name)
    if maximum is not None and value > maximum:
        raise fail(name, f"{value} is above the limit of {maximum}", f"Use a value <= {maximum}.")


def check_number(value: Any, name: str, low: float, high: float, open_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(name, f"expected a number, got {value!r}", "Write e.g. `5.0e-5`.")
    if not math.isfinite(value):
        # NaN compares false both ways, so the range check alone would let it through.
        raise fail(name, f"{value} is not a finite number", f"Pick a value in [{low}, {high}].")
    bad = value <= low if open_low else value < low
    if bad or value > high:
        side = "(" if open_low else "["
        raise fail(name, f"{value} is outside {side}{low}, {high}]", "Pick a value in range.")


def parse_train_layers(value: str) -> int | None:
    """``"all"`` -> ``None`` (everything trains), ``"head"`` -> 0, ``"top-N"`` -> N.

    ``N`` counts transformer blocks (or backbone stages) from the top; everything after
    them (final norm, pooler, classification head) always trains, embeddings train only
    with ``"all"``.
    """
    m = _TRAIN_LAYERS.match(str(value))
    if not m:
        raise fail(
            "train_layers",
            f"{value!r} is not understood",
            "Use 'all', 'head', or 'top-N' (e.g. 'top-2': the top 2 blocks, the head and "
            "anything after the blocks train; embeddings and lower blocks stay frozen).",
        )
    if m.group(1) == "all":
        return None
    return 0 if m.group(1) == "head" else int(m.group(2))


def check_names(model: Any, attribute: Any, name: Any) -> None:
    """``model`` and ``attribute``: non-empty strings; ``name`` (optional): a bundle name."""
    for field_name, value in (("model", model), ("attribute", attribute)):
        if not isinstance(value, str) or not value.strip():
            raise fail(
                field_name,
                f"expected a non-empty string, got {value!r}",
                "See configs/demo.yaml for an example.",
            )
    if name is not None and not isinstance(name, str):
        raise fail("name", f"expected a string, got {name!r}", "Write e.g. `demo`.")
    if name is not None and (problem := name_problem(name)) is not None:
        raise fail("name", f"{shown(name)} cannot name a bundle: {problem}", "Write e.g. `demo`.")


def seeds_tuple(seeds: Any) -> tuple[int, ...]:
    """``seeds`` (one seed or a list of distinct ones) as a tuple."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = (seeds,)
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise fail(
            "seeds",
            f"expected a non-empty list of integers, got {seeds!r}",
            "Write e.g. `seeds: [0, 1, 2]`.",
        )
    for s in seeds:
        check_int(s, "seeds", 0)
    if len(set(seeds)) != len(seeds):
        raise fail("seeds", f"{list(seeds)} repeats a seed", "List each seed once.")
    return tuple(seeds)


def groups_tuple(groups: Any) -> tuple[str, ...] | None:
    """``groups`` (``None``: all of them, or a list of group names) as a tuple."""
    if groups is None:
        return None
    if (
        isinstance(groups, str)
        or not isinstance(groups, (list, tuple))
        or not (groups and all(isinstance(g, str) and g for g in groups))
    ):
        raise fail(
            "groups",
            f"expected a list of group names, got {groups!r}",
            "Write e.g. `groups: [race, gender]`, or leave it out for all groups.",
        )
    return tuple(groups)


def check_numbers(cfg: Any) -> None:
    """The whole-number and real-number fields of a build config, and ``train_layers``."""
    for name, minimum in (
        ("head_seed", 0),
        ("data_seed", 0),
        ("max_length", 8),
        ("batch_size", 1),
        ("eval_batch_size", 1),
        ("epochs", 1),
        ("min_group_rows", 1),
        ("log_every", 1),
        ("image_size", 8),
    ):
        check_int(getattr(cfg, name), name, minimum)
    check_int(cfg.group_epochs, "group_epochs", 1, allow_none=True)
    check_int(cfg.train_rows, "train_rows", 2, allow_none=True)
    check_int(cfg.group_train_rows, "group_train_rows", 2, allow_none=True)
    check_number(cfg.lr, "lr", 0.0, 1.0, open_low=True)
    check_number(cfg.weight_decay, "weight_decay", 0.0, 1.0)
    check_number(cfg.warmup_ratio, "warmup_ratio", 0.0, 1.0)
    check_number(cfg.max_grad_norm, "max_grad_norm", 0.0, 1e6, open_low=True)
    parse_train_layers(cfg.train_layers)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    """A variant field: ``allowed[0]`` is the paper's method, the rest its variants."""
    if value not in allowed:
        raise fail(
            name,
            f"{value!r} is not one of {', '.join(allowed)}",
            f"Use {allowed[0]!r} (the paper's method) or a variant: "
            + ", ".join(repr(a) for a in allowed[1:])
            + " (docs/FINDINGS.md).",
        )


def controls_tuple(controls: Any, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """``controls`` (a list of some of ``allowed``) as a tuple, each named once."""
    if (
        isinstance(controls, str)
        or not isinstance(controls, (list, tuple))
        or any(c not in allowed for c in controls)
    ):
        raise fail(
            "controls",
            f"{controls!r} is not a list of controls",
            f"List some of {', '.join(allowed)} (docs/FINDINGS.md), or leave it out.",
        )
    return tuple(dict.fromkeys(controls))


def check_device(device: Any) -> None:
    if not isinstance(device, str) or not re.match(r"^(auto|cpu|mps|cuda(:\d+)?)$", device):
        raise fail(
            "device",
            f"{device!r} is not a device",
            "Use auto (GPU when there is one), cpu, cuda, cuda:N or mps.",
        )


def known_fields(data: Mapping, cls, prefix: str | None) -> dict:
    """``data`` as keyword arguments of the dataclass ``cls``: an unknown field (with a
    guess at the one meant) or a missing required one is refused."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        hints = []
        for k in unknown:
            guess = difflib.get_close_matches(str(k), sorted(names), n=1, cutoff=0.6)
            hints.append(f"{where}{k}" + (f" (did you mean {where}{guess[0]}?)" if guess else ""))
        raise ConfigError(
            f"unknown config field(s) {', '.join(hints)}. Valid fields"
            f"{' of ' + prefix if prefix else ''}: {', '.join(sorted(names))}."
        )
    missing = [
        f.name
        for f in fields(cls)
        if f.name not in data
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"config field(s) {', '.join(where + m for m in missing)} missing: they have no "
            "default. See configs/demo.yaml for an example."
        )
    return dict(data)
