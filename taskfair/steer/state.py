"""The search's state on disk, so that a stopped search resumes where it stood.

One JSON file per steering question (its name is the digest of the problem and of the
bundle's point keys) beside the bundle's sweep cache, rewritten atomically after every
exact evaluation, plus one ``.npz`` with the anchor's JVPs (plain float arrays, read
with ``allow_pickle=False``). The exact points themselves are in the sweep cache
already; the state holds what the search made of them (scores, intervals, the
strategy's internals).

A state file is text anyone can edit, so nothing in it is trusted on resume: its
structure is checked (:func:`state_problem`) and every candidate's certificate (its
validation intervals and degeneracy notes) is recomputed from the cached logits and
compared (:meth:`SearchState.verify`) before it can become a recommendation or enter a
merge card. A state that fails either check is started afresh, with a message
(:attr:`SearchState.notice`); the exact points are cached, so little is lost.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from taskfair.errors import BundleError
from taskfair.io import atomic_path, atomic_write_json
from taskfair.sweep.keys import digest

__all__ = ["SOURCES", "STATE_VERSION", "SearchState", "state_problem"]

log = logging.getLogger(__name__)

#: Bump when the state's meaning changes: older states are then started afresh.
STATE_VERSION = 1
#: Where a candidate came from.
SOURCES = ("reference", "grid", "search")
#: The certified metrics every candidate's ``val`` record holds.
_METRICS = ("objective", "accuracy", "dpd", "eod", "worst_group_error")
# States whose certificates were recomputed and matched: (path, mtime_ns, size) -> True,
# so a page that reopens the state on every redraw verifies it once per change.
_VERIFIED: dict[tuple, bool] = {}


def _num(x, none: bool = False) -> bool:
    if x is None:
        return none
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _interval(d) -> bool:
    return isinstance(d, dict) and all(_num(d.get(k), none=True) for k in ("value", "lo", "hi"))


def _candidate_problem(c) -> str | None:
    if not isinstance(c, dict):
        return "is not an object"
    if not isinstance(c.get("label"), str) or len(c["label"]) > 200:
        return "has no label (text of at most 200 characters)"
    if c.get("source") not in SOURCES:
        return f"has the source {str(c.get('source'))[:40]!r}, not one of {list(SOURCES)}"
    setting = c.get("setting")
    if not isinstance(setting, dict) or not isinstance(setting.get("coeffs"), dict):
        return "has no setting with coefficients"
    if not all(isinstance(k, str) and _num(v) for k, v in setting["coeffs"].items()):
        return "has coefficients that are not numbers"
    if not isinstance(setting.get("params", {}), dict) or not _num(setting.get("lam"), True):
        return "has a malformed setting"
    x = c.get("x")
    if x is not None and not (isinstance(x, list) and all(_num(v) for v in x)):
        return "has a malformed position x"
    val = c.get("val")
    if not isinstance(val, dict) or not all(_interval(val.get(m)) for m in _METRICS):
        return "has malformed validation intervals"
    if not isinstance(val.get("groups"), dict):
        return "has no per-group intervals"
    if not isinstance(c.get("degenerate"), list) or not all(
        isinstance(n, str) for n in c["degenerate"]
    ):
        return "has malformed degeneracy notes"
    if "accepted" in c and not isinstance(c["accepted"], bool):
        return "has a malformed acceptance flag"
    if "score" in c and not _num(c["score"], none=True):
        return "has a score that is not a number"
    if "reasons" in c and not isinstance(c["reasons"], list):
        return "has malformed reasons"
    return None


def state_problem(data) -> str | None:
    """Why ``data`` (a parsed state file) is not a steering state's structure, or None."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    if not isinstance(data.get("candidates"), list):
        return "it has no list of candidates"
    if not _num(data.get("floor"), none=True):  # (a margin may put it below 0)
        return "its accuracy floor is not a number"
    if not isinstance(data.get("done"), bool):
        return "its 'done' flag is not true or false"
    for key in ("strategy", "anchor"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"its {key!r} is not an object"
    if not _num(data.get("wall_s", 0.0)) or not _num(data.get("new_evaluations", 0)):
        return "its counters are not numbers"
    for i, c in enumerate(data["candidates"]):
        problem = _candidate_problem(c)
        if problem is not None:
            return f"candidate {i} {problem}"
    return None


def same_record(a, b, tol: float = 1e-9) -> bool:
    """Whether two JSON records (nested dicts, lists, numbers, None) are equal, numbers
    within ``tol`` (None and NaN alike)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_record(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_record(x, y, tol) for x, y in zip(a, b, strict=True))
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    if na or nb:
        return na and nb
    if _num(a) and _num(b):
        return abs(float(a) - float(b)) <= tol
    return a == b


class SearchState:
    """A steering search's state: ``data`` (JSON-able dict) at ``folder/<id>.json``.

    ``folder`` None keeps it in memory only (a read-only bundle).
    """

    def __init__(self, folder: Path | None, identity: dict):
        self.folder = None if folder is None else Path(folder)
        self.id = digest({"steer": STATE_VERSION, **identity})[:24]
        self.data: dict = {
            "version": STATE_VERSION,
            "identity": identity,
            "candidates": [],
            "strategy": None,
            "anchor": None,
            "floor": None,
            "done": False,
            "wall_s": 0.0,
            "new_evaluations": 0,
        }
        self._jvps: dict[str, np.ndarray] | None = None
        #: Why a stored state was not resumed (it was started afresh), or None.
        self.notice: str | None = None
        self._fresh = json.loads(json.dumps(self.data))

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.id}.json"

    @property
    def jvp_path(self) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.id}.jvps.npz"

    @classmethod
    def open(cls, folder: Path | None, identity: dict) -> SearchState:
        """The stored state of this question if there is one (and it is readable, of this
        version and well formed), else a new one (with :attr:`notice` saying why a
        stored one was not resumed)."""
        state = cls(folder, identity)
        path = state.path
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                state._afresh("it is not readable JSON")  # its points are cached
                return state
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                return state  # another version's state: started afresh by design
            if data.get("identity") != identity:
                state._afresh("it answers another question")
                return state
            problem = state_problem(data)
            if problem is not None:
                state._afresh(problem)
                return state
            state.data = data
        return state

    def _afresh(self, why: str) -> None:
        self.data = json.loads(json.dumps(self._fresh))
        self.notice = (
            f"The stored steering state {self.id} was started afresh: {why}. Its exact "
            "points are cached, so resuming costs little."
        )
        log.warning("%s", self.notice)

    def verify(self, recompute: Callable[[dict], dict | str]) -> bool:
        """Check every candidate's certificate before it is trusted: ``recompute(c)``
        gives ``{"val": ..., "degenerate": ...}`` recomputed from the point's cached
        logits (or a string: why it cannot). On any difference the state is started
        afresh (with :attr:`notice`); True when it held. Verified once per file change."""
        if not self.data["candidates"]:
            return True
        stamp = self._stamp()
        if stamp is not None and _VERIFIED.get(stamp):
            return True
        for i, c in enumerate(self.data["candidates"]):
            fresh = recompute(c)
            if isinstance(fresh, str):
                self._afresh(f"candidate {i} ({c['label'][:60]}) cannot be checked: {fresh}")
                return False
            for key in ("val", "degenerate"):
                if not same_record(c[key], fresh[key]):
                    self._afresh(
                        f"candidate {i} ({c['label'][:60]}) claims {key} numbers that its "
                        "cached point does not give"
                    )
                    return False
        if stamp is not None:
            if len(_VERIFIED) > 256:
                _VERIFIED.clear()
            _VERIFIED[stamp] = True
        return True

    def _stamp(self) -> tuple | None:
        if self.path is None:
            return None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (str(self.path), st.st_mtime_ns, st.st_size)

    def save(self) -> None:
        if self.path is None:
            return
        try:
            atomic_write_json(self.path, self.data)
        except OSError:  # a read-only bundle: the search goes on in memory
            self.folder = None
            return
        stamp = self._stamp()  # what this process computed needs no second check
        if stamp is not None:
            _VERIFIED[stamp] = True

    # -- JVPs ---------------------------------------------------------------------------
    def jvps(self) -> dict[str, np.ndarray] | None:
        if self._jvps is None and self.jvp_path is not None and self.jvp_path.is_file():
            try:
                with np.load(self.jvp_path, allow_pickle=False) as z:
                    self._jvps = {k: z[k] for k in z.files}
            except (OSError, ValueError) as exc:
                raise BundleError(
                    f"The steering state {self.jvp_path.name} cannot be read ({exc}): delete it "
                    "and rerun (the exact points are cached)."
                ) from exc
        return self._jvps

    def save_jvps(self, jvps: dict[str, np.ndarray]) -> None:
        self._jvps = {k: np.asarray(v, dtype=np.float32) for k, v in jvps.items()}
        if self.jvp_path is None:
            return
        try:
            with atomic_path(self.jvp_path) as tmp, open(tmp, "wb") as fh:
                np.savez(fh, **self._jvps)
        except OSError:
            pass  # read-only: kept in memory
