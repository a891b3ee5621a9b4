"""The method variant: named from a bundle's config, and shown on every page."""

from __future__ import annotations

from pathlib import Path

import pytest
from page_slugs import PAGES

from taskfair.variant import departures, manifest_departures, sampling_note, variant_line

ROOT = Path(__file__).resolve().parents[1]
PAPER = {"group_sampling": "stratified", "train_layers": "all", "compress": None,
         "head_init": "seeded", "lr": 2e-4, "seeds": [0, 1, 2], "lora": {"r": 8}}  # fmt: skip


def test_the_papers_method_has_no_variant_line():
    assert departures(PAPER) == []
    assert variant_line(departures(PAPER)) == ""
    assert manifest_departures({}) == []  # an old manifest without a config: nothing known


def test_each_departure_is_named_with_what_it_changes():
    deps = departures({**PAPER, "group_sampling": "balanced", "train_layers": "top-2",
                       "compress": {"form": "lowrank", "rank": 16}})  # fmt: skip
    assert [d.key for d in deps] == ["group_sampling", "train_layers", "compress"]
    line = variant_line(deps)
    assert line.startswith("Variant of the paper's method: group_sampling: balanced (")
    assert "class-balanced" in line and "top-2" in line and "lowrank" in line
    assert "\n" not in line


def test_a_setting_unknown_here_is_disclosed_when_switched_on():
    """A new option (e.g. a matched baseline) is named before anyone describes it."""
    assert departures({**PAPER, "matched_baselines": False, "reweighting": []}) == []
    deps = departures({**PAPER, "matched_baselines": True, "reweighting": ["inverse"]})
    assert [d.key for d in deps] == ["matched_baselines", "reweighting"]
    assert all("not part of the paper's method" in d.what for d in deps)


def test_sampling_note_says_how_vector_rows_were_drawn():
    assert "class-balanced" in sampling_note(
        {"group_sampling": "balanced", "group_train_rows": 1000}
    )
    assert "up to 500 of each" in sampling_note(
        {"group_sampling": "balanced", "group_train_rows": 1000}
    )
    assert "as drawn" in sampling_note({"group_sampling": "stratified"})
    assert "not recorded" in sampling_note({})


@pytest.mark.parametrize("mode", ["viewer", "full"])
def test_every_page_shows_the_variant_banner(tiny_bundle, monkeypatch, mode):
    from streamlit.testing.v1 import AppTest

    from taskfair.bundle import Bundle

    want = variant_line(manifest_departures(Bundle.open(tiny_bundle).manifest))
    assert "group_sampling: balanced" in want  # configs/tiny.yaml trains a variant
    monkeypatch.setenv("TASKFAIR_BUNDLE", str(tiny_bundle))
    if mode == "viewer":
        monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    else:
        monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    pages = (
        PAGES if mode == "viewer" else ["data", "claims"]
    )  # full mode: pages that evaluate nothing on open
    for page in pages:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.query_params["page"] = page
        if mode == "full":
            at.session_state["auto_exact"] = False
            at.session_state["refine"] = False
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        banners = [w.value for w in at.warning if "Variant of the paper's method" in w.value]
        assert len(banners) == 1, (page, [w.value for w in at.warning])
        assert (
            "group\\_sampling: balanced" in banners[0] or "group_sampling: balanced" in banners[0]
        )
        if page == "data":
            assert any("class-balanced" in m.value for m in at.markdown), page


def test_the_html_export_heads_with_the_variant_line():
    import plotly.graph_objects as go

    from taskfair.plots import html_report

    line = variant_line(departures({"group_sampling": "balanced"}))
    page = html_report([("x", go.Figure())], title="t", variant=line + " <b>")
    assert "Variant of the paper&#x27;s method: group_sampling: balanced" in page
    assert "&lt;b&gt;" in page and "<b>" not in page
    assert "class='variant'" not in html_report([("x", go.Figure())], title="t")


def test_the_merge_card_names_the_variant():
    from taskfair.steer.card import card_markdown

    line = variant_line(departures({"group_sampling": "balanced"}))
    card = {
        "bundle": {"name": "b", "seed": 0},
        "variant": line,
        "merge": {
            "title": "Task addition",
            "normalize": "sum",
            "formula": "",
            "params": {},
            "coefficients": {"a": 0.5},
            "effective": {"a": 0.5},
        },  # fmt: skip
        "vectors": {},
        "base": {"fingerprint": "f" * 16},
        "dataset": {"attribute": "target"},
        "validation": {"degenerate": []},
        "test": None,
        "question": {
            "objective": {"metric": "eod"},
            "floor": 0.7,
            "search": "grid",
            "budget": 10,
        },  # fmt: skip
        "search": {"exact_evaluations": 3},
        "accepted": True,
        "metrics": {},
    }
    text = card_markdown(card)
    assert f"**{line}**" in text.splitlines()[:4]
    assert "Variant" not in card_markdown({**card, "variant": ""})


def test_controls_and_seed_draws_are_no_departure():
    """The control vectors live apart from the bundle's (no page or claim merges them) and
    what a seed varies is the study's design: neither is named as a variant of the method."""
    from taskfair.variant import departures

    config = {"group_sampling": "stratified", "controls": ["prior_only"], "seed_draws": "rows"}
    assert departures(config) == []
    assert [d.key for d in departures({**config, "group_sampling": "balanced"})] == [
        "group_sampling"
    ]
