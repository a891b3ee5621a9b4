"""Bundle builds: the tiny MiniLM bundle end to end, resume, refusal, clear errors, config."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from taskfair import cli
from taskfair.build import (
    BuildConfig,
    BuildError,
    ConfigError,
    DatasetConfig,
    build_bundle,
    load_config,
    stratified_sample,
)
from taskfair.bundle import Bundle, BundleError
from taskfair.io import sha256_file
from taskfair.models import ModelLoadError
from taskfair.vectors import read_header
from taskfair.views.payloads import VIEWS_DIR

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ["gender", "minority", "race", "religion"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fast_bundle(fast_config, tmp_path_factory) -> tuple[Path, dict]:
    """A complete fast bundle and its manifest, to copy and damage in tests."""
    out = tmp_path_factory.mktemp("fast") / "bundle"
    res = build_bundle(fast_config, out)
    return out, res.manifest


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- tiny MiniLM bundle


def test_tiny_bundle_end_to_end(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["complete"] is True and manifest["format_version"] == 1
    files = {
        p.relative_to(tiny_bundle).as_posix()
        for p in tiny_bundle.rglob("*")
        if p.is_file()
        and p.name not in ("manifest.json", ".build.lock")
        # sweeps/ (points) and views/ (shipped views) are caches that other tests' app
        # servers may have written into this shared bundle: no build artefact
        and p.relative_to(tiny_bundle).parts[0] not in ("sweeps", VIEWS_DIR)
    }
    assert files == set(manifest["artifacts"])  # every file accounted for, nothing extra
    for rel, digest in manifest["artifacts"].items():
        assert sha256_file(tiny_bundle / rel) == digest, rel
    b = Bundle.open(tiny_bundle, verify=True)
    assert b.groups == GROUPS and b.seeds == [0]
    # configs/tiny.yaml balances the subgroup rows: its matched baselines come last.
    assert b.vector_names() == ["fft", "lora", *GROUPS, "fft_balanced", "lora_balanced"]
    vectors = b.load_vectors()
    handle = b.load_base(device="cpu")  # verifies the base fingerprint
    base_keys = {k for k, v in handle.model.state_dict().items() if v.is_floating_point()}
    for name, vec in vectors.items():
        # compact: only what the run trained (top-1 leaves the embeddings frozen: absent)
        assert set(vec.keys()) < base_keys and not any("embeddings" in k for k in vec.keys())
        assert vec.meta["base_fingerprint"] == b.base_fingerprint
        assert vec.meta["dataset"] == manifest["dataset"]["fingerprint"]
        baseline = name.split("_")[0] if name.split("_")[0] in ("fft", "lora") else None
        assert vec.meta["kind"] == (baseline or "subgroup")
        assert vec.meta["group"] == (None if baseline else name)
        assert vec.meta["seed"] == 0 and vec.meta["hparams"]["lr"] > 0
        assert vec.norm() > 0
        log = b.log(name)
        assert log["loss_curve"] and log["epochs"] and log["chosen_epoch"] >= 1
        assert log["rows_used"] == manifest["dataset"]["train_rows_used"][name]
    assert vectors["lora"].meta["hparams"]["lora"]["target_modules"] == ["query", "key", "value"]
    frame = b.eval_frame
    assert list(frame.columns) == ["text", "label", "split", "target"]
    assert frame["split"].value_counts().to_dict() == {"test": 60, "val": 40}
    for split in ("val", "test"):
        assert set(frame.loc[frame["split"] == split, "target"].dropna()) == set(GROUPS)
    ds = manifest["dataset"]
    assert ds["split_sizes"]["train"] > 10_000 and set(ds["group_counts"]["test"]) >= set(GROUPS)
    assert 0.5 < ds["base_rates"]["train"]["__overall__"] < 0.7
    res = manifest["results"]
    for key in ("fft_test_accuracy", "majority_test_accuracy", "base_test_accuracy"):
        assert 0.0 <= res[key] <= 1.0
    assert manifest["model"]["max_length"] == 32 and manifest["timings"]["total"] > 0
    assert manifest["versions"]["torch"] and manifest["config"]["attribute"] == "target"


def test_tiny_yaml_is_the_demo_at_test_size():
    tiny = load_config(ROOT / "configs" / "tiny.yaml")
    demo = load_config(ROOT / "configs" / "demo.yaml")
    assert tiny.config_hash() == demo.tiny().config_hash(), (
        "configs/tiny.yaml should equal what --tiny makes of configs/demo.yaml"
    )


# --------------------------------------------------------------------------- resume and refusal


class _Interrupt(Exception):
    pass


def test_interrupted_build_resumes_at_the_first_missing_artifact(
    fast_config, fast_bundle, tmp_path
):
    ref_root, ref = fast_bundle
    out = tmp_path / "b"
    seen = []

    def stop_after_two_vectors(key: str) -> None:
        seen.append(key)
        if key == "seed-0/lora":
            raise _Interrupt

    with pytest.raises(_Interrupt):
        build_bundle(fast_config, out, on_artifact=stop_after_two_vectors)
    assert seen == ["base", "eval", "seed-0/fft", "seed-0/lora"]
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    with pytest.raises(BundleError, match="incomplete"):
        Bundle.open(out)
    res = build_bundle(fast_config, out)
    assert res.trained == [f"seed-0/{g}" for g in GROUPS]
    assert set(res.skipped) == {"base", "eval", "seed-0/fft", "seed-0/lora"}
    Bundle.open(out, verify=True)
    runs = res.manifest["timings"]["runs"]  # the interrupted run's time still counts
    assert [r["trained"] for r in runs] == [seen, res.trained]
    assert res.manifest["timings"]["total"] == pytest.approx(sum(r["seconds"] for r in runs))
    # Training is deterministic: the resumed bundle equals an uninterrupted one.
    assert res.manifest["artifacts"] == {
        k: v for k, v in ref["artifacts"].items() if not k.startswith("logs/")
    } | {k: v for k, v in res.manifest["artifacts"].items() if k.startswith("logs/")}


def test_deleted_vector_is_rebuilt_and_nothing_else(fast_config, fast_bundle, tmp_path):
    out = _copy(fast_bundle[0], tmp_path / "b")
    (out / "vectors/seed-0/race.safetensors").unlink()
    with pytest.raises(BundleError, match="missing"):
        Bundle.open(out)
    res = build_bundle(fast_config, out)
    assert res.trained == ["seed-0/race"]
    assert (
        sha256_file(out / "vectors/seed-0/race.safetensors")
        == fast_bundle[1]["artifacts"]["vectors/seed-0/race.safetensors"]
    )
    Bundle.open(out, verify=True)
    # A complete, intact bundle is not redone.
    again = build_bundle(fast_config, out)
    assert again.trained == [] and again.skipped == ["all"]


def test_unrecorded_vector_written_before_a_crash_is_kept(fast_config, fast_bundle, tmp_path):
    out = _copy(fast_bundle[0], tmp_path / "b")
    m = json.loads((out / "manifest.json").read_text())
    for rel in ("vectors/seed-0/gender.safetensors", "logs/seed-0/gender.json"):
        del m["artifacts"][rel]
    m["complete"] = False
    (out / "manifest.json").write_text(json.dumps(m))
    res = build_bundle(fast_config, out)
    assert res.trained == [] and "seed-0/gender" in res.skipped
    Bundle.open(out, verify=True)


def test_changed_vector_is_retrained(fast_config, fast_bundle, tmp_path):
    out = _copy(fast_bundle[0], tmp_path / "b")
    path = out / "vectors/seed-0/fft.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum"):
        Bundle.open(out)
    assert build_bundle(fast_config, out).trained == ["seed-0/fft"]
    Bundle.open(out, verify=True)


def test_a_different_config_is_refused(fast_config, fast_bundle, tmp_path):
    out = _copy(fast_bundle[0], tmp_path / "b")
    before = (out / "manifest.json").read_text()
    with pytest.raises(BuildError, match="different config"):
        build_bundle(fast_config.replace(lr=2e-3), out)
    assert (out / "manifest.json").read_text() == before
    # device is not part of what is built: a bundle may be finished elsewhere
    assert build_bundle(fast_config.replace(device="auto"), out).skipped == ["all"]
    # an incomplete folder is protected too, from the first write on
    half = tmp_path / "half"
    with pytest.raises(_Interrupt):
        build_bundle(fast_config, half, on_artifact=lambda k: (_ for _ in ()).throw(_Interrupt()))
    with pytest.raises(BuildError, match="different config"):
        build_bundle(fast_config.replace(seeds=(1,)), half)


def test_a_build_stopped_before_its_first_artifact_leaves_no_folder(
    fast_config, tmp_path, monkeypatch
):
    """Stopped (here: Ctrl-C) after the manifest but before the base is saved, the build
    removes the folder it made; a folder that was there before is kept."""
    import taskfair.build.pipeline as pipeline

    def stopped(state, *args):
        assert (state.root / "manifest.json").exists()  # the folder was made and written
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_build", stopped)
    made = tmp_path / "made"
    with pytest.raises(KeyboardInterrupt):
        build_bundle(fast_config, made)
    assert not made.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(KeyboardInterrupt):
        build_bundle(fast_config, kept)
    assert kept.is_dir()


def test_a_folder_that_is_not_a_bundle_is_refused(fast_config, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BuildError, match="not empty"):
        build_bundle(fast_config, tmp_path)


# --------------------------------------------------------------------------- clear errors


def test_too_few_rows_names_group_count_minimum_and_fix(fast_config, tmp_path):
    with pytest.raises(BuildError) as err:
        build_bundle(fast_config.replace(min_group_rows=600), tmp_path / "b")
    msg = str(err.value)
    assert "'minority'" in msg and "551" in msg and "600" in msg and "min_group_rows" in msg
    assert "another attribute" in msg
    assert not (tmp_path / "b" / "manifest.json").exists()  # refused before anything is written


def test_unknown_attribute_lists_the_available_ones(fast_config, tmp_path):
    with pytest.raises(BuildError, match=r"Unknown attribute 'gender'.*\['target'\]"):
        build_bundle(fast_config.replace(attribute="gender"), tmp_path / "b")
    with pytest.raises(BuildError, match="Unknown group"):
        build_bundle(fast_config.replace(groups=("race", "asian")), tmp_path / "c")


def test_model_that_cannot_load_offline(fast_config, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="local folder"):
        build_bundle(fast_config.replace(model=str(tmp_path / "nowhere")), tmp_path / "b")


def test_subset_of_groups_and_two_seeds(fast_config, tmp_path):
    cfg = fast_config.replace(groups=("race", "gender"), seeds=(0, 1))
    res = build_bundle(cfg, tmp_path / "b")
    b = Bundle.open(res.root)
    assert b.groups == ["race", "gender"] and b.seeds == [0, 1]
    assert b.vector_names(1) == ["fft", "lora", "race", "gender"]
    v0, v1 = b.load_vectors(0, ["race"])["race"], b.load_vectors(1, ["race"])["race"]
    assert v0.meta["seed"] == 0 and v1.meta["seed"] == 1 and v0.cosine(v1) < 0.999
    assert read_header(res.root / "vectors/seed-1/fft.safetensors")["config_hash"] == (
        cfg.config_hash()
    )


# --------------------------------------------------------------------------- CLI


def test_cli_build_prints_summary_and_refuses_mismatch(fast_config, tmp_path, capsys):
    cfg = fast_config.to_dict()
    cfg.pop("device")
    path = tmp_path / "fast.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "cli"
    assert cli.main(["build", "--config", str(path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "majority baseline" in text and "build time" in text and "target" in text
    assert cli.main(["build", "--config", str(path), "--out", str(out), "--tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "different config" in err and len(err.splitlines()) == 1


# --------------------------------------------------------------------------- config


def test_configs_in_the_repo_load():
    demo = load_config(ROOT / "configs" / "demo.yaml")
    assert demo.model == "minilm" and demo.attribute == "target" and demo.seeds == (0,)
    assert demo.dataset.options["label"] == "toxic"
    assert demo.name == "demo"
    tiny = demo.tiny()
    assert tiny.max_length == 32 and tiny.train_rows < 100 and tiny.eval_rows.test == 60


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("lr", -1.0, "'lr'"),
        ("epochs", 0, "'epochs'.*at least 1"),
        ("train_layers", "bottom-2", "'train_layers'.*top-N"),
        ("seeds", [0, 0], "'seeds'.*repeats"),
        ("seeds", [], "'seeds'"),
        ("device", "tpu", "'device'"),
        ("lora", {"r": 0}, "'lora.r'"),
        ("lora", {"alhpa": 8}, r"lora\.alhpa \(did you mean lora\.alpha"),
        ("eval_rows", {"val": 0}, "'eval_rows.val'"),
        ("dataset", {"options": {}}, r"dataset\.name missing"),
        ("batchsize", 8, r"batchsize \(did you mean batch_size"),
    ],
)
def test_config_errors_name_the_field_and_fix(field, value, match):
    data = {"dataset": {"name": "hatexplain"}, "attribute": "target", field: value}
    with pytest.raises(ConfigError, match=match):
        BuildConfig.from_dict(data)


def test_config_files_and_hash(tmp_path):
    with pytest.raises(ConfigError, match="No config file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(tmp_path / "empty.yaml")
    cfg = BuildConfig(dataset=DatasetConfig("hatexplain"), attribute="target")
    assert cfg.config_hash() == BuildConfig.from_dict(cfg.to_dict()).config_hash()
    assert cfg.config_hash() == cfg.replace(device="cpu", name="x").config_hash()
    assert cfg.config_hash() != cfg.replace(lr=1e-3).config_hash()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]


# --------------------------------------------------------------------------- sampling


def test_stratified_sample_is_deterministic_and_keeps_every_stratum():
    rng = np.random.default_rng(0)
    index = np.arange(1000) + 5000
    strata = rng.choice(["a", "b", "c", "rare"], size=1000, p=[0.5, 0.3, 0.195, 0.005])
    s1 = stratified_sample(index, strata, 40, 0, "eval")
    s2 = stratified_sample(index, strata, 40, 0, "eval")
    assert len(s1) == 40 and np.array_equal(s1, s2) and np.all(np.diff(s1) > 0)
    assert set(pd.Series(strata, index=index)[s1]) == {"a", "b", "c", "rare"}
    assert not np.array_equal(s1, stratified_sample(index, strata, 40, 0, "other"))
    counts = pd.Series(strata, index=index)[stratified_sample(index, strata, 200, 0, "x")]
    expected = 200 * (strata == "a").sum() / 1000  # proportional allocation
    assert abs(counts.value_counts()["a"] - expected) <= 1
    assert np.array_equal(stratified_sample(index, strata, None, 0, "x"), index)
    assert len(stratified_sample(index, strata, 3, 0, "x")) == 3  # fewer rows than strata


def test_damaged_base_is_rebuilt_identically_and_vectors_kept(fast_config, fast_bundle, tmp_path):
    out = _copy(fast_bundle[0], tmp_path / "b")
    (out / "base" / "model.safetensors").unlink()
    res = build_bundle(fast_config, out)
    assert res.trained == ["base"]  # the seeded head makes the base bit-identical
    assert res.manifest["base"]["fingerprint"] == fast_bundle[1]["base"]["fingerprint"]
    Bundle.open(out, verify=True)


# --------------------------------------------------------------------------- sweeps


def test_build_sweeps_every_point_the_pages_read_and_resumes(fast_config, tmp_path):
    """The last step caches every point of ``page_settings`` on val and test; an
    interruption keeps what was evaluated and a rerun of the same command does the rest."""
    from taskfair.build.command import summary
    from taskfair.sweep import Evaluator, PointStore, task_addition_settings
    from taskfair.viewer import viewer_settings

    out = tmp_path / "b"

    def stop_after_five(done: int, total: int, message: str) -> None:
        if done == 5:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        build_bundle(fast_config, out, sweeps=True, sweep_progress=stop_after_five)
    bundle = Bundle.open(out, verify=True)  # the bundle is complete before its sweeps
    settings = viewer_settings(bundle, 0)
    store = PointStore.for_bundle(bundle, 0)
    assert len(settings) == 2 * 11 + len(GROUPS) * 6 + 3  # sum + mean, injection, refs

    def cached() -> int:
        return sum(all(store.has(s, sp) for sp in ("val", "test")) for s in settings)

    assert cached() == 5
    res = build_bundle(fast_config, out, sweeps=True)
    assert res.skipped == ["all"] and res.trained == ["sweeps"]
    assert cached() == len(settings)
    m = json.loads((out / "manifest.json").read_text())
    assert m["timings"]["sweeps"] > 0 and "sweeps" in summary(m)
    assert build_bundle(fast_config, out, sweeps=True).trained == []  # nothing left to do
    # The cached numbers are the evaluator's own.
    (setting,) = task_addition_settings(GROUPS, [0.5], "mean")
    want = Evaluator.from_bundle(bundle).report(setting.coeff_dict, "val", "mean")
    top = store.rows(setting, "val").query("group == '__overall__'").iloc[0]
    assert top["accuracy"] == pytest.approx(want.accuracy)
    assert top["dpd"] == pytest.approx(want.dpd, nan_ok=True)
