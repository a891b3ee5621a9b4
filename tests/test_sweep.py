"""Exact sweeps and their per-point cache, on a tiny random BERT with the MiniLM tokenizer."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import perturbed, tiny_bert

from taskfair import sweep
from taskfair.inference import predict
from taskfair.merge import Merger
from taskfair.metrics import fairness_report
from taskfair.models import ModelHandle
from taskfair.vectors import TaskVector

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "hate",
    "love",
    "you",
    "they",
    "we",
    "people",
    "group",
    "some",
    "very",
    "bad",
    "good",
    "not",
]
ATTR = "target"


def _texts(rng, n):
    return [" ".join(rng.choice(WORDS, rng.integers(2, 24))) for _ in range(n)]


def make_frame(n_val=48, n_test=48, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_val + n_test
    return pd.DataFrame(
        {
            "text": _texts(rng, n),
            "label": rng.integers(0, 2, n),
            "split": ["val"] * n_val + ["test"] * n_test,
            ATTR: pd.array(
                rng.choice(["women", "men", None], n, p=[0.4, 0.4, 0.2]), dtype="string"
            ),
        }
    )


def make_base(seed=0):
    """A tiny BERT whose logits depend on its input (random init at std 0.02 barely does)."""
    base = tiny_bert(seed)
    with torch.no_grad():
        for p in base.parameters():
            if p.dim() == 2:
                p.mul_(10)
        base.classifier.bias[1] += 1.9  # roughly balanced predictions on these texts
    return base


def make_vectors(base, names=("women", "men", "fft", "lora"), scale=0.01):
    out = {}
    for i, name in enumerate(names):
        vec = TaskVector.from_models(base, perturbed(base, seed=i + 1, scale=scale))
        vec.tensors["classifier.bias"].zero_()  # a bias shift alone would flip every row
        out[name] = vec
    return out


@pytest.fixture(scope="module")
def parts(minilm_tokenizer):
    base = make_base()
    return base, minilm_tokenizer, make_vectors(base), make_frame()


def make_evaluator(parts, dtype=torch.float32, **kw) -> sweep.Evaluator:
    base, tok, vecs, frame = parts
    kw.setdefault("max_length", 32)
    handle = ModelHandle(copy.deepcopy(base).to(dtype), tok, "text", {"max_length": 32})
    return sweep.Evaluator(handle, kw.pop("vectors", vecs), kw.pop("frame", frame), ATTR, **kw)


@pytest.fixture(scope="module")
def evaluator(parts):
    return make_evaluator(parts)


GROUPS = ["women", "men"]


def test_settings_grids_and_normalisation():
    ta = sweep.task_addition_settings(GROUPS, lams=(0.0, 0.1 * 3), normalize="mean")
    assert [s.lam for s in ta] == [0.0, 0.3]
    assert ta[1] == sweep.Setting("task_addition", 0.3, "mean", {"men": 0.3, "women": 0.3})
    assert ta[1].effective == {"men": 0.15, "women": 0.15}
    assert json.loads(ta[1].coeffs_json) == {"men": 0.3, "women": 0.3}
    inj = sweep.injection_settings(GROUPS, lams=(0.0, 0.2))
    assert [s.coeff_dict for s in inj[:2]] == [
        {"fft": 1.0, "women": 0.0},
        {"fft": 1.0, "women": 0.2},
    ]
    assert len(sweep.per_vector_settings(GROUPS, lams=(0, 0.5, 1))) == 9
    assert len(sweep.per_vector_settings(GROUPS, lams=(0, 1), others=1.0)) == 3  # (1, 1) once
    with pytest.raises(ValueError, match="others"):
        sweep.per_vector_settings(list("abcdefgh"), lams=(0, 0.5, 1))
    with pytest.raises(ValueError):
        sweep.Setting("bogus", 0.1)
    refs = sweep.reference_settings(["women", "fft"])
    assert [s.method for s in refs] == ["base", "fft"]


def test_exact_sweep_equals_plain_loop(parts, evaluator):
    base, tok, vecs, frame = parts
    settings = sweep.task_addition_settings(GROUPS, lams=(0.0, 0.5, 1.0), normalize="mean")
    settings += sweep.injection_settings(["men"], lams=(0.6,))
    df = sweep.run_sweep(evaluator, settings, splits=("val", "test"))
    assert list(df.columns) == list(sweep.COLUMNS)
    assert df["exact"].all() and set(df["split"]) == {"val", "test"}

    plain = Merger(copy.deepcopy(base), vecs)
    for st in settings:
        model = plain.apply(st.coeff_dict, st.normalize)
        for split in ("val", "test"):
            rows = frame[frame.split == split].reset_index(drop=True)
            preds = predict(model, tok, rows.text.tolist(), max_length=32).preds
            rep = fairness_report(rows.label.to_numpy(), preds, sensitive_features=rows[ATTR])
            got = df[(df.coeffs == st.coeffs_json) & (df.split == split) & (df.method == st.method)]
            top = got[got.group == sweep.OVERALL].iloc[0]
            assert top.accuracy == pytest.approx(rep.accuracy)
            assert top.n == len(rows)
            assert top.selection_rate == pytest.approx(preds.mean())
            np.testing.assert_allclose([top.dpd, top.eod], [rep.dpd, rep.eod], equal_nan=True)
            for g, row in rep.by_group.iterrows():
                mine = got[got.group == g].iloc[0]
                assert mine.n == row.n
                np.testing.assert_allclose(
                    mine[["accuracy", "selection_rate", "tpr", "fpr", "vs_rest_dpd"]].astype(float),
                    row[["accuracy", "selection_rate", "tpr", "fpr", "vs_rest_dpd"]].astype(float),
                    equal_nan=True,
                )
    # the curve is not flat: the test means something
    top = df[(df.group == sweep.OVERALL) & (df.method == "task_addition")]
    assert top.selection_rate.nunique() > 1


def test_evaluator_logits_and_report(parts, evaluator):
    base, tok, vecs, frame = parts
    rows = frame[frame.split == "val"]
    plain = Merger(copy.deepcopy(base), vecs).apply({"women": 0.3, "fft": 1.0})
    want = predict(plain, tok, rows.text.tolist(), max_length=32).logits
    got = evaluator.logits({"women": 0.3, "fft": 1.0}, "val")
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    rep = evaluator.report({"women": 0.3, "fft": 1.0}, "val")
    assert rep.n == len(rows)
    np.testing.assert_array_equal(evaluator.labels("val"), rows.label.to_numpy())
    assert evaluator.groups("val").isna().sum() == rows[ATTR].isna().sum()
    assert evaluator.subgroups == ["women", "men"]


def test_token_budget_batches_give_the_same_logits(parts, evaluator):
    budgeted = make_evaluator(parts, token_budget=200)
    coeffs = {"women": 0.7, "men": 0.2}
    np.testing.assert_allclose(
        budgeted.logits(coeffs, "test"), evaluator.logits(coeffs, "test"), rtol=1e-4, atol=1e-5
    )


def test_cache_returns_identical_results_without_recomputing(parts, tmp_path):
    ev = make_evaluator(parts)
    cache = sweep.SweepCache(tmp_path)
    settings = sweep.task_addition_settings(GROUPS, lams=(0.0, 0.4, 1.0))
    first = sweep.run_sweep(ev, settings, cache=cache)
    assert ev.n_evaluations == 6
    again = sweep.run_sweep(ev, settings, cache=cache)
    assert ev.n_evaluations == 6
    pd.testing.assert_frame_equal(first, again)
    # per point: rows, logits, sidecar; and nothing half-written left behind
    assert len(list(tmp_path.glob("*.parquet"))) == 6
    assert len(list(tmp_path.glob("*.logits.npy"))) == 6
    assert not list(tmp_path.glob(".*tmp"))
    key = ev.keys.key(settings[1], "val")
    np.testing.assert_array_equal(cache.logits(key), ev.logits(settings[1].coeff_dict, "val"))
    assert cache.meta(key)["setting"]["lam"] == 0.4
    # a fresh evaluator over the same inputs reuses every point
    ev2 = make_evaluator(parts)
    pd.testing.assert_frame_equal(sweep.run_sweep(ev2, settings, cache=cache), first)
    assert ev2.n_evaluations == 0
    # a damaged file is a miss, recomputed, not an error
    (tmp_path / f"{key}.parquet").write_bytes(b"garbage")
    sweep.run_sweep(ev2, settings, cache=cache)
    assert ev2.n_evaluations == 1


def test_cache_invalidated_when_any_input_changes(parts, tmp_path):
    base, tok, vecs, frame = parts
    cache = sweep.SweepCache(tmp_path)
    only_women = [sweep.Setting("per_vector", None, "sum", {"women": 0.5})]
    only_men = [sweep.Setting("per_vector", None, "sum", {"men": 0.5})]
    sweep.run_sweep(make_evaluator(parts), only_women + only_men, cache=cache)

    # a changed vector invalidates the points that use it, not the others
    changed = dict(vecs, women=vecs["women"] * 1.01)
    ev = make_evaluator(parts, vectors=changed)
    sweep.run_sweep(ev, only_women + only_men, cache=cache)
    assert ev.n_evaluations == 2  # women on val and test; men from the cache

    # changed data: one val text edited -> val recomputed, test reused
    edited = frame.copy()
    edited.loc[edited.index[edited.split == "val"][0], "text"] += " edited"
    ev = make_evaluator(parts, frame=edited)
    sweep.run_sweep(ev, only_men, cache=cache)
    assert ev.n_evaluations == 1
    # changed groups of the attribute also count as changed data
    regrouped = frame.copy()
    regrouped[ATTR] = regrouped[ATTR].fillna("men")
    ev = make_evaluator(parts, frame=regrouped)
    sweep.run_sweep(ev, only_men, cache=cache)
    assert ev.n_evaluations == 2

    # changed setting (λ, normalisation)
    ev = make_evaluator(parts)
    sweep.run_sweep(ev, [sweep.Setting("per_vector", None, "sum", {"men": 0.6})], cache=cache)
    sweep.run_sweep(ev, [sweep.Setting("per_vector", None, "mean", {"men": 0.5})], cache=cache)
    assert ev.n_evaluations == 4

    # changed base: another anchor, the same vectors
    handle = ModelHandle(make_base(seed=1), tok, "text", {"max_length": 32})
    ev = sweep.Evaluator(handle, vecs, frame, ATTR, max_length=32)
    sweep.run_sweep(ev, only_men, cache=cache)
    assert ev.n_evaluations == 2

    # changed max_length changes what the model sees
    ev = make_evaluator(parts, max_length=8)
    sweep.run_sweep(ev, only_men, cache=cache)
    assert ev.n_evaluations == 2


def test_interrupted_sweep_resumes(parts, tmp_path):
    cache = sweep.SweepCache(tmp_path)
    settings = sweep.task_addition_settings(GROUPS, lams=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    ev = make_evaluator(parts)

    def stop_after_two(done, total, message):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(ev, settings, splits=("val",), cache=cache, progress=stop_after_two)
    assert ev.n_evaluations == 2
    seen = []
    ev2 = make_evaluator(parts)
    df = sweep.run_sweep(
        ev2, settings, splits=("val",), cache=cache, progress=lambda d, t, m: seen.append((d, t))
    )
    assert ev2.n_evaluations == len(settings) - 2
    assert seen[-1] == (len(settings), len(settings))
    assert df[df.group == sweep.OVERALL].lam.tolist() == [s.lam for s in settings]


def test_reference_points(evaluator):
    df = sweep.reference_points(evaluator, splits=("val",))
    top = df[df.group == sweep.OVERALL]
    assert top.method.tolist() == ["base", "fft", "lora"]
    assert top.lam.isna().all()
    base_row = sweep.run_sweep(
        evaluator, sweep.task_addition_settings(GROUPS, lams=(0.0,)), splits=("val",)
    )
    assert top.accuracy.iloc[0] == base_row[base_row.group == sweep.OVERALL].accuracy.iloc[0]


def _tiny_bundle(request, tmp_path):
    """A private copy of the session's tiny bundle: sweeps write into ``sweeps/``, and the
    shared fixture is read-only."""
    import shutil

    try:
        shared = request.getfixturevalue("tiny_bundle")
    except pytest.FixtureLookupError:
        pytest.skip("the tiny_bundle fixture (taskfair.build) is not available yet")
    return shutil.copytree(shared, tmp_path / "tiny", ignore=shutil.ignore_patterns("sweeps"))


@pytest.mark.slow
def test_sweep_bundle_caches_and_skips_loading(request, monkeypatch, tmp_path):
    from taskfair.bundle import Bundle

    bundle = Bundle.open(_tiny_bundle(request, tmp_path))
    progress = []
    df = sweep.sweep_bundle(
        bundle, lams=(0.0, 0.5, 1.0), references=True, progress=lambda d, t, m: progress.append(d)
    )
    top = df[df.group == sweep.OVERALL]
    assert {"task_addition", "fft", "base"} <= set(top.method)
    assert set(top.split) == {"val", "test"} and (top.seed == bundle.seeds[0]).all()
    assert progress

    def no_loading(*a, **k):
        raise AssertionError("a fully cached sweep must not load the model")

    monkeypatch.setattr(sweep.Evaluator, "from_bundle", no_loading)
    again = sweep.sweep_bundle(bundle, lams=(0.0, 0.5, 1.0), references=True)
    pd.testing.assert_frame_equal(df, again)


@pytest.mark.slow
def test_cli_sweep_on_the_tiny_bundle(request, tmp_path, capsys):
    from taskfair.cli import main

    path = _tiny_bundle(request, tmp_path)
    out = tmp_path / "sweep.parquet"
    assert (
        main(
            [
                "sweep",
                "--bundle",
                str(path),
                "--method",
                "task_addition",
                "--lams",
                "0,0.5,1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    frame = pd.read_parquet(out)
    assert list(frame.columns) == list(sweep.COLUMNS)
    assert "task_addition" in capsys.readouterr().out
