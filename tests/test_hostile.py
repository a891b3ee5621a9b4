"""Hostile and careless input, and faults: one test per case.

Every bad input ends in one clear message naming the problem and the fix (the CLI: one
``error:`` line and exit 2; the app: one ``st.error``, no exception, still up), and
nothing built or cached changes (files hashed before and after). User strings are shown
as text, cached numbers are verified before they are served, a visitor's work is
bounded, a public viewer tells strangers nothing about the server, and a build or a
sweep killed mid-write resumes with no torn file.

The helpers (a CLI run, an app run, a hard-linked bundle copy, file hashes) are the
first round's, from ``test_bad_input``.
"""

from __future__ import annotations

import errno
import html
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_bad_input import (
    _app_errors,
    _bundle_copy,
    _cli,
    _cli_error,
    _config,
    _hashes,
    _replace,
    _rows,
    _table,
    _vector_case,
)

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300
# A group name made of Markdown (without the characters no portable file name may hold:
# "/", ":", "*", "<", ">").
PAYLOAD = "__bold__ _em_ [link](evil.com) ![img](pic.png) ~~gone~~ $x$"


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def bundle(tiny_bundle, tmp_path) -> Path:
    return _bundle_copy(Path(tiny_bundle), tmp_path / "bundle")


@pytest.fixture
def error_details():
    """Restore Streamlit's ``client.showErrorDetails`` after a viewer-mode run (viewer
    mode sets it for the whole process, as a deployment's server would be)."""
    from streamlit import config

    before = config.get_option("client.showErrorDetails")
    yield
    config.set_option("client.showErrorDetails", before)


def _at(folder: Path, monkeypatch, mode: str = "full", page: str = "tradeoff", **params):
    """An AppTest of ``page`` on the bundle in ``folder`` in ``mode``; URL ``params``;
    nothing evaluated unless asked."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TASKFAIR_BUNDLE", str(folder))
    # these tests read the server's widgets (a complete view would move to the browser)
    monkeypatch.setenv("TASKFAIR_SCRUB", "off")
    if mode == "viewer":
        monkeypatch.setenv("TASKFAIR_MODE", "viewer")
    else:
        monkeypatch.delenv("TASKFAIR_MODE", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["page"] = page
    for k, v in params.items():
        at.query_params[k] = v
    at.session_state["refine"] = False
    at.session_state["auto_exact"] = False
    return at


def _run(at):
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _texts(at) -> list[str]:
    """Every Markdown string the page drew: markdown, captions, alerts, widget labels."""
    out = [str(m.value) for m in at.markdown] + [str(c.value) for c in at.caption]
    for kind in ("error", "warning", "info", "success"):
        out += [str(e.value) for e in getattr(at, kind)]
    out += [w.label for w in (*at.checkbox, *at.slider, *at.radio, *at.selectbox, *at.toggle)]
    return out


def _markdown_html(text: str) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["strikethrough", "table"])
    return md.renderInline(text)


def _build_refused(tmp_path: Path, config: Path) -> str:
    """``taskfair build`` refuses before writing: not even the ``--out`` folder exists."""
    out = tmp_path / "out"
    line = _cli_error("build", "--config", str(config), "--out", str(out))
    assert not out.exists(), list(out.rglob("*"))
    return line


def _manifest(bundle: Path) -> dict:
    return json.loads((bundle / "manifest.json").read_text())


def _write_manifest(bundle: Path, manifest) -> None:
    _replace(bundle, "manifest.json", json.dumps(manifest, indent=2).encode(), rehash=False)


# ----------------------------------------------------------------------------- 1. names


@pytest.mark.parametrize(
    "name, problem",
    [
        ("demo\x00x", "control character U+0000"),
        ("x" * 10_000, "10,000 characters long"),
        ("g" * 300, "300 characters long"),
        ("😀" * 60, "240 bytes long in UTF-8"),
        ("two\nlines", "control character U+000A"),
        ("ab\u202ecd", "control character U+202E"),  # a bidi override: looks like "abdc"
        ("a/b", "may not contain '..' or path separators"),
        ("..", "may not contain '..' or path separators"),
        ("a\\b", "may not contain '..' or path separators"),
        (".hidden", "starts with '.'"),
        ("~user", "starts with '~'"),
        ("CON", "device name Windows reserves"),
        ("lpt1.txt", "device name Windows reserves"),
        ("what?", "which Windows file names may not"),
        ("a:b", "which Windows file names may not"),
        ("ends.", "ends with a dot"),
        (" padded", "starts or ends with a space"),
        ("", "it is empty"),
        (5, "a name is text"),
    ],
)
def test_names_that_a_file_system_or_the_ui_refuse(name, problem):
    from taskfair.errors import UnsafePathError
    from taskfair.names import check_name

    with pytest.raises(UnsafePathError) as exc:
        check_name(name, "group name")
    msg = str(exc.value)
    assert problem in msg, msg
    assert len(msg) < 400  # a 10,000-character name is not repeated back


def test_ordinary_names_pass():
    from taskfair.names import check_name

    for name in ("women", "African American", "other_race_or_ethnicity", "Ελληνικά", "a" * 100):
        assert check_name(name) == name


@pytest.mark.parametrize("mode", ["full", "viewer"])
@pytest.mark.parametrize(
    "name, problem",
    [("demo\x00x", "control character U+0000"), ("x" * 10_000, "10,000 characters long")],
)
def test_bundle_names_the_os_refuses_in_a_link(bundle, monkeypatch, mode, name, problem):
    """Before: ``ValueError: embedded null byte`` / ``OSError: File name too long`` with a
    traceback in full mode. Now one message, the default bundle still served."""
    before = _hashes(bundle)
    at = _run(_at(bundle, monkeypatch, mode, page="data", bundle=name))
    errors = [e.value for e in at.error]
    assert len(errors) == 1, errors
    if mode == "full":
        assert problem in errors[0] and "Use a short name" in errors[0], errors
    else:  # the viewer answers every unknown name alike
        assert "There is no bundle named" in errors[0] and "Available" in errors[0], errors
    assert len(errors[0]) < 500
    assert at.selectbox(key="bundle").value == bundle.name
    assert _hashes(bundle) == before


@pytest.mark.parametrize("mode", ["full", "viewer"])
def test_absolute_path_in_a_link_answers_the_same_whether_it_exists(
    bundle, tmp_path, monkeypatch, mode
):
    """Before: in full mode ``?bundle=/abs/path`` of a real bundle answered "Unknown
    bundle", of anything else "Refusing the path": an oracle for the server's folders."""
    real = _bundle_copy(bundle, tmp_path / "elsewhere")  # a real bundle, outside models/
    answers = []
    for path in (real, tmp_path / "nothing-here"):
        at = _run(_at(bundle, monkeypatch, mode, page="data", bundle=str(path)))
        # The name as typed is shown back (cut, with its length); nothing else differs.
        answers.append(
            [re.sub(r"'[^']*'|\([\d,]+ characters\)", "NAME", e.value) for e in at.error]
        )
        assert at.selectbox(key="bundle").value == bundle.name
    assert answers[0] == answers[1] and len(answers[0]) == 1, answers


def test_group_name_too_long_is_refused_before_anything_is_written(tmp_path):
    """Before: base, FFT and LoRA trained, then the build died writing the group's log
    and left a 261 MB partial bundle."""
    long = "g" * 300
    table = _table(tmp_path, "\n".join(["text,label,grp", *_rows(60, groups=("a", long))]) + "\n")
    line = _build_refused(tmp_path, _config(tmp_path, table))
    assert f"Group name '{'g' * 60}'… (300 characters)" in line
    assert "300 characters long" in line and "Rename the group" in line


# ----------------------------------------------------------------------------- 1. numbers


def _float_fields():
    from dataclasses import fields

    from taskfair.build.config import BuildConfig, LoraConfig

    out = [(f.name, None) for f in fields(BuildConfig) if f.type == "float"]
    out += [(f.name, "lora") for f in fields(LoraConfig) if f.type == "float"]
    return out


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_every_float_field_of_the_build_config_must_be_finite(value):
    from taskfair.build.config import BuildConfig
    from taskfair.errors import ConfigError

    fields_ = _float_fields()
    assert {"lr", "weight_decay", "warmup_ratio", "max_grad_norm"} <= {n for n, _ in fields_}
    for name, section in fields_:
        data = {"dataset": {"name": "hatexplain"}, "attribute": "target"}
        if section:
            data[section] = {name: value}
        else:
            data[name] = value
        with pytest.raises(ConfigError, match="is not a finite number"):
            BuildConfig.from_dict(data)


@pytest.mark.parametrize(
    "name",
    ["epochs", "group_epochs", "batch_size", "max_length", "image_size", "train_rows", "seeds"],
)
def test_whole_number_fields_are_bounded(name):
    from taskfair.build.config import BuildConfig
    from taskfair.errors import ConfigError

    data = {"dataset": {"name": "hatexplain"}, "attribute": "target"}
    data[name] = [10**20] if name == "seeds" else 10**20
    with pytest.raises(ConfigError, match="is above the limit of"):
        BuildConfig.from_dict(data)


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("lr", float("nan"), "config field 'lr': nan is not a finite number"),
        ("epochs", 10**20, "config field 'epochs': 100000000000000000000 is above the limit"),
        ("epochs", "1e20", "config field 'epochs': expected a whole number"),
    ],
)
def test_numbers_that_are_not_numbers_in_a_build_config(tmp_path, field, value, problem):
    """Before: ``lr: .nan`` wrote ``base/`` and died with a traceback; ``epochs: 1e20``
    (as a whole number) ran."""
    table = _table(tmp_path, "\n".join(["text,label,grp", *_rows(60)]) + "\n")
    cfg = yaml.safe_load(_config(tmp_path, table).read_text())
    cfg[field] = value
    path = tmp_path / "build.yaml"
    path.write_text(yaml.safe_dump(cfg))
    line = _build_refused(tmp_path, path)
    assert problem in line, line


@pytest.mark.parametrize(
    "args, problem",
    [
        (("--lams", "0,abc"), "--lams: 'abc' is not a finite number"),
        (("--lams", "nan"), "--lams: 'nan' is not a finite number"),
        (("--seed", "x"), "--seed 'x': this bundle's seeds are [0]"),
        (("--splits", "train"), "--splits 'train': give a comma-separated subset of"),
    ],
)
def test_sweep_arguments_that_cannot_be_used(bundle, args, problem):
    """Before: ``float('abc')`` / ``int('x')`` tracebacks, and a NaN λ evaluated."""
    before = _hashes(bundle)
    line = _cli_error("sweep", "--bundle", str(bundle), *args)
    assert problem in line, line
    assert _hashes(bundle) == before


# ----------------------------------------------------------------------------- 1. CSVs


def test_trailing_comma_on_every_row_is_read_as_meant(tmp_path):
    """Before: pandas took the first column as the index; every column shifted by one and
    the hint spoke of non-binary labels."""
    from taskfair.data import load_dataset

    plain = _table(tmp_path, "\n".join(["text,label,grp", *_rows(40)]) + "\n", "plain.csv")
    trailing = _table(
        tmp_path, "\n".join(["text,label,grp", *(r + "," for r in _rows(40))]) + "\n", "t.csv"
    )
    a = load_dataset(plain, group_cols=["grp"]).frame
    b = load_dataset(trailing, group_cols=["grp"]).frame
    pd.testing.assert_frame_equal(a, b)


def test_extra_field_with_values_on_every_row_is_refused(tmp_path):
    from taskfair.data import DataError, load_dataset

    table = _table(tmp_path, "\n".join(["text,label,grp", *(r + ",x" for r in _rows(40))]) + "\n")
    with pytest.raises(DataError, match="a column name is missing from the header"):
        load_dataset(table, group_cols=["grp"])


def test_trailing_comma_and_a_blank_cell(tmp_path):
    """Before: ``invalid literal for int()`` and a 43-line traceback from the build."""
    rows = [r + "," for r in _rows(40)]
    rows[3] = "post number 3,,b,"
    table = _table(tmp_path, "\n".join(["text,label,grp", *rows]) + "\n")
    line = _build_refused(tmp_path, _config(tmp_path, table))
    assert "1 rows have no value in label column 'label'" in line and "row" in line
    assert "Fill or remove them" in line


def test_nan_labels_are_missing_labels(tmp_path):
    """Before: the hint suggested ``positive_labels=['nan']``."""
    rows = _rows(40)
    rows[3], rows[5] = "post 3,NaN,a", "post 5,nan,b"
    table = _table(tmp_path, "\n".join(["text,label,grp", *rows]) + "\n")
    line = _build_refused(tmp_path, _config(tmp_path, table))
    assert "2 rows have no value in label column 'label'" in line and "NaN" in line
    assert "positive_labels" not in line


def test_duplicated_label_column_is_refused(tmp_path):
    """Before: the first of the two was used, silently."""
    rows = [f"post {i},{i % 2},{1 - i % 2},{'ab'[i % 2]}" for i in range(40)]
    table = _table(tmp_path, "\n".join(["text,label,label,grp", *rows]) + "\n")
    line = _build_refused(tmp_path, _config(tmp_path, table))
    assert "names the column(s) ['label'] more than once" in line
    assert "Rename or remove the duplicates" in line


def test_non_utf8_file_gets_an_encoding_hint(tmp_path):
    """Before: the hint spoke of fields and quotes."""
    path = tmp_path / "posts.csv"
    text = "\n".join(["text,label,grp", *_rows(40), "café au lait,1,a"]) + "\n"
    path.write_bytes(text.encode("latin-1"))
    line = _build_refused(tmp_path, _config(tmp_path, path))
    assert "is not UTF-8 text" in line and "0xe9" in line and "Save it as UTF-8" in line


def test_a_split_left_empty_is_refused(tmp_path):
    """Before: a 2-row file was accepted (val and test empty)."""
    table = _table(tmp_path, "text,label,grp\npost one,0,a\npost two,1,b\n")
    line = _build_refused(tmp_path, _config(tmp_path, table, min_group_rows=1))
    assert "no rows in split(s) ['val', 'test']" in line
    assert "give the table more rows, or a split column" in line


# ----------------------------------------------------------------------------- 2. markup


@pytest.mark.parametrize(
    "text",
    [
        PAYLOAD,
        "<b>html</b> <script>alert(1)</script>",
        "`code` # heading | pipe | &amp; \\*",
        "1. a list",
        "- a bullet",
        "> a quote",
        "two\nlines",
        ":red[colour] :material/home:",
    ],
)
def test_escaped_markdown_renders_as_the_text_itself(text):
    from taskfair.safe_text import escape_markdown

    out = _markdown_html(escape_markdown(text))
    assert not re.search(r"<(?!/?p>)", out), out  # no tag at all: no link, image, bold
    assert html.unescape(out) == " ".join(text.splitlines())


def _renamed(src: Path, dst: Path, old: str, new: str) -> Path:
    """A copy of ``src`` whose subgroup ``old`` is called ``new`` everywhere (data,
    manifest, file names, checksums): as if the data had named it so."""
    from taskfair.io import sha256_file

    out = _bundle_copy(src, dst)
    m = _manifest(out)
    attr = m["dataset"]["attribute"]
    frame = pd.read_parquet(out / "eval.parquet")
    frame[attr] = frame[attr].replace(old, new)
    (out / "eval.parquet").unlink()
    frame.to_parquet(out / "eval.parquet", index=False)
    m["artifacts"]["eval.parquet"] = sha256_file(out / "eval.parquet")
    ds = m["dataset"]
    ds["groups"] = [new if g == old else g for g in ds["groups"]]
    for section in ("group_counts", "base_rates"):
        for split, per in ds.get(section, {}).items():
            ds[section][split] = {(new if g == old else g): n for g, n in per.items()}
    ds["train_rows_used"] = {(new if k == old else k): n for k, n in ds["train_rows_used"].items()}
    for v in m["vectors"]:
        if v["name"] == old:
            for kind in ("path", "log"):
                rel = v[kind].replace(f"/{old}.", f"/{new}.")
                os.rename(out / v[kind], out / rel)
                m["artifacts"][rel] = m["artifacts"].pop(v[kind])
                v[kind] = rel
            v["name"] = v["group"] = new
    res = m["results"]["vectors"]
    res[f"seed-0/{new}"] = res.pop(f"seed-0/{old}")
    _write_manifest(out, m)
    return out


@pytest.mark.parametrize("page", ["injection", "data"])
def test_group_names_are_shown_as_text(tiny_bundle, tmp_path, monkeypatch, page):
    """Before: the injection page's "Current mix" and the Data page rendered group names
    as Markdown: bold text, links and images fetched from anywhere appeared."""
    first = _manifest(Path(tiny_bundle))["dataset"]["groups"][0]
    bundle = _renamed(Path(tiny_bundle), tmp_path / "marked", first, PAYLOAD)
    before = _hashes(bundle)
    at = _run(_at(bundle, monkeypatch, page=page))
    assert not at.error, [e.value for e in at.error]
    shown = [t for t in _texts(at) if "bold" in t]
    assert shown, _texts(at)  # the group is on the page ...
    for text in shown:  # ... as its text: no tag of the name's own
        out = _markdown_html(text)
        assert "evil.com" not in re.findall(r'href="([^"]*)"', out), out
        assert "<img" not in out and "<s>" not in out, out
        assert PAYLOAD in html.unescape(re.sub(r"</?(strong|em)>", "", out)), out
    assert _hashes(bundle) == before


# ----------------------------------------------------------------------------- 3. manifests


def _bad_manifests():
    def drop_dataset(m):
        del m["dataset"]
        return m

    def groups_five(m):
        m["dataset"]["groups"] = 5
        return m

    def seeds_zero(m):
        m["seeds"] = ["zero"]
        return m

    def vector_path(m):
        m["vectors"][0]["path"] = "../../etc/passwd"
        return m

    def eval_path(m):
        m["eval"]["path"] = "../eval.parquet"
        return m

    def log_path(m):
        m["vectors"][0]["log"] = "logs/../../x.json"
        return m

    return [
        ("no dataset", drop_dataset, "'dataset' must be a mapping"),
        ("a list", lambda m: [m], "the file must be a mapping, got [{"),
        ("groups: 5", groups_five, "'dataset.groups' must be a non-empty list of names, got 5"),
        ("seeds: zero", seeds_zero, "'seeds' must be a whole number >= 0, got 'zero'"),
        ("vector path ..", vector_path, "unsafe path for 'vectors[0].path'"),
        ("eval path ..", eval_path, "unsafe path for 'eval.path'"),
        ("log path ..", log_path, "unsafe path for 'vectors[0].log'"),
    ]


@pytest.mark.parametrize(
    "edit, problem", [c[1:] for c in _bad_manifests()], ids=[c[0] for c in _bad_manifests()]
)
def test_manifest_with_the_wrong_structure(bundle, monkeypatch, edit, problem):
    """Before: raw ``KeyError`` / ``TypeError`` tracebacks in ``info`` and the app; ``..``
    in a vector, eval or log path was an uncaught exception, and ``info`` said OK."""
    _write_manifest(bundle, edit(_manifest(bundle)))
    before = _hashes(bundle)
    line = _cli_error("info", str(bundle))
    shown = _app_errors(bundle, monkeypatch, page="data")
    assert len(shown) == 1, shown
    for msg in (line, shown[0]):
        assert problem in msg.replace("\\", ""), msg  # the problem (escaped in the app)
        assert "Rebuild the bundle" in msg or "rebuild the bundle" in msg  # the fix
    assert _hashes(bundle) == before


# ----------------------------------------------------------------------------- 3. sweep cache


@pytest.fixture
def cached(bundle):
    """``(bundle, evaluator, setting, key)``: the bundle copy with one exact point (the
    base on test) in its cache, and the evaluator that computed it."""
    from taskfair.bundle import Bundle
    from taskfair.sweep import Evaluator, PointStore, reference_settings

    b = Bundle.open(bundle)
    ev = Evaluator.from_bundle(b, seed=0)
    store = PointStore.for_bundle(b, 0, lambda: ev)
    (base,) = [s for s in reference_settings(store.names) if s.method == "base"]
    store.evaluate(base, "test")
    return bundle, ev, base, store.key(base, "test")


def _fresh_store(cached):
    from taskfair.bundle import Bundle
    from taskfair.sweep import PointStore

    bundle, ev, _, _ = cached
    return PointStore.for_bundle(Bundle.open(bundle), 0, lambda: ev)


def _sidecar(folder: Path, key: str, **checksums) -> None:
    """Rewrite a point's sidecar: its checksums replaced (``None``: removed)."""
    from taskfair.io import sha256_file

    path = folder / f"{key}.json"
    meta = json.loads(path.read_text())
    for what, file in checksums.items():
        if file is None:
            meta.pop("checksums", None)
        else:
            meta["checksums"][what] = sha256_file(folder / file)
    path.write_text(json.dumps(meta))


def _edit_rows(folder: Path, key: str, **changes) -> pd.DataFrame:
    path = folder / f"{key}.parquet"
    rows = pd.read_parquet(path)
    edited = rows.assign(**{k: v(rows[k]) for k, v in changes.items()})
    edited.to_parquet(path, index=False)
    return rows


def _tamper_numbers(folder, key):
    return _edit_rows(folder, key, accuracy=lambda a: a * 0 + 0.99)


def _tamper_schema(folder, key):
    rows = pd.read_parquet(folder / f"{key}.parquet")
    rows.rename(columns={"group": "grp"}).to_parquet(folder / f"{key}.parquet", index=False)
    _sidecar(folder, key, rows=f"{key}.parquet")  # the checksum matches: the schema is wrong
    return rows


def _tamper_shape(folder, key):
    logits = np.load(folder / f"{key}.logits.npy")
    np.save(folder / f"{key}.logits.npy", np.concatenate([logits, logits[:, :1]], axis=1))
    _sidecar(folder, key, logits=f"{key}.logits.npy")
    return pd.read_parquet(folder / f"{key}.parquet")


def _tamper_nan(folder, key):
    logits = np.load(folder / f"{key}.logits.npy")
    np.save(folder / f"{key}.logits.npy", np.full_like(logits, np.nan))
    _sidecar(folder, key, logits=f"{key}.logits.npy")
    return pd.read_parquet(folder / f"{key}.parquet")


def _tamper_legacy(folder, key):
    """An entry from before checksums (none in its sidecar), its numbers edited."""
    _sidecar(folder, key, rows=None)
    return _tamper_numbers(folder, key)


@pytest.mark.parametrize(
    "tamper, warning",
    [
        (_tamper_numbers, "does not match the checksum in its sidecar"),
        (_tamper_schema, "have the columns"),
        (_tamper_shape, "its logits have shape (60, 3)"),
        (_tamper_nan, "its logits hold NaN or infinite values"),
        (_tamper_legacy, "its sidecar records no checksum of its rows"),
    ],
    ids=["edited numbers", "other schema", "wrong shape", "NaN logits", "no checksum"],
)
def test_cached_points_are_verified_before_they_are_served(cached, caplog, tamper, warning):
    """Before: another schema gave ``KeyError: 'group'``, logits of the wrong shape
    broadcast errors, edited numbers were served as "exact". Now each is a cache miss
    with a warning in the log, evaluated again and rewritten atomically."""
    from taskfair.sweep import SweepCache

    bundle, ev, setting, key = cached
    folder = bundle / "sweeps"
    original = tamper(folder, key)
    store = _fresh_store(cached)
    with caplog.at_level(logging.WARNING, logger="taskfair"):
        assert store.rows(setting, "test") is None  # a miss, not an error
        assert store.rows(setting, "test") is None  # (warned once, not on every redraw)
    warned = [r.getMessage() for r in caplog.records if key[:12] in r.getMessage()]
    assert len(warned) == 1 and warning in warned[0], warned
    n = ev.n_evaluations
    again = store.evaluate(setting, "test")
    assert ev.n_evaluations == n + 1  # recomputed
    pd.testing.assert_frame_equal(again, original)
    entry = SweepCache(folder).entry(key, 60)  # rewritten, checksums and all
    assert entry is not None and entry.meta["checksums"]
    pd.testing.assert_frame_equal(entry.rows, original)
    assert not list(folder.glob(".*.tmp"))


def test_vector_full_of_nan_with_a_matching_checksum(bundle, monkeypatch):
    """Before: shown as an exact accuracy with no warning."""
    import torch

    from taskfair.vectors import TaskVector

    vec = TaskVector.load(bundle / "vectors/seed-0/fft.safetensors")
    vec = TaskVector({k: torch.full_like(t, float("nan")) for k, t in vec.items()}, vec.meta)
    path = bundle.parent / "nan.safetensors"
    vec.save(path)
    _vector_case(
        bundle,
        monkeypatch,
        path.read_bytes(),
        problem="fft.safetensors holds NaN or infinite values",
        fix="Delete it and rerun the build",
    )


def test_merge_coefficients_must_be_finite(cached):
    from taskfair.errors import VectorError

    _, ev, _, _ = cached
    with pytest.raises(VectorError, match="Coefficients must be finite"):
        ev.merger.apply({"fft": float("nan")})


# ----------------------------------------------------------------------------- 4. bounded work


def test_admission_is_bounded_per_session_and_overall():
    from taskfair.views.admission import Admission

    adm = Admission(per_session=1, overall=2)
    assert adm.enter("a") and not adm.enter("a")  # one per session
    assert adm.enter("b") and not adm.enter("c")  # two in all
    adm.leave("a")
    with adm.ticket("c") as ok:
        assert ok and adm.busy == 2
    with pytest.raises(RuntimeError), adm.ticket("d") as ok:
        assert not ok or adm.busy == 2
        raise RuntimeError  # a stop mid-evaluation gives the ticket back
    assert adm.busy == 1


def test_lru_keeps_the_most_recent_entries():
    from taskfair.sweep.lru import LRU

    dropped = []
    lru = LRU(2, on_evict=dropped.append)
    lru["a"], lru["b"] = 1, 2
    assert lru.get("a") == 1  # a is now the most recent
    lru["c"] = 3
    assert dropped == ["b"] and "a" in lru and "c" in lru and len(lru) == 2


def test_point_store_memory_is_bounded(cached, monkeypatch):
    """Before: points and previews were kept without bound (200 mixes, 200 entries)."""
    import taskfair.sweep.store as store_mod
    from taskfair.sweep import reference_settings, task_addition_settings

    bundle, ev, base, _ = cached
    monkeypatch.setattr(store_mod, "MAX_POINTS", 2)
    monkeypatch.setattr(store_mod, "MAX_PREVIEWS", 3)
    store = _fresh_store(cached)
    curve = task_addition_settings(store.groups, [0.0, 1.0], "sum")
    refs = [s for s in reference_settings(store.names) if s.method != "base"]
    for s in [*curve, *refs]:
        store.evaluate(s, "test")
    assert len(store._rows) == 2 and len(store._logits) <= 2 and len(store._meta) <= 2
    n = ev.n_evaluations
    for s in [base, *curve, *refs]:  # every point still served (read again from disk)
        assert store.rows(s, "test") is not None
    assert ev.n_evaluations == n
    points = list(zip([0.0, 1.0], curve, strict=True))
    for x in np.linspace(0.05, 0.95, 10):
        (mid,) = task_addition_settings(store.groups, [float(x)], "sum")
        assert not store.curve_point(points, "test", float(x), mid)["exact"].any()
    assert len(store._previews) == 3


@pytest.fixture
def swept(bundle):
    """The bundle copy with λ = 0.3 and 0.4 (task addition, sum) and FFT/LoRA on test."""
    from taskfair.bundle import Bundle
    from taskfair.sweep import Evaluator, PointStore, reference_settings, task_addition_settings

    b = Bundle.open(bundle)
    store = PointStore.for_bundle(b, 0, lambda: Evaluator.from_bundle(b, seed=0))
    groups = store.groups
    settings = task_addition_settings(groups, [0.3, 0.4], "sum")
    settings += [s for s in reference_settings(store.names) if s.method != "base"]
    store.sweep(settings, ["test"])
    return bundle


def test_viewer_evaluates_nothing_beyond_the_shipped_points(swept, monkeypatch, error_details):
    """Before: any λ in a link (and any mix) was evaluated exactly in viewer mode, 15-30 s
    of CPU each on the demo, and kept in memory without bound. Now the viewer serves the
    shipped points and labels everything else a preview, even with weights."""
    from dashboard import cache as ac

    before = _hashes(swept)
    at = _at(swept, monkeypatch, "viewer", lam="0.35")
    at.session_state["auto_exact"] = True  # what a visitor has
    at.session_state["refine"] = True
    _run(at)
    assert any("— *preview*" in m.value for m in at.markdown)
    assert any("λ = 0.35 (from the link) lies between the grid" in c.value for c in at.caption)
    assert any("Read-only viewer" in i.value for i in at.info)
    assert not [b for b in at.button if "Evaluate" in b.label] and not at.toggle
    store = ac.store(str(swept), 0)
    assert not store.can_evaluate and store._loaded is False
    at = _run(_at(swept, monkeypatch, "viewer", page="injection", anchor="base"))
    assert any("— *not evaluated yet*" in m.value for m in at.markdown)  # a mix: not shipped
    assert _hashes(swept) == before


def test_full_mode_evaluates_an_off_grid_link_only_on_click(swept, monkeypatch):
    from dashboard import cache as ac
    from taskfair.sweep import task_addition_settings

    at = _at(swept, monkeypatch, lam="0.35")
    at.session_state["auto_exact"] = True
    _run(at)
    store = ac.store(str(swept), 0)
    (setting,) = task_addition_settings(store.groups, [0.35], "sum")
    assert not store.has(setting, "test")  # not on release, not in the background
    assert any("asks for a point off the grid" in i.value for i in at.info)
    assert any("— *preview*" in m.value for m in at.markdown)
    (button,) = [b for b in at.button if b.label == "Evaluate exactly"]
    button.click()
    _run(at)
    assert store.has(setting, "test")
    assert any("— *exact*" in m.value for m in at.markdown)


def test_a_full_server_says_busy_and_evaluates_later(swept, monkeypatch):
    from dashboard import cache as ac
    from taskfair.sweep import task_addition_settings
    from taskfair.views.admission import Admission

    adm = Admission(per_session=1, overall=2)
    assert adm.enter("visitor-1") and adm.enter("visitor-2")  # two others hold every slot
    monkeypatch.setattr(ac, "admission", lambda: adm)
    at = _at(swept, monkeypatch, lam="0.5")
    at.session_state["auto_exact"] = True
    _run(at)
    store = ac.store(str(swept), 0)
    (setting,) = task_addition_settings(store.groups, [0.5], "sum")
    assert not store.has(setting, "test")
    assert any("evaluating for other visitors" in c.value for c in at.caption)
    adm.leave("visitor-1")
    _run(at)  # the page's next refresh
    assert store.has(setting, "test") and adm.busy == 1


# ----------------------------------------------------------------------------- 5. viewer exposure


def test_viewer_hides_error_details_by_itself(bundle, monkeypatch, error_details):
    """Before: tracebacks with server paths unless the deployment set Streamlit's option."""
    from streamlit import config

    import taskfair.plots

    def broken(*args, **kwargs):
        raise RuntimeError(f"boom in {ROOT}/secret.py")

    monkeypatch.setattr(taskfair.plots, "group_sizes_figure", broken)
    config.set_option("client.showErrorDetails", "full")  # what a careless host has
    at = _run(_at(bundle, monkeypatch, "viewer", page="data"))
    assert config.get_option("client.showErrorDetails") == "none"
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "Something went wrong" in errors[0], errors
    assert not any(str(ROOT) in t or "boom" in t for t in _texts(at))


def test_viewer_shows_no_server_path(bundle, monkeypatch, error_details):
    """The Data page and messages: file names, never where the server keeps them."""
    m = _manifest(bundle)
    m["complete"] = False  # a message that names the bundle's folder
    from taskfair.safe_text import redact_paths

    at = _run(_at(bundle, monkeypatch, "viewer", page="data"))
    code = [c.value for c in at.code]
    shown = [*_texts(at), *code]
    assert code and str(ROOT) in json.dumps(m)  # the manifest holds server paths ...
    # ... and the page shows none of them
    assert all(redact_paths(t) == t for t in shown), [t for t in shown if redact_paths(t) != t]
    _write_manifest(bundle, m)
    at = _run(_at(bundle, monkeypatch, "viewer", page="data"))
    (err,) = [e.value for e in at.error]
    assert "is incomplete" in err and redact_paths(err) == err, err


# ----------------------------------------------------------------------------- 6. failed builds


def test_data_error_leaves_no_out_folder(tmp_path):
    """Before: an empty ``--out`` folder (the lock was taken before the data check)."""
    table = _table(tmp_path, "\n".join(["txt,label,grp", *_rows(20)]) + "\n")
    line = _build_refused(tmp_path, _config(tmp_path, table))
    assert "column 'text' (text_col) not found" in line


def test_model_name_typo_leaves_nothing(tmp_path, monkeypatch):
    """Before: a partial manifest that refused the corrected config for ever."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the typo is not looked up on the hub
    table = _table(tmp_path, "\n".join(["text,label,grp", *_rows(60)]) + "\n")
    line = _build_refused(tmp_path, _config(tmp_path, table, model="minlm", min_group_rows=5))
    assert "minlm" in line


def _config_of(bundle: Path, tmp_path: Path, **changes) -> Path:
    """A YAML config equal to the one ``bundle`` was built from (plus ``changes``)."""
    cfg = dict(_manifest(bundle)["config"], **changes)
    path = tmp_path / "again.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.slow
def test_a_bundle_of_another_config_is_replaced_with_one_flag(bundle, tmp_path):
    from taskfair.build import build_bundle, load_config
    from taskfair.bundle import Bundle

    other = _config_of(bundle, tmp_path, head_seed=7)  # the corrected config
    before = _hashes(bundle)
    line = _cli_error("build", "--config", str(other), "--out", str(bundle))
    assert "holds a complete bundle of a different config" in line
    assert "rerun with --replace to discard it and build this config" in line
    assert _hashes(bundle) == before

    class Stop(Exception):
        pass

    def stop_after_base(key):
        if key == "base":
            raise Stop

    with pytest.raises(Stop):  # enough to see the old bundle gone and the new one begun
        build_bundle(load_config(other), bundle, replace=True, on_artifact=stop_after_base)
    m = _manifest(bundle)
    assert m["config"]["head_seed"] == 7 and sorted(m["artifacts"]) == sorted(
        k for k in before if k.startswith("base/")
    )
    assert not (bundle / "vectors").exists() and not (bundle / "logs").exists()
    with pytest.raises(Exception, match="incomplete"):
        Bundle.open(bundle)


# ----------------------------------------------------------------------------- 7. faults

_KILLER = """
import os, signal, sys
sys.path.insert(0, {root!r})
import {module} as target
from taskfair.io import atomic_path
real, calls = target.{name}, []


def killed(*args, **kwargs):
    calls.append(args)
    if len(calls) == {at}:  # mid-write: half the bytes in the temporary file, then SIGKILL
        {write}
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)


target.{name} = killed
from taskfair.cli import main
sys.exit(main({argv!r}))
"""


def _killed(tmp_path: Path, module: str, name: str, at: int, write: str, argv: list[str]):
    script = tmp_path / "killed.py"
    script.write_text(
        _KILLER.format(root=str(ROOT), module=module, name=name, at=at, write=write, argv=argv)
    )
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=dict(os.environ, PYTHONWARNINGS="ignore", TQDM_DISABLE="1"),
    )


@pytest.mark.slow
def test_build_killed_mid_write_resumes_with_no_torn_file(bundle, tmp_path):
    from taskfair.bundle import Bundle
    from taskfair.vectors import TaskVector

    # As if the build had stopped before its last subgroup vector.
    m = _manifest(bundle)
    last = m["vectors"][-1]
    for rel in (last["path"], last["log"]):
        m["artifacts"].pop(rel)
        (bundle / rel).unlink()
    m["complete"] = False
    _write_manifest(bundle, m)
    config = _config_of(bundle, tmp_path)
    write = textwrap.dedent(
        """
        real(*args, **kwargs)
        path = args[1]
        os.truncate(path, os.path.getsize(path) // 2)
        """
    ).replace("\n", "\n        ")
    res = _killed(
        tmp_path,
        "taskfair.vectors.files",  # where a vector's file is written
        "save_file",
        1,
        write,
        # the vectors are what this test is about; the sweep step would only add minutes
        ["build", "--config", str(config), "--out", str(bundle), "--no-sweeps"],
    )
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    vec_dir = bundle / Path(last["path"]).parent
    torn = list(vec_dir.glob(".*.tmp"))
    assert len(torn) == 1 and not (bundle / last["path"]).exists()  # torn, never renamed

    res = _cli("build", "--config", str(config), "--out", str(bundle), "--no-sweeps")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "left by an interrupted write" in res.stderr + res.stdout
    b = Bundle.open(bundle, verify=True)  # every recorded file matches its checksum
    assert b.manifest["complete"] and last["path"] in b.manifest["artifacts"]
    assert not list(bundle.rglob("*.tmp"))
    TaskVector.load(bundle / last["path"])  # whole, finite


@pytest.mark.slow
def test_sweep_killed_mid_write_resumes_with_no_torn_file(bundle, tmp_path):
    from taskfair.bundle import Bundle
    from taskfair.sweep import SweepCache

    write = textwrap.dedent(
        """
        target_path, data = args
        with atomic_path(target_path) as tmp:
            tmp.write_bytes(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        """
    ).replace("\n", "\n        ")
    argv = ["sweep", "--bundle", str(bundle), "--method", "references", "--splits", "test"]
    # Each point writes its logits, then its rows: call 4 is the second point's rows.
    res = _killed(tmp_path, "taskfair.sweep.cache", "atomic_write_bytes", 4, write, argv)
    assert res.returncode == -signal.SIGKILL, res.stderr[-3000:]
    folder = bundle / "sweeps"
    assert len(list(folder.glob("*.parquet"))) == 1 and list(folder.glob(".*.tmp"))

    res = _cli(*argv)
    assert res.returncode == 0, res.stderr[-3000:]
    cache = SweepCache(folder)
    keys = [p.name.split(".")[0] for p in folder.glob("*.parquet")]
    # FFT, LoRA and the base, and the matched FFT and LoRA of the class-balanced variant
    assert len(keys) == 5
    n = len(Bundle.open(bundle).eval_frame.query("split == 'test'"))
    for key in keys:  # every point whole: its files match the checksums in its sidecar
        entry = cache.entry(key, n)
        assert entry is not None and set(entry.meta["checksums"]) == {"rows", "logits"}


def test_cache_write_failure_shows_a_message_and_serves_from_memory(swept, monkeypatch):
    """The disk is full: the point is exact from memory, the page says so."""
    import taskfair.sweep.cache as cache_mod
    from dashboard import cache as ac
    from taskfair.sweep import task_addition_settings

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    # a full disk refuses every write: the points' files and the bands' JSON records
    monkeypatch.setattr(cache_mod, "atomic_write_bytes", full)
    monkeypatch.setattr(cache_mod, "atomic_write_json", full)
    before = _hashes(swept)
    at = _at(swept, monkeypatch, lam="0.6")
    at.session_state["auto_exact"] = True
    _run(at)
    store = ac.store(str(swept), 0)
    (setting,) = task_addition_settings(store.groups, [0.6], "sum")
    assert store.has(setting, "test") and store.key(setting, "test") not in store.cache
    assert any("— *exact*" in m.value for m in at.markdown)
    # one message for the cache (the point's own warnings, e.g. a degenerate group, may
    # sit beside it)
    (warning,) = [w.value for w in at.warning if "sweep cache" in w.value]
    assert "could not be written" in warning and "No space left on device" in warning
    assert _hashes(swept) == before
