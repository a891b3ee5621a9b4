"""Build variants that depart from the paper's method (docs/FINDINGS.md, "Variants"):
class-balanced subgroup sampling and a linear-probe head shared by every fine-tune."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import tiny_models
import torch
from sklearn.linear_model import LogisticRegression

from taskfair.build import Rows, balanced_sample, build_bundle
from taskfair.build.config import VARIANT_DEFAULTS, BuildConfig, DatasetConfig, load_config
from taskfair.build.dataset import load_checked
from taskfair.build.probe import fit_probe_head
from taskfair.build.sampling import train_samples
from taskfair.bundle import Bundle
from taskfair.errors import ConfigError
from taskfair.inference import EncodedText, predict_encoded

ROOT = Path(__file__).resolve().parents[1]


def test_balanced_sample_takes_as_many_of_each_label_up_to_the_cap():
    index = np.arange(100, 400)
    labels = (np.arange(300) % 4 != 0).astype(int)  # 75 negatives, 225 positives
    got = balanced_sample(index, labels, None, seed=0, purpose="train-x")
    lab = dict(zip(index, labels, strict=True))
    assert len(got) == 150 and sum(lab[i] for i in got) == 75
    assert np.all(np.diff(got) > 0) and set(got) <= set(index)
    capped = balanced_sample(index, labels, 60, seed=0, purpose="train-x")
    assert len(capped) == 60 and sum(lab[i] for i in capped) == 30
    again = balanced_sample(index, labels, 60, seed=0, purpose="train-x")
    other = balanced_sample(index, labels, 60, seed=1, purpose="train-x")
    assert np.array_equal(capped, again) and not np.array_equal(capped, other)


def test_variant_fields_at_their_defaults_leave_the_config_hash_unchanged():
    cfg = load_config(ROOT / "configs" / "tiny.yaml").replace(**VARIANT_DEFAULTS)
    # The hash as it was computed before the variant fields existed.
    d = cfg.to_dict()
    assert "controls" not in d and "seed_draws" not in d  # at their defaults: left out
    for k in ("device", "eval_batch_size", "name", "head_init", "group_sampling"):
        d.pop(k)
    d.pop("compress")  # unset, also left out (a field added later, by the same rule)
    old = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    assert cfg.config_hash() == old
    assert cfg.replace(group_sampling="balanced").config_hash() != old
    assert cfg.replace(head_init="probe").config_hash() != old


@pytest.mark.parametrize(
    ("field", "value"), [("group_sampling", "balance"), ("head_init", "linear")]
)
def test_unknown_variant_values_name_the_field_and_the_choices(field, value):
    base = {"dataset": {"name": "hatexplain"}, "attribute": "target"}
    with pytest.raises(ConfigError, match=f"'{field}'.*{value}.*FINDINGS"):
        BuildConfig.from_dict({**base, field: value})


def _rows(n: int, seed: int) -> Rows:
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for i in range(n):
        seq = rng.integers(10, 900, size=int(rng.integers(4, 12)))
        if i % 2:
            seq[rng.integers(1, len(seq))] = 7
        seq[0], seq[-1] = 2, 3
        ids.append(seq.astype(np.int64))
        labels.append(int(7 in seq))
    return Rows(EncodedText(ids=ids, pad_id=0, max_length=16), np.array(labels))


def test_probe_head_is_the_logistic_regression_of_the_frozen_features():
    model = tiny_models.tiny_bert(vocab_size=1000)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = _rows(80, 0)
    info = fit_probe_head(model, rows, batch_size=16)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"classifier.weight", "classifier.bias"}
    # The margin logit[1] - logit[0] must be the regression's decision function on the
    # pooler outputs (the classifier's input), refitted here independently.
    with torch.no_grad():
        feats, order = [], []
        for idx, inputs in rows.encoded.batches(16):
            out = model.bert(**inputs)
            feats.append(out.pooler_output.numpy())
            order.append(idx)
    x = np.empty((len(rows), feats[0].shape[1]))
    x[np.concatenate(order)] = np.concatenate(feats)
    ref = LogisticRegression(C=info["C"], max_iter=5000).fit(x, rows.labels)
    logits = predict_encoded(model, rows.encoded, batch_size=16).logits
    margin = logits[:, 1] - logits[:, 0]
    assert np.allclose(margin, ref.decision_function(x), atol=1e-4)
    assert info["rows"] == 80 and info["train_accuracy"] == pytest.approx(ref.score(x, rows.labels))


def test_a_build_with_both_variants_records_the_probe_and_balances_each_group(
    tiny_bert_dir, hatexplain_csv, tmp_path
):
    cfg = BuildConfig(
        dataset=DatasetConfig("hatexplain", {"path": str(hatexplain_csv)}),
        attribute="target",
        model=str(tiny_bert_dir),
        max_length=16,
        batch_size=8,
        train_rows=24,
        group_train_rows=8,
        min_group_rows=8,
        eval_rows={"val": 30, "test": 30},
        lora={"r": 2, "alpha": 4},
        device="cpu",
        group_sampling="balanced",
        head_init="probe",
    )
    manifest = build_bundle(cfg, tmp_path / "bundle").manifest
    probe = manifest["base"]["head_init"]
    assert (
        probe["kind"] == "probe" and probe["rows"] == manifest["dataset"]["train_rows_used"]["fft"]
    )
    assert 0.0 <= probe["train_accuracy"] <= 1.0 and probe["C"] == 1.0
    # The saved base carries the fitted head (W = [-w/2, w/2]), not the seeded one.
    head = Bundle.open(tmp_path / "bundle").load_base(device="cpu").model.classifier
    assert torch.equal(head.weight[0], -head.weight[1]) and torch.equal(head.bias[0], -head.bias[1])
    # Each subgroup's vector trained on as many toxic as non-toxic rows.
    ds, groups = load_checked(cfg)
    samples = train_samples(ds, cfg, groups)
    for g in groups:
        labels = ds.frame.loc[samples[g], "label"].to_numpy()
        assert len(labels) == manifest["dataset"]["train_rows_used"][g] and len(labels) > 0
        assert 2 * labels.sum() == len(labels), g


# --------------------------------------------------------------------------- matched baselines


def test_matched_fft_rows_balance_each_group_within_its_ordinary_share(hatexplain_csv):
    from taskfair.build.sampling import fft_sample, matched_fft_sample

    cfg = load_config(ROOT / "configs" / "demo.yaml")
    cfg = cfg.replace(
        dataset=DatasetConfig("hatexplain", {"label": "toxic", "path": str(hatexplain_csv)})
    )
    ds, groups = load_checked(cfg)
    ordinary, matched = fft_sample(ds, cfg), matched_fft_sample(ds, cfg)
    frame = ds.frame
    group = frame[cfg.attribute].astype(object).where(frame[cfg.attribute].notna(), "(no group)")
    assert set(group.loc[matched]) == set(group.loc[ordinary])
    for g in set(group.loc[ordinary]):
        labels = frame.loc[[i for i in matched if group.loc[i] == g], "label"].to_numpy()
        share = int((group.loc[ordinary] == g).sum())
        assert 2 * labels.sum() == len(labels) and 0 < len(labels) <= share, g
    # The ordinary rows are 59% toxic; the matched ones are exactly half.
    assert frame.loc[ordinary, "label"].mean() > 0.55
    assert frame.loc[matched, "label"].mean() == 0.5
    assert np.array_equal(matched, matched_fft_sample(ds, cfg))  # deterministic
    samples = train_samples(ds, cfg, groups)
    assert np.array_equal(samples["fft_balanced"], matched)
    assert np.array_equal(samples["lora_balanced"], matched)
    assert "fft_balanced" not in train_samples(ds, cfg.replace(group_sampling="stratified"), groups)


def test_a_bundle_from_before_the_matched_baselines_gains_them_on_a_rerun(tiny_bundle, tmp_path):
    import shutil

    from taskfair.sweep import reference_settings
    from taskfair.sweep.settings import subgroups

    out = tmp_path / "tiny"
    shutil.copytree(tiny_bundle, out, ignore=shutil.ignore_patterns("sweeps", ".build.lock"))
    m = json.loads((out / "manifest.json").read_text())
    matched = ["fft_balanced", "lora_balanced"]
    old_hash = m["config_hash"]
    # As the bundle was before matched baselines existed: no such vectors, complete.
    for v in [v for v in m["vectors"] if v["name"] in matched]:
        for rel in (v["path"], v["log"]):
            m["artifacts"].pop(rel)
            (out / rel).unlink()
        m["results"]["vectors"].pop(f"seed-0/{v['name']}")
    m["vectors"] = [v for v in m["vectors"] if v["name"] not in matched]
    (out / "manifest.json").write_text(json.dumps(m))
    cfg = load_config(ROOT / "configs" / "tiny.yaml")
    cfg = cfg.replace(
        dataset=DatasetConfig("hatexplain", {"label": "toxic", "path": str(tiny_bundle_csv(m))}),
        device="cpu",
    )
    res = build_bundle(cfg, out)
    assert res.trained == ["seed-0/fft_balanced", "seed-0/lora_balanced"]
    assert "seed-0/fft" in res.skipped and "base" in res.skipped
    after = json.loads((out / "manifest.json").read_text())
    assert after["complete"] is True and after["config_hash"] == old_hash
    b = Bundle.open(out, verify=True)
    names = b.vector_names()
    assert names[-2:] == matched and subgroups(names) == b.groups
    refs = [s.method for s in reference_settings(names)]
    assert refs == ["base", "fft", "lora", *matched]
    used = after["dataset"]["train_rows_used"]
    assert used["fft_balanced"] == used["lora_balanced"] > 0
    # A second rerun finds everything there.
    assert build_bundle(cfg, out).trained == []


def tiny_bundle_csv(manifest: dict) -> str:
    """The data file the tiny bundle was built from (its config's dataset path)."""
    return manifest["config"]["dataset"]["options"]["path"]


def test_drawn_baselines_pick_the_ordinary_or_the_matched_fft_and_lora():
    from taskfair.sweep.settings import (
        baseline_note,
        drawn_baselines,
        matched_variant,
        reference_settings,
    )

    refs = reference_settings(["fft", "lora", "race", "fft_balanced", "lora_balanced"])
    ordinary = [r.method for r in drawn_baselines(refs, "ordinary")]
    matched = [r.method for r in drawn_baselines(refs, "matched")]
    assert ordinary == ["base", "fft", "lora"]
    assert matched == ["base", "fft_balanced", "lora_balanced"]
    assert "ordinary" in baseline_note(drawn_baselines(refs, "ordinary"))
    assert "balanced" in baseline_note(drawn_baselines(refs, "matched"))
    assert matched_variant(["fft", "race", "lora_balanced"]) == "balanced"
    # A bundle of the paper's form has no matched baselines: "matched" keeps the ordinary.
    plain = reference_settings(["fft", "lora", "race"])
    assert [r.method for r in drawn_baselines(plain, "matched")] == ["base", "fft", "lora"]
    assert matched_variant(["fft", "lora", "race"]) is None
    with pytest.raises(ValueError, match="ordinary"):
        drawn_baselines(refs, "both")


# --------------------------------------------------------------------------- seeds


def test_seed_draws_rows_gives_each_seed_its_own_training_rows(
    minilm_tokenizer, hatexplain_csv, tmp_path
):
    from taskfair.build.pipeline import _samples
    from taskfair.build.steps import BuildState, VectorStep

    cfg = BuildConfig(
        dataset=DatasetConfig("hatexplain", {"path": str(hatexplain_csv)}),
        attribute="target",
        seeds=(0, 1),
        train_rows=40,
        group_train_rows=10,
        min_group_rows=8,
        seed_draws="rows",
    )
    assert cfg.config_hash() != cfg.replace(seed_draws="order").config_hash()
    assert (
        cfg.replace(seed_draws="order").config_hash()
        == cfg.replace(seed_draws="order", seeds=(0, 1)).config_hash()
    )
    with pytest.raises(ConfigError, match="seed_draws"):
        cfg.replace(seed_draws="all")
    ds, groups = load_checked(cfg)
    state = BuildState(cfg, tmp_path, ds, groups, None, "cpu", print)
    state.samples = _samples(state, controls=False)
    fft0, fft1 = (state.rows_of(VectorStep("fft", "fft", None, s)) for s in (0, 1))
    race0, race1 = (state.rows_of(VectorStep("race", "subgroup", "race", s)) for s in (0, 1))
    assert len(fft0) == len(fft1) == 40 and not np.array_equal(fft0, fft1)
    assert len(race0) == len(race1) == 10 and not np.array_equal(race0, race1)
    # The paper's form: every seed trains on the same rows.
    state = BuildState(cfg.replace(seed_draws="order"), tmp_path, ds, groups, None, "cpu", print)
    state.samples = _samples(state, controls=False)
    same = [state.rows_of(VectorStep("fft", "fft", None, s)) for s in (0, 1)]
    assert np.array_equal(*same)


def test_the_tradeoff_page_draws_the_baselines_it_says_it_draws(tiny_bundle, monkeypatch):
    """configs/tiny.yaml is the balanced variant: the page offers ordinary and matched
    baselines, draws the chosen ones and says which."""
    import json as _json

    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_BUNDLE", str(tiny_bundle))
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    monkeypatch.setenv("TASKFAIR_REFINE_SLICE_S", "60")
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)

    def drawn(at) -> set[str]:
        fig = _json.loads(at.get("plotly_chart")[0].proto.spec)
        return {
            t["meta"]["method"]
            for t in fig["data"]
            if (t.get("meta") or {}).get("role") == "baseline"
        }

    def settle(at):
        for _ in range(30):
            at.run()
            assert not at.exception, [e.message for e in at.exception]
            if not any(str(c.value).startswith("Refining") for c in at.caption):
                return

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["page"] = "tradeoff"
    settle(at)
    box = at.selectbox(key="baselines")
    assert box.value == "ordinary" and list(box.options) == ["ordinary", "matched"]
    assert drawn(at) <= {"fft", "lora"} and "fft" in drawn(at)
    assert any("ordinary (stratified)" in str(c.value) for c in at.caption)
    box.set_value("matched")
    settle(at)
    assert drawn(at) <= {"fft_balanced", "lora_balanced"} and "fft_balanced" in drawn(at)
    assert any("matched to the subgroup vectors' balanced rows" in str(c.value) for c in at.caption)
