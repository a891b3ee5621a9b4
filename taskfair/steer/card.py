"""The merge card of a chosen mix, and the way back from the card to the merged model.

A card says what was merged and how it was chosen, so that a reader can check it and a
script can rebuild it: the method and its coefficients (as given and as applied), the
checksums of the base and of every vector it names, the dataset's fingerprint, the
metric definitions, the validation and test numbers with their intervals, the
degeneracy flags, and the question the assistant answered. :func:`write_card` writes it
as ``card.json`` and ``card.md``, with ``mergekit.yaml`` (the same merge in mergekit's
vocabulary, pointing at the bundle's files) and ``rebuild.py`` (a script that rebuilds
the merged model from the bundle with this library: :func:`rebuild_model`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

import yaml

from taskfair.bundle import Bundle
from taskfair.errors import BundleError
from taskfair.io import atomic_write_bytes, atomic_write_json
from taskfair.merge import Merger, effective_coeffs, get_method, method_names
from taskfair.models import ModelHandle, save_base
from taskfair.sweep import Setting
from taskfair.sweep.keys import split_fingerprint
from taskfair.variant import manifest_departures, variant_line

__all__ = [
    "CARD_FILES",
    "METRIC_DEFINITIONS",
    "card_markdown",
    "json_safe",
    "merge_card",
    "mergekit_yaml",
    "rebuild_model",
    "rebuild_script",
    "save_merged",
    "write_card",
]

CARD_FILES = ("card.json", "card.md", "mergekit.yaml", "rebuild.py")

METRIC_DEFINITIONS = {
    "accuracy": "share of all rows of the split predicted correctly (grouped or not)",
    "dpd": "demographic parity difference: max − min over groups of P(ŷ=1 | group)",
    "eod": "equalized odds difference: max of the TPR gap and the FPR gap across groups",
    "worst_group_error": "1 − the lowest group accuracy",
    "intervals": "the intervals every page shows for these rows (Wilson for accuracy and "
    "rates; simultaneous group gaps projected onto max − min for DPD and EOD); a "
    "difference's interval is paired on the same rows (docs/STATISTICS.md)",
    "degenerate": "overall selection rate ≤ 2% or ≥ 98%: a (nearly) constant predictor, "
    "whose DPD and EOD are about 0 by construction (a group alone that extreme is not "
    "degenerate: its disparity counts)",
    "labels": "1 = positive class (e.g. toxic); rows in no group count in accuracy only",
}
# mergekit's names for the methods of the registry (magnitude pruning has none).
_MERGEKIT = {"task_addition": "task_arithmetic", "ties": "ties", "dare": "dare_linear",
             "magnitude": "task_arithmetic", "per_vector": "task_arithmetic"}  # fmt: skip


def _vector_checksums(bundle: Bundle, seed: int, names) -> dict[str, dict]:
    artifacts = bundle.manifest.get("artifacts", {})
    out = {}
    for e in bundle.vector_entries(seed):
        if e.name in names:
            out[e.name] = {"path": e.path, "sha256": artifacts.get(e.path)}
    return out


def _base_checksums(bundle: Bundle, seed: int) -> dict:
    """The base the card's seed merges onto: its files (and the seed's own head file when
    the bundle has per-seed heads) and that seed base's fingerprint."""
    base = bundle.manifest["base"]["path"].rstrip("/") + "/"
    head = bundle.seed_heads.get(seed, {}).get("path")
    files = {
        k: v
        for k, v in bundle.manifest.get("artifacts", {}).items()
        if k.startswith(base) or k == head
    }
    return {"path": bundle.manifest["base"]["path"],
            "fingerprint": bundle.base_fingerprint_of(seed), "files": files}  # fmt: skip


def merge_card(result, bundle: Bundle, index: int | None = None, seed: int | None = None) -> dict:
    """The card of candidate ``index`` of a :class:`~taskfair.steer.SteerResult` (default:
    its recommendation) on ``bundle``'s vectors of ``seed`` (default: the first)."""
    index = result.recommendation if index is None else index
    if index is None:
        raise BundleError(
            "No candidate was accepted, so there is no merge to describe: lower the floor "
            "(a larger margin), drop the target, or give the search a larger budget."
        )
    seed = bundle.seeds[0] if seed is None else int(seed)
    cand = result.candidates[index]
    setting = result.setting(index)
    method = get_method(setting.method) if setting.method in method_names() else None
    names = list(setting.coeff_dict)
    frame = bundle.eval_frame
    content = "image" if bundle.modality == "image" else "text"
    test = next((t for t in result.test.values() if t.get("index") == index), None)
    differences = result.differences if index == result.recommendation else {}
    return {
        "card_version": 1,
        "bundle": {"name": bundle.name, "seed": seed},
        "variant": variant_line(manifest_departures(bundle.manifest)),
        "merge": {
            "method": setting.method,
            "title": method.title if method else setting.method,
            "formula": method.formula if method else "",
            "reference": method.reference if method else "",
            "normalize": setting.normalize,
            "params": setting.param_dict,
            "coefficients": setting.coeff_dict,
            "effective": effective_coeffs(setting.coeff_dict, setting.normalize),
            "setting": cand["setting"],
            "label": cand["label"],
        },
        "base": _base_checksums(bundle, seed),
        "vectors": _vector_checksums(bundle, seed, names),
        "dataset": {
            **{k: v for k, v in bundle.manifest["dataset"].items() if k != "options"},
            "split_fingerprints": {
                s: split_fingerprint(
                    frame[frame["split"] == s].reset_index(drop=True), content, bundle.attribute
                )
                for s in ("val", "test")
                if (frame["split"] == s).any()
            },
        },
        "metrics": METRIC_DEFINITIONS,
        "validation": {**cand["val"], "degenerate": cand["degenerate"]},
        "test": test,
        "accepted": cand.get("accepted"),
        "reasons": cand.get("reasons", []),
        "versus_best_global_lambda": differences,
        "question": {**result.problem.record(), "floor": result.floor},
        "search": {
            "exact_evaluations": result.n_exact,
            "new_evaluations": result.n_new,
            "converged": result.converged,
            "state": result.state_id,
        },
    }


def _fmt(iv: Mapping | None) -> str:
    if not iv or iv.get("value") is None:
        return "–"
    lo, hi = iv.get("lo"), iv.get("hi")
    ci = "" if lo is None or hi is None else f" [{lo:.3f}, {hi:.3f}]"
    return f"{iv['value']:.3f}{ci}"


def card_markdown(card: Mapping) -> str:
    """The card as Markdown (one page)."""
    m, q = card["merge"], card["question"]
    conf = q.get("confidence", 0.95)
    lines = [
        f"# Merge card: {card['bundle']['name']} — {m['title']} ({m['normalize']})",
        "",
        f"**{card['variant']}**" if card.get("variant") else "",
        "",
        f"`{m['formula']}`" if m["formula"] else "",
        "",
        "## Coefficients",
        "",
        "| vector | λ (given) | applied | sha256 |",
        "|---|---|---|---|",
    ]
    for name, lam in m["coefficients"].items():
        sha = (card["vectors"].get(name) or {}).get("sha256") or "–"
        lines.append(f"| {name} | {lam:g} | {m['effective'][name]:.4g} | `{sha[:16]}` |")
    if m["params"]:
        lines += [
            "",
            "Method parameters: " + ", ".join(f"{k} = {v}" for k, v in m["params"].items()),
        ]
    lines += [
        "",
        f"Base fingerprint `{card['base']['fingerprint'][:16]}`; dataset fingerprint "
        f"`{str(card['dataset'].get('fingerprint', ''))[:16]}`, attribute "
        f"`{card['dataset'].get('attribute')}`.",
        "",
        f"## Numbers ({conf:.0%} bootstrap intervals)",
        "",
        "| split | accuracy | DPD | EOD | worst-group error |",
        "|---|---|---|---|---|",
    ]
    for split, d in (("validation", card["validation"]), ("test", card["test"])):
        if d:
            lines.append(
                f"| {split} | {_fmt(d.get('accuracy'))} | {_fmt(d.get('dpd'))} | "
                f"{_fmt(d.get('eod'))} | {_fmt(d.get('worst_group_error'))} |"
            )
    diffs = card.get("versus_best_global_lambda") or {}
    if diffs:
        lines += ["", "Against the best global λ at the same floor (this − that, paired):", ""]
        for split, d in diffs.items():
            lines.append(
                f"- {split}: EOD {_fmt(d.get('eod'))}, DPD {_fmt(d.get('dpd'))}, "
                f"accuracy {_fmt(d.get('accuracy'))}"
            )
    flags = [f"validation: {f}" for f in card["validation"].get("degenerate", [])]
    flags += [f"test: {f}" for f in (card["test"] or {}).get("degenerate", [])]
    lines += ["", "## Degeneracy", "", *(f"- ⚠ {f}" for f in flags)] if flags else [
        "", "## Degeneracy", "", "None: no group is predicted (nearly) all one class."]  # fmt: skip
    obj = q["objective"]
    lines += [
        "",
        "## How it was chosen",
        "",
        f"Minimise **{obj['metric']}**"
        + (f" (weights {obj['weights']})" if obj["metric"] == "mix" else "")
        + f" on validation; accuracy floor {card['question']['floor']:.4f} "
        "(the lower end of the accuracy interval must reach it)"
        + (f"; target: upper end ≤ {obj['target']:g}" if obj.get("target") is not None else "")
        + f". Search `{q['search']}`, {card['search']['exact_evaluations']} exact "
        f"validation evaluations (budget {q['budget']}). Accepted: {card['accepted']}.",
        "",
        "## Metric definitions",
        "",
        *(f"- **{k}**: {v}" for k, v in card["metrics"].items()),
        "",
    ]
    return "\n".join(lines)


def mergekit_yaml(card: Mapping) -> str:
    """The merge in mergekit's configuration vocabulary, with the bundle's files as the
    models (mergekit merges fine-tuned models; here each is ``base + vector``)."""
    m = card["merge"]
    method = m["method"]
    models = []
    for name, weight in m["effective"].items():
        params = {"weight": float(weight)}
        if "k" in m["params"]:
            params["density"] = float(m["params"]["k"]) / 100
        if "p" in m["params"]:
            params["density"] = 1.0 - float(m["params"]["p"])
        models.append({"model": f"{card['base']['path']} + {card['vectors'][name]['path']}",
                       "parameters": params})  # fmt: skip
    doc = {
        "merge_method": _MERGEKIT.get(method, method),
        "base_model": card["base"]["path"],
        "models": models,
        "parameters": {"normalize": False, "int8_mask": False},
        "dtype": "float32",
    }
    notes = [
        f"# mergekit-style description of a taskfair merge ({m['title']}, {m['normalize']}).",
        "# Paths are relative to the bundle; each model is the base plus one task vector.",
        "# Weights are the coefficients as applied (normalisation included).",
    ]
    if method == "magnitude":
        notes.append("# Magnitude pruning per tensor without sign election: mergekit has no "
                     "method of that name; density = k/100.")  # fmt: skip
    if method == "dare":
        notes.append(f"# DARE masks are taskfair's, seeded by seed={m['params'].get('seed')}.")
    if method == "ties":
        notes.append("# TIES: the disjoint mean of the trimmed, sign-elected vectors.")
    return "\n".join(notes) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


_SCRIPT = '''"""Rebuild the merged model of a taskfair merge card from its bundle.

    python rebuild.py --bundle BUNDLE_DIR --out MERGED_DIR

Checks the bundle's checksums against the card, merges with taskfair (the same engine
that evaluated the card's numbers) and writes the merged model as a taskfair base
folder (safetensors weights, processor, spec with the weights' fingerprint).
"""

import argparse
import json

from taskfair.steer.card import rebuild_model, save_merged

CARD = json.loads(r"""{card}""")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default={bundle!r}, help="the bundle folder")
    parser.add_argument("--out", required=True, help="where to write the merged model")
    args = parser.parse_args(argv)
    handle = rebuild_model(args.bundle, CARD)
    fingerprint = save_merged(handle, args.out)
    print(f"wrote {{args.out}} (weights fingerprint {{fingerprint[:16]}})")


if __name__ == "__main__":
    main()
'''


def rebuild_script(card: Mapping, bundle_path: str | None = None) -> str:
    """A standalone script that rebuilds the card's merged model with this library."""
    body = json.dumps(card, indent=1, sort_keys=True, default=str)
    if '"""' in body:  # cannot happen with JSON of this card, but never write a broken script
        raise ValueError("The card cannot be embedded in a script.")
    return _SCRIPT.format(card=body, bundle=str(bundle_path or card["bundle"]["name"]))


def rebuild_model(bundle_path, card: Mapping, device=None) -> ModelHandle:
    """The card's merged model, from ``bundle_path`` (checked against the card first).

    Raises :class:`BundleError` when the bundle's base or a vector's checksum differs
    from the card's: the card describes another build.
    """
    bundle = Bundle.open(bundle_path, verify=True)
    seed = int(card["bundle"]["seed"])
    fingerprint = bundle.base_fingerprint_of(seed) if seed in bundle.seeds else None
    if fingerprint != card["base"]["fingerprint"]:
        raise BundleError(
            f"{bundle.name}'s base is not the card's (fingerprint {str(fingerprint)[:12]} "
            f"!= {card['base']['fingerprint'][:12]}): use the bundle the card was made from."
        )
    have = _vector_checksums(bundle, seed, card["vectors"])
    for name, want in card["vectors"].items():
        got = have.get(name, {}).get("sha256")
        if got != want["sha256"]:
            raise BundleError(
                f"{bundle.name}'s vector {name!r} differs from the card's (sha256 "
                f"{str(got)[:12]} != {str(want['sha256'])[:12]}): use the bundle the card was made from."
            )
    setting = Setting(**card["merge"]["setting"])
    handle = bundle.load_base(device=device, seed=seed)
    vectors = bundle.load_vectors(seed=seed, names=list(card["vectors"]))
    merger = Merger(handle.model, vectors, base_fingerprint=fingerprint)
    transformed = None
    method = get_method(setting.method) if setting.method in method_names() else None
    if method is not None and method.transform is not None:
        subgroup = {n: vectors[n] for n in setting.coeff_dict if n in vectors}
        transformed = merger.prepare(method.transform_vectors(subgroup, setting.param_dict))
    merger.apply(setting.coeff_dict, setting.normalize, transformed)
    return handle


def save_merged(handle: ModelHandle, out_dir) -> str:
    """Write a rebuilt model as a taskfair base folder; return its weights' fingerprint."""
    return save_base(handle, out_dir)


def write_card(card: Mapping, out_dir, bundle_path: str | None = None) -> dict[str, Path]:
    """Write :data:`CARD_FILES` into ``out_dir`` (atomically); return their paths."""
    out = Path(out_dir)
    paths = {name: out / name for name in CARD_FILES}
    atomic_write_json(paths["card.json"], json_safe(card))
    atomic_write_bytes(paths["card.md"], card_markdown(card).encode())
    atomic_write_bytes(paths["mergekit.yaml"], mergekit_yaml(card).encode())
    atomic_write_bytes(paths["rebuild.py"], rebuild_script(json_safe(card), bundle_path).encode())
    return paths


def json_safe(obj):
    """``obj`` with NaN as None, recursively (JSON has no NaN)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj
