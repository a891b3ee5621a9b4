"""Hostile and careless input, round 3: one test per case.

Nothing published that was not meant to be (a link in a bundle's ``sweeps/`` is never
followed by ``export-viewer``), no number served unchecked (every fairness number of a
cached point, and every certificate of a resumed steering state, recomputed before it
is shown), no link that makes the server work (method parameters from a link wait for a
click, λ outside the slider is refused), text from files shown as text, and the CLI's
bounds stated up front. The CLI cases end in exit code 2 and one ``error:`` line; the
app cases in one message and no exception; files are hashed before and after.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from test_bad_input import _bundle_copy, _cli, _cli_error, _hashes
from test_hostile import _at, _markdown_html, _run, _texts

ROOT = Path(__file__).resolve().parents[1]
# Markdown that, rendered, would make every visitor's browser fetch a remote image.
IMAGE = "![x](http://evil.example/x.png)"


@pytest.fixture
def bundle(tiny_bundle, tmp_path) -> Path:
    return _bundle_copy(Path(tiny_bundle), tmp_path / "bundle")


@pytest.fixture
def error_details():
    """Restore Streamlit's ``client.showErrorDetails`` after a viewer-mode run."""
    from streamlit import config

    before = config.get_option("client.showErrorDetails")
    yield
    config.set_option("client.showErrorDetails", before)


@pytest.fixture
def point(bundle):
    """``(bundle, setting, key)``: the copy with task addition at λ = 0.3 (sum) exact on
    test, the point the Trade-off page opens on."""
    from taskfair.bundle import Bundle
    from taskfair.sweep import Evaluator, PointStore, task_addition_settings

    b = Bundle.open(bundle)
    store = PointStore.for_bundle(b, 0, lambda: Evaluator.from_bundle(b, seed=0))
    (setting,) = task_addition_settings(store.groups, [0.3], "sum")
    store.evaluate(setting, "test")
    return bundle, setting, store.key(setting, "test")


def _no_image(at) -> None:
    """No string the page drew renders as an image (or any raw HTML)."""
    for text in _texts(at):
        html = _markdown_html(text)
        assert "<img" not in html, (text, html)


def _edit_manifest(bundle: Path, edit) -> None:
    """Apply ``edit`` to the copy's manifest; the file is replaced, never written through
    (the copy's files are hard links to the session's bundle)."""
    path = bundle / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.unlink()
    path.write_text(json.dumps(m))


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- the hole


def test_export_viewer_never_follows_a_link_in_sweeps(bundle, tmp_path):
    """Before: ``is_file()`` / ``copy2`` followed the link, and the secret became a
    world-readable file of the viewer copy that DEPLOY.md says to publish."""
    secret = tmp_path / "secrets.toml"
    secret.write_text('password = "TOP-SECRET-4242"\n')
    (bundle / "sweeps").mkdir(exist_ok=True)
    os.symlink(secret, bundle / "sweeps" / "stolen.json")
    before = _hashes(secret.parent / "bundle")
    out = tmp_path / "viewer"
    res = _cli("export-viewer", "--bundle", str(bundle), "--out", str(out), "--cached-only",
               "--no-weights")  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    said = res.stdout + res.stderr
    assert "skipped sweeps/stolen.json: it is a symbolic link" in said, said[-2000:]
    for f in out.rglob("*"):
        assert not f.is_symlink(), f
        if f.is_file():
            assert b"TOP-SECRET" not in f.read_bytes(), f
    assert not (out / "sweeps" / "stolen.json").exists()
    assert _hashes(bundle) == before


# ----------------------------------------------------------------------------- 1. links


def test_method_parameters_from_a_link_wait_for_a_click(bundle, monkeypatch):
    """Before: ``?merge=dare&dare_p=0.37&dare_seed=4242`` evaluated the point and refined
    21 more in the background, with ``dare_p`` off the slider's steps."""
    at = _at(bundle, monkeypatch, merge="dare", dare_p="0.37", dare_seed="4242")
    at.session_state["refine"] = True  # what a visitor's session has
    at.session_state["auto_exact"] = True
    before = _hashes(bundle)
    _run(at)
    assert _hashes(bundle) == before  # nothing evaluated, nothing written
    assert [x.value for x in at.slider if x.key == "dare_p"] == [0.35]  # on the steps
    assert any("not a value of its control" in c.value for c in at.caption)
    infos = [i.value for i in at.info]
    assert any("This link chooses the merge method's settings" in i for i in infos), infos
    assert any("press the button above" in i for i in infos), infos
    _run(at)  # a second run (the page's refresh) evaluates nothing either
    assert _hashes(bundle) == before
    at.session_state["refine"] = False  # the click's point only, for the test's time
    at.button[0].click()
    _run(at)
    _run(at)
    assert any(f.endswith(".parquet") for f in _files(bundle) - set(before))  # evaluated now


def test_a_ties_k_off_the_slider_is_put_on_it(bundle, monkeypatch):
    """Before: ``ties_k=3.14159`` stayed, a new curve per float."""
    at = _at(bundle, monkeypatch, merge="ties", ties_k="3.14159")
    before = _hashes(bundle)
    _run(at)
    assert [s.value for s in at.slider if s.key == "ties_k"] == [3.0]
    assert any("not a value of its control" in c.value for c in at.caption)
    assert _hashes(bundle) == before


# ----------------------------------------------------------------------------- 2. λ beyond the slider


@pytest.mark.parametrize("lam", ["11", "-1e308"])
def test_lambda_outside_the_slider_in_a_link(bundle, monkeypatch, lam):
    """Before: ``ValueError: lam=11.0 is outside [-10.0, 10.0]`` (a traceback)."""
    at = _run(_at(bundle, monkeypatch, lam=lam))
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert any("outside the slider's range [0, 1]" in w for w in warnings), warnings
    assert any("λ = 0.3" in m.value for m in at.markdown)  # the default is shown


def test_injection_lambda_outside_the_slider_in_a_link(bundle, monkeypatch):
    from taskfair.bundle import Bundle

    g = Bundle.open(bundle).groups[0]
    at = _run(_at(bundle, monkeypatch, page="injection", anchor="base",
                  **{f"on_{g}": "true", f"lam_{g}": "-50"}))  # fmt: skip
    warnings = [w.value for w in at.warning]
    assert any("outside the slider's range" in w for w in warnings), warnings


# ----------------------------------------------------------------------------- 3. text from files


def test_sidecar_warnings_are_shown_as_text(point, monkeypatch):
    """Before: the Trade-off caption rendered a sidecar's warning as Markdown, and the
    browser fetched the image it named."""
    bundle, _, key = point
    path = bundle / "sweeps" / f"{key}.json"
    meta = json.loads(path.read_text())
    meta["warnings"] = [f"see {IMAGE}"]
    path.write_text(json.dumps(meta))  # the sidecar's own text has no checksum
    at = _run(_at(bundle, monkeypatch, lam="0.3"))
    assert any("evil.example" in c.value for c in at.caption)  # shown...
    _no_image(at)  # ...as text


def test_a_degenerate_note_edited_in_the_cache_is_never_served(point, monkeypatch):
    """Before: an edited ``degenerate_note`` (checksums recomputed) was served and
    rendered. Now a cached point's degeneracy flags and notes are derived afresh from its
    rates on every read (today's rule), and its numbers checked against its logits: the
    forged note and flag are never served."""
    from taskfair.io import sha256_file

    bundle, setting, key = point
    rows = pd.read_parquet(bundle / "sweeps" / f"{key}.parquet")
    rows.assign(degenerate=True, degenerate_note=IMAGE).to_parquet(
        bundle / "sweeps" / f"{key}.parquet", index=False
    )
    meta = json.loads((bundle / "sweeps" / f"{key}.json").read_text())
    meta["checksums"]["rows"] = sha256_file(bundle / "sweeps" / f"{key}.parquet")
    (bundle / "sweeps" / f"{key}.json").write_text(json.dumps(meta))
    at = _run(_at(bundle, monkeypatch, lam="0.3"))
    assert not any("evil.example" in t for t in _texts(at))
    from taskfair.bundle import Bundle
    from taskfair.metrics import mark_degenerate
    from taskfair.sweep import PointStore

    assert pd.read_parquet(bundle / "sweeps" / f"{key}.parquet")["degenerate"].all()  # on disk
    store = PointStore.for_bundle(Bundle.open(bundle), 0, None)  # reads, never evaluates
    served = store.rows(setting, "test")  # its numbers are true: exact, with the rule's flags
    assert served is not None and not served["degenerate_note"].str.contains("evil").any()
    keys = ["method", "lam", "normalize", "coeffs", "split", "seed"]
    rule = mark_degenerate(served.drop(columns=["degenerate", "degenerate_note"]), keys)
    assert served["degenerate"].tolist() == rule["degenerate"].tolist()


def test_a_label_name_that_is_markdown_is_refused(bundle, monkeypatch):
    """Before: ``dataset.label_name`` was never checked and reached captions as Markdown."""
    _edit_manifest(bundle, lambda m: m["dataset"].update(label_name=IMAGE))
    line = _cli_error("info", str(bundle))
    assert "'dataset.label_name'" in line and "cannot be a name" in line, line
    at = _run(_at(bundle, monkeypatch, page="data"))
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "label\\_name" in errors[0], errors
    _no_image(at)


def test_safe_text_never_makes_an_image():
    from taskfair.safe_text import escape_markdown

    for text in (IMAGE, f"<img src=x>{IMAGE}", f"[![a]({IMAGE})](http://x)", "!" + IMAGE):
        html = _markdown_html(escape_markdown(text))
        assert "<img" not in html and "<a " not in html, html


# ----------------------------------------------------------------------------- 4. cache check


@pytest.mark.parametrize("column", ["dpd", "eod", "vs_rest_dpd", "tpr", "fpr"])
def test_edited_fairness_numbers_with_recomputed_checksums(point, caplog, column):
    """Before: the consistency check compared accuracy, n and selection rate only: an
    edited DPD with its checksum recomputed was served as exact."""
    import logging

    from taskfair.bundle import Bundle
    from taskfair.io import sha256_file
    from taskfair.sweep import PointStore

    bundle, setting, key = point
    folder = bundle / "sweeps"
    rows = pd.read_parquet(folder / f"{key}.parquet")
    rows.assign(**{column: rows[column] * 0 + 0.001}).to_parquet(
        folder / f"{key}.parquet", index=False
    )
    meta = json.loads((folder / f"{key}.json").read_text())
    meta["checksums"]["rows"] = sha256_file(folder / f"{key}.parquet")
    (folder / f"{key}.json").write_text(json.dumps(meta))
    store = PointStore.for_bundle(Bundle.open(bundle), 0)
    with caplog.at_level(logging.WARNING, logger="taskfair"):
        assert store.rows(setting, "test") is None
    warned = [r.getMessage() for r in caplog.records if key[:12] in r.getMessage()]
    assert len(warned) == 1 and f"its {column} of group" in warned[0], warned


def test_a_sidecar_without_checksums_is_not_exact(point, caplog):
    """Before: a sidecar with ``checksums`` deleted ("legacy") skipped the file check."""
    import logging

    from taskfair.bundle import Bundle
    from taskfair.sweep import PointStore

    bundle, setting, key = point
    path = bundle / "sweeps" / f"{key}.json"
    meta = json.loads(path.read_text())
    del meta["checksums"]
    path.write_text(json.dumps(meta))
    store = PointStore.for_bundle(Bundle.open(bundle), 0)
    with caplog.at_level(logging.WARNING, logger="taskfair"):
        assert store.rows(setting, "test") is None
    assert any("records no checksum" in r.getMessage() for r in caplog.records)


def test_an_untouched_point_passes_every_check(point):
    from taskfair.bundle import Bundle
    from taskfair.sweep import PointStore

    bundle, setting, _ = point
    store = PointStore.for_bundle(Bundle.open(bundle), 0)
    rows = store.rows(setting, "test")
    assert rows is not None and bool(rows["exact"].all())


# ----------------------------------------------------------------------------- 5. steering state


STEER = ("--search", "cmaes", "--budget", "14", "--n-boot", "200", "--margin", "1")


def _steer(bundle: Path, *extra: str):
    res = _cli("steer", "--bundle", str(bundle), *STEER, "--json", str(bundle / "r.json"),
               *extra)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res, json.loads((bundle / "r.json").read_text())


@pytest.fixture
def steered(bundle):
    """The copy with one finished steering search (cmaes, 14 evaluations)."""
    _steer(bundle)
    (state,) = (bundle / "sweeps" / "steer").glob("*[0-9a-f].json")
    return bundle, state


def test_a_forged_steering_state_is_not_certified(steered):
    """Before: an edited state became the "certified" recommendation (validation 0.990 /
    0.001 claimed, other numbers true) and went into card.md."""
    bundle, state = steered
    data = json.loads(state.read_text())
    for c in data["candidates"]:
        c["val"]["accuracy"].update(value=0.990, lo=0.985, hi=0.995)
        c["val"]["eod"].update(value=0.001, lo=0.0, hi=0.002)
        c["val"]["objective"].update(value=0.001, lo=0.0, hi=0.002)
    state.write_text(json.dumps(data))
    res, record = _steer(bundle)
    assert "was started afresh" in res.stdout and "does not give" in res.stdout, res.stdout
    for c in record["candidates"]:
        assert c["val"]["accuracy"]["value"] != pytest.approx(0.990)
    for card in (bundle / "sweeps" / "steer").rglob("card.md"):
        assert "0.990" not in card.read_text()


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(candidates=[{"label": 5}]),
        lambda d: d.update(floor="high"),
        lambda d: d.update(strategy={"name": "cmaes", "mean": "x"}, done=False),
    ],
    ids=["candidate not a record", "floor not a number", "strategy"],
)
def test_a_malformed_steering_state_is_started_afresh(steered, edit):
    """Before: ``KeyError`` / ``TypeError`` tracebacks."""
    bundle, state = steered
    data = json.loads(state.read_text())
    edit(data)
    state.write_text(json.dumps(data))
    res, record = _steer(bundle, "--budget", "15")
    assert record["candidates"]  # searched again, from the cached points
    if (data.get("strategy") or {}).get("mean") != "x":
        assert "was started afresh" in res.stdout, res.stdout


# ----------------------------------------------------------------------------- 6. admission


def _full_admission(monkeypatch):
    from dashboard import cache as ac
    from taskfair.views.admission import Admission

    adm = Admission(per_session=1, overall=2)
    assert adm.enter("visitor-1") and adm.enter("visitor-2")  # every slot taken
    monkeypatch.setattr(ac, "admission", lambda: adm)
    return adm


def test_steering_search_goes_through_the_admission_bound(bundle, monkeypatch):
    """Before: *Search* ran outside the bound (N tabs queued N searches)."""
    _full_admission(monkeypatch)
    at = _run(_at(bundle, monkeypatch, page="steer"))
    before = _hashes(bundle)
    at.form_submit_button[0].click()
    _run(at)
    assert any("evaluating for other visitors" in w.value for w in at.warning)
    assert _hashes(bundle) == before


def test_judging_the_claims_goes_through_the_admission_bound(bundle, monkeypatch):
    """Before: *Judge the claims* swept every missing point outside the bound."""
    _full_admission(monkeypatch)
    at = _run(_at(bundle, monkeypatch, page="claims"))
    before = _hashes(bundle)
    at.button(key="claims-run").click()
    _run(at)
    assert any("evaluating for other visitors" in w.value for w in at.warning)
    assert _hashes(bundle) == before


def test_bootstrap_intervals_go_through_the_admission_bound(point, monkeypatch):
    """Before: each tick of *Bootstrap CIs* cost tens of seconds outside the bound."""
    bundle, _, _ = point
    _full_admission(monkeypatch)
    at = _at(bundle, monkeypatch, lam="0.3")
    at.session_state["ci"] = True
    _run(at)
    assert any("No intervals now" in c.value for c in at.caption)


# ----------------------------------------------------------------------------- 7, 8. CLI bounds


def test_export_viewer_checks_out_before_sweeping(bundle, tmp_path):
    """Before: minutes of sweeping, then a bare ``[Errno 2]``."""
    before = _hashes(bundle)
    line = _cli_error("export-viewer", "--bundle", str(bundle),
                      "--out", str(tmp_path / "no" / "such" / "viewer"))  # fmt: skip
    assert "its parent folder such does not exist" in line, line
    assert _hashes(bundle) == before  # nothing swept


def test_steer_n_boot_is_bounded(bundle):
    """Before: a 4 TiB allocation and a traceback."""
    before = _hashes(bundle)
    line = _cli_error("steer", "--bundle", str(bundle), "--n-boot", "1000000000")
    assert "at most 10,000" in line, line
    assert _hashes(bundle) == before


def test_steer_too_many_parameter_combinations(bundle):
    """Before: each of 20 searches got ``budget // 20`` evaluations, wrote a state file,
    and the run said "no candidate met the floor"."""
    before = _hashes(bundle)
    values = ",".join(str(k) for k in range(1, 21))
    line = _cli_error("steer", "--bundle", str(bundle), "--method", "ties",
                      "--param-values", f"k={values}")  # fmt: skip
    assert "gives 20 combinations" in line and "at most 16" in line, line
    assert _hashes(bundle) == before


def test_steer_budget_too_small_for_the_combinations(bundle):
    before = _hashes(bundle)
    line = _cli_error("steer", "--bundle", str(bundle), "--method", "ties",
                      "--param-values", "k=10,20,30", "--budget", "20")  # fmt: skip
    assert "each search gets 6" in line and "raise --budget to at least" in line, line
    assert _hashes(bundle) == before


def test_steer_range_of_an_unknown_vector_is_refused_first(bundle):
    """Before: refused only after the starting grid was evaluated."""
    before = _hashes(bundle)
    line = _cli_error("steer", "--bundle", str(bundle), "--range", "nobody=0:1")
    assert "unknown vector(s) ['nobody']" in line, line
    assert _hashes(bundle) == before


def test_info_with_a_very_long_path():
    """Before: ``OSError: File name too long`` as a traceback."""
    line = _cli_error("info", "models/" + "a" * 5000)
    assert "5,007 characters" in line or "File name too long" in line, line
    assert len(line) < 400


def test_info_on_a_manifest_whose_config_is_a_list(bundle):
    """Before: ``info`` printed a summary and exited 0."""
    _edit_manifest(bundle, lambda m: m.update(config=["not", "a", "mapping"]))
    line = _cli_error("info", str(bundle))
    assert "'config' must be a mapping" in line, line


# ----------------------------------------------------------------------------- 9, weak points


def test_the_viewer_says_what_is_true_of_an_uncached_method(bundle, monkeypatch, error_details):
    """Before: "the first ones are being evaluated", in a viewer that evaluates nothing."""
    at = _run(_at(bundle, monkeypatch, "viewer", merge="ties", ties_k="50"))
    infos = [i.value for i in at.info]
    assert not any("being evaluated" in i for i in infos), infos
    assert any("this server evaluates nothing" in i for i in infos), infos


@pytest.mark.parametrize("mode", ["view", "Read-only"])
def test_a_typo_in_the_mode_is_refused(bundle, monkeypatch, mode, error_details):
    """Before: any value other than ``viewer`` silently meant full mode."""
    at = _at(bundle, monkeypatch)
    monkeypatch.setenv("TASKFAIR_MODE", mode)
    _run(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "is not a mode" in errors[0], errors
    assert not at.slider  # no page drawn


def test_the_viewer_lists_only_viewer_copies(tmp_path, monkeypatch):
    """Before: every bundle under ``models/`` (weights, eval texts) was offered."""
    from dashboard import cache as ac

    for name, extra in (("full", {}), ("copy", {"viewer": {"source": "full"}})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"seeds": [0], **extra}))
    monkeypatch.setattr(ac, "MODELS_ROOT", tmp_path)
    monkeypatch.delenv("TASKFAIR_BUNDLE", raising=False)
    monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    assert list(ac.bundle_choices()) == ["copy"]
    monkeypatch.setenv("TASKFAIR_VIEWER_BUNDLES", "all")
    assert list(ac.bundle_choices()) == ["copy", "full"]
    monkeypatch.setenv("TASKFAIR_MODE", "full")
    monkeypatch.delenv("TASKFAIR_VIEWER_BUNDLES")
    assert list(ac.bundle_choices()) == ["copy", "full"]


def test_an_image_root_that_leaves_the_bundle_is_refused(bundle):
    _edit_manifest(bundle, lambda m: m["eval"].update(image_root="../../etc"))
    line = _cli_error("info", str(bundle))
    assert "'eval.image_root'" in line, line
