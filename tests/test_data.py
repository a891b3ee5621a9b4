"""taskfair.data: loaders, splits, validation messages, fingerprints. Offline and fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskfair.data import NO_GROUP, SPLITS, DataError, Dataset, assign_splits, load_dataset
from taskfair.data import civil_comments as data_mod

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
HATEXPLAIN_CSV = SHARED / "hatexplain" / "hatexplain_magpie_preprocessed.csv"
needs_hatexplain = pytest.mark.skipif(
    not HATEXPLAIN_CSV.is_file(), reason="shared HateXplain CSV not present"
)
needs_utkface = pytest.mark.skipif(
    not (SHARED / "utkface" / "labels.csv").is_file(), reason="shared UTKFace not present"
)


def _table(n_per_cell: int = 30, dup_texts: int = 0) -> pd.DataFrame:
    """A small text table: 2 groups x 2 labels, plus no-group rows and duplicated texts."""
    rows = []
    for group in ("a", "b", ""):
        for label in (0, 1):
            for i in range(n_per_cell):
                rows.append({"text": f"post {group} {label} {i}", "label": label, "grp": group})
    for i in range(dup_texts):
        # The same text twice with different labels and groups: must share one split.
        rows.append({"text": f"dup {i}", "label": 0, "grp": "a"})
        rows.append({"text": f"dup {i}", "label": 1, "grp": "b"})
    return pd.DataFrame(rows)


def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "t.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- HateXplain


@pytest.fixture(scope="module")
def hatexplain() -> Dataset:
    if not HATEXPLAIN_CSV.is_file():
        pytest.skip("shared HateXplain CSV not present")
    return load_dataset("hatexplain", path=HATEXPLAIN_CSV)


@pytest.fixture(scope="module")
def hatexplain_raw() -> pd.DataFrame:
    if not HATEXPLAIN_CSV.is_file():
        pytest.skip("shared HateXplain CSV not present")
    return pd.read_csv(HATEXPLAIN_CSV, keep_default_na=False)


@needs_hatexplain
def test_hatexplain_single_flag_groups(hatexplain, hatexplain_raw):
    ds, raw = hatexplain, hatexplain_raw
    assert len(ds.frame) == 18_962  # README row count
    assert ds.attributes == ["target"] and ds.modality == "text" and ds.label_name == "toxic"
    assert list(ds.frame.columns) == ["text", "label", "split", "target"]
    four = raw[["label_race", "label_gender", "label_religion", "label_minority"]]
    n_flags = four.sum(axis=1)
    counts = ds.frame["target"].value_counts().to_dict()
    # Exactly one of the four flags -> that group (economic is ignored for assignment).
    assert counts == {
        g: int(((n_flags == 1) & (raw[f"label_{g}"] == 1)).sum())
        for g in ("race", "gender", "religion", "minority")
    }
    assert counts == {"race": 3299, "gender": 3017, "religion": 2200, "minority": 688}
    # README: 4,886 rows have none of the five flags; 7 have economic alone: both NA.
    economic_only = (n_flags == 0) & (raw["label_economic"] == 1)
    assert int(economic_only.sum()) == 7
    assert ds.frame.loc[(n_flags == 0).to_numpy(), "target"].isna().all()
    assert int((n_flags == 0).sum()) == 4_886 + 7
    # Several flags (e.g. race and gender, README: 2,123 rows) -> NA by default.
    both = ((raw["label_race"] == 1) & (raw["label_gender"] == 1)).to_numpy()
    assert both.sum() == 2_123 and ds.frame.loc[both, "target"].isna().all()
    assert ds.frame["target"].isna().sum() == 18_962 - 9_204


@needs_hatexplain
def test_hatexplain_label_options_and_keep_multi(hatexplain):
    assert int(hatexplain.frame["label"].sum()) == 5_401 + 5_852  # offensive + hate
    hate = load_dataset("hatexplain", path=HATEXPLAIN_CSV, label="hate", keep_multi=True)
    assert hate.label_name == "hate" and int(hate.frame["label"].sum()) == 5_852
    counts = hate.frame["target"].value_counts(dropna=False)
    assert counts["multiple"] == 18_962 - 9_204 - 4_893
    assert hate.frame["target"].isna().sum() == 4_893
    with pytest.raises(DataError, match="'toxic'.*'hate'"):
        load_dataset("hatexplain", path=HATEXPLAIN_CSV, label="offensive")


@needs_hatexplain
def test_hatexplain_split_is_stratified_and_keeps_duplicates_together(hatexplain):
    f = hatexplain.frame
    assert f.groupby("text")["split"].nunique().max() == 1  # the 8 repeated texts
    for (label, group), cell in f.fillna({"target": NO_GROUP}).groupby(["label", "target"]):
        if len(cell) < 300:
            continue
        share = cell["split"].value_counts(normalize=True)
        for split, want in zip(SPLITS, (0.8, 0.1, 0.1), strict=True):
            assert share.get(split, 0) == pytest.approx(want, abs=0.01), (label, group, split)


def test_hatexplain_missing_file_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("hatexplain", data_dir=tmp_path)
    msg = str(err.value)
    assert "not found" in msg and "make data" in msg and "prepare-data" in msg
    assert str(tmp_path / "hatexplain") in msg


def test_hatexplain_schema_check(tmp_path):
    path = _csv(tmp_path, pd.DataFrame({"text": ["x" * 30], "label": [1]}))
    with pytest.raises(DataError, match="label_race.*Columns present"):
        load_dataset("hatexplain", path=path)


# --------------------------------------------------------------------------- splits


def test_assign_splits_deterministic_seeded_order_free():
    frame = _table(n_per_cell=50)
    strata = frame["label"].astype(str) + "|" + frame["grp"]
    a = assign_splits(frame["text"], strata, seed=0)
    assert (a == assign_splits(frame["text"], strata, seed=0)).all()
    assert (a != assign_splits(frame["text"], strata, seed=1)).any()
    # Row order does not matter: each text keeps its split after shuffling.
    perm = np.random.default_rng(0).permutation(len(frame))
    shuffled = assign_splits(frame["text"].iloc[perm], strata.iloc[perm], seed=0)
    assert (shuffled == a[perm]).all()


def test_assign_splits_stratified_fractions():
    keys = [f"k{i}" for i in range(2000)]
    strata = ["big"] * 1500 + ["small"] * 500
    split = pd.Series(assign_splits(keys, strata, seed=3, fractions=(0.7, 0.2, 0.1)))
    for name, n in (("big", 1500), ("small", 500)):
        counts = split[np.array(strata) == name].value_counts()
        assert counts.to_dict() == {"train": 0.7 * n, "val": 0.2 * n, "test": 0.1 * n}


def test_duplicate_texts_never_straddle_splits(tmp_path):
    path = _csv(tmp_path, _table(n_per_cell=20, dup_texts=40))
    ds = load_dataset(path, group_cols=["grp"], seed=5)
    per_text = ds.frame.groupby("text")["split"].nunique()
    assert per_text.max() == 1
    assert set(ds.frame.loc[ds.frame["text"].str.startswith("dup"), "split"]) == set(SPLITS)


def test_split_and_fingerprint_identical_in_another_process(tmp_path):
    path = _csv(tmp_path, _table(n_per_cell=10, dup_texts=3))
    ds = load_dataset(path, group_cols=["grp"], seed=7)
    code = (
        "import sys, json; from taskfair.data import load_dataset;"
        "ds = load_dataset(sys.argv[1], group_cols=['grp'], seed=7);"
        "print(json.dumps([ds.fingerprint(), ds.frame['split'].tolist()]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    )
    fingerprint, splits = json.loads(out.stdout)
    assert fingerprint == ds.fingerprint() and splits == ds.frame["split"].tolist()


def test_bad_fractions():
    with pytest.raises(DataError, match="summing to 1"):
        assign_splits(["a", "b"], ["x", "x"], fractions=(0.5, 0.1, 0.1))


# --------------------------------------------------------------------------- generic tables


def test_csv_parquet_jsonl_with_column_mapping(tmp_path):
    frame = _table(n_per_cell=10).rename(columns={"text": "body", "label": "y", "grp": "sex"})
    frame["y"] = frame["y"].map({0: "ok", 1: "toxic"})
    frame.loc[0, "body"] = "NA"  # a text that pandas would read as missing by default
    paths = [
        _csv(tmp_path, frame),
        tmp_path / "t.parquet",
        tmp_path / "t.jsonl",
    ]
    frame.to_parquet(paths[1], index=False)
    frame.to_json(paths[2], orient="records", lines=True)
    loaded = [
        load_dataset(
            p,
            text_col="body",
            label_col="y",
            group_cols={"gender": "sex"},
            positive_labels=["toxic"],
        )
        for p in paths
    ]
    first = loaded[0]
    assert first.attributes == ["gender"] and first.label_name == "y" and first.name == "t"
    assert first.frame.loc[0, "text"] == "NA"
    assert first.frame["label"].tolist() == (frame["y"] == "toxic").astype(int).tolist()
    assert first.groups("gender") == ["a", "b"]
    assert first.frame["gender"].isna().sum() == 20  # empty cells -> no group
    for other in loaded[1:]:
        assert other.fingerprint() == first.fingerprint()


@pytest.mark.parametrize(
    "values",
    [[0, 1], [True, False], ["0", "1"], ["true", "FALSE"], [1.0, 0.0]],
)
def test_binary_label_spellings(tmp_path, values):
    n = 12
    frame = pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(n)],
            "label": [values[i % 2] for i in range(n)],
            "g": ["x", "y"] * (n // 2),
        }
    )
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    ds = load_dataset(tmp_path / "t.parquet", group_cols="g")
    expected = [1 if str(v).lower() in ("1", "true", "1.0") else 0 for v in frame["label"]]
    assert ds.frame["label"].tolist() == expected


def test_split_column_is_used(tmp_path):
    frame = _table(n_per_cell=4)
    frame["part"] = ["train", "Validation", "test", "dev"] * (len(frame) // 4)
    ds = load_dataset(_csv(tmp_path, frame), group_cols=["grp"], split_col="part")
    assert ds.frame["split"].tolist() == ["train", "val", "test", "val"] * (len(frame) // 4)
    frame["part"] = "holdout"
    with pytest.raises(DataError, match="'holdout'.*split_col=None"):
        load_dataset(_csv(tmp_path, frame), group_cols=["grp"], split_col="part")


# --------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="No file .*missing.csv"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="Did you mean 'hatexplain'"):
        load_dataset("hatexplian")


def test_misnamed_column_suggests_the_closest(tmp_path):
    path = _csv(tmp_path, _table(4).rename(columns={"text": "txt"}))
    with pytest.raises(DataError) as err:
        load_dataset(path, group_cols=["grp"])
    msg = str(err.value)
    assert "'text' (text_col) not found" in msg
    assert "did you mean 'txt'? Pass text_col='txt'" in msg
    assert "Columns present: ['txt', 'label', 'grp']" in msg
    with pytest.raises(DataError, match="'group' .*did you mean 'grp'"):
        load_dataset(_csv(tmp_path, _table(4)), group_cols=["group"])


def test_non_binary_labels_need_positive_labels(tmp_path):
    frame = _table(4)
    frame["label"] = ["normal", "offensive", "hate"] * (len(frame) // 3)
    path = _csv(tmp_path, frame)
    with pytest.raises(DataError) as err:
        load_dataset(path, group_cols=["grp"])
    msg = str(err.value)
    assert "not binary" in msg and "'hate'" in msg and "'normal'" in msg
    assert "positive_labels=[" in msg
    ds = load_dataset(path, group_cols=["grp"], positive_labels=["offensive", "HATE"])
    assert ds.frame["label"].tolist() == [0, 1, 1] * (len(frame) // 3)
    with pytest.raises(DataError, match="none of positive_labels"):
        load_dataset(path, group_cols=["grp"], positive_labels=["toxic"])


def test_missing_labels(tmp_path):
    frame = _table(4)
    frame["label"] = frame["label"].astype(object)
    frame.loc[[2, 5], "label"] = None
    with pytest.raises(DataError, match=r"2 rows have no value in label column 'label'.*2, 5"):
        load_dataset(_csv(tmp_path, frame), group_cols=["grp"])


def test_empty_text_error_or_drop(tmp_path):
    frame = _table(4)
    frame.loc[[3, 7, 9], "text"] = ["", "   ", None]
    path = _csv(tmp_path, frame)
    with pytest.raises(DataError) as err:
        load_dataset(path, group_cols=["grp"])
    msg = str(err.value)
    assert "3 of 24 rows with an empty or missing 'text'" in msg
    assert "3, 7, 9" in msg and "drop_empty=True" in msg
    ds = load_dataset(path, group_cols=["grp"], drop_empty=True)
    assert len(ds.frame) == 21


def test_attribute_needs_two_groups(tmp_path):
    frame = _table(4)
    frame["grp"] = "a"
    with pytest.raises(DataError, match="attribute 'grp' has 1 group.*at least 2"):
        load_dataset(_csv(tmp_path, frame), group_cols=["grp"])


def test_reserved_attribute_name_and_unknown_option(tmp_path):
    frame = _table(4)
    frame["split"] = frame["grp"]
    path = _csv(tmp_path, frame)
    with pytest.raises(DataError, match="may not be called 'split'.*group_cols="):
        load_dataset(path, group_cols=["split"])
    with pytest.raises(DataError, match="unknown option 'group_col' .*did you mean 'group_cols'"):
        load_dataset(path, group_col=["grp"])


def test_small_group_is_reported_not_rejected(tmp_path):
    frame = _table(20)
    frame.loc[0, "grp"] = "tiny"
    ds = load_dataset(_csv(tmp_path, frame), group_cols=["grp"])
    counts = ds.group_counts("grp")
    assert list(counts.columns) == ["split", "group", "n", "positives", "positive_rate"]
    assert len(counts) == 3 * 4  # 3 splits x (a, b, tiny, no group)
    tiny = counts[counts["group"] == "tiny"].set_index("split")
    assert tiny["n"].sum() == 1 and (tiny["n"] == 0).sum() == 2
    assert tiny.loc[tiny["n"] == 0, "positive_rate"].isna().all()
    none = counts[counts["group"] == NO_GROUP]
    assert none["n"].sum() == 40 and none["positive_rate"].between(0, 1).all()


# --------------------------------------------------------------------------- Civil Comments

_GENDER = ["male", "female", "transgender", "other_gender"]
_RACE = ["black", "white", "asian", "latino", "other_race_or_ethnicity"]


def _civil_frame() -> pd.DataFrame:
    rows = []
    for i in range(40):
        scores = dict.fromkeys(_GENDER + _RACE, 0.0)
        scores[_GENDER[i % 2]] = 1.0
        scores[_RACE[i % 3]] = 0.8
        rows.append(
            {"comment_text": f"comment {i}", "toxicity": (i % 4) / 4, **scores, "split": "train"}
        )
    frame = pd.DataFrame(rows)
    # Row 0: two genders; female has the larger score. Row 1: no identity at all.
    frame.loc[0, ["male", "female"]] = [0.6, 0.9]
    frame.loc[1, _GENDER + _RACE] = 0.0
    frame.loc[2, "white"] = np.nan  # missing identity score counts as 0
    frame.loc[30:, "split"] = ["validation", "val", "test", "test"] * 2 + ["test"] * 2
    return frame


def test_civil_comments_overlap_policies(tmp_path):
    path = _csv(tmp_path, _civil_frame(), "all_data_with_identities.csv")
    ds = load_dataset("civil_comments", path=path)
    f = ds.frame
    assert ds.attributes == ["gender", "race"] and ds.label_name == "toxic"
    assert pd.isna(f.loc[0, "gender"]) and f.loc[0, "race"] == "black"  # excluded for gender only
    assert pd.isna(f.loc[1, "gender"]) and pd.isna(f.loc[1, "race"])
    assert f.loc[2, "race"] == "asian"
    # toxicity 0.5 is not > 0.5; inclusive=True follows WILDS (>= 0.5).
    assert f["label"].tolist() == [int(i % 4 == 3) for i in range(40)]
    inclusive = load_dataset("civil_comments", path=path, inclusive=True)
    assert inclusive.frame["label"].tolist() == [int(i % 4 >= 2) for i in range(40)]
    assert (f["split"].iloc[30:] != "train").all() and f.loc[30, "split"] == "val"
    for policy, want in (("max", "female"), ("first", "male"), ("multiple", "multiple")):
        other = load_dataset("civil_comments", path=path, overlap=policy)
        assert other.frame.loc[0, "gender"] == want, policy
        assert pd.isna(other.frame.loc[1, "gender"])
    with pytest.raises(DataError, match="overlap='union'.*exclude"):
        load_dataset("civil_comments", path=path, overlap="union")


def test_civil_comments_folder_of_split_files_and_hub_fallback(tmp_path, monkeypatch):
    frame = _civil_frame().drop(columns="split")
    folder = tmp_path / "data" / "civil_comments"
    folder.mkdir(parents=True)
    for name, part in (("train", frame.iloc[:30]), ("validation", frame.iloc[30:35])):
        part.to_parquet(folder / f"{name}-00000.parquet", index=False)
    frame.iloc[35:].to_parquet(folder / "test-00000.parquet", index=False)
    ds = load_dataset("civil_comments", data_dir=tmp_path / "data")
    assert ds.frame["split"].value_counts().to_dict() == {"train": 30, "val": 5, "test": 5}

    # Nothing local: the hub is tried (stubbed here, no network), then a clear error.
    calls = []

    def fake_hub(target):
        calls.append(target)
        raise DataError("hub unreachable. " + data_mod._CIVIL_HOWTO)

    monkeypatch.setattr(data_mod, "_civil_comments_from_hub", fake_hub)
    with pytest.raises(DataError, match="all_data_with_identities.csv.*path="):
        load_dataset("civil_comments", data_dir=tmp_path / "empty")
    assert calls == [tmp_path / "empty" / "civil_comments"]
    with pytest.raises(DataError, match="No Civil Comments data"):
        load_dataset("civil_comments", data_dir=tmp_path / "empty", use_hub=False)


def test_civil_comments_hub_snapshot_is_kept_only_when_whole(tmp_path, monkeypatch):
    """The hub fallback writes into a temporary folder that becomes data/civil_comments/
    only once it holds tables: a snapshot that fails half-way, or that holds no table,
    leaves nothing for a later load to read. No network: the hub client's
    snapshot_download is replaced by a fake that writes into the folder it is given."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    frame = _civil_frame()
    calls = []

    def fake_snapshot(mode):
        def snapshot_download(*, repo_id, repo_type, allow_patterns, local_dir):
            calls.append((repo_id, repo_type, local_dir))
            if mode != "empty":
                frame.to_parquet(Path(local_dir) / "train-00000.parquet", index=False)
            if mode == "fail":
                raise OSError("connection reset")
            (Path(local_dir) / "README.md").write_text("a dataset card\n")

        return snapshot_download

    data_dir = tmp_path / "data"
    folder = data_dir / "civil_comments"
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot("fail"))
    with pytest.raises(DataError, match="from the hub failed .*connection reset.*path="):
        load_dataset("civil_comments", data_dir=data_dir)
    assert not folder.exists() and list(data_dir.iterdir()) == []
    with pytest.raises(DataError, match="No Civil Comments data"):
        load_dataset("civil_comments", data_dir=data_dir, use_hub=False)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot("empty"))
    with pytest.raises(DataError, match="holds no table files"):
        load_dataset("civil_comments", data_dir=data_dir)
    assert list(data_dir.iterdir()) == []

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot("whole"))
    ds = load_dataset("civil_comments", data_dir=data_dir)
    assert len(ds.frame) == len(frame) and ds.attributes == ["gender", "race"]
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "train-00000.parquet"]
    assert list(data_dir.iterdir()) == [folder]  # no temporary folder left beside it
    assert [c[:2] for c in calls] == [("badrmarani/civil-comments-wilds", "dataset")] * 3
    assert all(Path(c[2]).parent == data_dir and Path(c[2]) != folder for c in calls)
    load_dataset("civil_comments", data_dir=data_dir)  # now local: the hub is not asked again
    assert len(calls) == 3


# --------------------------------------------------------------------------- images


def _utk_folder(tmp_path: Path, n: int = 20) -> Path:
    from PIL import Image

    folder = tmp_path / "utk"
    (folder / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        age, gender, race = 10 + 5 * i, i % 2, i % 5
        name = f"{age}_{gender}_{race}_2017010{i:010d}.jpg.chip.jpg"
        Image.new("RGB", (4, 4), (i * 10, 0, 0)).save(folder / "images" / name, "JPEG")
        rows.append({"file": name, "age": age, "gender": gender, "race": race, "timestamp": i})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    return folder


def test_utkface_generated(tmp_path):
    folder = _utk_folder(tmp_path)
    ds = load_dataset("utkface", path=folder)
    f = ds.frame
    assert ds.modality == "image" and ds.label_name == "age>=30"
    assert ds.attributes == ["gender", "race"]
    assert list(f.columns) == ["image", "label", "split", "gender", "race"]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in f["image"])
    assert f["label"].tolist() == [int(10 + 5 * i >= 30) for i in range(20)]
    assert ds.groups("gender") == ["female", "male"]
    assert ds.groups("race") == ["asian", "black", "indian", "others", "white"]
    assert load_dataset(folder, threshold=60).label_name == "age>=60"  # folder dispatch

    labels = pd.read_csv(folder / "labels.csv")
    (folder / "images" / labels.loc[3, "file"]).unlink()
    with pytest.raises(DataError, match=f"1 of 20 image files.*{labels.loc[3, 'file']}"):
        load_dataset("utkface", path=folder)


def test_utkface_bad_codes_and_missing_folder(tmp_path):
    folder = _utk_folder(tmp_path, n=6)
    labels = pd.read_csv(folder / "labels.csv")
    labels.loc[0, "gender"] = 2
    labels.to_csv(folder / "labels.csv", index=False)
    with pytest.raises(DataError, match="'gender' must hold codes \\[0, 1\\].*found \\[2\\]"):
        load_dataset("utkface", path=folder)
    with pytest.raises(DataError, match="prepare-data utkface.*licence"):
        load_dataset("utkface", data_dir=tmp_path / "nowhere")


def test_generic_image_csv(tmp_path):
    folder = _utk_folder(tmp_path, n=10)
    table = pd.DataFrame(
        {
            "path": [f"images/{f}" for f in pd.read_csv(folder / "labels.csv")["file"]],
            "old": [0, 1] * 5,
            "site": ["x", "y", "y", "x", "x"] * 2,
        }
    )
    table.to_csv(folder / "images.csv", index=False)
    ds = load_dataset(folder / "images.csv", image_col="path", label_col="old", group_cols=["site"])
    assert ds.modality == "image" and all(Path(p).is_file() for p in ds.frame["image"])
    # The same paths relative to another root.
    table["path"] = table["path"].str.removeprefix("images/")
    table.to_csv(tmp_path / "elsewhere.csv", index=False)
    ds2 = load_dataset(
        tmp_path / "elsewhere.csv",
        image_col="path",
        label_col="old",
        group_cols=["site"],
        image_root=folder / "images",
    )
    assert ds2.frame["image"].tolist() == ds.frame["image"].tolist()
    with pytest.raises(DataError, match="10 of 10 image files.*image_root="):
        load_dataset(
            tmp_path / "elsewhere.csv", image_col="path", label_col="old", group_cols="site"
        )


@needs_utkface
def test_utkface_real_shared_folder():
    # Existence checks only: no image is decoded.
    ds = load_dataset("utkface", data_dir=SHARED)
    f = ds.frame
    assert len(f) == 6_000 and int(f["label"].sum()) == 2_584  # README: age >= 30
    assert f["gender"].value_counts().to_dict() == {"male": 3_000, "female": 3_000}
    assert set(f["race"].value_counts()) == {1_200}
    assert all(Path(p).is_file() for p in f["image"].iloc[::1000])


# --------------------------------------------------------------------------- Dataset


def test_fingerprint_changes_with_any_value(tmp_path):
    ds = load_dataset(_csv(tmp_path, _table(5)), group_cols=["grp"])
    base = ds.fingerprint()
    assert base == load_dataset(_csv(tmp_path, _table(5)), group_cols=["grp"]).fingerprint()

    def variant(edit) -> str:
        frame = ds.frame.copy()
        edited = edit(frame)
        frame = frame if edited is None else edited
        return Dataset(
            frame, ds.attributes, ds.name, ds.modality, ds.label_name, ds.source
        ).fingerprint()

    edits = [
        lambda f: f.__setitem__("label", 1 - f["label"]),
        lambda f: f.loc.__setitem__((0, "text"), f.loc[0, "text"] + "!"),
        lambda f: f.loc.__setitem__((1, "grp"), pd.NA),
        lambda f: f.loc.__setitem__((2, "split"), "test" if f.loc[2, "split"] != "test" else "val"),
        lambda f: f.iloc[::-1].reset_index(drop=True),
        lambda f: f.iloc[:-1],
        lambda f: f.rename(columns={"grp": "group"}).pipe(lambda g: g.assign(grp=g["group"])),
    ]
    prints = {variant(e) for e in edits}
    assert base not in prints and len(prints) == len(edits)


def test_summary_split_frame_and_no_print(tmp_path, capsys):
    ds = load_dataset(_csv(tmp_path, _table(10)), group_cols=["grp"])
    assert capsys.readouterr().out == ""  # loaders log, never print
    text = ds.summary()
    for word in ("train", "val", "test", "'grp'", NO_GROUP, "60 text rows"):
        assert word in text
    val = ds.split_frame("val")
    assert (val["split"] == "val").all() and len(val) == (ds.frame["split"] == "val").sum()
    with pytest.raises(DataError, match="Unknown split"):
        ds.split_frame("dev")
    with pytest.raises(DataError, match="not an attribute"):
        ds.group_counts("race")
