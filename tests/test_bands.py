"""Bands, paired differences, reference rows and old caches through the point store,
on synthetic logits (no model): what is cached beside a point, and what a redraw reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from taskfair.metrics import OVERALL, fairness_intervals, paired_intervals
from taskfair.sweep import PointKeys, PointStore, Setting, SplitRows, SweepCache, tidy_rows
from taskfair.sweep import bands as bands_mod
from taskfair.sweep.bands import (
    BAND_COLUMNS,
    READING_COLUMNS,
    band_name,
    difference_text,
    with_bands,
)
from taskfair.sweep.rows import RANKING_COLUMNS
from taskfair.views.readings import seed_curve_frame

_rng = np.random.default_rng(5)
N = 160
LABELS = _rng.integers(0, 2, N)
GROUPS = pd.Series(_rng.choice(["a", "b", "c"], N))


def _logits(p_correct: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    preds = np.where(rng.random(N) < p_correct, LABELS, 1 - LABELS)
    return np.stack([1.0 - preds, preds.astype(float)], axis=1).astype(np.float32)


def _store(root, seed=0, label="toxic") -> PointStore:
    keys = PointKeys(
        base_fingerprint="base",
        vector_fingerprint=lambda n: f"vec-{n}",
        split_fingerprints={"test": "rows"},
        attribute="group",
        max_length=None,
        dtype="torch.float32",
        seed=seed,
    )
    return PointStore(
        keys,
        SweepCache(root),
        lambda split: SplitRows(LABELS, GROUPS),
        names=["a", "b", "c", "fft"],
        groups=["a", "b", "c"],
        splits=["test"],
        positive_label=label,
    )


def _put(store: PointStore, setting: Setting, logits: np.ndarray, drop=()) -> None:
    rows, _ = tidy_rows(setting, "test", store.seed, logits, LABELS, GROUPS)
    store.cache.put(store.key(setting, "test"), rows.drop(columns=list(drop)), logits, {})


TA = Setting("task_addition", 0.5, "sum", {"a": 0.5, "b": 0.5, "c": 0.5})
FFT = Setting("fft", None, "sum", {"fft": 1.0})


def test_band_is_cached_beside_the_point_and_read_back(tmp_path, monkeypatch):
    store = _store(tmp_path)
    _put(store, TA, _logits(0.8, 1))
    rec = store.bands(TA, "test")
    want = fairness_intervals(LABELS, _logits(0.8, 1).argmax(1), sensitive_features=GROUPS)
    assert rec["overall"]["accuracy"] == pytest.approx([want["accuracy"].lo, want["accuracy"].hi])
    assert rec["overall"]["dpd"] == pytest.approx([want["dpd"].lo, want["dpd"].hi])
    path = tmp_path / f"{band_name(store.key(TA, 'test'))}.json"
    assert path.is_file() and json.loads(path.read_text())["v"] == bands_mod.BANDS_VERSION

    def fail(*a, **k):
        raise AssertionError("a redraw must read the cached band, not resample")

    monkeypatch.setattr("taskfair.sweep.store_bands.band_record", fail)
    again = _store(tmp_path)  # a fresh store (a new server): the record comes from disk
    assert again.bands(TA, "test") == rec
    rows = again.with_bands(TA, "test")
    assert set(BAND_COLUMNS) | set(READING_COLUMNS) <= set(rows.columns)
    top = rows[rows["group"] == OVERALL].iloc[0]
    assert top["accuracy_lo"] <= top["accuracy"] <= top["accuracy_hi"]
    assert top["dpd_floor_lo"] <= top["dpd_floor"] <= top["dpd_floor_hi"]
    assert rows.loc[rows["group"] == "a", "mdd_tpr"].iloc[0] > 0
    grp = rows[rows["group"] != OVERALL]
    assert (grp["n_pos"] + grp["n_neg"] == grp["n"]).all()
    a = rows[rows["group"] == "a"].iloc[0]
    assert [a["vs_rest_dpd_lo"], a["vs_rest_dpd_hi"]] == pytest.approx(
        rec["groups"]["a"]["vs_rest_dpd"]
    )
    assert again.bands(Setting("task_addition", 0.9, "sum", {"a": 0.9}), "test") is None


def test_curve_frame_carries_bands_at_exact_points_only(tmp_path):
    store = _store(tmp_path)
    lo_s = Setting("task_addition", 0.0, "sum", {"a": 0.0, "b": 0.0, "c": 0.0})
    hi_s = Setting("task_addition", 1.0, "sum", {"a": 1.0, "b": 1.0, "c": 1.0})
    _put(store, lo_s, _logits(0.6, 2))
    _put(store, hi_s, _logits(0.9, 3))
    frame = store.curve_frame([(0.0, lo_s), (0.5, TA), (1.0, hi_s)], "test", bands=True)
    top = frame[frame["group"] == OVERALL].set_index("lam")
    assert top.loc[0.5, "exact"] == False  # noqa: E712 - a preview
    assert np.isnan(top.loc[0.5, "dpd_lo"]) and not np.isnan(top.loc[1.0, "dpd_lo"])


@pytest.mark.parametrize(
    "drop",
    [
        ("degenerate", "degenerate_note"),  # cached before the degeneracy columns
        RANKING_COLUMNS,  # cached before the ranking columns (the demo's points)
        ("degenerate", "degenerate_note", *RANKING_COLUMNS),  # before both
    ],
)
def test_old_cached_rows_get_the_degeneracy_columns_on_read(tmp_path, drop):
    store = _store(tmp_path)
    constant = np.tile(np.array([[0.0, 1.0]], dtype=np.float32), (N, 1))
    _put(store, TA, constant, drop=drop)
    cached = pd.read_parquet(tmp_path / f"{store.key(TA, 'test')}.parquet")
    assert not set(drop) & set(cached.columns)
    rows = _store(tmp_path).rows(TA, "test")
    assert rows["degenerate"].all()
    if "degenerate" in drop:  # derived here: the rule says which kind
        assert (rows["degenerate_kind"] == "predictor").all()
    assert rows["degenerate_note"].iloc[0].startswith("predicts 'toxic' for 100% of rows")


def test_paired_difference_against_fft_is_cached_and_worded(tmp_path):
    store = _store(tmp_path)
    _put(store, TA, _logits(0.7, 4))
    _put(store, FFT, _logits(0.9, 5))
    res = store.paired(TA, FFT, "test")
    want = paired_intervals(
        LABELS, _logits(0.7, 4).argmax(1), _logits(0.9, 5).argmax(1), sensitive_features=GROUPS,
        n_boot=bands_mod.N_BOOT,
    )  # fmt: skip
    assert res["accuracy"]["diff"] == pytest.approx(want["accuracy"].estimate)
    assert [res["dpd"]["lo"], res["dpd"]["hi"]] == pytest.approx([want["dpd"].lo, want["dpd"].hi])
    assert res["accuracy"]["diff"] < 0 and res["accuracy"]["finding"]
    text = difference_text("accuracy", res["accuracy"])
    assert text.startswith("Accuracy lower than FFT's by ")
    lo, hi = -res["accuracy"]["hi"], -res["accuracy"]["lo"]
    assert f"[{lo:.3f}, {hi:.3f}]" in text
    many = store.paired(TA, FFT, "test", looks=11)  # every λ of a grid read together
    assert many["looks"] == 11 and "Šidák over 11 looks" in many["dpd"]["method"]
    assert many["dpd"]["hi"] - many["dpd"]["lo"] > res["dpd"]["hi"] - res["dpd"]["lo"]
    assert store.paired(TA, FFT, "test") == res  # each family cached under its own name
    no = difference_text("dpd", {"diff": 0.02, "lo": -0.01, "hi": 0.05, "finding": False})
    assert no.endswith("not a finding (the interval contains 0).")


def _edit(path, change):
    rec = json.loads(path.read_text())
    change(rec)
    path.write_text(json.dumps(rec))


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["overall"].__setitem__("dpd", [0.0, 0.001]),  # hand-edited: checksum fails
        lambda r: r.__setitem__("v", 1),  # an older version's record
        lambda r: r.pop("checksum"),
    ],
)
def test_an_old_or_edited_band_record_is_never_served(tmp_path, change):
    store = _store(tmp_path)
    _put(store, TA, _logits(0.8, 1))
    rec = store.bands(TA, "test")
    path = tmp_path / f"{band_name(store.key(TA, 'test'))}.json"
    _edit(path, change)
    again = _store(tmp_path).bands(TA, "test")
    assert again == rec and bands_mod.intact(again)
    assert json.loads(path.read_text()) == rec  # recomputed and stored again


def test_reference_rows_of_the_store(tmp_path):
    refs = _store(tmp_path).reference_rows("test")
    top = refs[refs["group"] == OVERALL].set_index("method")
    assert top.loc["all_positive", "accuracy"] == pytest.approx(LABELS.mean())
    assert top.loc["oracle", "eod"] == 0.0


def test_seed_mean_band_over_several_stores(tmp_path):
    stores = [_store(tmp_path / str(s), seed=s) for s in (0, 1)]
    for s, st in enumerate(stores):
        _put(st, TA, _logits(0.8, 10 + s))
    frame = seed_curve_frame(stores, [(0.5, TA)], "test")
    top = frame[frame["group"] == OVERALL]
    assert sorted(top["seed"].tolist()) == [0, 1]
    # one band for the seed mean, on both seeds' rows
    assert top["accuracy_lo"].nunique() == 1
    mean = top["accuracy"].mean()
    assert top["accuracy_lo"].iloc[0] <= mean <= top["accuracy_hi"].iloc[0]


def test_with_bands_without_a_record_is_all_nan():
    rows, _ = tidy_rows(TA, "test", 0, _logits(0.8, 1), LABELS, GROUPS)
    out = with_bands(rows, None)
    assert out[list(BAND_COLUMNS)].isna().all().all()


def test_one_quantity_gets_one_interval_on_every_path(tmp_path):
    """Same rows, same seed: the band beside a point (pages, exports), the paired record,
    the fairness report and the steering certificate show the same intervals."""
    from taskfair.metrics import fairness_report
    from taskfair.steer import RowBootstrap

    store = _store(tmp_path)
    la, lb = _logits(0.75, 21), _logits(0.85, 22)
    _put(store, TA, la)
    _put(store, FFT, lb)
    pa, pb = la.argmax(1), lb.argmax(1)
    band, pair = store.bands(TA, "test"), store.paired(TA, FFT, "test")
    cert = RowBootstrap(LABELS, GROUPS, n_boot=bands_mod.N_BOOT, seed=0)
    summary = cert.summary(pa)
    report = fairness_report(LABELS, pa, sensitive_features=GROUPS, n_boot=50)
    rows = store.with_bands(TA, "test")
    top = rows[rows["group"] == OVERALL].iloc[0]
    for m in ("accuracy", "dpd", "eod"):
        want = band["overall"][m]
        assert [summary[m].lo, summary[m].hi] == pytest.approx(want), m
        assert list(report.ci[m]) == pytest.approx(want), m
        assert [top[f"{m}_lo"], top[f"{m}_hi"]] == pytest.approx(want), m
        d = cert.difference(pa, pb, m)
        assert [d.lo, d.hi] == pytest.approx([pair[m]["lo"], pair[m]["hi"]]), m
    for g in ("a", "b", "c"):
        for rate in ("tpr", "fpr", "selection_rate", "accuracy"):
            iv = summary["groups"][g][rate]
            assert [iv.lo, iv.hi] == pytest.approx(band["groups"][g][rate]), (g, rate)
            got = report.by_group.loc[g, [f"{rate}_lo", f"{rate}_hi"]].to_numpy(float)
            assert list(got) == pytest.approx(band["groups"][g][rate]), (g, rate)
