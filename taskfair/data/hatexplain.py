"""HateXplain: the loader for the MAGPIE-preprocessed CSV, and the download + conversion
that makes that CSV from the original ``dataset.json`` when no shared copy exists.

Both halves live here because they share one schema: :func:`convert_hatexplain_json`
writes exactly the columns :func:`load_hatexplain` reads (``text``, ``label`` 0/1/2 and
the ``label_<group>`` flags), under the one file name :data:`HATEXPLAIN_CSV`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from taskfair.data.assemble import assemble
from taskfair.data.columns import integer_column, nonempty_mask, require_columns
from taskfair.data.dataset import Dataset
from taskfair.data.download import PREPARE_HINT, Opener, download_verified, raw_github_url
from taskfair.data.splits import DEFAULT_FRACTIONS
from taskfair.data.tables import read_table
from taskfair.errors import DataError
from taskfair.io import atomic_write_bytes, atomic_write_json, sha256_file
from taskfair.progress import Progress, report

__all__ = [
    "HATEXPLAIN_COMMIT",
    "HATEXPLAIN_CSV",
    "HATEXPLAIN_JSON_BLOB",
    "HATEXPLAIN_JSON_PATH",
    "HATEXPLAIN_REPO",
    "HATEXPLAIN_SHA256",
    "HATEXPLAIN_TARGET_GROUPS",
    "convert_hatexplain_json",
    "download_hatexplain",
    "load_hatexplain",
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
_SOURCE_RECORD = "SOURCE.json"  # written beside a converted download: origin + checksums

# The four flags that define the `target` attribute; label_economic is deliberately not
# here (see load_hatexplain).
_HATEXPLAIN_GROUPS = {
    "race": "label_race",
    "gender": "label_gender",
    "religion": "label_religion",
    "minority": "label_minority",
}
_HATEXPLAIN_LABELS = {"toxic": "label >= 1 (offensive or hate)", "hate": "label == 2 (hate)"}


def _read_hatexplain(path, data_dir, drop_empty: bool) -> tuple[Path, pd.DataFrame]:
    """The CSV's path and its rows (schema checked; empty texts refused, or dropped with
    ``drop_empty``), the file's row numbers kept for later messages."""
    if path is None:
        path = Path(data_dir if data_dir is not None else "data") / "hatexplain" / HATEXPLAIN_CSV
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"HateXplain file not found: {path}. "
            + PREPARE_HINT.format(name="hatexplain")
            + " to copy or download it, or pass path= to the preprocessed CSV."
        )
    df = read_table(path)
    flag_cols = list(_HATEXPLAIN_GROUPS.values())
    require_columns(
        df,
        [("the HateXplain schema", c) for c in ["text", "label", *flag_cols]],
        path,
        fix="This does not look like hatexplain_magpie_preprocessed.csv; "
        "re-run `python -m taskfair prepare-data hatexplain`.",
    )
    keep = nonempty_mask(df["text"], "text", path, "drop_empty", drop_empty)
    return path, df.loc[keep]  # keep the file's row numbers for later messages


def load_hatexplain(
    path: str | os.PathLike | None = None,
    *,
    label: str = "toxic",
    keep_multi: bool = False,
    seed: int = 0,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    data_dir: str | os.PathLike | None = None,
    drop_empty: bool = False,
) -> Dataset:
    """HateXplain (the MAGPIE-preprocessed CSV) as a text dataset with attribute ``target``.

    File: ``path``, else ``<data_dir or ./data>/hatexplain/hatexplain_magpie_preprocessed.csv``.

    Label: ``label="toxic"`` gives 1 for offensive or hate (``label >= 1``, 59% positive);
    ``label="hate"`` gives 1 for hate speech only (``label == 2``, 31%).

    Attribute ``target`` (who the post is about, by annotator union) from the flags
    ``label_race``, ``label_gender`` (includes sexual orientation upstream),
    ``label_religion`` and ``label_minority``:

    * exactly one of these four flags: that group (``race``, ``gender``, ``religion``,
      ``minority``);
    * none of them: ``pd.NA`` (kept for accuracy, out of the fairness metrics);
    * two or more: ``pd.NA``, or the group ``"multiple"`` when ``keep_multi=True``.

    ``label_economic`` is ignored on purpose: only 78 rows carry it and 7 carry it alone,
    too few for a subgroup fine-tune. So a row flagged economic only gets ``pd.NA``, and
    a row flagged economic plus exactly one other flag gets that other group.

    Split: our own (the file has none), stratified by label x target; the 8 texts that
    occur twice stay in one split.
    """
    if label not in _HATEXPLAIN_LABELS:
        raise DataError(
            f"label={label!r} is not a HateXplain label option; use 'toxic' "
            f"({_HATEXPLAIN_LABELS['toxic']}) or 'hate' ({_HATEXPLAIN_LABELS['hate']})."
        )
    path, df = _read_hatexplain(path, data_dir, drop_empty)
    raw_label = integer_column(df["label"], "label", path)
    bad = sorted(set(raw_label.tolist()) - {0, 1, 2})
    if bad:
        raise DataError(
            f"{path}: column 'label' must hold 0 (normal), 1 (offensive) or 2 (hate); "
            f"found {bad}. Re-create the file with `python -m taskfair prepare-data hatexplain`."
        )
    y = (raw_label >= 1) if label == "toxic" else (raw_label == 2)

    flags = pd.DataFrame(
        {g: integer_column(df[c], c, path) != 0 for g, c in _HATEXPLAIN_GROUPS.items()}
    )
    n_flags = flags.sum(axis=1).to_numpy()
    single = flags.idxmax(axis=1).to_numpy(dtype=object)
    target = np.where(n_flags == 1, single, None)
    if keep_multi:
        target = np.where(n_flags > 1, "multiple", target)
    return assemble(
        content=df["text"].astype(str),
        labels=y.to_numpy(dtype="int64"),
        groups={"target": pd.Series(target, dtype="string")},
        splits=None,
        modality="text",
        name="hatexplain",
        label_name=label,
        source=str(path.resolve()),
        seed=seed,
        fractions=fractions,
    )


# --------------------------------------------------------------------------- download


def download_hatexplain(target: Path, *, opener: Opener | None, progress: Progress | None) -> Path:
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
            "converted_by": "taskfair.data.convert_hatexplain_json",
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
