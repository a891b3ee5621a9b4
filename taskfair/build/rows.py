"""The rows a run trains, selects and is scored on: encoded inputs with their labels.

Inputs are encoded once with :func:`taskfair.inference.encode`; a run's rows are a subset
of them (:func:`subset_encoded`), so text and image models train and score the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from taskfair.errors import TrainError
from taskfair.inference import EncodedImages, EncodedText, predict_encoded

__all__ = ["Rows", "subset_encoded", "evaluate_rows"]


@dataclass
class Rows:
    """Encoded inputs with their labels: ``labels`` int64 ``(n,)`` in {0, 1}."""

    encoded: EncodedText | EncodedImages
    labels: np.ndarray
    description: str = ""

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.labels) != len(self.encoded):
            raise TrainError(
                f"{len(self.encoded)} encoded rows but {len(self.labels)} labels ({self.description})."
            )

    def __len__(self) -> int:
        return len(self.labels)


def subset_encoded(encoded, idx: np.ndarray):
    """The rows ``idx`` (positions) of an encoded object, as the same type."""
    if isinstance(encoded, EncodedText):
        return EncodedText(
            ids=[encoded.ids[i] for i in idx],
            pad_id=encoded.pad_id,
            max_length=encoded.max_length,
            padding_side=encoded.padding_side,
        )
    if isinstance(encoded, EncodedImages):
        return encoded.subset(idx)
    raise TypeError(f"Cannot train on {type(encoded).__name__}; use taskfair.inference.encode().")


def evaluate_rows(model: torch.nn.Module, rows: Rows, batch_size: int = 64) -> dict:
    """Accuracy and mean cross-entropy of ``model`` on ``rows`` (argmax; ties go to 0):
    ``{"accuracy", "loss", "n"}``, with ``None`` for both scores when ``rows`` is empty."""
    if len(rows) == 0:
        return {"accuracy": None, "loss": None, "n": 0}
    logits = predict_encoded(model, rows.encoded, batch_size).logits.astype(np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = float(-logp[np.arange(len(rows)), rows.labels].mean())
    acc = float((logits.argmax(axis=1) == rows.labels).mean())
    return {"accuracy": acc, "loss": loss, "n": len(rows)}
