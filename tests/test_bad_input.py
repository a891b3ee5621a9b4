"""Bad input, one test per case: a clear message that names the problem and the fix, in
the CLI (exit code 2, one line, no traceback) and in the app (``st.error``, the app keeps
running), and nothing cached or built is changed (files hashed before and after).

Cases: a malformed CSV; missing or misnamed columns; non-binary labels; a group with 0
or 1 rows; a vector from another base model, or with other shapes; a pickle renamed
``.safetensors``; a truncated safetensors file; an upload over the limit; a bundle name
with ``..`` or an absolute path; a manifest whose checksums do not match its files.

The dashboard reads no user data (no upload widget): the data cases are CLI cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bundle_copy import linked_copy as _bundle_copy

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300


# ----------------------------------------------------------------------------- helpers


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taskfair", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=dict(os.environ, PYTHONWARNINGS="ignore", TQDM_DISABLE="1"),
    )


def _cli_error(*args: str) -> str:
    """Run a CLI command that must fail on user input; return its one error line."""
    res = _cli(*args)
    assert res.returncode == 2, (res.returncode, res.stdout[-1500:], res.stderr[-3000:])
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, res.stderr[-3000:]
    return errors[0]


def _hashes(folder: Path) -> dict[str, str]:
    from taskfair.io import sha256_file

    return {str(p.relative_to(folder)): sha256_file(p) for p in folder.rglob("*") if p.is_file()}


def _replace(bundle: Path, rel: str, data: bytes, rehash: bool) -> None:
    """Swap one file of ``bundle`` for ``data``; with ``rehash`` also record its new
    checksum in the manifest (someone "fixed" the manifest by hand), so the file itself,
    not the checksum, is what the app and CLI must catch."""
    from taskfair.io import sha256_bytes

    target = bundle / rel
    target.unlink()  # break the hard link first
    target.write_bytes(data)
    if rehash:
        mpath = bundle / "manifest.json"
        m = json.loads(mpath.read_text())
        m["artifacts"][rel] = sha256_bytes(data)
        mpath.unlink()
        mpath.write_text(json.dumps(m, indent=2))


def _app_errors(bundle: Path, monkeypatch, page: str = "tradeoff", **params) -> list[str]:
    """Open ``page`` on ``bundle`` in AppTest; the app must not raise; its st.error texts."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_BUNDLE", str(bundle))
    monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["page"] = page
    for k, v in params.items():
        at.query_params[k] = v
    at.session_state["refine"] = False  # the current point only: it is what loads vectors
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return [e.value for e in at.error]


# ----------------------------------------------------------------------------- data (CLI)


def _table(tmp_path: Path, text: str, name: str = "posts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _rows(n: int, groups=("a", "b"), labels=("0", "1")) -> list[str]:
    return [
        f"post number {i},{labels[i % len(labels)]},{groups[i % len(groups)]}" for i in range(n)
    ]


def _config(tmp_path: Path, table: Path, **extra) -> Path:
    """A build config over a CSV: columns text, label, grp (attribute ``grp``)."""
    options = {"text_col": "text", "label_col": "label", "group_cols": ["grp"]}
    options.update(extra.pop("options", {}))
    cfg = {
        "model": "minilm",
        "dataset": {"name": str(table), "options": options},
        "attribute": "grp",
        "seeds": [0],
        "device": "cpu",
        **extra,
    }
    path = tmp_path / "build.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


def _build_error(tmp_path: Path, config: Path) -> str:
    """``taskfair build`` must refuse the data before writing anything."""
    table_hash_before = _hashes(tmp_path)
    out = tmp_path / "out"
    line = _cli_error("build", "--config", str(config), "--out", str(out))
    assert not (out / "manifest.json").exists()
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    after = {k: v for k, v in _hashes(tmp_path).items() if not k.startswith("out")}
    assert after == table_hash_before  # the data files were only read
    return line


def test_malformed_csv(tmp_path):
    from taskfair.data import DataError, load_dataset

    lines = ["text,label,grp", *_rows(20)]
    lines[7] = 'an "unquoted, comma,1,a,b'  # five fields where the header has three
    table = _table(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(DataError) as exc:
        load_dataset(table, group_cols=["grp"])
    line = _build_error(tmp_path, _config(tmp_path, table))
    for msg in (str(exc.value), line):
        assert "Could not read" in msg and "CSV" in msg  # the problem
        assert "same number of fields" in msg and "quote" in msg  # the fix


def test_missing_or_misnamed_columns(tmp_path):
    from taskfair.data import DataError, load_dataset

    table = _table(tmp_path, "\n".join(["txt,label,grp", *_rows(20)]) + "\n")
    with pytest.raises(DataError) as exc:
        load_dataset(table, group_cols=["grp"])
    line = _build_error(tmp_path, _config(tmp_path, table))
    for msg in (str(exc.value), line):
        assert "column 'text' (text_col) not found" in msg  # the problem
        assert "did you mean 'txt'" in msg and "text_col='txt'" in msg  # the fix


def test_non_binary_labels(tmp_path):
    from taskfair.data import DataError, load_dataset

    rows = _rows(30, labels=("hate", "offensive", "normal"))
    table = _table(tmp_path, "\n".join(["text,label,grp", *rows]) + "\n")
    with pytest.raises(DataError) as exc:
        load_dataset(table, group_cols=["grp"])
    line = _build_error(tmp_path, _config(tmp_path, table))
    for msg in (str(exc.value), line):
        assert "is not binary" in msg and "offensive" in msg  # the problem
        assert "positive_labels=" in msg  # the fix


def test_group_with_zero_rows(tmp_path):
    """A group the config asks for but the data does not have (0 rows)."""
    table = _table(tmp_path, "\n".join(["text,label,grp", *_rows(60)]) + "\n")
    line = _build_error(tmp_path, _config(tmp_path, table, groups=["a", "c"]))
    assert "Unknown group(s) ['c']" in line and "its groups are ['a', 'b']" in line
    assert "Fix `groups:` in the config" in line


def test_group_with_one_row(tmp_path):
    rows = _rows(60) + ["the only post of group c,1,c"]
    table = _table(tmp_path, "\n".join(["text,label,grp", *rows]) + "\n")
    line = _build_error(tmp_path, _config(tmp_path, table, min_group_rows=5))
    assert "Subgroup 'c'" in line and "training rows, fewer than min_group_rows=5" in line
    assert "leave the group out with `groups:`" in line


# ----------------------------------------------------------------------------- vectors


@pytest.fixture
def bundle(tiny_bundle, tmp_path) -> Path:
    return _bundle_copy(Path(tiny_bundle), tmp_path / "bundle")


def _vector_case(bundle: Path, monkeypatch, data: bytes, problem: str, fix: str) -> None:
    """Swap the FFT vector for ``data`` (manifest re-hashed), then: the CLI's sweep and the
    app's Trade-off page both say ``problem`` and ``fix``, and the bundle is unchanged."""
    rel = "vectors/seed-0/fft.safetensors"
    _replace(bundle, rel, data, rehash=True)
    before = _hashes(bundle)
    line = _cli_error(
        "sweep", "--bundle", str(bundle), "--method", "references", "--splits", "test"
    )
    shown = _app_errors(bundle, monkeypatch)
    assert any(problem in e and fix in e for e in shown), shown
    assert problem in line and fix in line, line
    assert _hashes(bundle) == before  # no cache entry, no rewritten file


def test_vector_from_another_base_model(bundle, monkeypatch):
    from taskfair.vectors import TaskVector

    vec = TaskVector.load(bundle / "vectors/seed-0/fft.safetensors")
    path = bundle.parent / "other.safetensors"
    vec.save(path, {"base_fingerprint": "f" * 64})  # as if trained from another base
    _vector_case(
        bundle,
        monkeypatch,
        path.read_bytes(),
        problem="was built from another base model",
        fix="Use vectors from the same bundle",
    )


def test_vector_with_other_shapes(bundle, monkeypatch):
    from taskfair.vectors import TaskVector

    vec = TaskVector.load(bundle / "vectors/seed-0/fft.safetensors")
    key = next(k for k, t in vec.items() if t.dim() == 2)
    vec.tensors[key] = vec.tensors[key][:, :-8].contiguous()  # another hidden size
    path = bundle.parent / "other.safetensors"
    vec.save(path)
    _vector_case(
        bundle,
        monkeypatch,
        path.read_bytes(),
        problem="does not fit the model",
        fix="use vectors built from this bundle's base",
    )


def test_pickle_renamed_safetensors(bundle, monkeypatch):
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"classifier.weight": torch.zeros(2, 4)}, buf)  # what a .bin / .pt holds
    _vector_case(
        bundle,
        monkeypatch,
        buf.getvalue(),
        problem="It looks like a torch pickle",
        fix="Export the weights with safetensors",
    )


def test_truncated_safetensors(bundle, monkeypatch):
    data = (bundle / "vectors/seed-0/fft.safetensors").read_bytes()
    _vector_case(
        bundle,
        monkeypatch,
        data[: len(data) // 2],
        problem="is truncated",
        fix="Delete it and rebuild",
    )


# ----------------------------------------------------------------------------- the app


def test_upload_over_the_limit_is_refused_by_the_server_config():
    """The dashboard offers no upload; any upload endpoint is bounded by
    ``server.maxUploadSize`` (Streamlit answers 413 above it), set small on purpose."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert 1 <= config["server"]["maxUploadSize"] <= 10  # MB
    assert config["server"]["enableXsrfProtection"] is True  # uploads need the XSRF token
    sources = [ROOT / "app.py", *sorted((ROOT / "dashboard").rglob("*.py"))]
    offenders = [p.name for p in sources if "file_uploader" in p.read_text()]
    assert not offenders, f"an upload widget needs its own validation and test: {offenders}"


@pytest.mark.parametrize("mode", ["full", "viewer"])
def test_bundle_name_with_dotdot(bundle, monkeypatch, mode):
    _bundle_name_case(bundle, monkeypatch, mode, "../../etc", "may not contain '..'")


@pytest.mark.parametrize("mode", ["full", "viewer"])
def test_bundle_name_absolute_path(bundle, monkeypatch, mode):
    _bundle_name_case(bundle, monkeypatch, mode, "/etc", "must be relative")


def _bundle_name_case(bundle: Path, monkeypatch, mode: str, name: str, why: str) -> None:
    """A link naming a bundle by path: refused with a message that says how names look;
    the app stays up on the default bundle, and nothing is opened or written."""
    from streamlit.testing.v1 import AppTest

    from dashboard import cache as ac

    monkeypatch.setenv("TASKFAIR_BUNDLE", str(bundle))
    if mode == "viewer":
        monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    else:
        monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    before = _hashes(bundle)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["page"] = "data"  # evaluates nothing
    at.query_params["bundle"] = name
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    errors = [e.value for e in at.error]
    if mode == "full":  # the path is checked, and refused, with the rule
        assert any("Refusing" in e and why in e and "folder name" in e for e in errors), errors
    else:  # the viewer never resolves paths: only the picker's names exist
        assert any(f"no bundle named {name!r}" in e and "Available:" in e for e in errors), errors
    assert ac.check_bundle_name(name) is not None
    assert at.selectbox(key="bundle").value == bundle.name  # still serving the default
    assert _hashes(bundle) == before


def test_manifest_checksums_do_not_match(bundle, monkeypatch):
    """A file changed after the build (manifest not updated): refused by the CLI and the
    app alike, with the file named and the fix; the app does not repair or touch it."""
    rel = "logs/seed-0/fft.json"
    log = json.loads((bundle / rel).read_text())
    log["edited"] = True
    _replace(bundle, rel, json.dumps(log).encode(), rehash=False)
    before = _hashes(bundle)
    line = _cli_error("info", str(bundle))
    shown = _app_errors(bundle, monkeypatch)
    for msg in [line, *shown[:1]]:
        assert f"the checksum of {rel} does not match" in msg  # the problem and the file
        assert "rerun the build" in msg  # the fix
    assert len(shown) == 1, shown
    assert _hashes(bundle) == before
