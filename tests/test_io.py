"""Atomic writes and user-path safety."""

from __future__ import annotations

import os

import pytest

from taskfair.io import UnsafePathError, atomic_path, atomic_write_bytes, current_umask, safe_child


def test_atomic_write_leaves_no_partial_file_on_error(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half-writ")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_atomic_write_gets_ordinary_permissions(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"x")
    assert os.stat(target).st_mode & 0o777 == 0o666 & ~current_umask()


@pytest.mark.parametrize("name", ["../etc", "/etc/passwd", "a/../../b", "~root", "", " demo"])
def test_safe_child_refuses_escapes(tmp_path, name):
    with pytest.raises(UnsafePathError):
        safe_child(tmp_path, name)


def test_safe_child_accepts_plain_names(tmp_path):
    assert safe_child(tmp_path, "demo") == (tmp_path / "demo").resolve()
    assert safe_child(tmp_path, "a/b") == (tmp_path / "a" / "b").resolve()
