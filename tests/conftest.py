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
