"""What one benchmark run works on: a model, its subgroup vectors and the rows to evaluate.

Both modalities read a bundle the same way (:func:`from_bundle`); the text modality can
also run on a synthetic stand-in (:mod:`taskfair.bench.synthetic`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from taskfair.bundle import Bundle
from taskfair.models import ModelHandle
from taskfair.vectors import TaskVector

__all__ = ["ATTR", "Workload", "bundle_rows", "from_bundle"]

#: the sensitive-attribute column of a workload's frame, whatever the bundle calls it
ATTR = "group"


@dataclass
class Workload:
    """A model, the subgroup vectors to merge into it and the benchmark rows.

    ``frame`` has the content column (``text`` or ``image``: a file path), ``label``
    (int 0/1), ``split`` (``"val"`` for every row: the benchmark evaluates them as one
    split) and :data:`ATTR` (the group name, or missing for rows in no group).
    ``base_fingerprint`` is the bundle's anchor fingerprint (None: computed from the model).
    """

    handle: ModelHandle
    vectors: dict[str, TaskVector]
    frame: pd.DataFrame
    base_fingerprint: str | None = None


def bundle_rows(path) -> int:
    """How many evaluation rows (val + test) the bundle at ``path`` has."""
    frame = Bundle.open(path).eval_frame
    return int(frame["split"].isin(["val", "test"]).sum())


def from_bundle(spec: dict, content: str, sample: bool) -> Workload:
    """The bundle ``spec["path"]``'s base (on ``spec["device"]``, in ``spec["dtype"]``), its
    subgroup vectors and ``spec["rows"]`` of its eval rows (val then test, repeated when
    the bundle has fewer: same rows, same work).

    ``content`` is the frame's content column (``"text"`` or ``"image"``). ``sample``
    takes a seeded sample of the rows instead of the first ones: image datasets such as
    UTKFace are ordered by file name, i.e. by age, so their first 128 rows would be nearly
    all one label (EOD undefined).
    """
    bundle = Bundle.open(spec["path"])
    handle = bundle.load_base(
        device=spec.get("device"), dtype=spec.get("dtype"), seed=bundle.seeds[0]
    )
    names = [g for g in bundle.groups if g in bundle.vector_names()]
    vectors = bundle.load_vectors(names=names)
    ev = bundle.eval_frame
    ev = pd.concat([ev[ev.split == "val"], ev[ev.split == "test"]])
    rows = int(spec["rows"])
    if len(ev) < rows:
        ev = pd.concat([ev] * math.ceil(rows / len(ev)))
    ev = ev.sample(n=rows, random_state=0) if sample else ev.iloc[:rows]
    ev = ev.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            content: ev[content].astype(str),
            "label": ev["label"].astype(int),
            "split": "val",
            ATTR: ev[bundle.attribute],
        }
    )
    return Workload(handle, vectors, frame, bundle.base_fingerprint_of(bundle.seeds[0]))
