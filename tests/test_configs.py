"""The committed build configs: every one loads, and the family of the demo's configs
differs from configs/demo.yaml only where its header says (a committed claims report
names the config it came from, so a config that drifts mislabels its report)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from taskfair.build import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))

# Each config of the demo's family, and the fields in which it departs from demo.yaml.
DEMO_FAMILY = {
    "demo-controls.yaml": {"controls"},
    "demo-paper-form.yaml": {"name", "group_sampling"},
    "demo-seeds.yaml": {"name", "seeds", "seed_draws"},
    "paper-demo-size.yaml": {"name", "group_sampling", "seeds", "seed_draws", "controls"},
    "paper-demo-size-heads.yaml": {"name", "group_sampling", "seeds", "seed_draws"},
}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_committed_config_loads(path):
    cfg = load_config(path)
    assert cfg.name and cfg.model and cfg.config_hash()


def _departures(a, b) -> set[str]:
    da, db = dataclasses.asdict(a), dataclasses.asdict(b)
    return {k for k in da if da[k] != db[k]}


@pytest.mark.parametrize("name", sorted(DEMO_FAMILY))
def test_the_demo_family_departs_from_the_demo_only_where_it_says(name):
    demo = load_config(ROOT / "configs" / "demo.yaml")
    cfg = load_config(ROOT / "configs" / name)
    assert _departures(demo, cfg) == DEMO_FAMILY[name]


def test_the_paper_forms_are_stratified_and_the_variants_balanced():
    for name in ("demo-paper-form.yaml", "paper-demo-size.yaml", "paper-demo-size-heads.yaml",
                 "reproduce-small.yaml", "paper-hatexplain.yaml"):  # fmt: skip
        assert load_config(ROOT / "configs" / name).group_sampling == "stratified", name
    for name in ("demo.yaml", "demo-seeds.yaml", "demo-controls.yaml", "tiny.yaml"):
        assert load_config(ROOT / "configs" / name).group_sampling == "balanced", name
