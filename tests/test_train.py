"""Training loops on tiny random models: what trains, LoRA targets, reproducibility, and
``base + tau`` at lambda = 1 giving back the fine-tuned model for every kind of vector."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_models
import torch

from taskfair.build import (
    HParams,
    LoraHParams,
    Rows,
    TrainError,
    detect_head_modules,
    detect_lora_targets,
    evaluate_rows,
    find_blocks,
    finetune,
    freeze_for,
    lora_finetune,
)
from taskfair.inference import EncodedText, predict_encoded
from taskfair.merge import Merger
from taskfair.vectors import TaskVector

BUILDERS = {
    "bert": tiny_models.tiny_bert,
    "distilbert": tiny_models.tiny_distilbert,
    "roberta": tiny_models.tiny_roberta,
    "qwen2": tiny_models.tiny_qwen2,
    "llama": tiny_models.tiny_llama,
}
EXPECTED_TARGETS = {
    "bert": ["query", "key", "value"],
    "distilbert": ["q_lin", "k_lin", "v_lin"],
    "roberta": ["query", "key", "value"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
}
EXPECTED_HEADS = {
    "bert": ["classifier"],
    "distilbert": ["pre_classifier", "classifier"],
    "roberta": ["classifier"],
    "qwen2": ["score"],
    "llama": ["score"],
}


def _rows(n: int, seed: int, vocab: int = 900, description: str = "") -> Rows:
    """Random token sequences whose label is whether token 7 occurs: learnable."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for i in range(n):
        length = int(rng.integers(4, 12))
        seq = rng.integers(10, vocab, size=length)
        if i % 2:
            seq[rng.integers(1, length)] = 7
        # position 0 is a fixed "CLS" and the last a fixed "SEP", as a tokenizer would give;
        # decoder models pool on the last non-pad token, so neither may be the pad id 0.
        seq[0], seq[-1] = 2, 3
        ids.append(seq.astype(np.int64))
        labels.append(int(7 in seq))
    return Rows(EncodedText(ids=ids, pad_id=0, max_length=16), np.array(labels), description)


def _logits(model, rows: Rows) -> np.ndarray:
    return predict_encoded(model, rows.encoded, batch_size=8).logits


HP = HParams(lr=5e-3, epochs=2, batch_size=8, eval_batch_size=16, log_every=2)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_lora_targets_and_head_are_detected(arch):
    model = BUILDERS[arch]()
    assert detect_lora_targets(model) == EXPECTED_TARGETS[arch]
    assert detect_head_modules(model) == EXPECTED_HEADS[arch]


def test_lora_detection_failure_names_the_fix():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.raises(TrainError, match="target_modules"):
        detect_lora_targets(model)
    with pytest.raises(TrainError, match="modules_to_save"):
        detect_head_modules(model)


def test_train_layers_freeze_what_they_say():
    model = tiny_models.tiny_bert()
    assert find_blocks(model) == ("bert.encoder.layer", 2)
    top1 = set(freeze_for(model, 1))
    assert all(not n.startswith(("bert.embeddings", "bert.encoder.layer.0.")) for n in top1)
    assert any(n.startswith("bert.encoder.layer.1.") for n in top1)
    assert {"classifier.weight", "bert.pooler.dense.weight"} <= top1
    head = set(freeze_for(model, 0))
    assert head == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }
    assert {n for n, p in model.named_parameters() if p.requires_grad} == head
    everything = freeze_for(model, None)
    assert len(everything) == len(list(model.parameters()))
    llama = tiny_models.tiny_llama()
    trained = set(freeze_for(llama, 1))
    assert "model.embed_tokens.weight" not in trained
    assert {"model.norm.weight", "score.weight"} <= trained


# --------------------------------------------------------------------------- lambda = 1


def _assert_vector_reproduces(base, finetuned, rows, **meta):
    vec = TaskVector.from_models(base, finetuned, {"name": "v", **meta})
    assert vec.keys() == {k for k, v in base.state_dict().items() if torch.is_floating_point(v)}
    assert vec.norm() > 0
    merger = Merger(base, {"v": vec}, copy=True)
    with merger.merged({"v": 1.0}) as merged:
        got = _logits(merged, rows)
    want = _logits(finetuned, rows)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(_logits(base, rows), want, atol=1e-4)  # it did move
    return vec


def test_fft_and_subgroup_vectors_reproduce_the_finetuned_model():
    base = tiny_models.tiny_bert(vocab_size=1000)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    train, val, probe = _rows(48, 0), _rows(24, 1, description="val"), _rows(16, 2)
    fft = finetune(base, train, val, HP, seed=0)
    # the subgroup run: the same base (head included), only "its" rows
    sub = Rows(
        EncodedText(ids=train.encoded.ids[:16], pad_id=0, max_length=16), train.labels[:16], "g"
    )
    group = finetune(base, sub, val, HP, seed=0, select=_rows(8, 3, description="g val"))
    for k, v in base.state_dict().items():  # the base is never touched
        assert torch.equal(v, before[k]), k
    _assert_vector_reproduces(base, fft.model, probe)
    _assert_vector_reproduces(base, group.model, probe)
    log = group.log
    assert log["rows"] == {"train": 16, "val": 24, "select": 8}
    assert [e["epoch"] for e in log["epochs"]] == [1, 2]
    best = max(log["epochs"], key=lambda e: (e["select_accuracy"], -e["select_loss"]))
    assert log["chosen_epoch"] == best["epoch"]
    assert "never" in log["selection"] and "g val" in log["selection"]
    assert log["loss_curve"] and all(np.isfinite(p["loss"]) for p in log["loss_curve"])
    assert fft.log["trainable_params"] == fft.log["total_params"]


@pytest.mark.parametrize("arch", ["bert", "distilbert", "qwen2", "llama"])
def test_lora_merges_into_a_task_vector(arch):
    base = BUILDERS[arch]()
    train, val, probe = _rows(32, 0), _rows(16, 1), _rows(12, 2)
    res = lora_finetune(base, train, val, HP, LoraHParams(r=4, alpha=8, dropout=0.1), seed=0)
    assert set(res.model.state_dict()) == set(base.state_dict())  # merged: no lora_ keys left
    assert res.log["lora"]["target_modules"] == EXPECTED_TARGETS[arch]
    assert res.log["trainable_params"] < res.log["total_params"] / 2
    vec = _assert_vector_reproduces(base, res.model, probe)
    moved = {k for k, t in vec.items() if t.abs().max() > 0}
    heads = EXPECTED_HEADS[arch]
    assert any(k.startswith(heads[-1] + ".") for k in moved)  # the head trained
    assert all(any(part in k for part in (*EXPECTED_TARGETS[arch], *heads)) for k in moved), sorted(
        moved
    )  # and nothing outside the adapted projections and the head


# --------------------------------------------------------------------------- reproducibility


def test_runs_are_reproducible_and_seeded():
    base = tiny_models.tiny_bert(vocab_size=1000)
    train, val = _rows(32, 0), _rows(8, 1)
    a = finetune(base, train, val, HP, seed=0).model.state_dict()
    b = finetune(base, train, val, HP, seed=0).model.state_dict()
    c = finetune(base, train, val, HP, seed=1).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_learns_and_evaluate_rows_is_right():
    base = tiny_models.tiny_bert(vocab_size=1000)
    train, val = _rows(96, 0), _rows(64, 1)
    res = finetune(base, train, val, HParams(lr=2e-3, epochs=3, batch_size=16), seed=0)
    m = evaluate_rows(res.model, val)
    logits = _logits(res.model, val)
    assert m["n"] == 64
    assert m["accuracy"] == pytest.approx(float((logits.argmax(1) == val.labels).mean()))
    assert res.log["loss_curve"][-1]["loss"] < res.log["loss_curve"][0]["loss"]
    assert evaluate_rows(res.model, Rows(EncodedText([], 0, 16), np.array([])))["n"] == 0


def test_rows_must_match_labels():
    with pytest.raises(TrainError, match="labels"):
        Rows(EncodedText(ids=[np.array([1, 2])], pad_id=0, max_length=4), np.array([0, 1]))
