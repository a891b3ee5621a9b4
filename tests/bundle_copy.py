"""Copies of a built bundle for tests that write into one: hard links, no sweep cache.

A copy made of hard links costs nothing (no 300 MB copy); the code under test replaces
files (write then rename), never writes through them, so the session's tiny bundle stays
as it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["link_or_copy", "linked_copy"]


def link_or_copy(src, dst) -> None:
    """Hard-link ``src`` to ``dst``; copy it where a link cannot be made (another device)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def linked_copy(src: Path, dst: Path, sweeps: bool = False) -> Path:
    """A copy of the bundle ``src`` at ``dst`` made of hard links, without its sweep cache
    unless ``sweeps``; returns ``dst``."""
    ignore = None if sweeps else shutil.ignore_patterns("sweeps")
    shutil.copytree(src, dst, copy_function=link_or_copy, ignore=ignore)
    return Path(dst)
