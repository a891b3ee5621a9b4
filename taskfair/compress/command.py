"""``python -m taskfair compress``: a bundle's vectors compressed, measured, written.

    python -m taskfair compress --bundle models/demo --spec lowrank:rank=16 --out models/demo-lr16
    python -m taskfair compress --bundle models/demo --measure \\
        --spec lowrank:rank=8 --spec lowrank:rank=16 --spec topk:density=0.05 --json curve.json

A setting is ``FORM[:field=value,...]`` with the fields of
:class:`~taskfair.compress.CompressSpec` (``rank``, ``energy``, ``density``, ``drop``,
``seed``, ``dtype``, ``min_numel``). With ``--out`` one setting is written as a new
bundle; with ``--measure`` every setting's size and fidelity are printed (and written to
``--json``), and nothing is written to the bundle.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm.auto import tqdm

from taskfair.bundle import Bundle
from taskfair.compress.bundle import compress_bundle, measure_compression
from taskfair.compress.spec import CompressSpec
from taskfair.errors import ConfigError
from taskfair.io import atomic_write_json
from taskfair.progress import tqdm_progress

__all__ = ["configure", "parse_spec", "run"]


def parse_spec(text: str) -> CompressSpec:
    """``"lowrank:rank=16,dtype=bfloat16"`` → :class:`CompressSpec` (a clear error otherwise)."""
    form, _, rest = text.strip().partition(":")
    fields: dict = {"form": form}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise ConfigError(f"--spec {text!r}: {part!r} is not field=value (e.g. rank=16).")
        fields[key.strip()] = _value(value.strip())
    return CompressSpec.from_dict(fields)


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", required=True, help="source bundle, e.g. models/demo")
    parser.add_argument(
        "--spec",
        action="append",
        required=True,
        help="FORM[:field=value,...], e.g. lowrank:rank=16, lowrank:energy=0.9, "
        "topk:density=0.05, dare:drop=0.9,seed=0; add dtype=bfloat16 to store values in bf16",
    )
    parser.add_argument(
        "--out", default=None, help="write the compressed bundle to this new folder"
    )
    parser.add_argument(
        "--measure", action="store_true", help="measure size and fidelity of every --spec only"
    )
    parser.add_argument("--json", default=None, help="with --measure: write the records here")
    parser.add_argument("--seed", default=None, type=int, help="with --measure: vector seed")
    parser.add_argument(
        "--no-fidelity", action="store_true", help="skip the fidelity evaluation (sizes only)"
    )
    parser.add_argument("--device", default=None, help="cpu | cuda | mps (default: auto)")


def run(args) -> int:
    specs = [parse_spec(s) for s in args.spec]
    if args.measure == (args.out is not None):
        raise ConfigError("Give either --out (write one setting) or --measure (compare settings).")
    if args.out is not None:
        if len(specs) != 1:
            raise ConfigError("--out writes one setting: give exactly one --spec.")
        out = compress_bundle(
            args.bundle,
            args.out,
            specs[0],
            fidelity=not args.no_fidelity,
            device=args.device,
            progress=tqdm_progress("fidelity"),
            echo=tqdm.write,
        )
        m = Bundle.open(out).manifest["compression"]
        worst = m.get("worst")
        if worst:
            print(
                f"worst over vectors, task addition and λ: agreement {worst['agreement']:.4f}, "
                f"|Δacc| {worst['d_accuracy']:.4f}, |ΔDPD| {worst['d_dpd']:.4f}, "
                f"|ΔEOD| {worst['d_eod']:.4f}"
            )
        print(f"compressed bundle ready in {out}")
        return 0
    records = measure_compression(
        Bundle.open(args.bundle),
        specs,
        seed=args.seed,
        device=args.device,
        fidelity=not args.no_fidelity,
        progress=tqdm_progress("fidelity"),
        echo=tqdm.write,
    )
    if args.json:
        atomic_write_json(Path(args.json), records)
        print(f"wrote {len(records)} records to {args.json}")
    else:
        print(
            json.dumps(
                [{k: r[k] for k in ("name", "bytes", "ratio", "worst") if k in r} for r in records],
                indent=2,
            )
        )
    return 0
