"""The baselines a bundle's vectors name: FFT and LoRA, ordinary or *matched* to a sampling
variant (``fft_balanced``, ``lora_balanced``), the subgroup vectors beside them, and which
of them a page draws and how it says so. A lower room than :mod:`taskfair.sweep.settings`
(which re-exports every name here): it knows vector names only, never a merge method.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskfair.sweep.settings import Setting

__all__ = [
    "MATCHED_VARIANTS",
    "MATCHED_BASELINES",
    "RESERVED_VECTORS",
    "BASELINE_CHOICES",
    "baseline_note",
    "baseline_parts",
    "drawn_baselines",
    "matched_name",
    "matched_variant",
    "subgroups",
]

#: Build variants that change how rows are drawn or weighted: a bundle built with one also
#: holds FFT and LoRA trained the same way, its *matched* baselines, named
#: ``<baseline>_<variant>`` (``fft_balanced``, ``lora_balanced``).
MATCHED_VARIANTS = ("balanced",)
MATCHED_BASELINES = tuple(f"{b}_{v}" for v in MATCHED_VARIANTS for b in ("fft", "lora"))
#: Vector names with a fixed meaning (bundle.RESERVED_NAMES); every other one is a subgroup.
RESERVED_VECTORS = ("fft", "lora", *MATCHED_BASELINES)


def matched_name(baseline: str, variant: str | None) -> str:
    """The vector (and reference method) name of ``baseline`` (``fft`` | ``lora``) trained
    under ``variant`` (``None``: the ordinary one)."""
    return baseline if variant is None else f"{baseline}_{variant}"


def baseline_parts(name: str) -> tuple[str, str | None] | None:
    """``(baseline, variant)`` of a reference vector name (``"fft_balanced"`` ->
    ``("fft", "balanced")``, ``"lora"`` -> ``("lora", None)``), ``None`` for any other."""
    if name in ("fft", "lora"):
        return name, None
    if name in MATCHED_BASELINES:
        baseline, variant = name.split("_", 1)
        return baseline, variant
    return None


def subgroups(names: Iterable[str]) -> list[str]:
    """The subgroup vectors among ``names`` (every name but the reference vectors:
    ``fft``, ``lora`` and their matched forms)."""
    return [n for n in names if n not in RESERVED_VECTORS]


#: Which FFT / LoRA a page draws and compares against: the ordinary ones (the paper's
#: stratified rows) or the matched ones (the rows drawn as the bundle's variant draws the
#: subgroups' rows).
BASELINE_CHOICES = ("ordinary", "matched")


def matched_variant(names: Iterable[str]) -> str | None:
    """The sampling variant whose matched baselines ``names`` hold (``"balanced"``), or
    ``None`` (a bundle of the paper's form, or one built before matched baselines)."""
    for name in names:
        parts = baseline_parts(name)
        if parts is not None and parts[1] is not None:
            return parts[1]
    return None


def drawn_baselines(refs: Sequence[Setting], choice: str = "ordinary") -> list[Setting]:
    """The reference points a page draws under ``choice`` (:data:`BASELINE_CHOICES`): the
    base and the ordinary FFT / LoRA, or the base and their matched forms (each ordinary
    one kept where its matched form is missing)."""
    if choice not in BASELINE_CHOICES:
        raise ValueError(f"Unknown baselines {choice!r}: use one of {BASELINE_CHOICES}.")
    parts = {r.method: baseline_parts(r.method) for r in refs}
    with_matched = {p[0] for p in parts.values() if p is not None and p[1] is not None}

    def keep(p: tuple[str, str | None] | None) -> bool:
        if p is None:  # the base
            return True
        if choice == "matched" and p[0] in with_matched:
            return p[1] is not None
        return p[1] is None

    return [r for r in refs if keep(parts[r.method])]


def baseline_note(refs: Sequence[Setting]) -> str:
    """One sentence saying which FFT / LoRA ``refs`` (from :func:`drawn_baselines`) are."""
    variants = {p[1] for r in refs if (p := baseline_parts(r.method)) is not None}
    if not variants:
        return "No FFT or LoRA baseline in this bundle."
    if variants == {None}:
        return "Baselines: FFT and LoRA trained on the ordinary (stratified) training rows."
    matched = sorted(v for v in variants if v is not None)
    return (
        f"Baselines: FFT and LoRA matched to the subgroup vectors' {', '.join(matched)} rows "
        "(the training rows drawn the same way, per group), not the ordinary ones."
    )
