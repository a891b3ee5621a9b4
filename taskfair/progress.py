"""Progress reporting shared by the library, the CLI and the dashboard.

A progress callback is ``progress(done, total, message)``. Library functions accept
``progress=None`` and call it as work advances; the CLI passes :func:`tqdm_progress`,
the dashboard a function that updates ``st.progress``.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm.auto import tqdm

__all__ = ["Progress", "tqdm_progress", "report"]

Progress = Callable[[int, int, str], None]


def report(progress: Progress | None, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if given; a no-op otherwise."""
    if progress is not None:
        progress(done, total, message)


def tqdm_progress(desc: str = "", **tqdm_kwargs) -> Progress:
    """A callback that draws a tqdm bar (with ETA) on stderr.

    The bar is created on the first call, so that ``total`` is known, and closed when
    ``done`` reaches ``total``.
    """
    state: dict = {"bar": None}

    def _progress(done: int, total: int, message: str = "") -> None:
        bar = state["bar"]
        if bar is None or bar.total != total:
            if bar is not None:
                bar.close()
            bar = state["bar"] = tqdm(total=total, desc=desc, **tqdm_kwargs)
        bar.n = done
        if message:
            bar.set_postfix_str(message, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()
            state["bar"] = None

    return _progress
