"""Compact task vectors: the forms, their merge and geometry, LoRA adapters kept factored,
lossy compression (SVD, top-k, DARE) with measured fidelity, the file format, and
bundles with compact vectors next to bundles from before them."""

from __future__ import annotations

import copy
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import tiny_models
import torch
from test_train import HP, _rows

from taskfair import cli
from taskfair.build import LoraHParams, build_bundle, lora_finetune
from taskfair.build.adapters import lora_entries
from taskfair.bundle import Bundle
from taskfair.compress import (
    CompressSpec,
    compress_vector,
    dare,
    low_rank,
    measure_fidelity,
    top_k,
)
from taskfair.errors import ConfigError, VectorError
from taskfair.io import sha256_file
from taskfair.merge import Merger
from taskfair.sweep import Evaluator, PointStore, task_addition_settings
from taskfair.vectors import TaskVector, read_forms
from taskfair.vectors.forms import LowRank, Sparse, inner


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _lowrank(m=12, n=9, r=3, seed=0, scale=0.7):
    g = _gen(seed)
    return LowRank(torch.randn(m, r, generator=g), torch.randn(r, n, generator=g), scale)


def _sparse(shape=(12, 9), k=20, seed=1):
    g = _gen(seed)
    n = int(np.prod(shape))
    index = torch.randperm(n, generator=g)[:k].sort().values.to(torch.int32)
    return Sparse(index, torch.randn(k, generator=g), shape)


# --------------------------------------------------------------------------- forms


def test_forms_merge_in_place_like_their_dense_tensor():
    for entry in (_lowrank(), _sparse(), _lowrank(8, 18, r=2)):
        target = torch.randn(entry.shape, generator=_gen(5))
        want = target + 0.3 * entry.dense()
        entry.add_to_(target, 0.3)
        torch.testing.assert_close(target, want, rtol=1e-6, atol=1e-6)
    conv = LowRank(torch.randn(6, 2), torch.randn(2, 4 * 3 * 3), 0.5, (6, 4, 3, 3))
    target = torch.zeros(6, 4, 3, 3)
    conv.add_to_(target, 1.0)
    torch.testing.assert_close(target, conv.dense())


def test_inner_products_without_expanding_equal_the_dense_ones():
    a, b, s, d = _lowrank(seed=0), _lowrank(seed=2, r=4), _sparse(), torch.randn(12, 9)
    pairs = [(a, b), (a, d), (d, a), (a, s), (s, d), (s, _sparse(seed=3)), (d, d)]
    for x, y in pairs:
        dense = float((_dense(x).double() * _dense(y).double()).sum())
        assert inner(x, y) == pytest.approx(dense, rel=1e-9, abs=1e-12)


def _dense(e):
    """The dense tensor of an entry, expanded in float64 (the reference for inner products)."""
    return e.double() if isinstance(e, torch.Tensor) else e.to(dtype=torch.float64).dense()


def test_forms_refuse_inconsistent_parts():
    with pytest.raises(VectorError, match="up \\(m, r\\) and down"):
        LowRank(torch.zeros(4, 2), torch.zeros(3, 5))
    with pytest.raises(VectorError, match="cannot have shape"):
        LowRank(torch.zeros(4, 2), torch.zeros(2, 5), shape=(4, 4))
    with pytest.raises(VectorError, match="index leaves"):
        Sparse(torch.tensor([0, 99], dtype=torch.int32), torch.zeros(2), (3, 3))
    with pytest.raises(VectorError, match="int32 or int64"):
        Sparse(torch.tensor([0.0]), torch.zeros(1), (3,))


# --------------------------------------------------------------------------- vectors


def _vectors():
    base = tiny_models.tiny_bert(vocab_size=1000)
    dense = TaskVector.from_models(base, tiny_models.perturbed(base, 1))
    keys = [k for k, t in dense.items() if t.dim() == 2]
    entries = dict(dense.entries)
    lr = low_rank(dense[keys[1]], rank=2)
    entries[keys[1]] = lr
    entries[keys[2]] = top_k(dense[keys[2]], 0.2)
    del entries[keys[3]]  # absent: a frozen tensor
    return base, dense, TaskVector(entries, {"name": "c"}), keys


def test_a_compact_vector_expands_saves_and_loads_bit_exactly(tmp_path):
    _, dense, vec, keys = _vectors()
    assert vec.form == "lowrank+sparse"
    assert vec.form_counts() == {"dense": len(dense) - 3, "lowrank": 1, "sparse": 1}
    assert keys[3] not in vec and len(vec) == len(dense) - 1
    assert vec.nbytes < dense.nbytes and vec.num_params < dense.num_params
    torch.testing.assert_close(vec[keys[1]], vec.entry(keys[1]).dense())
    assert isinstance(vec.tensors[keys[1]], torch.Tensor)
    path = vec.save(tmp_path / "v.safetensors")
    assert set(read_forms(path)) == {keys[1], keys[2]}
    back = TaskVector.load(path)
    assert back.fingerprint() == vec.fingerprint() != dense.fingerprint()
    assert back.form_counts() == vec.form_counts()
    for k in vec.keys():
        assert torch.equal(back[k], vec[k]), k
    half = TaskVector.load(path, dtype=torch.bfloat16)
    assert half.entry(keys[1]).up.dtype == torch.bfloat16
    assert half.entry(keys[2]).index.dtype == torch.int32  # indices keep their type
    # saving twice writes the same bytes (the header's keys are ordered)
    again = vec.save(tmp_path / "w.safetensors")
    assert sha256_file(again) == sha256_file(path)


def test_geometry_and_arithmetic_treat_absent_as_zero():
    _, dense, vec, keys = _vectors()
    expanded = {k: vec[k] for k in vec.keys()}
    flat = torch.cat([t.flatten().double() for t in expanded.values()])
    assert vec.norm() == pytest.approx(float(flat.norm()), rel=1e-9)
    want_dot = sum(float((expanded[k].double() * dense[k].double()).sum()) for k in expanded)
    assert vec.dot(dense) == pytest.approx(want_dot, rel=1e-9)
    assert dense.dot(vec) == pytest.approx(want_dot, rel=1e-9)
    total = vec + dense
    torch.testing.assert_close(total[keys[3]], dense[keys[3]])  # absent + dense = dense
    torch.testing.assert_close(total[keys[1]], vec[keys[1]] + dense[keys[1]])
    assert (2 * vec).norm() == pytest.approx(2 * vec.norm(), rel=1e-9)
    assert (-vec).entry(keys[1]).scale == -vec.entry(keys[1]).scale
    with pytest.raises(VectorError, match="Shape mismatch"):
        vec + TaskVector({keys[0]: torch.zeros(3)})


def test_compacted_drops_only_unchanged_tensors():
    base = tiny_models.tiny_bert(vocab_size=1000)
    ft = copy.deepcopy(base)
    with torch.no_grad():
        ft.classifier.weight.add_(0.1)
    vec = TaskVector.from_models(base, ft).compacted()
    assert list(vec.keys()) == ["classifier.weight"]
    with pytest.raises(VectorError, match="lacks"):
        vec.compacted({"nope.weight": torch.zeros(1)})


def test_merger_with_compact_vectors_matches_expanded_arithmetic():
    base, dense, vec, keys = _vectors()
    ref = {k: v.clone() for k, v in base.state_dict().items() if v.is_floating_point()}
    merger = Merger(copy.deepcopy(base), {"c": vec, "d": dense})
    merger.apply({"c": 0.4, "d": -0.2})
    got = merger.model.state_dict()
    for k, b in ref.items():
        want = b - 0.2 * dense[k] + (0.4 * vec[k] if k in vec else 0.0)
        torch.testing.assert_close(got[k], want, rtol=1e-6, atol=1e-6)
    merger.apply({"c": 0.0})  # λ = 0 and reset: the anchor bit for bit
    assert all(torch.equal(merger.model.state_dict()[k], v) for k, v in ref.items())
    merger.apply({"c": 1.3})
    merger.reset()
    assert all(torch.equal(merger.model.state_dict()[k], v) for k, v in ref.items())
    # the compact entries are kept compact on the model's device and dtype
    i = merger._keys.index(keys[1])
    assert isinstance(merger.vectors["c"][i], LowRank)
    half = Merger(copy.deepcopy(base).to(torch.bfloat16), {"c": vec})
    assert half.vectors["c"][i].up.dtype == torch.bfloat16
    assert half._anchor[0].dtype == torch.bfloat16


# --------------------------------------------------------------------------- LoRA factors


@pytest.mark.parametrize("arch", ["bert", "distilbert", "qwen2", "llama"])
def test_lora_adapters_stay_factored_and_reproduce_the_merged_model(arch):
    base = getattr(tiny_models, f"tiny_{arch}")()
    train, val, probe = _rows(32, 0), _rows(16, 1), _rows(12, 2)
    res = lora_finetune(base, train, val, HP, LoraHParams(r=4, alpha=8), seed=0)
    dense = TaskVector.from_models(base, res.model)
    vec = dense.compacted(res.factors)
    lowrank = [k for k in vec.keys() if isinstance(vec.entry(k), LowRank)]
    assert lowrank and all(vec.entry(k).rank == 4 for k in lowrank)
    assert all(vec.entry(k).scale == pytest.approx(2.0) for k in lowrank)  # alpha / r
    assert set(vec.keys()) < set(dense.keys())  # frozen tensors absent
    assert vec.nbytes < dense.nbytes / 5
    for k in lowrank:  # B·A·scale is the merged difference
        torch.testing.assert_close(vec[k], dense[k], rtol=0, atol=1e-6)
    with Merger(base, {"v": vec}, copy=True).merged({"v": 1.0}) as merged:
        got = merged(**probe.encoded.batches(12)[0][1]).logits
    want = res.model(**probe.encoded.batches(12)[0][1]).logits
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_lora_entries_of_conv_and_conv1d_layers_equal_peft_deltas():
    from peft import LoraConfig, get_peft_model
    from transformers.pytorch_utils import Conv1D

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pw = torch.nn.Conv2d(4, 6, 1)
            self.k3 = torch.nn.Conv2d(4, 6, 3)
            self.c1d = Conv1D(5, 7)  # GPT-2's transposed linear: weight (7, 5)

    torch.manual_seed(0)
    cfg = LoraConfig(r=2, lora_alpha=4, target_modules=["pw", "k3", "c1d"], init_lora_weights=False)
    model = get_peft_model(Net(), cfg)
    entries = lora_entries(model)
    for name in ("pw", "k3", "c1d"):
        mod = dict(model.named_modules())[f"base_model.model.{name}"]
        want = mod.get_delta_weight("default")
        got = entries[f"{name}.weight"]
        assert isinstance(got, LowRank), name
        torch.testing.assert_close(got.dense(), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- compression


def test_truncated_svd_is_the_best_low_rank_approximation():
    g = _gen(0)
    delta = torch.randn(20, 4, generator=g) @ torch.randn(4, 30, generator=g)
    delta += 1e-3 * torch.randn(20, 30, generator=g)
    full = low_rank(delta, rank=4)
    s = torch.linalg.svdvals(delta.double())
    err = float((full.dense().double() - delta.double()).norm())
    assert err == pytest.approx(float(s[4:].norm()), rel=1e-6)  # Eckart-Young
    assert low_rank(delta, energy=0.999).rank == 4
    assert low_rank(delta, energy=1e-9).rank == 1
    assert low_rank(torch.randn(3, 3), rank=2) is None  # not smaller than the matrix
    assert low_rank(torch.randn(7), rank=1) is None


def test_top_k_keeps_the_largest_entries():
    delta = torch.tensor([[0.1, -5.0, 0.2], [3.0, 0.0, -0.05]])
    sp = top_k(delta, 2 / 6)
    assert sp.index.tolist() == [1, 3] and sp.values.tolist() == [-5.0, 3.0]
    torch.testing.assert_close(sp.dense(), torch.tensor([[0.0, -5.0, 0.0], [3.0, 0.0, 0.0]]))


def test_dare_is_seeded_unbiased_and_identity_at_zero():
    delta = torch.randn(200, 50, generator=_gen(0))
    a, b = dare(delta, 0.9, seed=3, key="w"), dare(delta, 0.9, seed=3, key="w")
    assert torch.equal(a.index, b.index) and torch.equal(a.values, b.values)
    assert not torch.equal(a.index, dare(delta, 0.9, seed=4, key="w").index)
    assert not torch.equal(a.index, dare(delta, 0.9, seed=3, key="v").index)
    assert 0.08 < a.density < 0.12
    torch.testing.assert_close(a.values, delta.reshape(-1)[a.index.long()] / 0.1)
    torch.testing.assert_close(dare(delta, 0.0, seed=0, key="w").dense(), delta)
    # unbiased: averaged over many seeds the kept-and-rescaled difference is the original
    mean = sum(dare(delta, 0.5, seed=s, key="w").dense() for s in range(200)) / 200
    assert float((mean - delta).abs().mean()) < 0.1 * float(delta.abs().mean())


def test_compress_vector_leaves_small_and_factored_entries_alone():
    _, dense, vec, keys = _vectors()
    spec = CompressSpec("lowrank", rank=2, min_numel=64)
    out = compress_vector(vec, spec)
    assert out.meta["compression"]["rank"] == 2
    assert out.entry(keys[1]) is vec.entry(keys[1])  # already low rank
    assert isinstance(out.entry(keys[2]), Sparse)  # compact already: kept
    small = [k for k in vec.keys() if vec[k].numel() < 64]
    assert small and all(isinstance(out.entry(k), torch.Tensor) for k in small)
    bf16 = compress_vector(dense, CompressSpec("dense", dtype="bfloat16"))
    assert bf16.nbytes == dense.nbytes // 2
    assert compress_vector(dense, CompressSpec()).fingerprint() == dense.fingerprint()


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"form": "svd"}, "not known"),
        ({"form": "lowrank"}, "exactly one of rank"),
        ({"form": "lowrank", "rank": 4, "energy": 0.9}, "exactly one"),
        ({"form": "topk", "density": 1.5}, "density must be"),
        ({"form": "dare", "drop": 1.0}, "drop must be"),
        ({"form": "dense", "rank": 3}, "takes no rank"),
        ({"form": "topk", "density": 0.1, "dtype": "int8"}, "dtype"),
        ({"form": "topk", "density": 0.1, "colour": 1}, "unknown field"),
    ],
)
def test_compress_settings_are_validated(fields, match):
    with pytest.raises(ConfigError, match=match):
        CompressSpec.from_dict(fields)


def test_fidelity_is_perfect_for_the_same_vector_and_measured_otherwise():
    base = tiny_models.tiny_bert(vocab_size=1000)
    with torch.no_grad():
        for p in base.parameters():
            if p.dim() == 2:
                p.mul_(10)  # logits that depend on the input
    dense = {
        g: TaskVector.from_models(base, tiny_models.perturbed(base, i + 1, 0.05))
        for i, g in enumerate(["a", "b"])
    }
    rows = _rows(60, 0)
    groups = pd.Series(np.array(["a", "b", None] * 20, dtype=object))
    same = measure_fidelity(
        base, dense, dense, rows.encoded, rows.labels, groups, subgroups=["a", "b"]
    )
    assert same["worst"] == {"agreement": 1.0, "d_accuracy": 0.0, "d_dpd": 0.0, "d_eod": 0.0}
    assert [p["lam"] for p in same["task_addition"]] == [0.3, 0.5, 1.0]
    crude = {
        g: compress_vector(v, CompressSpec("topk", density=0.01, min_numel=16))
        for g, v in dense.items()
    }
    cache: dict = {}
    got = measure_fidelity(
        base,
        dense,
        crude,
        rows.encoded,
        rows.labels,
        groups,
        subgroups=["a", "b"],
        dense_logits=cache,
    )
    assert len(cache) == 9  # 2 vectors and task addition, 3 λ each: dense merges kept
    assert got["worst"]["agreement"] < 1.0
    assert got["worst"]["agreement"] == min(
        p["agreement"] for ps in [*got["vectors"].values(), got["task_addition"]] for p in ps
    )


# --------------------------------------------------------------------------- files and bundles


def test_a_vector_of_a_newer_format_is_refused_with_the_fix(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "new.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"taskfair": "{}", "taskfair_format": "3"})
    with pytest.raises(VectorError, match="Upgrade taskfair, or rebuild"):
        TaskVector.load(path)
    bad = tmp_path / "bad.safetensors"
    save_file(
        {"w::up": torch.zeros(2, 1)},
        str(bad),
        metadata={"taskfair": "{}", "taskfair_format": "2", "taskfair_forms": "{}"},
    )
    with pytest.raises(VectorError, match="disagree"):
        TaskVector.load(bad)


def test_tiny_bundle_vectors_are_compact(tiny_bundle):
    b = Bundle.open(tiny_bundle)
    handle = b.load_base(device="cpu")
    base_keys = {k for k, v in handle.model.state_dict().items() if v.is_floating_point()}
    vectors = b.load_vectors()
    dense_bytes = sum(handle.model.state_dict()[k].numel() * 4 for k in base_keys)
    for e in b.vector_entries():
        vec = vectors[e.name]
        assert set(vec.keys()) < base_keys, e.name  # top-1: embeddings frozen, absent
        assert not any(k.startswith("bert.embeddings") for k in vec.keys())
        assert e.bytes == (tiny_bundle / e.path).stat().st_size < dense_bytes / 2
        assert e.form == vec.form
    assert b.vector_entries()[1].form == "lowrank"  # LoRA: factored adapters
    lora = vectors["lora"]
    assert all(isinstance(lora.entry(k), LowRank) for k in lora.keys() if "attention.self" in k)


def _as_before_compact_vectors(src, dst):
    """A copy of a bundle written as builds wrote them before compact vectors: every
    float tensor of the base in every vector file (zeros for frozen ones), no form or
    size in the manifest's entries."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("sweeps"))
    b = Bundle.open(dst)
    handle = b.load_base(device="cpu")
    sd = {k: v for k, v in handle.model.state_dict().items() if v.is_floating_point()}
    m = json.loads((dst / "manifest.json").read_text())
    for e in m["vectors"]:
        vec = TaskVector.load(dst / e["path"])
        full = {k: vec[k].clone() if k in vec else torch.zeros_like(v) for k, v in sd.items()}
        TaskVector(full, vec.meta).save(dst / e["path"])
        m["artifacts"][e["path"]] = sha256_file(dst / e["path"])
        e.pop("form", None)
        e.pop("bytes", None)
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def test_bundles_from_before_compact_vectors_open_and_evaluate_the_same(tiny_bundle, tmp_path):
    old = _as_before_compact_vectors(tiny_bundle, tmp_path / "old")
    b_old, b_new = Bundle.open(old), Bundle.open(tiny_bundle)
    assert all(e.form == "dense" and e.bytes is None for e in b_old.vector_entries())
    assert read_forms(old / b_old.vector_entries()[1].path) == {}
    coeffs = {"race": 0.5, "gender": 0.5, "lora": 0.3}
    got = Evaluator.from_bundle(b_old).logits(coeffs, "val")
    want = Evaluator.from_bundle(b_new).logits(coeffs, "val")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # the cache keys hash the vector files: another form is another point
    st = task_addition_settings(b_new.groups, [0.5])[0]
    assert PointStore.for_bundle(b_old, 0).key(st, "val") != PointStore.for_bundle(b_new, 0).key(
        st, "val"
    )


def test_compress_command_writes_a_bundle_with_its_fidelity(tiny_bundle, tmp_path, capsys):
    out = tmp_path / "lr"
    rc = cli.main(
        [
            "compress",
            "--bundle",
            str(tiny_bundle),
            "--spec",
            "lowrank:rank=4,min_numel=256",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "worst over vectors, task addition and λ: agreement" in text
    b = Bundle.open(out)  # checksums verified
    c = b.manifest["compression"]
    assert c["spec"]["rank"] == 4 and c["source"]["bundle"] == Bundle.open(tiny_bundle).name
    rec = c["seeds"]["0"]
    assert set(rec["vectors"]) == set(b.vector_names())
    assert rec["ratio"] > 1 and all(v["ratio"] > 1 for v in rec["vectors"].values())
    assert [p["lam"] for p in rec["task_addition"]] == [0.3, 0.5, 1.0]
    for v in rec["vectors"].values():
        assert 0 <= v["fidelity"][0]["agreement"] <= 1
    assert b.vector_entries()[0].form == "lowrank"
    assert b.manifest["config"]["compress"]["rank"] == 4
    assert b.manifest["config_hash"] != Bundle.open(tiny_bundle).manifest["config_hash"]
    # the copy sweeps like any bundle, into its own cache
    ev = Evaluator.from_bundle(b)
    assert ev.logits({"race": 1.0}, "val").shape == (40, 2)
    # measuring several settings writes nothing to the bundle
    before = sorted(p.name for p in tiny_bundle.rglob("*"))
    rc = cli.main(
        [
            "compress",
            "--bundle",
            str(tiny_bundle),
            "--measure",
            "--no-fidelity",
            "--spec",
            "lowrank:rank=2,min_numel=256",
            "--spec",
            "topk:density=0.05,min_numel=256",
            "--json",
            str(tmp_path / "curve.json"),
        ]
    )
    assert rc == 0
    curve = json.loads((tmp_path / "curve.json").read_text())
    assert [r["name"] for r in curve] == ["lowrank-r2", "topk-d0.05"]
    assert sorted(p.name for p in tiny_bundle.rglob("*")) == before
    assert cli.main(["compress", "--bundle", str(tiny_bundle), "--spec", "svd", "--measure"]) == 2
    assert (
        cli.main(["compress", "--bundle", str(tiny_bundle), "--spec", "dense", "--out", str(out)])
        == 2
    )


def test_a_build_with_compress_stores_vectors_compressed_with_their_fidelity(
    fast_config,  # noqa: F811
    tmp_path,
):
    cfg = fast_config.replace(
        compress={"form": "lowrank", "rank": 2, "min_numel": 64}, groups=("race",)
    )
    assert cfg.config_hash() != fast_config.config_hash()
    res = build_bundle(cfg, tmp_path / "b")
    b = Bundle.open(res.root)
    for e in b.vector_entries():
        assert "lowrank" in e.form and e.bytes == (res.root / e.path).stat().st_size
        vec = TaskVector.load(res.root / e.path)
        assert vec.meta["compression"]["rank"] == 2 or e.name == "lora"
        result = b.manifest["results"]["vectors"][f"seed-0/{e.name}"]
        assert result["dense_bytes"] > e.bytes
        fid = result["fidelity"]
        assert [p["lam"] for p in fid["vectors"][e.name]] == [0.3, 0.5, 1.0]
        assert fid["rows"] == 60 and 0.0 <= fid["worst"]["agreement"] <= 1.0
