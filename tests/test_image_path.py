"""The image path end to end: loader, image models behind the text interface, task
vectors of a CNN (batch-norm statistics included), conv LoRA, the pixel cache, previews,
a tiny UTKFace bundle, its sweeps and every dashboard page. Offline, CPU.

The EfficientNet-Lite0 conversion itself is tested in tests/test_vision.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from bundle_copy import linked_copy as _linked_copy
from derivatives import assert_directional_derivative
from page_slugs import PAGES

from taskfair.inference import EncodedImages
from taskfair.merge import Merger
from taskfair.models import (
    EfficientNetLite0,
    HFImagePreprocessor,
    ImagePreprocessor,
    conv_flops,
    logits_of,
    state_fingerprint,
)
from taskfair.models.vision import _SameConv2d
from taskfair.vectors import TaskVector

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers


def _faces(folder: Path, n: int, size: int = 24) -> list[str]:
    """``n`` generated RGB JPEGs (distinct colours) in ``folder``; their file names."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        name = f"img_{i:03d}.jpg"
        Image.new("RGB", (size, size), (i * 7 % 256, 255 - i * 5 % 256, 90)).save(folder / name)
        names.append(name)
    return names


def _encoded(n: int, size: int, seed: int = 0) -> EncodedImages:
    gen = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    return EncodedImages(pixels, normalize=ImagePreprocessor(size).normalize)


def _rows(n: int, size: int, seed: int = 0):
    from taskfair.build import Rows

    labels = torch.Generator().manual_seed(seed + 1)
    y = torch.randint(0, 2, (n,), generator=labels).numpy()
    return Rows(_encoded(n, size, seed), y, "random images")


def _logits(model, pixels: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return logits_of(model(pixel_values=pixels))


def _tiny_vit_folder(folder: Path, num_labels: int = 5) -> Path:
    """A tiny random ViT classifier saved in Hugging Face layout with its image processor."""
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=num_labels,
    )
    torch.manual_seed(0)
    ViTForImageClassification(cfg).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder


def _check_lambda_invariants(base, finetuned, pixels):
    """λ=0 gives the base bit-exactly, λ=1 the fine-tuned weights and logits."""
    vec = TaskVector.from_models(base, finetuned, {"name": "ft"})
    merger = Merger(base, {"ft": vec}, copy=True)
    want_base, want_ft = _logits(base, pixels), _logits(finetuned, pixels)
    with merger.merged({"ft": 0.0}) as model:
        assert state_fingerprint(model) == state_fingerprint(base)
        assert torch.equal(_logits(model, pixels), want_base)
    with merger.merged({"ft": 1.0}) as model:
        got = model.state_dict()
        for k, v in finetuned.state_dict().items():
            if torch.is_floating_point(v):
                torch.testing.assert_close(got[k], v, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(_logits(model, pixels), want_ft, atol=1e-4, rtol=1e-4)
    merger.reset()
    assert state_fingerprint(merger.model) == state_fingerprint(base)
    return vec


# ----------------------------------------------------------------------------- data


def test_image_table_loader_on_generated_images(tmp_path):
    from taskfair.data import load_dataset

    names = _faces(tmp_path / "pics", 40)
    table = pd.DataFrame(
        {
            "path": [f"pics/{n}" for n in names],
            "age": [20 + i for i in range(40)],
            "site": ["a" if i % 2 else "b" for i in range(40)],
        }
    )
    table["old"] = (table["age"] >= 40).astype(int)
    table.to_csv(tmp_path / "faces.csv", index=False)
    ds = load_dataset(
        tmp_path / "faces.csv", image_col="path", label_col="old", group_cols=["site"]
    )
    f = ds.frame
    assert ds.modality == "image" and ds.content_column == "image" and ds.attributes == ["site"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in f["image"])
    assert f["label"].tolist() == table["old"].tolist()
    assert set(f["split"]) == {"train", "val", "test"}
    again = load_dataset(
        tmp_path / "faces.csv", image_col="path", label_col="old", group_cols=["site"]
    )
    assert again.frame["split"].tolist() == f["split"].tolist()  # seeded
    assert ds.fingerprint() == again.fingerprint()
    # The images decode to the model's input range through the preprocessor.
    x = ImagePreprocessor(16)(f["image"].head(3).tolist())
    assert x.shape == (3, 3, 16, 16) and x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("threshold", [30, 40])
def test_utkface_threshold_groups_and_stratified_split(utkface_dir, threshold):
    from taskfair.data import load_dataset

    ds = load_dataset("utkface", path=utkface_dir, threshold=threshold)
    f = ds.frame
    assert ds.label_name == f"age>={threshold}"
    ages = pd.read_csv(utkface_dir / "labels.csv")["age"].to_numpy()
    assert f["label"].sum() == (ages >= threshold).sum()
    assert ds.groups("gender") == ["female", "male"]
    assert ds.groups("race") == ["asian", "black", "indian", "others", "white"]
    counts = f.groupby(["gender", "race", "split"]).size().unstack()
    assert (counts["val"] >= 55).all() and (counts["test"] >= 55).all()  # 600 per cell, 80/10/10


# ----------------------------------------------------------------------------- models


def test_hf_vit_folder_detected_as_image_with_seeded_head_and_exact_round_trip(tmp_path):
    from taskfair.build import detect_head_modules, detect_lora_targets
    from taskfair.models import load_base, load_model, save_base

    folder = _tiny_vit_folder(tmp_path / "vit", num_labels=5)  # the checkpoint's head: 5 classes
    handle = load_model(str(folder), head_seed=3)
    assert handle.modality == "image" and handle.spec["image_size"] == 32
    assert isinstance(handle.processor, HFImagePreprocessor)
    assert handle.model.classifier.out_features == 2
    again = load_model(str(folder), head_seed=3)
    other = load_model(str(folder), head_seed=4)
    assert torch.equal(handle.model.classifier.weight, again.model.classifier.weight)
    assert not torch.equal(handle.model.classifier.weight, other.model.classifier.weight)
    # transformers 5 names ViT's attention projections like Llama's.
    assert detect_lora_targets(handle.model)[:3] == ["q_proj", "k_proj", "v_proj"]
    assert detect_head_modules(handle.model) == ["classifier"]

    names = _faces(tmp_path / "pics", 3, size=40)
    paths = [str(tmp_path / "pics" / n) for n in names]
    pixels = handle.processor(paths)
    assert pixels.shape == (3, 3, 32, 32)
    fp = save_base(handle, tmp_path / "base")
    loaded = load_base(tmp_path / "base")
    assert loaded.modality == "image" and state_fingerprint(loaded.model) == fp
    for k, v in handle.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[k], v), k
    assert torch.equal(loaded.processor(paths), pixels)
    assert torch.equal(_logits(loaded.model, pixels), _logits(handle.model, pixels))


def test_merge_invariants_on_a_tiny_vit(tmp_path):
    from taskfair.build import HParams, Rows, finetune
    from taskfair.models import load_model

    handle = load_model(str(_tiny_vit_folder(tmp_path / "vit")), head_seed=0)
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn((8, 3, 32, 32), generator=gen)
    rows = Rows(EncodedImages(pixels), np.arange(8) % 2, "random")
    res = finetune(handle.model, rows, rows, HParams(lr=1e-2, batch_size=4), seed=0)
    vec = _check_lambda_invariants(handle.model, res.model, pixels)
    assert vec.norm() > 0 and "classifier.weight" in vec


def test_cnn_vector_holds_batchnorm_statistics_and_lambda_one_reproduces_them():
    from taskfair.build import HParams, finetune

    torch.manual_seed(0)
    base = EfficientNetLite0(num_classes=2).eval()
    rows = _rows(8, 32)
    res = finetune(base, rows, rows, HParams(lr=1e-3, batch_size=4), seed=0)
    b_sd, f_sd = base.state_dict(), res.model.state_dict()
    stats = [k for k in b_sd if k.endswith(("running_mean", "running_var"))]
    moved = [k for k in stats if not torch.equal(b_sd[k], f_sd[k])]
    assert len(moved) == len(stats)  # every layer trains: every layer's statistics move
    bns = [m for m in res.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {m.momentum for m in bns} == {0.01}  # raised while training only
    vec = _check_lambda_invariants(base, res.model, rows.encoded.batches(8)[0][1]["pixel_values"])
    assert all(k in vec for k in stats)
    assert not any(k.endswith("num_batches_tracked") for k in vec.keys())  # integers skipped
    assert vec["_blocks.3._bn1.running_var"].abs().max() > 0


def test_frozen_layers_keep_their_batchnorm_statistics():
    from taskfair.build import HParams, finetune

    torch.manual_seed(0)
    base = EfficientNetLite0(num_classes=2).eval()
    rows = _rows(8, 32)
    res = finetune(base, rows, rows, HParams(lr=1e-3, batch_size=4, train_layers=1), seed=0)
    vec = TaskVector.from_models(base, res.model)
    changed = {k for k, t in vec.items() if t.abs().max() > 0}
    assert changed and all(
        k.startswith(("_blocks.15.", "_conv_head", "_bn1", "_fc")) for k in changed
    )
    assert "_blocks.15._bn1.running_var" in changed and "_bn0.running_mean" not in changed


def test_lora_on_the_cnn_adapts_pointwise_convs_and_trains_the_head():
    from taskfair.build import HParams, LoraHParams, detect_lora_targets, lora_finetune

    torch.manual_seed(0)
    base = EfficientNetLite0(num_classes=2).eval()
    assert detect_lora_targets(base) == ["_expand_conv", "_project_conv"]
    rows = _rows(8, 32)
    res = lora_finetune(
        base, rows, rows, HParams(lr=1e-2, batch_size=4), LoraHParams(r=2, alpha=4), seed=0
    )
    assert res.log["lora"]["modules_to_save"] == ["_fc"]
    assert type(res.model) is EfficientNetLite0  # merged back: same keys as the base
    assert isinstance(res.model._blocks[1]._expand_conv, _SameConv2d)
    vec = TaskVector.from_models(base, res.model)
    changed = {k for k, t in vec.items() if t.abs().max() > 0}
    assert {"_fc.weight", "_fc.bias", "_blocks.1._expand_conv.weight"} <= changed
    assert all(
        k.endswith(("_expand_conv.weight", "_project_conv.weight")) or k.startswith("_fc")
        for k in changed
    )  # depthwise convs and BN statistics untouched
    x = rows.encoded.batches(8)[0][1]["pixel_values"]
    _check_lambda_invariants(base, res.model, x)


def test_merged_running_variance_never_goes_negative():
    torch.manual_seed(0)
    base = EfficientNetLite0(num_classes=2).eval()
    shrink = {k: -0.9 * v for k, v in base.state_dict().items() if k.endswith("running_var")}
    merger = Merger(base, {"a": TaskVector(shrink), "b": TaskVector(shrink)}, copy=True)
    x = torch.randn(2, 3, 32, 32)
    with merger.merged({"a": 1.0, "b": 1.0}) as model:  # 1 - 1.8 < 0 without the clamp
        assert min(float(t.min()) for k, t in model.state_dict().items() if "running_var" in k) >= 0
        assert torch.isfinite(_logits(model, x)).all()


# ----------------------------------------------------------------------------- pixels


def test_pixel_cache_is_keyed_and_spares_the_decoding(tmp_path, monkeypatch):
    from taskfair.models import cached_decode, pixel_key

    names = _faces(tmp_path / "pics", 5, size=30)
    paths = [str(tmp_path / "pics" / n) for n in names]
    pre, cache = ImagePreprocessor(16), tmp_path / "eval_pixels.safetensors"
    first = cached_decode(pre, paths, cache)
    assert first.dtype == torch.uint8 and first.shape == (5, 3, 16, 16) and cache.is_file()
    monkeypatch.setattr(ImagePreprocessor, "decode", lambda *a, **k: 1 / 0)
    assert torch.equal(cached_decode(pre, paths, cache), first)  # no image is opened
    with pytest.raises(ZeroDivisionError):  # another size or row order: another key
        cached_decode(ImagePreprocessor(20), paths, cache)
    with pytest.raises(ZeroDivisionError):
        cached_decode(pre, paths[::-1], cache)
    moved = [p.replace(str(tmp_path), "/elsewhere") for p in paths]
    assert pixel_key(pre.to_spec(), moved) == pixel_key(pre.to_spec(), paths)


# ----------------------------------------------------------------------------- bundle


def _settle(at, max_runs: int = 60):
    """Run until the page's background refinement is done (as in tests/test_app.py)."""
    for _ in range(max_runs):
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        if not any(str(c.value).startswith("Refining") for c in at.caption):
            return at
    raise AssertionError("the page kept refining")


@pytest.fixture(scope="module")
def image_bundle(tiny_image_bundle, tmp_path_factory) -> Path:
    """A hard-linked copy of the session's tiny image bundle: its caches are written here."""
    return _linked_copy(Path(tiny_image_bundle), tmp_path_factory.mktemp("img") / "tiny-vision")


def test_tiny_image_bundle_is_complete_and_honest(image_bundle, monkeypatch):
    from taskfair.bundle import Bundle
    from taskfair.models import PIXELS_FILE

    b = Bundle.open(image_bundle)
    m = b.manifest
    assert b.modality == "image" and b.attribute == "gender" and b.groups == ["female", "male"]
    assert m["model"]["arch"] == "efficientnet-lite0" and m["model"]["image_size"] == 64
    assert b.vector_names() == ["fft", "lora", "female", "male"]
    assert all(Path(p).is_file() for p in b.eval_frame["image"])
    fft = b.load_vectors(names=["fft"])["fft"]
    assert fft["_blocks.15._bn1.running_var"].abs().max() > 0  # top-1 trains block 15
    assert "_blocks.0._bn1.running_var" not in fft  # frozen below: absent, i.e. zero
    assert m["results"]["fft_test_accuracy"] is not None and m["results"]["test_rows"] == 60
    assert b.log("lora")["lora"]["target_modules"] == ["_expand_conv", "_project_conv"]
    # The build leaves its decoded evaluation pixels: the evaluator decodes nothing.
    from taskfair.sweep import Evaluator

    assert (image_bundle / PIXELS_FILE).is_file()
    want = Evaluator.from_bundle(b).logits({"female": 0.5, "male": 0.5}, "val")
    monkeypatch.setattr(ImagePreprocessor, "decode", lambda *a, **k: 1 / 0)
    again = Evaluator.from_bundle(b).logits({"female": 0.5, "male": 0.5}, "val")
    np.testing.assert_array_equal(want, again)


def test_sweeps_on_the_image_bundle(image_bundle):
    from taskfair.bundle import Bundle
    from taskfair.sweep import Evaluator, sweep_bundle

    b = Bundle.open(image_bundle)
    ev = Evaluator.from_bundle(b)
    frame = sweep_bundle(b, "task_addition", lams=[0.0, 0.5, 1.0], splits=["val"], evaluator=ev)
    top = frame[frame.group == "__overall__"]
    assert top["lam"].tolist() == [0.0, 0.5, 1.0] and top["accuracy"].between(0, 1).all()
    assert set(frame.group) == {"__overall__", "female", "male"}


def test_jvp_through_batch_norm_is_the_derivative(image_bundle):
    """Forward-mode derivatives go through batch norm in eval mode (the running statistics
    are part of the vectors): they are the derivative of the merged model's logits along
    the vector, checked in float64 wherever the model is smooth around the anchor (ReLU6
    and the variance clamp have kinks: see tests/derivatives.py)."""
    from taskfair.bundle import Bundle
    from taskfair.sweep import Evaluator, FirstOrderPreview

    ev = Evaluator.from_bundle(Bundle.open(image_bundle), dtype="float64")
    anchor = {"female": 0.5, "male": 0.5}
    prev = FirstOrderPreview.build(ev, anchor, "val", names=["male"])
    share = assert_directional_derivative(
        lambda t: ev.logits(dict(anchor, male=0.5 + t), "val"), prev.jvps["male"]
    )
    assert share >= 0.9
    # The running statistics' tangents matter: without them the derivative is wrong.
    vec = ev.vectors["male"]
    assert any(k.endswith("running_var") and v.abs().max() > 0 for k, v in vec.tensors.items())


def test_bench_quick_on_the_image_bundle(image_bundle, tmp_path, capsys):
    from taskfair.cli import main

    out = tmp_path / "bench.json"
    args = ["bench", "--bundle", str(image_bundle), "--quick", "--rows", "24", "--threads", "1"]
    assert main([*args, "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["modality"] == "image" and res["rows"] == 24 and res["image_size"] == 64
    for key in ("naive_s_per_lambda", "exact_s_per_lambda", "preview_ms", "achieved_gflops"):
        assert np.isfinite(res[key]) and res[key] > 0, key
    assert res["naive_exact_agreement"] == 1.0  # the disk round trip changes no prediction
    assert res["gflops_per_image"] == pytest.approx(
        conv_flops(EfficientNetLite0(num_classes=2), 64) / 1e9
    )
    assert "safetensors state dict" in capsys.readouterr().out


# ----------------------------------------------------------------------------- dashboard


@pytest.fixture
def app(image_bundle, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_BUNDLE", str(image_bundle))
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    monkeypatch.setenv("TASKFAIR_REFINE_SLICE_S", "60")

    def make(**params):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
        for k, v in params.items():
            at.query_params[k] = str(v)
        return at

    return make


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_on_the_image_bundle(app, page):
    at = _settle(app(page=page))
    assert at.title[0].value
    assert not at.error, [e.value for e in at.error]
    if page not in ("export", "claims", "steer"):  # downloads; a button; the search's form
        # figures drawn by the server, or a complete view shipped to the browser
        assert at.get("plotly_chart") or at.get("component_instance")
    if page == "data":
        images = at.get("image")
        assert images, "sample faces per group"
        shown = " ".join(str(m.value) for m in at.markdown)
        assert "female" in shown and "male" in shown


def test_data_page_without_the_image_folder_says_so(app, image_bundle, tmp_path, monkeypatch):
    from taskfair.bundle import Bundle
    from taskfair.sweep import Evaluator

    # The reference decodes the faces (and leaves the pixel cache the copy then ships).
    want = Evaluator.from_bundle(Bundle.open(image_bundle)).logits({"male": 1.0}, "test")
    moved = _linked_copy(image_bundle, tmp_path / "viewer")
    manifest = json.loads((moved / "manifest.json").read_text())
    manifest["eval"]["image_root"] = str(tmp_path / "nowhere")  # the faces are not here
    (moved / "manifest.json").unlink()  # a hard link: never write through to the original
    (moved / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(moved))
    at = app(page="data")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not at.get("image")
    notes = " ".join(str(x.value) for x in [*at.caption, *at.info, *at.markdown])
    assert "not available" in notes
    # Exact evaluation still works from the decoded pixel cache (keyed by relative paths).
    assert not Path(Bundle.open(moved).eval_frame["image"].iloc[0]).exists()
    got = Evaluator.from_bundle(Bundle.open(moved)).logits({"male": 1.0}, "test")
    np.testing.assert_array_equal(got, want)
