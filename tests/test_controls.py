"""Mechanism controls: prior-only control vectors, τ_none and the validation-threshold
recalibration (docs/FINDINGS.md, "Mechanism controls")."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskfair.build import build_bundle
from taskfair.build.controls import NO_GROUP, shuffled_labels
from taskfair.bundle import Bundle
from taskfair.errors import ConfigError

GROUPS = ["gender", "minority", "race", "religion"]


def test_shuffled_labels_keep_the_class_counts_and_cut_the_link():
    labels = np.array([1] * 70 + [0] * 30)
    got = shuffled_labels(labels, 0, 0, "prior-race")
    assert got.sum() == 70 and len(got) == 100 and not np.array_equal(got, labels)
    assert np.array_equal(got, shuffled_labels(labels, 0, 0, "prior-race"))
    assert not np.array_equal(got, shuffled_labels(labels, 0, 1, "prior-race"))


def test_controls_are_validated_and_leave_the_config_hash_alone(fast_config):
    with pytest.raises(ConfigError, match="prior_only, no_group"):
        fast_config.replace(controls=("shuffle",))
    with_controls = fast_config.replace(controls=["prior_only", "no_group"])
    assert with_controls.controls == ("prior_only", "no_group")
    assert with_controls.config_hash() == fast_config.config_hash()


def test_a_bundle_gains_its_controls_on_a_rerun_apart_from_its_vectors(fast_config, tmp_path):
    out = tmp_path / "b"
    first = build_bundle(fast_config, out)
    assert not (out / "controls").exists()
    cfg = fast_config.replace(controls=("prior_only", "no_group"))
    res = build_bundle(cfg, out)
    names = [f"prior-{g}" for g in GROUPS] + [NO_GROUP]
    assert res.trained == [f"seed-0/{n}" for n in names]  # nothing else retrained
    m = json.loads((out / "manifest.json").read_text())
    assert m["config_hash"] == first.manifest["config_hash"] and m["complete"] is True
    assert [c["name"] for c in m["controls"]] == names
    assert {c["control"] for c in m["controls"]} == {"prior_only", "no_group"}
    for c in m["controls"]:
        assert c["path"] in m["artifacts"] and (out / c["path"]).is_file()
    assert set(m["results"]["controls"]) == {f"seed-0/{n}" for n in names}
    assert not any(k.split("/")[1] in names for k in m["results"]["vectors"])
    # No page, sweep or claim sees them: the bundle's vectors are what they were.
    b = Bundle.open(out, verify=True)
    assert b.vector_names() == ["fft", "lora", *GROUPS]
    # The prior-only control of a group trained on that group's rows, labels shuffled.
    used = m["dataset"]["train_rows_used"]
    assert used["prior-gender"] == used["gender"] and used[NO_GROUP] > 0
    assert build_bundle(cfg, out).trained == []


def test_the_control_table_measures_each_control_against_the_matched_fft(fast_config, tmp_path):
    from taskfair.analysis.controls import control_table, table_markdown

    out = tmp_path / "c"
    build_bundle(fast_config.replace(controls=("prior_only", "no_group")), out)
    records = control_table(Bundle.open(out), lams=(1.0,), n_boot=200)
    assert [r["row"] for r in records] == [
        "matched_fft",
        "task_addition",
        "prior_subtracted",
        "val_threshold",
        "with_no_group",
    ]
    assert all(r["against"] == "fft" for r in records)  # the paper's form: its own FFT
    fft, ta, _, thr, _ = records
    assert fft["d_accuracy"] is None if "d_accuracy" in fft else True
    for r in records[1:]:
        assert 0.0 <= r["accuracy"] <= 1.0 and 0.0 <= r["selection_rate"] <= 1.0
        est, lo, hi = r["d_accuracy"]
        assert lo <= est <= hi
        assert est == pytest.approx(r["accuracy"] - fft["accuracy"], abs=1e-9)
        assert r["collapsed"] == (max(r["selection_rate"], 1 - r["selection_rate"]) >= 0.95)
    # The recalibrated threshold is chosen on val: it is at least as accurate on val, so
    # on test it differs from argmax only through the threshold.
    assert "threshold" in thr and np.isfinite(thr["threshold"])
    assert "| val_threshold | 1 |" in table_markdown(records)
    # Without control vectors, (a) and (c) are skipped, (b) still runs.
    bare = control_table(
        Bundle.open(out).__class__.open(_bare_copy(out, tmp_path)), (1.0,), n_boot=0
    )
    assert [r.get("skipped") for r in bare[1:]] == [None, "no vectors", None, "no vectors"]


def _bare_copy(src, tmp_path):
    import shutil

    dst = tmp_path / "bare"
    shutil.copytree(src, dst)
    m = json.loads((dst / "manifest.json").read_text())
    m.pop("controls")
    for rel in [r for r in m["artifacts"] if r.startswith("controls/")]:
        m["artifacts"].pop(rel)
    shutil.rmtree(dst / "controls")
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst
