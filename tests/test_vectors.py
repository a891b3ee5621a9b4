"""TaskVector arithmetic, geometry and safetensors I/O on tiny models built in code."""

from __future__ import annotations

import pickle

import pytest
import torch
from tiny_models import perturbed, tiny_bert, tiny_distilbert

from taskfair.models import state_fingerprint
from taskfair.vectors import TaskVector, VectorError


@pytest.fixture(params=["bert", "distilbert"])
def pair(request):
    base = tiny_bert() if request.param == "bert" else tiny_distilbert()
    return base, perturbed(base, seed=1)


def test_from_state_dicts_keeps_floats_only(pair):
    base, ft = pair
    vec = TaskVector.from_state_dicts(base.state_dict(), ft.state_dict())
    sd = base.state_dict()
    assert all(torch.is_floating_point(t) for t in vec.tensors.values())
    ints = [k for k, v in sd.items() if not torch.is_floating_point(v)]
    assert all(k not in vec for k in ints)
    floats = [k for k, v in sd.items() if torch.is_floating_point(v)]
    assert sorted(vec.keys()) == sorted(floats)
    k = floats[0]
    assert torch.equal(vec[k], ft.state_dict()[k] - sd[k])


def test_arithmetic_roundtrip_and_sum(pair):
    base, ft = pair
    a = TaskVector.from_models(base, ft)
    b = TaskVector.from_models(base, perturbed(base, seed=2))
    back = (a + b) - b
    for k in a.keys():
        torch.testing.assert_close(back[k], a[k], rtol=0, atol=1e-6)
    total = sum([a, b])
    for k in a.keys():
        torch.testing.assert_close(total[k], a[k] + b[k])
    assert (2 * a).norm() == pytest.approx(2 * a.norm(), rel=1e-9)
    assert (a / 2).norm() == pytest.approx(a.norm() / 2, rel=1e-9)
    assert (-a).cosine(a) == pytest.approx(-1.0, abs=1e-9)


def test_norms_and_cosine(pair):
    base, ft = pair
    a = TaskVector.from_models(base, ft)
    flat = torch.cat([t.flatten().double() for t in a.tensors.values()])
    assert a.norm() == pytest.approx(float(flat.norm()), rel=1e-9)
    layer = a.layer_norms()
    assert sum(v * v for v in layer.values()) == pytest.approx(a.norm() ** 2, rel=1e-9)
    b = TaskVector.from_models(base, perturbed(base, seed=2))
    flat_b = torch.cat([t.flatten().double() for t in b.tensors.values()])
    expected = float(flat @ flat_b / (flat.norm() * flat_b.norm()))
    assert a.cosine(b) == pytest.approx(expected, abs=1e-9)
    assert a.cosine(a) == pytest.approx(1.0, abs=1e-9)


def test_save_load_bit_exact_with_metadata(pair, tmp_path):
    base, ft = pair
    fp = state_fingerprint(base)
    meta = {"base_fingerprint": fp, "group": "race", "seed": 3, "hparams": {"lr": 1e-4}}
    a = TaskVector.from_models(base, ft, meta)
    path = a.save(tmp_path / "v.safetensors")
    b = TaskVector.load(path)
    assert b.meta == meta
    assert b.keys() == a.keys()
    for k in a.keys():
        assert torch.equal(a[k], b[k])
    assert not list(tmp_path.glob(".*tmp")), "atomic write left a temporary file"


def test_mismatched_models_raise_clear_errors(tmp_path):
    base = tiny_bert()
    other = tiny_distilbert()
    with pytest.raises(VectorError, match="same architecture"):
        TaskVector.from_models(base, other)
    vec = TaskVector.from_models(
        base, perturbed(base, 1), {"base_fingerprint": state_fingerprint(base)}
    )
    with pytest.raises(VectorError, match="another architecture"):
        vec.check_compatible(other)
    bigger = tiny_bert(vocab_size=40000)
    with pytest.raises(VectorError, match="does not fit"):
        vec.check_compatible(bigger)
    with pytest.raises(VectorError, match="another base"):
        vec.check_compatible(base, base_fingerprint="0" * 64)
    vec.save(tmp_path / "v.safetensors")
    with pytest.raises(VectorError, match="another base"):
        TaskVector.load(tmp_path / "v.safetensors", expect_base_fingerprint="f" * 64)


def test_load_refuses_pickle_and_truncated(tmp_path):
    base = tiny_bert()
    vec = TaskVector.from_models(base, perturbed(base, 1))
    fake = tmp_path / "pickle.safetensors"
    torch.save({k: v for k, v in vec.items()}, fake)  # a torch pickle (zip) renamed
    with pytest.raises(VectorError, match="not a valid safetensors"):
        TaskVector.load(fake)
    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(VectorError, match="safetensors"):
        TaskVector.load(raw)
    good = vec.save(tmp_path / "good.safetensors")
    data = good.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VectorError, match="truncated"):
        TaskVector.load(cut)
    with pytest.raises(VectorError, match="No task vector"):
        TaskVector.load(tmp_path / "missing.safetensors")
