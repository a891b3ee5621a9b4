"""Put a dataset under ``data/<name>/``: copy the project's shared copy, or download,
verify and convert the public original.

:func:`prepare_data` is what ``make data`` / ``python -m taskfair prepare-data`` run.

* A shared copy (``<shared>/<name>/``, where ``<shared>`` is ``shared_dir``, else
  ``$TASKFAIR_SHARED_DATA``, else ``../shared/data`` beside the project) is copied file by
  file, each through a temporary file and a rename, and each file with a known sha256 is
  verified; sub-folders (UTKFace's ``images/``) are copied into a temporary folder that
  is renamed into place. Files already present and verified are skipped.
* Without a shared copy, HateXplain's ``Data/dataset.json`` is downloaded from GitHub at a
  pinned commit, verified by its git blob id, and converted by
  :func:`convert_hatexplain_json` into the CSV schema that :func:`taskfair.data.load_hatexplain`
  reads. UTKFace is never downloaded (its licence forbids redistribution).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd

from taskfair.errors import ChecksumError, DataError
from taskfair.io import atomic_path, atomic_write_bytes, atomic_write_json, safe_child, sha256_file
from taskfair.progress import Progress, report

__all__ = [
    "HATEXPLAIN_SHA256",
    "HATEXPLAIN_REPO",
    "HATEXPLAIN_COMMIT",
    "HATEXPLAIN_JSON_PATH",
    "HATEXPLAIN_JSON_BLOB",
    "HATEXPLAIN_CSV",
    "HATEXPLAIN_TARGET_GROUPS",
    "KNOWN_SHA256",
    "ChecksumError",
    "Opener",
    "prepare_data",
    "shared_data_dirs",
    "download_verified",
    "git_blob_sha1",
    "git_blob_sha1_file",
    "raw_github_url",
    "convert_hatexplain_json",
]

log = logging.getLogger(__name__)

#: sha256 of shared/data/hatexplain/hatexplain_magpie_preprocessed.csv (its README).
HATEXPLAIN_SHA256 = "690a1af4be840c06a4ba90da5b123a21ffe0a0df9971601e2a48b7f3ae83b979"
HATEXPLAIN_CSV = "hatexplain_magpie_preprocessed.csv"
HATEXPLAIN_REPO = "hate-alert/HateXplain"
HATEXPLAIN_COMMIT = "01d742279dac941981f53806154481c0e15ee686"
HATEXPLAIN_JSON_PATH = "Data/dataset.json"
#: git blob id of Data/dataset.json at HATEXPLAIN_COMMIT (what git records for it).
HATEXPLAIN_JSON_BLOB = "741bc082c38f4f8ee45cebdc868b3768e3901089"

#: Checksums from the shared folders' READMEs, by dataset and file name.
KNOWN_SHA256: dict[str, dict[str, str]] = {
    "hatexplain": {HATEXPLAIN_CSV: HATEXPLAIN_SHA256},
    "davidson_twitteraae": {
        "labeled_data.csv": "fcb8bc7c68120ae4af04a5b9acd58585513ede11e1548ebf36a5c2040b6f6281",
        "twitteraae_model_vocab.txt": (
            "6ef8e0ed59ed13776ad015a7dc14a0dd26a24ce9f6906edf860dfe40bf679133"
        ),
        "twitteraae_model_count_table.txt": (
            "9907158995bea09301022050736bb91dda71bd577af9d3e643ae434d5c3fbf4e"
        ),
    },
}

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SOURCE_RECORD = "SOURCE.json"  # written beside a converted download: origin + checksums

#: ``opener(url)`` returns a readable binary response (``.read(n)``; optional
#: ``.headers`` with Content-Length; optionally a context manager).
Opener = Callable[[str], BinaryIO]



# --------------------------------------------------------------------------- entry point


def prepare_data(
    name: str = "hatexplain",
    data_dir: str | os.PathLike = "data",
    shared_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    *,
    expected_sha256: Mapping[str, str] | None = None,
    opener: Opener | None = None,
) -> Path:
    """Make ``<data_dir>/<name>/`` hold dataset ``name``; return that folder.

    ``shared_dir`` is a folder holding ``<name>/``; when given, only it is searched,
    otherwise :func:`shared_data_dirs` are. ``expected_sha256`` (file name -> sha256)
    replaces the known checksums (:data:`KNOWN_SHA256`) for this call. ``opener`` is
    passed to :func:`download_verified` (tests inject a fake one). ``progress`` is
    called as ``progress(done, total, message)``.

    Raises :class:`~taskfair.data.DataError` (or :class:`ChecksumError`) with the fix.
    """
    target = safe_child(data_dir, name)
    candidates = [Path(shared_dir)] if shared_dir is not None else shared_data_dirs()
    checksums = dict(KNOWN_SHA256.get(name, {}))
    if expected_sha256 is not None:
        checksums = dict(expected_sha256)
    for root in candidates:
        source = root / name
        if source.is_dir():
            _copy_tree(source, target, checksums, progress)
            return target
    searched = ", ".join(str(c) for c in candidates) or "(none)"
    if name == "hatexplain":
        log.info("no shared copy of hatexplain in %s; downloading the original", searched)
        return _prepare_hatexplain_download(target, opener=opener, progress=progress)
    if name == "utkface":
        raise DataError(
            f"No shared UTKFace copy (searched {searched}). UTKFace is not downloaded "
            "automatically: its licence allows non-commercial research use only. Get it from "
            "https://susanqq.github.io/UTKFace/ and place the folder (labels.csv with columns "
            f"file, age, gender, race + images/) at {target}."
        )
    raise DataError(
        f"No shared copy of {name!r} (searched {searched}) and no download for it. "
        "Datasets that can be prepared: hatexplain (download or shared copy), utkface and "
        "davidson_twitteraae (shared copy only). Set TASKFAIR_SHARED_DATA to the folder "
        f"holding {name}/, or pass shared_dir=."
    )


def shared_data_dirs() -> list[Path]:
    """Where shared copies are looked for, in order: ``$TASKFAIR_SHARED_DATA``, then
    ``<project root>/../shared/data``."""
    dirs = []
    env = os.environ.get("TASKFAIR_SHARED_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(_PROJECT_ROOT.parent / "shared" / "data")
    return dirs


# --------------------------------------------------------------------------- copying


def _copy_tree(
    source: Path, target: Path, checksums: Mapping[str, str], progress: Progress | None
) -> None:
    """Copy ``source``'s files and sub-folders into ``target``, verifying known checksums."""
    files = sorted(p for p in source.iterdir() if p.is_file() and not p.name.startswith("."))
    folders = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
    missing = sorted(set(checksums) - {p.name for p in files})
    if missing:
        raise DataError(
            f"The shared copy {source} lacks {missing}. Ask whoever maintains it, or remove "
            "it from the search path so the original is downloaded."
        )
    total = len(files) + sum(_count_files(f) for f in folders)
    done = 0
    target.mkdir(parents=True, exist_ok=True)
    for src in files:
        _copy_file(src, target / src.name, checksums.get(src.name))
        done += 1
        report(progress, done, total, src.name)
    for src in folders:
        done = _copy_folder(src, target / src.name, progress, done, total)
    # No final "ready" call: the last item already reported done == total, and a second
    # call at total would make tqdm_progress open a fresh bar.


def _copy_file(src: Path, dst: Path, sha256: str | None) -> None:
    """Copy through a temporary file + rename; skip when ``dst`` already verifies."""
    if dst.is_file():
        want = sha256 or sha256_file(src)
        if sha256_file(dst) == want:
            log.debug("%s already present and verified", dst)
            return
        log.warning("%s differs from %s; copying it again", dst, src)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
        if sha256 is not None:
            got = sha256_file(tmp)
            if got != sha256:
                # Raising inside atomic_path removes the temporary file: nothing half-valid
                # is left behind under the final name.
                raise ChecksumError(
                    f"Checksum mismatch for {src}: sha256 {got}, expected {sha256}. The shared "
                    "copy is damaged; restore it (see its README for the source) and re-run."
                )


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _same_files(a: Path, b: Path) -> bool:
    """Whether two folders hold the same relative file names with the same sizes."""

    def listing(root: Path) -> dict[str, int]:
        return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}

    return b.is_dir() and listing(a) == listing(b)


def _copy_folder(src: Path, dst: Path, progress: Progress | None, done: int, total: int) -> int:
    """Copy a folder into a temporary sibling and rename it onto ``dst`` (never half there).

    Skipped when ``dst`` already holds the same names with the same sizes (for UTKFace the
    README's per-file check is the byte size). Returns the updated ``done`` count.
    """
    n = _count_files(src)
    if _same_files(src, dst):
        report(progress, done + n, total, f"{src.name}/ already present")
        return done + n
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    try:
        step, end = max(1, n // 100), done + n
        for path in sorted(src.rglob("*")):
            rel = path.relative_to(src)
            if path.is_dir():
                (tmp / rel).mkdir(parents=True, exist_ok=True)
                continue
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, tmp / rel)
            done += 1
            if done % step == 0 or done == end:  # about 100 updates, and always the last
                report(progress, done, total, f"{src.name}/{rel}")
        if not _same_files(src, tmp):
            raise DataError(f"Copying {src} to {tmp} was incomplete; re-run to try again.")
        old = None
        if dst.exists():
            # os.replace cannot overwrite a non-empty folder: move the stale one aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", dir=dst.parent))
            os.replace(dst, old / dst.name)
        os.replace(tmp, dst)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return done


# --------------------------------------------------------------------------- downloading


def raw_github_url(repo: str, commit: str, path: str) -> str:
    """The raw-file URL of ``path`` in GitHub ``repo`` at ``commit`` (pinned, not a branch)."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def git_blob_sha1(data: bytes) -> str:
    """git's object id for a file with these bytes: sha1 of ``b"blob <len>\\0" + data``."""
    h = hashlib.sha1(f"blob {len(data)}\0".encode())
    h.update(data)
    return h.hexdigest()


def git_blob_sha1_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """:func:`git_blob_sha1` of a file, streamed."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _default_opener(url: str) -> BinaryIO:
    request = urllib.request.Request(url, headers={"User-Agent": "taskfair-prepare-data"})
    return urllib.request.urlopen(request, timeout=60)  # noqa: S310 - fixed https URL


def download_verified(
    url: str,
    dest: str | os.PathLike,
    *,
    git_blob: str | None = None,
    sha256: str | None = None,
    opener: Opener | None = None,
    progress: Progress | None = None,
    chunk_size: int = 1 << 16,
) -> Path:
    """Download ``url`` to ``dest`` through a temporary file; rename only once verified.

    Verification: ``git_blob`` (see :func:`git_blob_sha1`) and/or ``sha256``. If ``dest``
    already exists and verifies, nothing is downloaded. A mismatch raises
    :class:`ChecksumError` and deletes the temporary file; ``dest`` is left as it was.
    """
    dest = Path(dest)
    if git_blob is None and sha256 is None:
        raise ValueError("download_verified needs git_blob or sha256 to check the file.")
    if dest.is_file() and _verifies(dest, git_blob, sha256):
        log.info("%s already present and verified", dest)
        return dest
    opener = opener or _default_opener
    with atomic_path(dest) as tmp:
        try:
            response = opener(url)
        except OSError as e:  # urllib.error.URLError is an OSError
            raise DataError(
                f"Could not download {url} ({e}). Check the network connection, or download "
                f"the file by hand to {dest} and re-run."
            ) from e
        with _closing(response) as stream, open(tmp, "wb") as out:
            total = _content_length(stream)
            done = 0
            while block := stream.read(chunk_size):
                out.write(block)
                done += len(block)
                report(progress, done, max(total, done), dest.name)
        problems = _verify_problems(tmp, git_blob, sha256)
        if problems:
            raise ChecksumError(
                f"Checksum mismatch for {url}: {'; '.join(problems)}. The download was "
                "deleted. The URL is pinned to a commit, so this means a corrupted transfer "
                "or an intercepting proxy: re-run, or fetch the file by hand and compare."
            )
    return dest


def _verify_problems(path: Path, git_blob: str | None, sha256: str | None) -> list[str]:
    problems = []
    if git_blob is not None and (got := git_blob_sha1_file(path)) != git_blob:
        problems.append(f"git blob id {got}, expected {git_blob}")
    if sha256 is not None and (got := sha256_file(path)) != sha256:
        problems.append(f"sha256 {got}, expected {sha256}")
    return problems


def _verifies(path: Path, git_blob: str | None, sha256: str | None) -> bool:
    return not _verify_problems(path, git_blob, sha256)


def _closing(response: Any):
    if hasattr(response, "__enter__"):
        return response
    return contextlib.closing(response)


def _content_length(response: Any) -> int:
    headers = getattr(response, "headers", None)
    try:
        return int(headers.get("Content-Length") or 0) if headers is not None else 0
    except (TypeError, ValueError):
        return 0


def _prepare_hatexplain_download(
    target: Path, *, opener: Opener | None, progress: Progress | None
) -> Path:
    """Download + verify dataset.json, convert it, write the CSV and a SOURCE.json record."""
    csv_path = target / HATEXPLAIN_CSV
    record_path = target / _SOURCE_RECORD
    if csv_path.is_file() and _csv_verified(csv_path, record_path):
        report(progress, 1, 1, f"{HATEXPLAIN_CSV} already present")
        return target
    url = raw_github_url(HATEXPLAIN_REPO, HATEXPLAIN_COMMIT, HATEXPLAIN_JSON_PATH)
    json_path = download_verified(
        url,
        target / "dataset.json",
        git_blob=HATEXPLAIN_JSON_BLOB,
        opener=opener,
        progress=progress,
    )
    frame = convert_hatexplain_json(json_path)
    data = frame.to_csv(index=False).encode()
    atomic_write_bytes(csv_path, data)
    atomic_write_json(
        record_path,
        {
            "origin": url,
            "git_blob": HATEXPLAIN_JSON_BLOB,
            "converted_by": "taskfair.fetch.convert_hatexplain_json",
            "note": "Converted from the original; not byte-identical to the MAGPIE CSV.",
            "sha256": {HATEXPLAIN_CSV: hashlib.sha256(data).hexdigest()},
            "rows": len(frame),
            "dropped": frame.attrs.get("dropped", {}),
        },
    )
    return target


def _csv_verified(csv_path: Path, record_path: Path) -> bool:
    """The MAGPIE copy (known sha256), or a converted CSV matching its SOURCE.json record."""
    got = sha256_file(csv_path)
    if got == HATEXPLAIN_SHA256:
        return True
    try:
        record = json.loads(record_path.read_text())
        return record["sha256"][HATEXPLAIN_CSV] == got
    except (OSError, ValueError, KeyError, TypeError):
        return False


# --------------------------------------------------------------------------- conversion

#: Target community -> coarse flag, as the upstream (MAGPIE) preprocessing mapped them.
#: Sexual orientation is folded into "gender" upstream; kept so for a like-for-like CSV.
HATEXPLAIN_TARGET_GROUPS = {
    **dict.fromkeys(
        ["African", "Arab", "Asian", "Caucasian", "Hispanic", "Indian", "Indigenous"], "race"
    ),
    **dict.fromkeys(
        ["Islam", "Jewish", "Christian", "Hindu", "Buddhism", "Nonreligious"], "religion"
    ),
    **dict.fromkeys(
        ["Women", "Men", "Homosexual", "Bisexual", "Heterosexual", "Asexual"], "gender"
    ),
    "Economic": "economic",
    **dict.fromkeys(["Minority", "Disability", "Refugee"], "minority"),
}
_LABELS = {"normal": 0, "offensive": 1, "hatespeech": 2}
_FLAG_COLUMNS = ("gender", "religion", "race", "economic", "minority")
_IGNORED_TARGETS = {None, "None", "Other"}
_MIN_CHARS = 20
_MAX_WORDS = 128


def _unify_text(text: str) -> str:
    """Whitespace and Twitter-noise normalisation as upstream did it: drop "RT ",
    @mentions, links and the word "linebreak"; tabs/newlines to spaces; collapse spaces."""
    text = re.sub(r"RT ", " ", text)
    text = re.sub(r"@[A-Za-z0-9_]+", " ", text)
    text = re.sub(r"https?://[A-Za-z0-9./]+", " ", text)
    text = re.sub(r"[\t\n\r]", " ", text)
    text = re.sub(r" +", " ", text)
    text = text.replace("linebreak", "")
    return text.strip()


def _unanimous_spans(tokens: list[str], rationales: list[list[int]]) -> list[str]:
    """Token spans every rationale list marks, each joined by spaces.

    Unlike the upstream code (which found spans with ``np.diff`` and so missed a span
    touching the first or last token), spans at the edges are kept.
    """
    marked = [all(r[i] for r in rationales) for i in range(len(rationales[0]))]
    spans, start = [], None
    for i, m in enumerate([*marked, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            spans.append(_unify_text(" ".join(tokens[start:i])))
            start = None
    return [s for s in spans if s]


def _load_json(source: bytes | bytearray | str | os.PathLike | Mapping) -> Mapping:
    if isinstance(source, Mapping):
        return source
    if isinstance(source, (bytes, bytearray)):
        raw = bytes(source)
        origin = "the given bytes"
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"HateXplain JSON not found: {path}.")
        raw = path.read_bytes()
        origin = str(path)
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise DataError(
            f"{origin} is not valid JSON ({e}); expected HateXplain's dataset.json."
        ) from e
    if not isinstance(data, Mapping):
        raise DataError(f"{origin}: expected a JSON object keyed by post id (dataset.json).")
    return data


def convert_hatexplain_json(
    json_bytes_or_path: bytes | str | os.PathLike | Mapping,
) -> pd.DataFrame:
    """HateXplain's ``dataset.json`` -> the MAGPIE CSV schema.

    Input: the file's bytes, its path, or the parsed object (post id -> post with
    ``annotators`` [{label, target}], ``rationales``, ``post_tokens``).

    Output columns: ``text`` (str), ``rationale_pos`` (str, ``;``-joined spans, may be
    empty), ``label`` (0 normal / 1 offensive / 2 hatespeech), and 0/1 ``label_gender``,
    ``label_religion``, ``label_race``, ``label_economic``, ``label_minority``; rows in
    the JSON's order. Steps, as the upstream preprocessing did them:

    1. keep a post only when at least 2 annotators agree on the class (majority label);
    2. flags: union of all annotators' targets, minus None/Other, mapped by
       :data:`HATEXPLAIN_TARGET_GROUPS` (an unknown target name is logged and ignored);
    3. ``text``: tokens joined by spaces, then whitespace/noise normalised;
       ``rationale_pos``: spans marked by every annotator's rationale list (a post
       whose rationale lists differ in length is dropped, as upstream);
    4. drop texts under 20 characters or over 128 words, then exact duplicate rows.

    Drop counts are in ``frame.attrs["dropped"]``.
    """
    data = _load_json(json_bytes_or_path)
    dropped = Counter()
    unknown_targets = Counter()
    rows = []
    for post_id, post in data.items():
        try:
            annotators = post["annotators"]
            tokens = [str(t) for t in post["post_tokens"]]
            rationales = post.get("rationales") or []
            votes = Counter(a["label"] for a in annotators)
        except (KeyError, TypeError) as e:
            raise DataError(
                f"Post {post_id!r} lacks {e} or is malformed; expected HateXplain's dataset.json "
                "format (annotators with label/target, rationales, post_tokens)."
            ) from e
        label, n = votes.most_common(1)[0] if votes else (None, 0)
        if n < 2:
            dropped["no_majority"] += 1
            continue
        if label not in _LABELS:
            raise DataError(f"Post {post_id!r}: unknown label {label!r}; expected {list(_LABELS)}.")
        flags = set()
        for annotator in annotators:
            for target in annotator.get("target") or []:
                if target in _IGNORED_TARGETS:
                    continue
                if target in HATEXPLAIN_TARGET_GROUPS:
                    flags.add(HATEXPLAIN_TARGET_GROUPS[target])
                else:
                    unknown_targets[target] += 1
        spans: list[str] = []
        if rationales:
            if len({len(r) for r in rationales}) != 1:
                dropped["ragged_rationales"] += 1
                continue
            spans = _unanimous_spans(tokens, rationales)
        row = {"text": _unify_text(" ".join(tokens)), "rationale_pos": ";".join(spans)}
        row["label"] = _LABELS[label]
        row.update({f"label_{g}": int(g in flags) for g in _FLAG_COLUMNS})
        rows.append(row)
    columns = ["text", "rationale_pos", "label", *(f"label_{g}" for g in _FLAG_COLUMNS)]
    frame = pd.DataFrame(rows, columns=columns)
    too_short = frame["text"].str.len() < _MIN_CHARS
    too_long = frame["text"].str.split(" ").str.len() > _MAX_WORDS
    dropped["too_short"] = int(too_short.sum())
    dropped["too_long"] = int((too_long & ~too_short).sum())
    frame = frame.loc[~too_short & ~too_long]
    duplicated = frame.duplicated()
    dropped["duplicate"] = int(duplicated.sum())
    frame = frame.loc[~duplicated].reset_index(drop=True)
    for column in columns[2:]:
        frame[column] = frame[column].astype("int64")
    if unknown_targets:
        log.warning("HateXplain: ignored unknown target names %s", dict(unknown_targets))
    frame.attrs["dropped"] = {k: int(v) for k, v in dropped.items()}
    log.info("HateXplain converted: %d rows kept, dropped %s", len(frame), frame.attrs["dropped"])
    return frame
