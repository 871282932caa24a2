"""The processor's entry point for every message: parse it, find (or start) its
session, let the session handle it, count what went wrong.

Pure and single-threaded: no broker, no database; the clocks and the parser
are passed in (the parser, with every stateless check, is the input side's:
:class:`gazewire.processor.inputs.payloads.PayloadParser`).
:meth:`Dispatcher.handle` never raises, whatever the topic and payload - the
fuzz tests hold it to that - and a problem in one session's message never
touches another session.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from gazewire.errors import GazewireError
from gazewire.wire.messages import AgentStatus, GazeBatch, Marker
from gazewire.wire.timeutil import utc_now_us
from gazewire.wire.topics import Channel
from gazewire.processor.pipeline.bad_input import AGGREGATES, BadInput, BadInputKind, BadInputLedger
from gazewire.processor.pipeline.outcome import Outcome
from gazewire.processor.pipeline.resume import SessionState
from gazewire.processor.pipeline.session import Session, SessionConfig, SessionCounters

log = logging.getLogger(__name__)

INTERNAL_ERROR_LOG_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Inbound:
    """A parsed, checked message of one session."""

    session: str
    channel: Channel
    message: GazeBatch | AgentStatus | Marker | None  # None: the session's retained status was deleted


class OtherShard(GazewireError):  # noqa: N818 - a signal, not an error
    """Raised by the parser for a message of a session another processor takes (``shard``):
    not handled, not bad input; acknowledged so the broker lets it go (its owner has its own copy)."""


Parse = Callable[[str, bytes], Inbound]
"""Topic and payload to a checked message; raises :class:`BadInput` for anything else."""


class Dispatcher:
    def __init__(
        self,
        config: SessionConfig,
        parse: Parse,
        *,
        max_sessions: int = 1000,
        idle_session_s: float = 3600.0,
        status_sessions: int = 50,
        monotonic: Callable[[], float] = time.monotonic,
        utc_us: Callable[[], int] = utc_now_us,
        connected: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config = config
        self._parse = parse
        self.max_sessions = max_sessions
        self.idle_session_s = idle_session_s
        self.status_sessions = status_sessions
        self._monotonic = monotonic
        self._utc_us = utc_us
        self._connected = connected  # to the broker: silence is judged only while statuses can come
        self._listening_since: int | None = None  # UTC µs of the (re)connection housekeeping first saw
        self.sessions: OrderedDict[str, Session] = OrderedDict()  # least recently active first
        self._last_active: dict[str, float] = {}
        # Sessions that have had one message only, least recently started first: what a made-up
        # id of a flood looks like, and what makes room first when the table is full.
        self._unestablished: OrderedDict[str, None] = OrderedDict()
        self._room_log = _RateLimitedLog("sessions forgotten to make room (max_sessions reached)")
        self.bad_input = BadInputLedger(clock=monotonic, max_sessions=2 * max_sessions, keep=self.sessions.__contains__)
        self.retired = SessionCounters()  # counters of forgotten sessions
        self.forgotten_sessions = 0
        self.messages = 0
        self.other_shard_messages = 0  # messages of sessions another processor takes (shard)
        self.statuses_cleared = 0  # retained agent statuses deleted (empty payloads)
        self._internal_error_logged = -INTERNAL_ERROR_LOG_INTERVAL_S
        self._made_room = Outcome()  # what ending a session forgotten to make room produced (or resuming one)
        self._saved: dict[str, SessionState] = {}  # sessions not in memory: from the journal, or forgotten
        self._touched: set[str] = set()  # sessions whose state changed since the last snapshots()
        self._deferring: set[str] = set()  # sessions with deferred batches (settle)

    # ------------------------------------------------------------------ the entry point

    def handle(self, topic: str, payload: bytes, *, retained: bool = False, defer: bool = False) -> Outcome:
        """Handle one message; never raises.

        ``defer``: a gaze batch that continues its session's stream is taken (numbered,
        counted, in the outcome's ``batches``) but its samples are detected by the next
        :meth:`settle`, together with the other batches of the session waiting then - one
        detector call for many batches (the processor settles once per group of messages).
        The events are the same; they come with the settle's outcome instead."""
        outcome = self._handle(topic, payload, retained, defer)
        if self._made_room:
            outcome = self._made_room.merge(outcome)
            self._made_room = Outcome()
        return outcome

    def settle(self) -> Outcome:
        """Detect what deferred batches wait for, in every session; never raises."""
        outcome = Outcome()
        if not self._deferring:
            return outcome
        now = self._utc_us()
        for name in self._deferring:
            session = self.sessions.get(name)
            if session is None:
                continue
            try:
                outcome.merge(session.settle(now))
            except Exception as error:  # a processor bug: count it, keep going, keep other sessions
                self._internal_error("(settle)", name, error)
        self._deferring.clear()
        return outcome

    def _handle(self, topic: str, payload: bytes, retained: bool, defer: bool = False) -> Outcome:
        self.messages += 1
        session_name: str | None = None
        try:
            inbound = self._parse(topic, payload)
            session_name = inbound.session
            if inbound.message is None:  # a retained status deleted (pruned): no session starts for it
                self.statuses_cleared += 1
                cleared = self.sessions.get(session_name)
                if cleared is not None:
                    cleared.status_cleared()
                return Outcome()
            # new and nothing to take up again (a session the journal holds state of is established)
            new = session_name not in self.sessions and session_name not in self._saved
            session = self._session(inbound.session)
            if new:
                self._unestablished[session_name] = None
            else:
                self._unestablished.pop(session_name, None)  # a second message: established
            message = inbound.message
            now = self._utc_us()
            if self._listening_since is None:  # a message came: connected (again) since now at the latest
                self._listening_since = now
            if isinstance(message, GazeBatch):
                outcome = session.handle_batch(message, now, defer=defer)
                if session.deferred_batches:
                    self._deferring.add(inbound.session)
                return outcome
            if isinstance(message, AgentStatus):
                return session.handle_status(message, retained=retained, received_utc_us=now, now_utc_us=now)
            if isinstance(message, Marker):
                return session.handle_marker(message)
            raise AssertionError(f"unhandled message {type(message).__name__}")  # pragma: no cover
        except OtherShard:
            self.other_shard_messages += 1
        except BadInput as problem:
            self.bad_input.record(problem, topic)
            self._note_refused(problem)
        except Exception as error:  # a processor bug: count it, keep going, keep other sessions
            self._internal_error(topic, session_name, error)
        return Outcome()

    def housekeeping(self) -> Outcome:
        """Forget sessions idle for ``idle_session_s`` (their open fixations end); raise
        agent_silent for agents whose status stopped being refreshed."""
        outcome = self.settle()
        now = self._monotonic()
        for name in list(self.sessions):
            if now - self._last_active[name] < self.idle_session_s:
                break  # ordered by activity: the rest are younger
            outcome.merge(self._forget(name, "idle"))
        outcome.merge(self._silence())
        return outcome

    def _silence(self) -> Outcome:
        """agent_silent per session, while connected; counted from the (re)connection at the
        earliest, since no status can come while the processor is cut off from the broker."""
        outcome = Outcome()
        if not self._connected():
            self._listening_since = None
            return outcome
        now_utc = self._utc_us()
        if self._listening_since is None:
            self._listening_since = now_utc
        for session in list(self.sessions.values()):
            try:
                outcome.merge(session.silence(now_utc, self._listening_since))
            except Exception as error:  # one broken session must not stop the others
                self._internal_error("(housekeeping)", session.name, error)
        return outcome

    def end_all(self, reason: str) -> Outcome:
        """End every session's stream (clean shutdown); the sessions are kept."""
        outcome = self.settle()
        now = self._utc_us()
        self._touched.update(self.sessions)
        for session in self.sessions.values():
            try:
                outcome.merge(session.end(reason, now))
            except Exception as error:  # one broken session must not stop the others
                self._internal_error("(shutdown)", session.name, error)
        return outcome

    # ------------------------------------------------------------------ across restarts

    def resume(self, states: Mapping[str, SessionState]) -> Outcome:
        """Take up the sessions a previous processor left (from the journal). Sessions with
        an open fixation or alert are resumed now, which closes those as interrupted; the
        others when their next message comes."""
        self._saved.update(states)
        outcome = Outcome()
        for name in [name for name, state in states.items() if state.has_open]:
            if len(self.sessions) >= self.max_sessions:
                break
            self._session(name)
            outcome.merge(self._made_room)
            self._made_room = Outcome()
        return outcome

    def has_changes(self) -> bool:
        """Has any session's state changed since the last :meth:`snapshots`?"""
        return bool(self._touched)

    def snapshots(self) -> dict[str, SessionState]:
        """The state of every session that changed since the last call (to store with the journal);
        call :meth:`settle` first (a deferred batch's fixations are part of the state)."""
        if self._deferring:
            raise RuntimeError("snapshots() with deferred batches: settle() first")
        states = {}
        for name in self._touched:
            session = self.sessions.get(name)
            state = session.snapshot() if session is not None else self._saved.get(name)
            if state is not None:
                states[name] = state
        self._touched.clear()
        return states

    # ------------------------------------------------------------------ sessions

    def _session(self, name: str) -> Session:
        session = self.sessions.get(name)
        now = self._monotonic()
        if session is None:
            if len(self.sessions) >= self.max_sessions:
                self._make_room(name, now)
            session = self.sessions[name] = Session(name, self.config)
            saved = self._saved.pop(name, None)
            if saved is not None:
                self._made_room.merge(session.resume(saved, self._utc_us()))
                log.info("session %r resumed (batch %s next)", name, session.sequence.next_batch_seq)
            else:
                log.log(logging.DEBUG if self._room_log.recent(now) else logging.INFO, "new session %r", name)
        else:
            self.sessions.move_to_end(name)
        self._last_active[name] = now
        self._touched.add(name)
        return session

    def _make_room(self, name: str, now: float) -> None:
        """The table is full and session ``name`` is new: forget the session that matters least,
        or refuse ``name``. First the session idle longest, if it has been quiet for
        ``idle_session_s / 60`` (a minute by default); else the least recently started session
        that has had one message only (not established: a made-up id of a flood, one message
        each, churns among its own kind and never crowds out an agent, whose statuses and
        batches come again and again). Only when every session is established and active is
        ``name`` refused - counted under its own name."""
        oldest = next(iter(self.sessions))
        if now - self._last_active[oldest] >= self.idle_session_s / 60.0:
            victim, why = oldest, "idle"
        elif self._unestablished:
            victim, why = next(iter(self._unestablished)), "one message only"
        else:
            raise BadInput(
                BadInputKind.TOO_MANY_SESSIONS,
                f"{len(self.sessions)} sessions are established and active (max_sessions); "
                f"session {name!r} is not taken",
                name,
            )
        self._made_room.merge(self._forget(victim, f"{why}, to make room", quiet=True))
        self._room_log.note(self._monotonic(), f"{victim!r} ({why}) for {name!r}")

    def _forget(self, name: str, why: str, *, quiet: bool = False) -> Outcome:
        session = self.sessions.pop(name)
        self._last_active.pop(name, None)
        # A session with one message only has nothing worth taking up again, and under a flood of
        # made-up ids, keeping each one's state would grow without bound (memory and journal).
        keep_state = name not in self._unestablished
        self._unestablished.pop(name, None)
        outcome = Outcome()
        try:
            outcome = session.end(f"session forgotten ({why})", self._utc_us())
        except Exception as error:  # forgetting must not fail on a broken session
            self._internal_error("(forget)", name, error)
        self.retired.add(session.counters)
        if keep_state:
            self._saved[name] = session.snapshot()
            self._touched.add(name)
        self.bad_input.forget(name)
        self.forgotten_sessions += 1
        if not quiet:  # making room is logged by _make_room, once a minute at most (floods)
            log.info("forgot session %r (%s)", name, why)
        return outcome

    def _note_refused(self, problem: BadInput) -> None:
        """A batch the checks on the way in refused: its session (if it has one already; a refusal
        starts none) counts its samples as refused, not as missing when the next batch comes."""
        batch = problem.refused
        session = self.sessions.get(problem.session) if problem.session else None
        if session is not None and isinstance(batch, GazeBatch):
            session.refused(batch)

    def _internal_error(self, topic: str, session_name: str | None, error: Exception) -> None:
        now = self._monotonic()
        if now - self._internal_error_logged >= INTERNAL_ERROR_LOG_INTERVAL_S:
            self._internal_error_logged = now
            log.exception("processor bug while handling a message on %s; counted, going on", topic)
        self.bad_input.record(
            BadInput(BadInputKind.INTERNAL_ERROR, f"{type(error).__name__}: {error}", session_name), topic
        )
        session = self.sessions.get(session_name) if session_name else None
        if session is not None:
            session.drop_stream()

    # ------------------------------------------------------------------ status

    def counters(self) -> dict[str, int]:
        total = SessionCounters()
        total.add(self.retired)
        for session in list(self.sessions.values()):  # a snapshot: status may be read from another thread
            total.add(session.counters)
        counters = asdict(total)
        counters["messages"] = self.messages
        counters["other_shard_messages"] = self.other_shard_messages
        counters["statuses_cleared"] = self.statuses_cleared
        counters["sessions"] = len(self.sessions)
        counters["sessions_established"] = len(self.sessions) - len(self._unestablished)
        counters["sessions_forgotten"] = self.forgotten_sessions
        refused_only = sum(
            1 for name in list(self.bad_input.counts) if name not in self.sessions and name not in AGGREGATES
        )
        counters["sessions_refused_only"] = refused_only  # names with bad input and no session
        counters["sessions_not_in_status"] = max(0, len(self.sessions) + refused_only - self.status_sessions)
        bad = self.bad_input.totals
        counters["bad_input"] = sum(bad.values())
        for kind in BadInputKind:
            counters[f"bad_input_{kind.value}"] = bad.get(kind.value, 0)
        return counters

    def session_summaries(self, limit: int | None = None) -> dict[str, dict[str, Any]]:
        """Summaries of the ``limit`` (default ``status_sessions``) most relevant names, for the
        retained status, which every subscriber receives again on each refresh: established
        sessions, most recently active first; then sessions with one message so far; then names
        that were refused without a session, most refusals first; and the aggregates of the
        bad-input ledger (``_invalid``, ``_other``). ``counters()`` count them all."""
        limit = self.status_sessions if limit is None else limit
        sessions = list(self.sessions.items())  # a snapshot: status may be read from another thread
        unestablished = set(self._unestablished)
        ordered = [name for name, _ in reversed(sessions) if name not in unestablished]
        ordered += [name for name, _ in reversed(sessions) if name in unestablished]
        refused = [
            (sum(counts.values()), name)
            for name, counts in list(self.bad_input.counts.items())
            if name not in self.sessions and name not in AGGREGATES
        ]
        ordered += [name for _, name in sorted(refused, key=lambda item: -item[0])]
        by_name = dict(sessions)
        summaries: dict[str, dict[str, Any]] = {}
        for name in ordered[:limit]:
            session = by_name.get(name)
            if session is not None:
                summaries[name] = session.summary(self.bad_input.for_session(name))
            else:
                summaries[name] = {"bad_input": self.bad_input.for_session(name)}
        for name in AGGREGATES:
            if name in self.bad_input.counts:
                summaries[name] = {"bad_input": self.bad_input.for_session(name)}
        return summaries


class _RateLimitedLog:
    """One log line a minute at most about a repeated event, with how many there were."""

    def __init__(self, what: str, interval_s: float = 60.0) -> None:
        self.what = what
        self.interval_s = interval_s
        self._logged: float | None = None
        self._happened: float | None = None
        self._count = 0

    def note(self, now: float, example: str) -> None:
        self._count += 1
        self._happened = now
        if self._logged is not None and now - self._logged < self.interval_s:
            return
        log.info("%d %s since the last report; latest: %s", self._count, self.what, example)
        self._logged, self._count = now, 0

    def recent(self, now: float) -> bool:
        """Did it happen within the last interval?"""
        return self._happened is not None and now - self._happened < self.interval_s
