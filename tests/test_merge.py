"""Merge-engine invariants on tiny random BERT and DistilBERT models built in code."""

from __future__ import annotations

import copy
import threading

import pytest
import torch
from tiny_models import perturbed, tiny_bert, tiny_distilbert

from taskfair.merge import Merger, injection_coeffs, task_addition_coeffs
from taskfair.vectors import TaskVector, VectorError


@pytest.fixture(params=["bert", "distilbert"])
def setup(request):
    base = tiny_bert() if request.param == "bert" else tiny_distilbert()
    fts = {name: perturbed(base, seed=i + 1) for i, name in enumerate(["a", "b", "fft"])}
    vecs = {n: TaskVector.from_models(base, m) for n, m in fts.items()}
    return base, fts, vecs


def _floats(model):
    return {k: v.clone() for k, v in model.state_dict().items() if torch.is_floating_point(v)}


def test_lambda_zero_and_reset_are_bit_exact(setup):
    base, _, vecs = setup
    ref = _floats(base)
    merger = Merger(copy.deepcopy(base), vecs)
    merger.apply({"a": 0.7, "b": -0.3})
    merger.apply({"a": 0.0, "b": 0.0})
    for k, v in merger.model.state_dict().items():
        if k in ref:
            assert torch.equal(v, ref[k]), k
    merger.apply({"a": 1.3})
    merger.reset()
    assert all(torch.equal(merger.model.state_dict()[k], v) for k, v in ref.items())


def test_lambda_one_gives_finetuned(setup):
    base, fts, vecs = setup
    merger = Merger(copy.deepcopy(base), vecs)
    merger.apply({"a": 1.0})
    ft = fts["a"].state_dict()
    for k, v in merger.model.state_dict().items():
        torch.testing.assert_close(v, ft[k], rtol=0, atol=1e-6)
    x = torch.randint(0, 1000, (3, 9))
    with torch.no_grad():
        torch.testing.assert_close(
            merger.model(input_ids=x).logits, fts["a"](input_ids=x).logits, rtol=1e-5, atol=1e-5
        )


def test_matches_state_dict_arithmetic_sum_and_mean(setup):
    base, _, vecs = setup
    merger = Merger(copy.deepcopy(base), vecs)
    bsd = base.state_dict()
    for normalize, scale in (("sum", 1.0), ("mean", 0.5)):
        merger.apply({"a": 0.4, "b": 0.8}, normalize=normalize)
        got = merger.model.state_dict()
        for k in vecs["a"].keys():
            want = bsd[k] + scale * (0.4 * vecs["a"][k] + 0.8 * vecs["b"][k])
            torch.testing.assert_close(got[k], want, rtol=1e-6, atol=1e-6)
    assert task_addition_coeffs(["a", "b"], 0.8, "mean") == {"a": 0.4, "b": 0.4}
    assert injection_coeffs("a", 0.2) == {"fft": 1.0, "a": 0.2}


def test_injection_anchored_on_fft(setup):
    base, fts, vecs = setup
    merger = Merger(copy.deepcopy(base), vecs)
    merger.apply(injection_coeffs("a", 0.6))
    ft = fts["fft"].state_dict()
    got = merger.model.state_dict()
    for k in vecs["a"].keys():
        torch.testing.assert_close(got[k], ft[k] + 0.6 * vecs["a"][k], rtol=1e-6, atol=1e-6)


def test_never_touches_a_shared_model_with_copy(setup):
    base, _, vecs = setup
    ref = _floats(base)
    merger = Merger(base, vecs, copy=True)
    merger.apply({"a": 1.0})
    assert all(torch.equal(base.state_dict()[k], v) for k, v in ref.items())


def test_unknown_vector_and_bad_normalisation(setup):
    base, _, vecs = setup
    merger = Merger(copy.deepcopy(base), vecs)
    with pytest.raises(VectorError, match="Unknown task vector"):
        merger.apply({"nope": 1.0})
    with pytest.raises(ValueError, match="normalisation"):
        merger.apply({"a": 1.0}, normalize="median")


def test_tied_weights_merged_once():
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=200,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        tie_word_embeddings=True,
    )
    base = BertForMaskedLM(cfg).eval()
    ft = perturbed(base, 1)
    vec = TaskVector.from_models(base, ft)
    merger = Merger(copy.deepcopy(base), {"t": vec})
    merger.apply({"t": 1.0})
    emb = "bert.embeddings.word_embeddings.weight"
    torch.testing.assert_close(
        merger.model.state_dict()[emb], ft.state_dict()[emb], rtol=0, atol=1e-6
    )


def test_concurrent_merged_blocks_never_see_a_mix(setup):
    base, _, vecs = setup
    merger = Merger(copy.deepcopy(base), vecs)
    key = next(iter(vecs["a"].keys()))
    expected = {
        lam: base.state_dict()[key] + lam * vecs["a"][key] for lam in (0.0, 0.25, 0.5, 0.75, 1.0)
    }
    errors: list[str] = []

    def worker(lam: float):
        for _ in range(40):
            with merger.merged({"a": lam}) as m:
                got = m.state_dict()[key]
                if not torch.allclose(got, expected[lam], atol=1e-6):
                    errors.append(f"lam={lam} saw another thread's weights")

    threads = [threading.Thread(target=worker, args=(lam,)) for lam in expected]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
