"""Admission to exact evaluation: a bound per session and overall, so no visitor stalls the rest.

Exact points are evaluated one at a time (the merger's lock serialises them), and each
costs seconds to tens of seconds of CPU on a large bundle. Without a bound, every
visitor's request would wait in that line, and a few visitors (or one script opening
many sessions) could keep it busy for everyone. An :class:`Admission` hands out
tickets: a session holds at most ``per_session`` at once and the server at most
``overall``; a session that gets none is told the server is busy, shows previews, and
asks again on its next refresh (the dashboard's refresh loop is the queue).

The defaults (:data:`PER_SESSION`, :data:`OVERALL`) let one session evaluate while
three more wait: on 2 CPU cores a wait of about three points (a minute on the demo)
at most before a visitor is told the server is busy.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable, Iterator

__all__ = ["OVERALL", "PER_SESSION", "Admission"]

#: Tickets one session may hold at once (its script evaluates one point at a time).
PER_SESSION = 1
#: Tickets the whole server hands out at once: one evaluating, the others waiting.
OVERALL = 4


class Admission:
    """Tickets for exact evaluation, bounded per session and overall; thread-safe."""

    def __init__(self, per_session: int = PER_SESSION, overall: int = OVERALL):
        if per_session < 1 or overall < 1:
            raise ValueError("per_session and overall must be at least 1")
        self.per_session, self.overall = int(per_session), int(overall)
        self._held: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    @property
    def busy(self) -> int:
        """Tickets held now (sessions evaluating or waiting to)."""
        with self._lock:
            return sum(self._held.values())

    def enter(self, session: Hashable) -> bool:
        """Take a ticket for ``session``; False (nothing taken) when it holds its share
        or the server is full."""
        with self._lock:
            mine = self._held.get(session, 0)
            if mine >= self.per_session or sum(self._held.values()) >= self.overall:
                return False
            self._held[session] = mine + 1
            return True

    def leave(self, session: Hashable) -> None:
        """Give back one ticket of ``session``."""
        with self._lock:
            left = self._held.get(session, 0) - 1
            if left > 0:
                self._held[session] = left
            else:
                self._held.pop(session, None)

    @contextlib.contextmanager
    def ticket(self, session: Hashable) -> Iterator[bool]:
        """``with admission.ticket(sid) as ok:`` evaluate only if ``ok``; the ticket (if
        any) is given back when the block ends, also on an exception or a stop."""
        ok = self.enter(session)
        try:
            yield ok
        finally:
            if ok:
                self.leave(session)
