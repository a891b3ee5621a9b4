"""Shared fixtures. Paths are resolved from this file, never from the working directory."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED / "data"


@pytest.fixture(scope="session")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from taskfair.models import KNOWN_MODELS

    return AutoTokenizer.from_pretrained(KNOWN_MODELS["minilm"]["resolve"]())


@pytest.fixture(scope="session")
def hatexplain_csv() -> Path:
    """The HateXplain CSV: ``data/hatexplain/`` if prepared, else prepared now (copied from
    ``../shared/data`` or downloaded by :func:`taskfair.data.prepare_data`)."""
    csv = ROOT / "data" / "hatexplain" / "hatexplain_magpie_preprocessed.csv"
    if not csv.is_file():
        from taskfair.data import prepare_data

        try:
            prepare_data("hatexplain", data_dir=ROOT / "data")
        except Exception as exc:  # offline and no shared copy: the dependent tests cannot run
            pytest.skip(f"HateXplain is not available ({exc})")
    return csv


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, hatexplain_csv) -> Path:
    """A tiny, complete bundle (``configs/tiny.yaml``: packaged MiniLM on HateXplain,
    attribute ``target``, 48 training rows, 40 val + 60 test eval rows with every group
    present), built once per test session. Treat it as read-only."""
    from taskfair.build import build_bundle, load_config

    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    options = dict(cfg.dataset.options, path=str(hatexplain_csv))
    cfg = cfg.replace(dataset=cfg.dataset.__class__(cfg.dataset.name, options), device="cpu")
    out = tmp_path_factory.mktemp("tiny_bundle") / "tiny"
    build_bundle(cfg, out)
    return out


@pytest.fixture(scope="session")
def utkface_dir() -> Path:
    """``data/utkface/`` (labels.csv + images/): prepared now if missing, copied from
    ``../shared/data/utkface`` by :func:`taskfair.data.prepare_data` (never downloaded)."""
    folder = ROOT / "data" / "utkface"
    if not (folder / "labels.csv").is_file():
        from taskfair.data import prepare_data

        try:
            prepare_data("utkface", data_dir=ROOT / "data")
        except Exception as exc:  # no shared copy: the dependent tests cannot run
            pytest.skip(f"UTKFace is not available ({exc})")
    return folder


@pytest.fixture(scope="session")
def tiny_image_bundle(tmp_path_factory, utkface_dir) -> Path:
    """A tiny, complete image bundle (``configs/tiny-vision.yaml``: packaged
    EfficientNet-Lite0 on UTKFace at 64 px, label age >= 30, attribute ``gender``, 48
    training faces, 40 val + 60 test eval rows), built once per test session. Read-only."""
    from taskfair.build import build_bundle, load_config

    cfg = load_config(ROOT / "configs" / "tiny-vision.yaml")
    options = dict(cfg.dataset.options, path=str(utkface_dir))
    cfg = cfg.replace(dataset=cfg.dataset.__class__(cfg.dataset.name, options), device="cpu")
    out = tmp_path_factory.mktemp("tiny_image_bundle") / "tiny-vision"
    build_bundle(cfg, out)
    return out


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm_tokenizer) -> Path:
    """A 2-layer random BERT with the MiniLM vocabulary, saved as a local HF folder: a
    model that loads offline and trains in a fraction of a second."""
    import tiny_models

    folder = tmp_path_factory.mktemp("tinybert") / "model"
    tiny_models.tiny_bert(vocab_size=minilm_tokenizer.vocab_size).save_pretrained(folder)
    minilm_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def fast_config(tiny_bert_dir, hatexplain_csv):
    """A build config of :func:`tiny_bert_dir` on HateXplain: a whole bundle in seconds."""
    from taskfair.build import BuildConfig, DatasetConfig

    return BuildConfig(
        dataset=DatasetConfig("hatexplain", {"path": str(hatexplain_csv)}),
        attribute="target",
        model=str(tiny_bert_dir),
        max_length=16,
        batch_size=8,
        lr=1e-3,
        train_rows=24,
        group_train_rows=8,
        min_group_rows=8,
        eval_rows={"val": 30, "test": 30},
        lora={"r": 2, "alpha": 4},
        device="cpu",
    )
