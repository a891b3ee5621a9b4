"""Batched evaluation: order preserved under length sorting, equal to one-by-one."""

from __future__ import annotations

import numpy as np
import torch
from tiny_models import tiny_bert

from taskfair.inference import encode, predict, predict_encoded

TEXTS = [
    "short",
    "a somewhat longer sentence with several more words in it",
    "mid length text here",
    "x",
    "the longest of all the sentences in this small list, by a clear margin of many tokens",
    "another one",
    "yet another medium sized text",
]


def test_order_preserved_and_equal_to_single_rows(minilm_tokenizer):
    model = tiny_bert()
    out = predict(model, minilm_tokenizer, TEXTS, batch_size=3)
    assert out.logits.shape == (len(TEXTS), 2)
    for i, text in enumerate(TEXTS):
        enc = minilm_tokenizer([text], return_tensors="pt")
        with torch.no_grad():
            ref = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0]
        np.testing.assert_allclose(out.logits[i], ref.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.probs.sum(axis=1), 1.0, rtol=1e-6)
    assert set(np.unique(out.preds)) <= {0, 1}
    np.testing.assert_array_equal(out.preds, out.logits.argmax(1))


def test_encode_once_sorts_by_length_and_truncates(minilm_tokenizer):
    enc = encode(minilm_tokenizer, TEXTS, "text", max_length=8)
    assert max(len(x) for x in enc.ids) <= 8
    lengths = [len(enc.ids[i]) for i in enc.order]
    assert lengths == sorted(lengths, reverse=True)
    model = tiny_bert()
    a = predict_encoded(model, enc, batch_size=2)
    b = predict_encoded(model, enc, batch_size=5)
    np.testing.assert_allclose(a.logits, b.logits, rtol=1e-4, atol=1e-5)
    assert model.training is False
