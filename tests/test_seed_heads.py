"""Per-seed classification heads (``seed_draws: rows+head``): each seed's fine-tunes start
from the base with that seed's own head, and everything that merges a seed's vectors
(evaluator, merge card, viewer copy) puts that head back on the base first."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from taskfair.build import ConfigError, build_bundle
from taskfair.bundle import Bundle, BundleError
from taskfair.inference import predict_encoded
from taskfair.models import load_head
from taskfair.sweep import Evaluator
from taskfair.vectors import TaskVector


@pytest.fixture(scope="module")
def heads_config(fast_config, minilm_tokenizer, tmp_path_factory):
    """fast_config on a backbone without a classification head (the tiny BERT's encoder
    alone, as the packaged MiniLM is): the build seeds the head, per seed here."""
    import tiny_models

    folder = tmp_path_factory.mktemp("backbone") / "model"
    tiny_models.tiny_bert(vocab_size=minilm_tokenizer.vocab_size).bert.save_pretrained(folder)
    minilm_tokenizer.save_pretrained(folder)
    return fast_config.replace(model=str(folder), seeds=(0, 1), seed_draws="rows+head", head_seed=3)


@pytest.fixture(scope="module")
def heads_bundle(heads_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("heads") / "bundle"
    build_bundle(heads_config, out)
    return out


def _head(model) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("classifier")
    }


def test_each_seed_starts_from_its_own_head(heads_bundle):
    b = Bundle.open(heads_bundle, verify=True)
    heads = b.seed_heads
    assert sorted(heads) == [0, 1]
    assert [heads[s]["head_seed"] for s in (0, 1)] == [3, 4]  # head_seed + seed
    assert (heads_bundle / "heads" / "seed-1.safetensors").is_file()
    from taskfair.models import load_base

    stored = _head(load_base(heads_bundle / "base").model)  # head seed 3
    seed0, seed1 = (_head(b.load_base(seed=s).model) for s in (0, 1))
    assert all(torch.equal(stored[n], seed0[n]) for n in stored)  # seed 0: 3 + 0
    assert not torch.allclose(stored["classifier.weight"], seed1["classifier.weight"])
    # Seed 0's base is the stored base; seed 1's is another one, and its vectors say so.
    assert b.base_fingerprint_of(0) == b.base_fingerprint
    assert b.base_fingerprint_of(1) != b.base_fingerprint
    for seed in (0, 1):
        for vec in b.load_vectors(seed=seed).values():
            assert vec.meta["base_fingerprint"] == b.base_fingerprint_of(seed)
    # A seed's vectors do not go onto another seed's base.
    e = b.vector_entries(1)[0]
    with pytest.raises(ValueError, match="base"):
        TaskVector.load(heads_bundle / e.path, expect_base_fingerprint=b.base_fingerprint)


def test_a_seeds_fft_reference_is_the_model_its_build_trained(heads_bundle):
    """The evaluator of seed 1 at the FFT reference reproduces the FFT model the build
    scored on test (its recorded test accuracy); the same vector on the first seed's base
    (no head of its own) gives other logits, and the evaluator refuses to build it."""
    b = Bundle.open(heads_bundle)
    recorded = b.manifest["results"]["vectors"]["seed-1/fft"]["test_accuracy"]
    ev = Evaluator.from_bundle(b, seed=1, device="cpu")
    logits = ev.logits({"fft": 1.0}, "test")
    acc = float((logits.argmax(axis=1) == ev.labels("test")).mean())
    assert acc == pytest.approx(recorded, abs=1.5 / len(logits))  # one row of rounding
    fft = b.load_vectors(seed=1, names=["fft"])["fft"]
    own, shared = b.load_base(seed=1).model, b.load_base(seed=0).model
    outs = []
    for model in (own, shared):
        model.load_state_dict(fft.apply_to(model.state_dict()), strict=False)
        outs.append(predict_encoded(model, ev.encoded("test"), 64).logits)
    assert np.allclose(outs[0], logits, atol=1e-4)
    assert not np.allclose(outs[1], logits, atol=1e-3)
    with pytest.raises(ValueError, match="base"):
        Evaluator(b.load_base(seed=0), b.load_vectors(seed=0) | {"fft": fft}, b.eval_frame,
                  b.attribute, base_fingerprint=b.base_fingerprint_of(0))  # fmt: skip


def test_a_damaged_head_is_refused_with_the_fix(heads_bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(heads_bundle, copy)
    path = copy / "heads" / "seed-1.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="heads/seed-1.safetensors does not match"):
        Bundle.open(copy)  # checked with every artifact
    b = Bundle.open(copy, verify=False)  # and again by the loading itself
    with pytest.raises(BundleError, match="seed 1's head .* Rerun the build"):
        b.load_base(seed=1)
    b.load_base(seed=0)  # the other seed is unaffected
    # A head file of another model: refused by its names, before any tensor is used.
    with pytest.raises(Exception, match="not this base's head"):
        load_head(heads_bundle / "heads" / "seed-1.safetensors", ["classifier.other"])


def test_a_rebuild_resumes_with_the_same_heads(heads_bundle, heads_config, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(heads_bundle, copy)
    before = json.loads((copy / "manifest.json").read_text())["heads"]
    (copy / "heads" / "seed-1.safetensors").unlink()
    res = build_bundle(heads_config, copy)
    assert "heads" in res.trained and not any(k.startswith("seed-") for k in res.trained)
    assert res.manifest["heads"] == before  # drawn again, the same: the vectors still hold
    Bundle.open(copy, verify=True).load_base(seed=1)


def test_per_seed_heads_need_a_seeded_head(fast_config, tmp_path):
    with pytest.raises(ConfigError, match="rows\\+head"):
        fast_config.replace(seed_draws="rows+head", head_init="probe")
    # The same rows as seed_draws: rows, so the two differ by the head only.
    a = fast_config.replace(seeds=(0, 1), seed_draws="rows")
    b = fast_config.replace(seeds=(0, 1), seed_draws="rows+head")
    assert [a.training_data_seed(s) for s in (0, 1)] == [b.training_data_seed(s) for s in (0, 1)]
    assert a.config_hash() != b.config_hash()
    assert [b.seed_head(s) for s in (0, 1, 2)] == [0, 1, 2] and a.seed_head(2) == 0
    # A checkpoint with its own head (the tiny BERT classifier): no head is seeded, so
    # no seed can draw another; the build says so before training anything.
    with pytest.raises(Exception, match="brings its own classification head"):
        build_bundle(b, tmp_path / "own-head")


def test_the_viewer_copy_and_info_keep_each_seeds_head(heads_bundle, tmp_path, capsys):
    from taskfair import cli
    from taskfair.viewer import export_viewer

    out = export_viewer(heads_bundle, tmp_path / "viewer", weights=True, sweep=False)
    copy = Bundle.open(out, verify=True)
    assert copy.seed_heads == Bundle.open(heads_bundle).seed_heads
    copy.load_base(seed=1)  # the head file travelled with the weights
    assert cli.main(["info", str(heads_bundle)]) == 0
    assert "each seed with its own head (head seeds 3, 4)" in capsys.readouterr().out
