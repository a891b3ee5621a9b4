"""The search's state on disk, so that a stopped search resumes where it stood.

One JSON file per steering question (its name is the digest of the problem and of the
bundle's point keys) beside the bundle's sweep cache, rewritten atomically after every
exact evaluation, plus one ``.npz`` with the anchor's JVPs (plain float arrays, read
with ``allow_pickle=False``). The exact points themselves are in the sweep cache
already; the state holds what the search made of them (scores, intervals, the
strategy's internals).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from taskfair.errors import BundleError
from taskfair.io import atomic_path, atomic_write_json
from taskfair.sweep.keys import digest

__all__ = ["STATE_VERSION", "SearchState"]

#: Bump when the state's meaning changes: older states are then started afresh.
STATE_VERSION = 1


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

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.id}.json"

    @property
    def jvp_path(self) -> Path | None:
        return None if self.folder is None else self.folder / f"{self.id}.jvps.npz"

    @classmethod
    def open(cls, folder: Path | None, identity: dict) -> SearchState:
        """The stored state of this question if there is one (and it is readable and of
        this version), else a new one."""
        state = cls(folder, identity)
        path = state.path
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                data = None  # a damaged state is started afresh: its points are cached
            if data and data.get("version") == STATE_VERSION and data.get("identity") == identity:
                state.data = data
        return state

    def save(self) -> None:
        if self.path is None:
            return
        try:
            atomic_write_json(self.path, self.data)
        except OSError:  # a read-only bundle: the search goes on in memory
            self.folder = None

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
