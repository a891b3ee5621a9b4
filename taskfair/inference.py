"""Batched inference: encode once, evaluate many times.

Sweeps evaluate the same rows under many weight settings, so inputs are prepared once
(:func:`encode`: tokenised for text, decoded and resized for images) and reused. Text is
ordered by length and padded per batch only to that batch's longest row, so no FLOPs go
to padding beyond the batch's own spread; results come back in the caller's row order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from taskfair.models import logits_of
from taskfair.progress import Progress, report

__all__ = [
    "Predictions",
    "EncodedText",
    "EncodedImages",
    "TokenBudgetBatches",
    "encode",
    "model_inputs",
    "predict",
    "predict_encoded",
]


@dataclass(frozen=True)
class Predictions:
    """Per-row outputs in the original row order.

    ``logits``: float32 ``(n, 2)`` (float64 for a float64 model); ``probs``: softmax of the logits, ``(n, 2)``;
    ``preds``: int64 ``(n,)`` in {0, 1} (argmax; ties go to 0).
    """

    logits: np.ndarray

    @property
    def probs(self) -> np.ndarray:
        z = self.logits - self.logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def preds(self) -> np.ndarray:
        return self.logits.argmax(axis=1).astype(np.int64)

    def __len__(self) -> int:
        return len(self.logits)


@dataclass
class EncodedText:
    """Token ids of ``n`` texts, unpadded, with a length-sorted order.

    ``ids[i]`` is an int64 array of row ``i``'s tokens (special tokens included,
    truncated to ``max_length``); ``order`` sorts rows by length, longest first.
    ``padding_side``: ``"right"`` (pads after the tokens) or ``"left"`` (before them,
    with ``position_ids`` counting from each row's first real token, so a row's
    positions do not depend on the batch it travels in). Decoder classifiers pool the
    last token that is not ``pad_id`` (transformers' rule), which either side finds.
    """

    ids: list[np.ndarray]
    pad_id: int
    max_length: int
    padding_side: str = "right"
    order: np.ndarray = field(init=False)
    _batches: dict[int, list] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', not {self.padding_side!r}.")
        lengths = np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))
        self.lengths = lengths
        self.order = np.argsort(-lengths, kind="stable")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def real_tokens(self) -> int:
        return int(self.lengths.sum())

    def batches(self, batch_size: int) -> list[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """``[(row_indices, model_inputs)]`` in length order, built once per batch size."""
        if batch_size not in self._batches:
            self._batches[batch_size] = [
                self.pad(self.order[start : start + batch_size])
                for start in range(0, len(self.order), batch_size)
            ]
        return self._batches[batch_size]

    def pad(self, idx: np.ndarray) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        """Rows ``idx`` padded to their longest on :attr:`padding_side`:
        ``(idx, {input_ids, attention_mask})``, plus ``position_ids`` when padding left."""
        width = int(self.lengths[idx].max())
        input_ids = np.full((len(idx), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        left = self.padding_side == "left"
        for r, i in enumerate(idx):
            n = self.lengths[i]
            cols = slice(width - n, width) if left else slice(0, n)
            input_ids[r, cols] = self.ids[i]
            mask[r, cols] = 1
        out = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if left:
            # Each row's positions start at 0 on its first real token, as if unpadded.
            out["position_ids"] = torch.from_numpy(np.clip(mask.cumsum(axis=1) - 1, 0, None))
        return idx, out


class TokenBudgetBatches:
    """Length-sorted batches of at most ``token_budget`` padded tokens (and ``max_rows``).

    Same ``(row_indices, inputs)`` format and ``len()`` as :class:`EncodedText`, so
    :func:`predict_encoded` takes it as is. Rows are sorted longest first, so a batch's
    width is its first row's length: short rows travel in big batches, long rows in
    small ones.
    """

    def __init__(self, encoded: EncodedText, token_budget: int, max_rows: int):
        self._n = len(encoded)
        self._batches = []
        order, lengths = encoded.order, encoded.lengths
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])
            size = max(1, min(max_rows, token_budget // max(width, 1)))
            self._batches.append(encoded.pad(order[start : start + size]))
            start += size

    def __len__(self) -> int:
        return self._n

    def batches(self, _batch_size: int):
        return self._batches


@dataclass
class EncodedImages:
    """Decoded, resized images of ``n`` rows, ready for an image model.

    ``pixels`` is either float32 ``(n, 3, H, W)`` model inputs (a transformers image
    processor's output), or uint8 ``(n, 3, H, W)`` values 0..255 together with
    ``normalize`` (uint8 ``(b, 3, H, W)`` → float32 model inputs), applied batch by
    batch: the decoded set stays 4× smaller than float32, and normalising a batch costs
    far less than the forward pass it feeds.
    """

    pixels: torch.Tensor = field(repr=False)
    input_name: str = "pixel_values"
    normalize: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.pixels.dtype == torch.uint8 and self.normalize is None:
            raise ValueError("uint8 pixels need a normalize function (uint8 -> float32 inputs).")

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def __repr__(self) -> str:
        return f"EncodedImages({self.pixels.dtype} {tuple(self.pixels.shape)})"

    def subset(self, idx) -> EncodedImages:
        """The rows ``idx`` (positions), same storage kind and normalisation."""
        return replace(self, pixels=self.pixels[torch.as_tensor(np.asarray(idx), dtype=torch.long)])

    def _inputs(self, part: torch.Tensor) -> torch.Tensor:
        return self.normalize(part) if self.pixels.dtype == torch.uint8 else part

    def batches(self, batch_size: int) -> list[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        n = len(self)
        return [
            (
                np.arange(s, min(s + batch_size, n)),
                {self.input_name: self._inputs(self.pixels[s : s + batch_size])},
            )
            for s in range(0, n, batch_size)
        ]


def encode(
    processor: Any,
    items,
    modality: str = "text",
    max_length: int = 128,
    progress: Progress | None = None,
):
    """Prepare raw inputs once: texts → :class:`EncodedText` (padded on the tokenizer's
    ``padding_side``), image paths → :class:`EncodedImages`."""
    items = list(items)
    if modality == "image":
        if hasattr(processor, "decode") and hasattr(processor, "normalize"):
            # Keep uint8 and normalise per batch (see EncodedImages).
            return EncodedImages(processor.decode(items, progress), normalize=processor.normalize)
        return EncodedImages(processor(items, progress=progress))
    if any(not isinstance(t, str) for t in items):
        raise TypeError("encode() needs a list of strings for text models.")
    enc = processor(
        items,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    ids = [np.asarray(x, dtype=np.int64) for x in enc["input_ids"]]
    pad = processor.pad_token_id if processor.pad_token_id is not None else 0
    side = getattr(processor, "padding_side", "right")
    return EncodedText(
        ids=ids,
        pad_id=int(pad),
        max_length=max_length,
        padding_side=side if side == "left" else "right",
    )


def predict_encoded(
    model: torch.nn.Module,
    encoded,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    progress: Progress | None = None,
) -> Predictions:
    """Evaluate prepared inputs; logits come back in the original row order."""
    param = next(model.parameters())
    device = torch.device(param.device if device is None else device)
    # float64 models are for checks (finite differences): keep their precision; any other
    # dtype comes back as float32.
    wide = param.dtype == torch.float64
    was_training = model.training
    model.eval()
    out = np.empty((len(encoded), 2), dtype=np.float64 if wide else np.float32)
    batches = encoded.batches(batch_size)
    try:
        with torch.inference_mode():
            for b, (idx, inputs) in enumerate(batches):
                logits = logits_of(model(**model_inputs(inputs, device, param.dtype)))
                out[idx] = logits.to(torch.float64 if wide else torch.float32).cpu().numpy()
                report(progress, b + 1, len(batches), "evaluating")
    finally:
        model.train(was_training)
    return Predictions(out)


def model_inputs(
    inputs: dict[str, torch.Tensor], device: torch.device, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """A batch on ``device``; float inputs (pixels) in the model's ``dtype``.

    Token ids and masks keep their integer type; float pixels follow the weights, so a
    bf16, fp16 or float64 image model gets inputs of its own precision.
    """
    non_blocking = device.type == "cuda"
    return {
        k: v.to(device, dtype=dtype, non_blocking=non_blocking)
        if torch.is_floating_point(v)
        else v.to(device, non_blocking=non_blocking)
        for k, v in inputs.items()
    }


def predict(
    model: torch.nn.Module,
    tokenizer: Any,
    texts,
    batch_size: int = 64,
    max_length: int = 128,
    progress: Progress | None = None,
) -> Predictions:
    """Tokenise ``texts`` and evaluate them; see :func:`predict_encoded`."""
    return predict_encoded(
        model, encode(tokenizer, texts, "text", max_length), batch_size, progress=progress
    )
