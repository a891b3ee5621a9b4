"""Decoder classifiers (Qwen2, Llama) end to end on tiny configs built in code: the pad
token, left and right padding with last-token pooling, the build with LoRA on their
projections, merge invariants, evaluation order and first-order previews through their
attention."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tiny_models
import torch
from derivatives import assert_directional_derivative
from test_sweep import ATTR, make_frame

from taskfair import sweep
from taskfair.build import BuildConfig, DatasetConfig, build_bundle
from taskfair.bundle import Bundle
from taskfair.inference import EncodedText, encode, predict_encoded
from taskfair.merge import Merger
from taskfair.models import ModelHandle, load_base, load_model
from taskfair.sweep import preview
from taskfair.vectors import TaskVector
from taskfair.vectors.forms import LowRank

ARCHS = ["qwen2", "llama"]


def _decoder(arch: str, vocab: int, seed: int = 0, pad: int = 0):
    """A tiny decoder whose logits depend on its input (random init at std 0.02 barely does)."""
    model = getattr(tiny_models, f"tiny_{arch}")(seed, vocab_size=vocab, pad_token_id=pad)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embed" not in name:
                p.mul_(8)
    return model


@pytest.fixture(scope="module", params=ARCHS)
def arch(request):
    return request.param


@pytest.fixture(scope="module")
def decoder_dir(arch, tmp_path_factory, minilm_tokenizer):
    """A tiny decoder with the MiniLM vocabulary and tokenizer as a local folder, its
    config's pad id (5) deliberately not the tokenizer's ([PAD] = 0)."""
    folder = tmp_path_factory.mktemp(f"tiny-{arch}") / "model"
    _decoder(arch, minilm_tokenizer.vocab_size, pad=5).save_pretrained(folder)
    minilm_tokenizer.save_pretrained(folder)
    return folder


def test_the_pad_token_of_the_model_is_the_tokenizers(decoder_dir):
    handle = load_model(str(decoder_dir), device="cpu")
    assert handle.processor.pad_token_id == 0
    assert handle.model.config.pad_token_id == 0  # aligned: the pooled token is a real one


@pytest.mark.parametrize("side", ["right", "left"])
def test_logits_do_not_depend_on_padding_batch_or_order(arch, minilm_tokenizer, side):
    model = _decoder(arch, minilm_tokenizer.vocab_size)
    texts = make_frame(20, 0)["text"].tolist()
    enc = encode(minilm_tokenizer, texts, "text", max_length=32)
    enc = EncodedText(enc.ids, enc.pad_id, enc.max_length, padding_side=side)
    alone = np.stack([predict_encoded(model, _one(enc, i), 1).logits[0] for i in range(len(texts))])
    batched = predict_encoded(model, enc, batch_size=8).logits
    np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)
    order = np.random.default_rng(0).permutation(len(texts))
    shuffled = EncodedText([enc.ids[i] for i in order], enc.pad_id, enc.max_length, side)
    np.testing.assert_allclose(
        predict_encoded(model, shuffled, 8).logits, batched[order], rtol=1e-4, atol=1e-5
    )
    idx, inputs = enc.pad(np.arange(3))
    lengths = [len(enc.ids[i]) for i in idx]
    assert inputs["input_ids"].shape[1] == max(lengths)
    row = inputs["input_ids"][int(np.argmin(lengths))]
    assert (row[0] == 0) == (side == "left") and (row[-1] == 0) == (side == "right")
    if side == "left":  # positions count from each row's first real token
        assert inputs["position_ids"][int(np.argmin(lengths))][-1] == min(lengths) - 1


def _one(enc: EncodedText, i: int) -> EncodedText:
    return EncodedText([enc.ids[i]], enc.pad_id, enc.max_length, enc.padding_side)


def test_a_left_padding_tokenizer_is_followed(minilm_tokenizer):
    tok = copy.deepcopy(minilm_tokenizer)
    tok.padding_side = "left"
    assert encode(tok, ["a b c", "a"], "text", 16).padding_side == "left"
    assert encode(minilm_tokenizer, ["a"], "text", 16).padding_side == "right"


def test_merge_invariants(arch):
    base = _decoder(arch, 1000)
    vecs = {
        n: TaskVector.from_models(base, tiny_models.perturbed(base, i + 1))
        for i, n in enumerate("ab")
    }
    ref = {k: v.clone() for k, v in base.state_dict().items() if v.is_floating_point()}
    merger = Merger(copy.deepcopy(base), vecs)
    merger.apply({"a": 0.7, "b": -0.3})
    merger.apply({"a": 0.0, "b": 0.0})
    assert all(torch.equal(merger.model.state_dict()[k], v) for k, v in ref.items())
    merger.apply({"a": 0.4, "b": 0.8}, normalize="mean")
    for k, v in merger.model.state_dict().items():
        if k in ref:
            want = ref[k] + 0.5 * (0.4 * vecs["a"][k] + 0.8 * vecs["b"][k])
            torch.testing.assert_close(v, want, rtol=1e-6, atol=1e-6)
    merger.reset()
    assert all(torch.equal(merger.model.state_dict()[k], v) for k, v in ref.items())


def test_jvp_through_decoder_attention_is_the_derivative(arch, minilm_tokenizer):
    """In float64 against two central differences (tests/derivatives.py); the model runs
    SDPA, which has no forward-mode rule on CPU: the preview switches to eager and back.

    transformers computes these models' RMSNorm in float32 whatever the weights' dtype, so
    below a step of about 1e-3 the differences measure that rounding (relative error
    1e-4 at 1e-3, 1e-2 at 1e-5, measured): the steps are 1e-2 and 1e-3, and the
    tolerance is the rounding's, 1e-3 of the largest derivative."""
    base = _decoder(arch, minilm_tokenizer.vocab_size).to(torch.float64)
    base.set_attn_implementation("sdpa")
    vecs = {
        g: TaskVector.from_models(base, tiny_models.perturbed(base, i + 1, 0.02))
        for i, g in enumerate(["women", "men"])
    }
    handle = ModelHandle(base, minilm_tokenizer, "text", {"max_length": 32})
    ev = sweep.Evaluator(handle, vecs, make_frame(24, 8), ATTR, max_length=32, copy=True)
    anchor = {"women": 0.5, "men": 0.5}
    fo = preview.FirstOrderPreview.build(ev, anchor, "val", names=["women"])
    assert ev.merger.model.config._attn_implementation == "sdpa"
    assert_directional_derivative(
        lambda t: ev.logits({"women": 0.5 + t, "men": 0.5}, "val"),
        fo.jvps["women"],
        steps=(1e-2, 1e-3),
        rtol=1e-2,
        atol=1e-3,
    )


@pytest.fixture(scope="module")
def decoder_bundle(arch, decoder_dir, hatexplain_csv, tmp_path_factory):
    cfg = BuildConfig(
        dataset=DatasetConfig("hatexplain", {"path": str(hatexplain_csv)}),
        attribute="target",
        model=str(decoder_dir),
        groups=("race", "gender"),
        max_length=16,
        batch_size=8,
        lr=1e-3,
        train_rows=24,
        group_train_rows=8,
        min_group_rows=8,
        eval_rows={"val": 20, "test": 20},
        train_layers="top-1",
        lora={"r": 2, "alpha": 4},
        device="cpu",
    )
    out = tmp_path_factory.mktemp(f"bundle-{arch}") / "b"
    build_bundle(cfg, out)
    return out


def test_build_and_evaluate_a_decoder_bundle(arch, decoder_bundle):
    b = Bundle.open(decoder_bundle)
    assert b.manifest["model"]["arch"] == arch
    assert b.vector_names() == ["fft", "lora", "race", "gender"]
    log = b.log("lora")
    assert log["lora"]["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert log["lora"]["modules_to_save"] == ["score"]
    vectors = b.load_vectors()
    lora = vectors["lora"]
    factored = [k for k in lora.keys() if isinstance(lora.entry(k), LowRank)]
    assert len(factored) == 2 * 4  # two layers, four projections
    assert set(lora.keys()) - set(factored) == {"score.weight"}
    assert not any("embed_tokens" in k for k in vectors["fft"].keys())  # top-1: frozen
    handle = load_base(decoder_bundle / "base", device="cpu")
    assert handle.model.config.pad_token_id == handle.processor.pad_token_id == 0
    ev = sweep.Evaluator.from_bundle(b)
    base_logits = ev.logits({}, "val")
    np.testing.assert_array_equal(ev.logits({"race": 0.0}, "val"), base_logits)
    frame = sweep.sweep_bundle(b, "task_addition", lams=[0.0, 1.0], splits=["val"])
    assert frame["exact"].all() and len(frame) > 0
    # the bf16 load converts while reading and checks the files' fingerprint instead
    half = b.load_base(device="cpu", dtype="bfloat16")
    assert next(half.model.parameters()).dtype == torch.bfloat16
    half_logits = predict_encoded(half.model, ev.encoded("val"), 8).logits
    assert np.corrcoef(half_logits.ravel(), base_logits.ravel())[0, 1] > 0.98
