"""How a bundle's method departs from the paper's, in one line a reader sees beside every number.

A bundle's manifest records the build config it was made from. :func:`departures` reads
that config and names each setting that makes the result something other than the
paper's method ("On Fairness of Task Arithmetic", subgroup vectors fine-tuned on each
group's rows as drawn, every weight trained, dense vectors), with what it changes.
Settings this module knows are described in words (:data:`KNOWN`); any other setting the
config carries beyond the ones that are part of the paper's method or only size the run
(:data:`NEUTRAL`) is named generically when it is switched on, so that a new option (a
matched baseline, a control) is disclosed before anyone writes its sentence here.

:func:`variant_line` is the one line the dashboard's banner, the claims report, the
exports and the merge card show; it is empty for the paper's method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "KNOWN",
    "NEUTRAL",
    "PAPER_FORM",
    "Departure",
    "departures",
    "manifest_departures",
    "sampling_note",
    "variant_line",
]

#: The paper's method, setting by setting (the values a config has when it builds it).
PAPER_FORM: dict[str, object] = {
    "group_sampling": "stratified",
    "train_layers": "all",
    "compress": None,
    "head_init": "seeded",
}


def _sampling(value) -> str:
    if value == "balanced":
        return (
            "each subgroup vector trains on as many positive as negative rows of its group "
            "(class-balanced, a known mitigation); the paper trains on the group's rows as "
            "drawn, so its vectors carry the group's base rate"
        )
    return f"subgroup vectors' rows sampled {value!r} instead of as drawn (stratified)"


def _layers(value) -> str:
    return f"only {value} of the network is fine-tuned (the paper trains every weight)"


def _compress(value) -> str:
    form = value.get("form") if isinstance(value, Mapping) else value
    return f"task vectors are stored compressed ({form}): every merge uses an approximation"


def _head(value) -> str:
    return f"the classification head is initialised by {value!r} before fine-tuning (paper: seeded)"


#: What each known departure changes, in words.
KNOWN: dict[str, Callable[[object], str]] = {
    "group_sampling": _sampling,
    "train_layers": _layers,
    "compress": _compress,
    "head_init": _head,
}

#: Config settings that are part of the paper's method, or only size, seed, place or
#: describe the run: never a departure.
NEUTRAL: frozenset[str] = frozenset(
    {
        "name", "model", "dataset", "attribute", "groups", "seeds", "head_seed", "data_seed",
        "max_length", "batch_size", "eval_batch_size", "lr", "weight_decay", "warmup_ratio",
        "max_grad_norm", "epochs", "train_rows", "group_train_rows", "group_epochs", "lora",
        "eval_rows", "min_group_rows", "log_every", "image_size", "device",
        # control vectors are trained apart (controls/), never merged on a page or in a
        # claim; what a seed varies is the study's design, not the method
        "controls", "seed_draws",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Departure:
    """One setting that departs from the paper's method: its key, value and effect."""

    key: str
    value: object
    what: str

    def text(self) -> str:
        return f"{self.key}: {_show(self.value)} ({self.what})"


def _show(value) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)


def _off(value) -> bool:
    """A setting left off: None, False, 0, an empty or "none"/"off"/"no" string or collection."""
    if isinstance(value, Mapping | list | tuple):
        return not value
    if value is None or isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    return str(value).strip().lower() in ("", "none", "off", "no", "false")


def departures(config: Mapping) -> list[Departure]:
    """Every setting of a build ``config`` (a manifest's ``config`` record, or the YAML
    as a mapping) that departs from the paper's method, in the config's order."""
    out = []
    for key, value in config.items():
        if key in KNOWN:
            if value == PAPER_FORM[key] or (PAPER_FORM[key] is None and _off(value)):
                continue
            out.append(Departure(key, value, KNOWN[key](value)))
        elif key not in NEUTRAL and not _off(value):
            out.append(
                Departure(key, value, "not part of the paper's method; see the build config")
            )
    return out


def manifest_departures(manifest: Mapping) -> list[Departure]:
    """:func:`departures` of a bundle's manifest (no config recorded: none known)."""
    return departures(manifest.get("config") or {})


def variant_line(deps: list[Departure]) -> str:
    """The one line naming every departure, or "" for the paper's method."""
    if not deps:
        return ""
    return "Variant of the paper's method: " + "; ".join(d.text() for d in deps) + "."


def sampling_note(config: Mapping) -> str:
    """How each subgroup vector's training rows were sampled, in one sentence."""
    if not config:
        return "How the subgroup vectors' rows were sampled is not recorded in this bundle."
    cap = config.get("group_train_rows")
    capped = f", at most {cap} rows per group" if cap else ", every row of the group"
    if config.get("group_sampling", "stratified") == "balanced":
        half = f" (up to {int(cap) // 2} of each)" if cap else ""
        return (
            f"Each subgroup vector trains on as many positive as negative rows of its group"
            f"{half}: class-balanced, not the paper's sampling."
        )
    return f"Each subgroup vector trains on its group's rows as drawn (stratified{capped})."
