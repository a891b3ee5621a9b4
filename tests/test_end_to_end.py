"""The real packaged MiniLM on real HateXplain rows: data → vectors → merge → predict → metrics.

One short fine-tune of the head and top layer on ~200 training rows gives a real task
vector; the test checks the whole in-memory path against the plain way of doing it
(build the merged state dict and load it into a fresh model), and that the fairness
report equals fairlearn's on the same predictions.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

from taskfair.data import load_dataset
from taskfair.inference import encode, predict, predict_encoded
from taskfair.merge import Merger
from taskfair.metrics import fairness_report
from taskfair.models import load_model, state_fingerprint
from taskfair.vectors import TaskVector

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rows(shared_data):
    csv = shared_data / "hatexplain" / "hatexplain_magpie_preprocessed.csv"
    if not csv.exists():
        pytest.skip("HateXplain is not available beside the project")
    ds = load_dataset("hatexplain", path=str(csv))
    frame = ds.frame
    train = frame[frame.split == "train"].sample(200, random_state=0)
    test = frame[(frame.split == "test") & frame["target"].notna()].sample(200, random_state=0)
    return train, test


def _finetune(model, tokenizer, texts, labels, steps=12):
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(("classifier", "bert.pooler", "bert.encoder.layer.5"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-4)
    model.train()
    for step in range(steps):
        sl = slice((step * 16) % len(texts), (step * 16) % len(texts) + 16)
        enc = tokenizer(
            texts[sl], truncation=True, max_length=48, padding=True, return_tensors="pt"
        )
        loss = torch.nn.functional.cross_entropy(model(**enc).logits, torch.tensor(labels[sl]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


def test_minilm_hatexplain_in_memory_path(rows):
    train, test = rows
    handle = load_model("minilm", device="cpu", max_length=48)
    base_sd = {k: v.clone() for k, v in handle.model.state_dict().items()}
    fp = state_fingerprint(handle.model)
    ft = _finetune(
        copy.deepcopy(handle.model), handle.processor, train.text.tolist(), train.label.tolist()
    )
    vec = TaskVector.from_models(handle.model, ft, {"base_fingerprint": fp, "name": "all"})
    assert vec.norm() > 0

    merger = Merger(copy.deepcopy(handle.model), {"all": vec}, base_fingerprint=fp)
    enc = encode(handle.processor, test.text.tolist(), "text", max_length=48)
    with merger.merged({"all": 0.5}) as model:
        fast = predict_encoded(model, enc, batch_size=32)

    # The plain way: a merged state dict loaded into a fresh copy of the base.
    plain_model = copy.deepcopy(handle.model)
    plain_model.load_state_dict(vec.apply_to(base_sd, 0.5))
    plain = predict(plain_model, handle.processor, test.text.tolist(), batch_size=7, max_length=48)
    np.testing.assert_allclose(fast.logits, plain.logits, rtol=1e-4, atol=1e-4)

    report = fairness_report(test.label.to_numpy(), fast.preds, sensitive_features=test["target"])
    assert report.accuracy == pytest.approx(float((fast.preds == test.label.to_numpy()).mean()))
    assert report.dpd == pytest.approx(
        demographic_parity_difference(test.label, fast.preds, sensitive_features=test["target"])
    )
    assert report.eod == pytest.approx(
        equalized_odds_difference(test.label, fast.preds, sensitive_features=test["target"]),
        nan_ok=True,
    )
    assert set(report.by_group.index) <= {"race", "gender", "religion", "minority"}

    merger.reset()
    assert state_fingerprint(merger.model) == fp
