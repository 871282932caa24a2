"""Bad input: what kinds there are, the exception that carries one, and the
ledger that counts them per session and logs each (session, kind) at most
once a minute.

Shared by the edge and the core: the stateless checks on the way in
(:mod:`gazewire.processor.inputs.checks`) and the core's stateful ones (time
going backwards across batches, too many sessions) raise :class:`BadInput`;
the dispatcher counts every one in its :class:`BadInputLedger`. Nothing that
arrives on the wire can crash the processor: every problem ends here as one
counted, named kind.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum

from gazewire.errors import GazewireError

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 60.0
MAX_LINES_PER_KIND = 10  # per LOG_INTERVAL_S, whatever the sessions: a flood of names is one summary
NO_SESSION = "_invalid"  # where problems without a usable session id are counted
OTHER_SESSIONS = "_other"  # the counts of names dropped from the table to make room
AGGREGATES = (NO_SESSION, OTHER_SESSIONS)


class BadInputKind(str, Enum):
    TOPIC = "topic"  # not a session topic, or an invalid session id in it
    UNKNOWN_SESSION = "unknown_session"  # a session not in the configured list
    TOO_MANY_SESSIONS = "too_many_sessions"  # max_sessions reached, none idle enough to forget
    TOO_LARGE = "too_large"  # payload over max_payload_kb, or more samples than a batch may hold
    JSON = "json"  # not JSON
    VERSION = "version"  # a protocol version other than 1
    SCHEMA = "schema"  # wrong fields or types
    NON_FINITE = "non_finite"  # NaN or infinity
    OUT_OF_RANGE = "out_of_range"  # integers beyond 64 bits, sizes that cannot be
    SESSION_MISMATCH = "session_mismatch"  # payload session differs from the topic's
    TIME_BACKWARDS = "time_backwards"  # sample times not increasing within one agent run
    INTERNAL_ERROR = "internal_error"  # a bug in the processor while handling the message


class BadInput(GazewireError, ValueError):
    """A message the processor refuses; ``kind`` says why, ``session`` whose it is;
    ``refused`` the message itself when it could be read (a refused batch still tells its
    sequence numbers, so its samples are counted refused, not missing)."""

    def __init__(self, kind: BadInputKind, message: str, session: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.session = session
        self.refused: object | None = None


class BadInputLedger:
    """Counts per (session, kind); logs one line per (session, kind) per minute at most,
    and at most ``MAX_LINES_PER_KIND`` lines per kind a minute in all.

    ``totals`` only ever grow (they are the status counters). The per-session
    table holds at most ``max_sessions`` names, so a flood of made-up session
    ids cannot grow it without bound: when it is full, the name recorded least
    recently makes room (its counts go to ``_other``), except the names ``keep``
    says are sessions the processor still tracks. A new name is always counted
    under itself, so a real agent refused among a flood is named.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = LOG_INTERVAL_S,
        max_sessions: int = 2000,
        keep: Callable[[str], bool] = lambda name: False,
    ) -> None:
        self._clock = clock
        self._interval_s = interval_s
        self._max_sessions = max_sessions
        self._keep = keep
        self.totals: dict[str, int] = {}
        self.counts: OrderedDict[str, dict[str, int]] = OrderedDict()  # least recently recorded first
        self._last_logged: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._kind_window: dict[str, tuple[float, int, int]] = {}  # kind -> (since, lines, suppressed)

    def record(self, problem: BadInput, topic: str) -> None:
        session = problem.session or NO_SESSION
        if session not in self.counts and len(self.counts) >= self._max_sessions:
            self._make_room()
        kind = problem.kind.value
        self.totals[kind] = self.totals.get(kind, 0) + 1
        per_session = self.counts.setdefault(session, {})
        self.counts.move_to_end(session)
        per_session[kind] = per_session.get(kind, 0) + 1
        key = (session, kind)
        now = self._clock()
        last = self._last_logged.get(key)
        if last is not None and now - last < self._interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        if not self._kind_allows(kind, now):
            return
        self._last_logged[key] = now
        suppressed = self._suppressed.pop(key, 0)
        more = f" ({suppressed} more since the last report)" if suppressed else ""
        log.warning("bad input (%s) on %s: %s%s", kind, _shorten(topic), _shorten(str(problem), 300), more)

    def for_session(self, session: str) -> dict[str, int]:
        return dict(self.counts.get(session, {}))

    def forget(self, session: str) -> None:
        """Drop a forgotten session's table (``totals`` keep its counts)."""
        self.counts.pop(session, None)
        for key in [k for k in self._last_logged if k[0] == session]:
            self._last_logged.pop(key, None)
            self._suppressed.pop(key, None)

    def _make_room(self) -> None:
        for name in self.counts:
            if name not in AGGREGATES and not self._keep(name):
                break
        else:
            return  # only sessions still tracked (at most max_sessions / 2 of them): grow by one
        other = self.counts.setdefault(OTHER_SESSIONS, {})
        for kind, count in self.counts.pop(name).items():
            other[kind] = other.get(kind, 0) + count
        for key in [k for k in self._last_logged if k[0] == name]:
            self._last_logged.pop(key, None)
            self._suppressed.pop(key, None)

    def _kind_allows(self, kind: str, now: float) -> bool:
        """At most MAX_LINES_PER_KIND lines of one kind per interval; the next line says how many
        were held back (their counts are in the status all the same)."""
        since, lines, held = self._kind_window.get(kind, (now, 0, 0))
        if now - since >= self._interval_s:
            if held:
                log.warning("bad input (%s): %d more lines held back in the last minute", kind, held)
            since, lines, held = now, 0, 0
        if lines >= MAX_LINES_PER_KIND:
            self._kind_window[kind] = (since, lines, held + 1)
            return False
        self._kind_window[kind] = (since, lines + 1, held)
        return True


def _shorten(text: str, limit: int = 120) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
