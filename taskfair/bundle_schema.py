"""The structure a bundle's ``manifest.json`` must have, checked before anything reads it.

A manifest is JSON that anyone can edit: valid JSON with the wrong shape (no
``dataset``, a list, ``groups: 5``, ``seeds: ["zero"]``) or with a path that leaves the
bundle (``../../etc/passwd`` as a vector) must be refused with one message, not reach
the code that reads it as a ``KeyError`` or an open file. :func:`check_manifest` checks
the types of every entry the dashboard and the CLI read (layout in
``docs/ARCHITECTURE.md``), the names (:func:`taskfair.names.name_problem`) and that every
path it names is relative and stays inside the bundle.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from taskfair.errors import BundleError
from taskfair.names import label_problem, name_problem, shown

__all__ = ["VECTOR_KINDS", "check_manifest", "path_problem"]

#: The kinds of trained vector a bundle holds.
VECTOR_KINDS = ("fft", "lora", "subgroup")


def path_problem(rel: object) -> str | None:
    """Why ``rel`` cannot be a path inside a bundle (relative, no ``..``), or None."""
    if not isinstance(rel, str) or not rel:
        return f"expected a relative path, got {shown(rel)}"
    if "\x00" in rel or "\\" in rel:
        return f"{shown(rel)} is not a plain relative path"
    p = PurePosixPath(rel)
    if p.is_absolute() or rel.startswith("~") or ".." in p.parts:
        return f"{shown(rel)} leaves the bundle folder (absolute, '~' or '..')"
    return None


class _Checker:
    def __init__(self, name: str):
        self.name = name

    def fail(self, where: str, problem: str) -> BundleError:
        return BundleError(
            f"{self.name}: manifest.json is not a valid bundle manifest: {where} {problem}. "
            "Rebuild the bundle with the build command (or restore its manifest.json)."
        )

    def mapping(self, value: Any, where: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a mapping, got {shown(value)}")
        return value

    def text(self, value: Any, where: str, optional: bool = False) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string, got {shown(value)}")

    def whole(self, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(where, f"must be a whole number >= 0, got {shown(value)}")

    def name_(self, value: Any, where: str) -> None:
        problem = name_problem(value)
        if problem is not None:
            raise self.fail(where, f"{shown(value)} cannot be a name ({problem})")

    def path(self, value: Any, where: str, optional: bool = False) -> None:
        if value is None and optional:
            return
        problem = path_problem(value)
        if problem is not None:
            raise BundleError(
                f"{self.name}: manifest.json names an unsafe path for {where}: {problem}. A "
                "bundle's files stay inside its folder: rebuild the bundle (or restore its "
                "manifest.json)."
            )


def check_manifest(manifest: Any, name: str) -> None:
    """Raise :class:`~taskfair.errors.BundleError` unless ``manifest`` (parsed JSON) has
    the structure of a bundle manifest; ``name`` (the bundle's folder name) heads the
    message."""
    c = _Checker(name)
    m = c.mapping(manifest, "the file")
    ds = c.mapping(m.get("dataset"), "'dataset'")
    c.text(ds.get("attribute"), "'dataset.attribute'")
    groups = ds.get("groups")
    if not isinstance(groups, list) or not groups:
        raise c.fail("'dataset.groups'", f"must be a non-empty list of names, got {shown(groups)}")
    for g in groups:
        c.name_(g, "'dataset.groups'")
    if ds.get("label_name") is not None:  # shown on every page: a name, not Markdown
        problem = label_problem(ds["label_name"])
        if problem is not None:
            raise c.fail(
                "'dataset.label_name'", f"{shown(ds['label_name'])} cannot be a name ({problem})"
            )
    if ds.get("modality", "text") not in ("text", "image"):
        raise c.fail(
            "'dataset.modality'", f"must be 'text' or 'image', got {shown(ds['modality'])}"
        )
    seeds = m.get("seeds")
    if not isinstance(seeds, list) or not seeds:
        raise c.fail("'seeds'", f"must be a non-empty list of whole numbers, got {shown(seeds)}")
    for s in seeds:
        c.whole(s, "'seeds'")
    model = c.mapping(m.get("model"), "'model'")
    c.text(model.get("name"), "'model.name'", optional=True)
    base = c.mapping(m.get("base"), "'base'")
    c.path(base.get("path"), "'base.path'")
    c.text(base.get("fingerprint"), "'base.fingerprint'")
    if "heads" in m:  # seed_draws: rows+head: each seed's own head
        heads = c.mapping(m["heads"], "'heads'")
        for key, h in heads.items():
            where = f"'heads.{shown(key)}"
            if not (isinstance(key, str) and key.isdigit() and int(key) in seeds):
                raise c.fail(where + "'", "must be one of the bundle's seeds")
            h = c.mapping(h, where + "'")
            c.path(h.get("path"), where + ".path'")
            c.text(h.get("fingerprint"), where + ".fingerprint'")
    ev = c.mapping(m.get("eval"), "'eval'")
    c.path(ev.get("path"), "'eval.path'")
    root = ev.get("image_root")
    if root is not None and (
        not isinstance(root, str) or not root or "\x00" in root or ".." in PurePosixPath(root).parts
    ):
        raise c.fail("'eval.image_root'", f"must be a folder (no '..') or null, got {shown(root)}")
    vectors = m.get("vectors")
    if not isinstance(vectors, list):
        raise c.fail("'vectors'", f"must be a list, got {shown(vectors)}")
    for i, v in enumerate(vectors):
        where = f"'vectors[{i}]"
        v = c.mapping(v, where + "'")
        c.name_(v.get("name"), where + ".name'")
        if v.get("kind") not in VECTOR_KINDS:
            raise c.fail(
                where + ".kind'", f"must be one of {list(VECTOR_KINDS)}, got {shown(v.get('kind'))}"
            )
        if v.get("group") is not None:
            c.name_(v["group"], where + ".group'")
        c.whole(v.get("seed"), where + ".seed'")
        c.path(v.get("path"), where + ".path'")
        c.path(v.get("log"), where + ".log'", optional=True)
    for key in ("artifacts", "withheld"):
        if key not in m and key == "withheld":
            continue
        files = c.mapping(m.get(key), f"'{key}'")
        for rel, digest in files.items():
            c.path(rel, f"'{key}'")
            if not isinstance(digest, str):
                raise c.fail(f"'{key}[{rel}]'", f"must be a sha256 string, got {shown(digest)}")
    for key in ("results", "timings", "config"):
        if key in m:
            c.mapping(m[key], f"'{key}'")
    if "weights" in m and not isinstance(m["weights"], bool):
        raise c.fail("'weights'", f"must be true or false, got {shown(m['weights'])}")
