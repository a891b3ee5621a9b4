"""taskfair.data.fetch: shared-copy preparation, verified downloads (fake opener), conversion.

No test touches the network: downloads go through an injected opener.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.error
from pathlib import Path

import pandas as pd
import pytest

from taskfair.data import (
    HATEXPLAIN_CSV,
    ChecksumError,
    DataError,
    convert_hatexplain_json,
    download_verified,
    fetch,
    git_blob_sha1,
    git_blob_sha1_file,
    hatexplain,
    load_dataset,
    prepare_data,
    raw_github_url,
    shared_data_dirs,
)
from taskfair.io import UnsafePathError, sha256_file

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_env_shared(monkeypatch):
    monkeypatch.delenv("TASKFAIR_SHARED_DATA", raising=False)


# --------------------------------------------------------------------------- sample JSON


def _ann(label: str, *targets) -> dict:
    return {"label": label, "annotator_id": 1, "target": list(targets)}


def _post(tokens: str, annotators: list[dict], rationales=None) -> dict:
    return {
        "post_tokens": tokens.split(" "),
        "annotators": annotators,
        "rationales": rationales or [],
    }


def _sample() -> dict:
    long_text = " ".join(["word"] * 129)
    posts = {
        # Majority hate; targets of all annotators united; None dropped.
        "multi": _post(
            "<user> these people should all go back home now",
            [
                _ann("hatespeech", "African"),
                _ann("hatespeech", "African", "Women"),
                _ann("offensive", "None"),
            ],
            rationales=[[1, 1, 0, 0, 0, 1, 1, 0, 1], [1, 1, 0, 0, 1, 1, 1, 0, 1]],
        ),
        "three_way": _post(
            "nobody agrees about this one at all",
            [_ann("hatespeech", "Jewish"), _ann("offensive", "Jewish"), _ann("normal", "None")],
        ),
        "normal": _post(
            "what a lovely day for a\nwalk  outside",
            [_ann("normal", "None"), _ann("normal", "Other"), _ann("offensive", "None")],
        ),
        "normal_copy": _post(
            "what a lovely day for a\nwalk  outside",
            [_ann("normal", "Other"), _ann("normal", "None"), _ann("normal", "None")],
        ),
        "same_text_other_label": _post(
            "what a lovely day for a\nwalk  outside",
            [_ann("offensive", "None"), _ann("offensive", "None"), _ann("normal", "None")],
        ),
        "economic_refugee": _post(
            "poor refugees are taking all of our money",
            [
                _ann("offensive", "Economic"),
                _ann("offensive", "Refugee"),
                _ann("normal", "Martian"),
            ],
            rationales=[[0, 1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]],
        ),
        "religion": _post(
            "they always blame islam for everything bad",
            [_ann("hatespeech", "Islam"), _ann("hatespeech", "Islam", "Other"), _ann("normal")],
        ),
        "orientation": _post(
            "that is so gay and so stupid honestly",
            [_ann("offensive", "Homosexual"), _ann("offensive"), _ann("offensive", "None")],
        ),
        "short": _post("too short", [_ann("normal", "None")] * 3),
        "long": _post(long_text, [_ann("normal", "None")] * 3),
        "ragged": _post(
            "rationale lists of different lengths here",
            [_ann("offensive", "Women")] * 3,
            rationales=[[1, 0, 0, 0, 0, 0], [1, 0]],
        ),
    }
    return {k: {"post_id": k, **v} for k, v in posts.items()}


def _sample_bytes() -> bytes:
    return json.dumps(_sample()).encode()


def test_convert_hatexplain_json():
    frame = convert_hatexplain_json(_sample_bytes())
    assert list(frame.columns) == [
        "text",
        "rationale_pos",
        "label",
        "label_gender",
        "label_religion",
        "label_race",
        "label_economic",
        "label_minority",
    ]
    by_text = frame.set_index("text", drop=False)
    assert len(frame) == 6  # multi, normal, same_text_other_label, economic, religion, orientation
    assert frame.attrs["dropped"] == {
        "no_majority": 1,
        "ragged_rationales": 1,
        "too_short": 1,
        "too_long": 1,
        "duplicate": 1,
    }
    multi = by_text.loc["<user> these people should all go back home now"]
    assert multi[["label", "label_race", "label_gender", "label_religion"]].tolist() == [2, 1, 1, 0]
    # Spans every annotator marked, including the ones touching the first/last token.
    assert multi["rationale_pos"] == "<user> these;go back;now"
    normal = frame[frame["text"] == "what a lovely day for a walk outside"]
    assert sorted(normal["label"]) == [0, 1]  # exact duplicate dropped, relabelled copy kept
    assert (normal[["label_gender", "label_race", "label_minority"]] == 0).all().all()
    econ = by_text.loc["poor refugees are taking all of our money"]
    assert econ[["label", "label_economic", "label_minority", "label_race"]].tolist() == [
        1,
        1,
        1,
        0,
    ]
    assert econ["rationale_pos"] == "refugees"
    assert (
        by_text.loc["that is so gay and so stupid honestly", "label_gender"] == 1
    )  # upstream fold
    assert (frame["text"].str.len() >= 20).all()
    for column in frame.columns[2:]:
        assert frame[column].dtype == "int64"


def test_convert_accepts_path_and_dict_and_rejects_bad_json(tmp_path):
    path = tmp_path / "dataset.json"
    path.write_bytes(_sample_bytes())
    a = convert_hatexplain_json(path)
    b = convert_hatexplain_json(_sample())
    pd.testing.assert_frame_equal(a, b)
    with pytest.raises(DataError, match="not valid JSON"):
        convert_hatexplain_json(b"[not json")
    with pytest.raises(DataError, match="lacks 'annotators'"):
        convert_hatexplain_json({"p": {"post_tokens": ["x"]}})


# --------------------------------------------------------------------------- verification


def test_git_blob_ids_match_git():
    # Known values: `printf 'hello\n' | git hash-object --stdin` and the empty blob.
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert git_blob_sha1(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"


class _Opener:
    """A fake urlopen: serves fixed bytes, records the URLs asked for."""

    def __init__(self, data: bytes):
        self.data, self.urls = data, []

    def __call__(self, url: str):
        self.urls.append(url)
        response = io.BytesIO(self.data)
        response.headers = {"Content-Length": str(len(self.data))}
        return response


def test_download_verified_accepts_right_bytes_and_rejects_wrong(tmp_path):
    data = b"some file content\n" * 1000
    opener = _Opener(data)
    calls = []
    dest = download_verified(
        "https://example.invalid/f",
        tmp_path / "f.bin",
        git_blob=git_blob_sha1(data),
        sha256=hashlib.sha256(data).hexdigest(),
        opener=opener,
        progress=lambda *a: calls.append(a),
        chunk_size=4096,
    )
    assert dest.read_bytes() == data and git_blob_sha1_file(dest) == git_blob_sha1(data)
    assert calls[-1][:2] == (len(data), len(data)) and len(calls) > 1
    download_verified(
        "https://example.invalid/f", dest, git_blob=git_blob_sha1(data), opener=opener
    )
    assert len(opener.urls) == 1  # already present and verified: no second download

    with pytest.raises(ChecksumError, match="git blob id .* expected 0{40}.*deleted"):
        download_verified(
            "https://x.invalid/g", tmp_path / "g.bin", git_blob="0" * 40, opener=opener
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no temp file left


def test_download_network_error_is_clear(tmp_path):
    def offline(url):
        raise urllib.error.URLError("no route to host")

    with pytest.raises(DataError, match="Could not download .*by hand"):
        download_verified("https://x.invalid/h", tmp_path / "h", sha256="0" * 64, opener=offline)
    assert list(tmp_path.iterdir()) == []


def test_prepare_hatexplain_download_and_convert(tmp_path, monkeypatch):
    data = _sample_bytes()
    opener = _Opener(data)
    # The real blob id pins the real 12 MB file; here the sample stands in for it.
    monkeypatch.setattr(hatexplain, "HATEXPLAIN_JSON_BLOB", git_blob_sha1(data))
    folder = prepare_data(
        "hatexplain", tmp_path / "data", shared_dir=tmp_path / "no-shared", opener=opener
    )
    assert folder == (tmp_path / "data" / "hatexplain").resolve()
    assert opener.urls == [
        "https://raw.githubusercontent.com/hate-alert/HateXplain/"
        "01d742279dac941981f53806154481c0e15ee686/Data/dataset.json"
    ]
    assert opener.urls[0] == raw_github_url(
        hatexplain.HATEXPLAIN_REPO, hatexplain.HATEXPLAIN_COMMIT, "Data/dataset.json"
    )
    record = json.loads((folder / "SOURCE.json").read_text())
    assert record["sha256"][HATEXPLAIN_CSV] == sha256_file(folder / HATEXPLAIN_CSV)
    ds = load_dataset("hatexplain", data_dir=tmp_path / "data", fractions=(0.5, 0.25, 0.25))
    assert len(ds.frame) == 6 and ds.groups("target") == ["gender", "minority", "religion"]
    prepare_data("hatexplain", tmp_path / "data", shared_dir=tmp_path / "no-shared", opener=opener)
    assert len(opener.urls) == 1  # converted CSV verified by its record: nothing fetched


def test_prepare_hatexplain_download_checksum_mismatch(tmp_path):
    opener = _Opener(_sample_bytes())  # not the pinned file: its blob id differs
    with pytest.raises(ChecksumError, match="741bc082c38f4f8ee45cebdc868b3768e3901089"):
        prepare_data("hatexplain", tmp_path, shared_dir=tmp_path / "none", opener=opener)
    assert list((tmp_path / "hatexplain").iterdir()) == []


# --------------------------------------------------------------------------- shared copies


def _fake_shared(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "shared"
    (root / "hatexplain").mkdir(parents=True)
    csv = root / "hatexplain" / HATEXPLAIN_CSV
    csv.write_text("text,rationale_pos,label\nhello world this is a post,,0\n")
    (root / "hatexplain" / "README.md").write_text("# provenance\n")
    return root, sha256_file(csv)


def test_copy_from_shared_folder_verifies_and_skips(tmp_path, monkeypatch):
    root, sha = _fake_shared(tmp_path)
    calls = []
    folder = prepare_data(
        "hatexplain",
        tmp_path / "data",
        shared_dir=root,
        progress=lambda *a: calls.append(a),
        expected_sha256={HATEXPLAIN_CSV: sha},
    )
    assert (folder / HATEXPLAIN_CSV).read_bytes() == (
        root / "hatexplain" / HATEXPLAIN_CSV
    ).read_bytes()
    assert (folder / "README.md").is_file() and calls[-1][0] == calls[-1][1]

    def no_copy(*args, **kwargs):
        raise AssertionError("a verified file was copied again")

    monkeypatch.setattr(fetch.shutil, "copyfile", no_copy)
    prepare_data(
        "hatexplain", tmp_path / "data", shared_dir=root, expected_sha256={HATEXPLAIN_CSV: sha}
    )


def test_copy_checksum_mismatch_leaves_nothing(tmp_path):
    root, _ = _fake_shared(tmp_path)
    with pytest.raises(ChecksumError, match="Checksum mismatch .*damaged"):
        prepare_data("hatexplain", tmp_path / "data", shared_dir=root)  # real sha256 expected
    assert sorted(p.name for p in (tmp_path / "data" / "hatexplain").iterdir()) == ["README.md"]


def test_env_var_shared_dir_is_searched_first(tmp_path, monkeypatch):
    root, sha = _fake_shared(tmp_path)
    monkeypatch.setenv("TASKFAIR_SHARED_DATA", str(root))
    assert shared_data_dirs()[0] == root
    assert shared_data_dirs()[-1] == ROOT.parent / "shared" / "data"
    folder = prepare_data("hatexplain", tmp_path / "data", expected_sha256={HATEXPLAIN_CSV: sha})
    assert (folder / HATEXPLAIN_CSV).is_file()


def _fake_utkface(root: Path, n: int = 5) -> Path:
    src = root / "utkface"
    (src / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        name = f"{20 + i}_{i % 2}_{i % 5}_20170101000000{i:03d}.jpg.chip.jpg"
        (src / "images" / name).write_bytes(bytes([i]) * (10 + i))
        rows.append(f"{name},{20 + i},{i % 2},{i % 5},x")
    (src / "labels.csv").write_text("file,age,gender,race,timestamp\n" + "\n".join(rows) + "\n")
    return src


def test_copy_utkface_folder(tmp_path):
    root = tmp_path / "shared"
    src = _fake_utkface(root)
    calls = []
    folder = prepare_data(
        "utkface", tmp_path / "data", shared_dir=root, progress=lambda *a: calls.append(a)
    )
    names = sorted(p.name for p in (folder / "images").iterdir())
    assert names == sorted(p.name for p in (src / "images").iterdir())
    assert calls[-1][0] == calls[-1][1] == 6  # labels.csv + 5 images
    # A stale copy (one image lost) is replaced whole, through a temporary folder.
    (folder / "images" / names[0]).unlink()
    inode = (folder / "images" / names[1]).stat().st_ino
    prepare_data("utkface", tmp_path / "data", shared_dir=root)
    assert len(list((folder / "images").iterdir())) == 5
    assert (folder / "images" / names[1]).stat().st_ino != inode
    assert sorted(p.name for p in folder.iterdir()) == ["images", "labels.csv"]  # no temp left
    # Up to date: the folder is left alone.
    inode = (folder / "images" / names[1]).stat().st_ino
    prepare_data("utkface", tmp_path / "data", shared_dir=root)
    assert (folder / "images" / names[1]).stat().st_ino == inode


def test_utkface_without_shared_copy_explains_licence(tmp_path):
    with pytest.raises(DataError, match="non-commercial.*labels.csv.*images/"):
        prepare_data("utkface", tmp_path / "data", shared_dir=tmp_path / "none")


def test_unknown_and_unsafe_names(tmp_path):
    with pytest.raises(DataError, match="no download for it"):
        prepare_data("civil_comments", tmp_path, shared_dir=tmp_path / "none")
    with pytest.raises(UnsafePathError):
        prepare_data("../escape", tmp_path, shared_dir=tmp_path)


@pytest.mark.skipif(
    not (SHARED / "hatexplain" / HATEXPLAIN_CSV).is_file(), reason="shared HateXplain not present"
)
def test_real_shared_hatexplain_copy(tmp_path):
    folder = prepare_data("hatexplain", tmp_path / "data")  # default search: ../shared/data
    assert sha256_file(folder / HATEXPLAIN_CSV) == fetch.HATEXPLAIN_SHA256
    assert len(load_dataset("hatexplain", data_dir=tmp_path / "data").frame) == 18_962
