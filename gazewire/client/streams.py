"""Live messages as they arrive: an iterator (or a callback) per subscription.

A :class:`Stream` is what ``session.gaze()``, ``fixations()``, ``alerts()``
and ``markers()`` return: iterate it for every message (blocking), ask it for
the :meth:`~Stream.latest` one (not blocking: a frame loop's way), or give a
``callback`` instead. Messages are parsed against the wire contract; one
that does not parse is skipped and counted (``invalid``). The buffer is
bounded: when a consumer falls behind by ``buffer`` messages the oldest go,
and ``dropped`` counts them (live gaze is a view, the batches are the record).
:class:`AsyncStream` is the same for asyncio (``async for``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from gazewire.client.connection import Received
from gazewire.errors import InvalidArgument, InvalidPayload, WaitTimeout
from gazewire.wire.messages import WireModel, parse_message

log = logging.getLogger(__name__)

M = TypeVar("M", bound=WireModel)
DEFAULT_BUFFER = 10_000


class _StreamDefault:
    def __repr__(self) -> str:
        return "the stream's timeout"


STREAM_DEFAULT: Any = _StreamDefault()  # get(timeout=...) not given: the stream's own timeout


class _Delivery(Generic[M]):
    """What both streams share: parse, count, and say when they are closed."""

    def __init__(self, model: type[M], *, what: str, timeout_s: float | None, buffer: int,
                 on_close: Callable[[], None]) -> None:
        if not isinstance(buffer, int) or buffer < 1:
            raise InvalidArgument(f"buffer must be a whole number of at least 1, got {buffer!r}")
        if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and timeout_s > 0):
            raise InvalidArgument(f"timeout must be a positive number of seconds or None, got {timeout_s!r}")
        self.model = model
        self.what = what
        self.timeout_s = timeout_s
        self.buffer = buffer
        self.received = 0
        self.invalid = 0
        self.dropped = 0
        self.closed = False
        self._on_close = on_close

    def parse(self, message: Received) -> M | None:
        try:
            parsed = parse_message(self.model, message.payload)
        except InvalidPayload as error:
            self.invalid += 1
            if self.invalid == 1:
                log.warning("%s: skipped a message that is not a valid %s: %s", self.what, self.model.__name__, error)
            return None
        self.received += 1
        return parsed

    def _close_once(self) -> bool:
        if self.closed:
            return False
        self.closed = True
        self._on_close()
        return True


class Stream(_Delivery[M]):
    """Messages of one kind, as they arrive. Iterate it; close it (or use
    ``with``) when done, which ends the subscription and the iteration."""

    def __init__(self, model: type[M], *, what: str, timeout_s: float | None = None, buffer: int = DEFAULT_BUFFER,
                 callback: Callable[[M], Any] | None = None, on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(model, what=what, timeout_s=timeout_s, buffer=buffer, on_close=on_close)
        self.callback = callback
        self._messages: deque[M] = deque()
        self._changed = threading.Condition()

    def deliver(self, message: Received) -> None:
        """Take one message (paho's thread)."""
        parsed = self.parse(message)
        if parsed is None or self.closed:
            return
        if self.callback is not None:
            try:
                self.callback(parsed)
            except Exception:  # a bug in the callback must not stop the connection
                log.exception("%s: the callback failed", self.what)
            return
        with self._changed:
            if len(self._messages) >= self.buffer:
                self._messages.popleft()
                self.dropped += 1
            self._messages.append(parsed)
            self._changed.notify_all()

    def get(self, timeout: float | None = STREAM_DEFAULT) -> M | None:
        """The next message, waiting for it; None once the stream is closed.
        WaitTimeout when none came within ``timeout`` (default: the stream's;
        None waits for ever)."""
        timeout_s = self.timeout_s if timeout is STREAM_DEFAULT else timeout
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._changed:
            while not self._messages:
                if self.closed:
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeout(self.what, timeout_s)  # type: ignore[arg-type]
                self._changed.wait(remaining)
            return self._messages.popleft()

    def latest(self) -> M | None:
        """The newest message not yet taken, without waiting (None if there is
        none); the older ones waiting are skipped."""
        with self._changed:
            if not self._messages:
                return None
            newest = self._messages[-1]
            self._messages.clear()
            return newest

    def close(self) -> None:
        with self._changed:
            first = not self.closed
            self.closed = True
            self._changed.notify_all()
        if first:
            self._on_close()

    def __iter__(self) -> Stream[M]:
        return self

    def __next__(self) -> M:
        message = self.get()
        if message is None:
            raise StopIteration
        return message

    def __enter__(self) -> Stream[M]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Stream {self.what}: {self.received} received, {self.dropped} dropped, {self.invalid} invalid>"


class AsyncStream(_Delivery[M]):
    """:class:`Stream` for asyncio: ``async for gaze in session.gaze(): ...``.
    Messages are handed to the event loop the stream was made on."""

    def __init__(self, model: type[M], *, loop: asyncio.AbstractEventLoop, what: str,
                 timeout_s: float | None = None, buffer: int = DEFAULT_BUFFER,
                 on_close: Callable[[], None] = lambda: None,
                 start: Callable[[], Awaitable[Any]] | None = None) -> None:
        super().__init__(model, what=what, timeout_s=timeout_s, buffer=buffer, on_close=on_close)
        self._loop = loop
        self._messages: deque[M] = deque()
        self._arrived = asyncio.Event()
        self._start = start

    async def started(self) -> AsyncStream[M]:
        """Subscribe now (the first ``get``, ``async for`` or ``async with`` does it otherwise)."""
        start, self._start = self._start, None
        if start is not None:
            try:
                await start()
            except BaseException:
                self.close()
                raise
        return self

    def deliver(self, message: Received) -> None:
        """Take one message (paho's thread): parse here, queue on the loop."""
        parsed = self.parse(message)
        if parsed is None or self.closed:
            return
        try:
            self._loop.call_soon_threadsafe(self._append, parsed)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _append(self, parsed: M) -> None:
        if len(self._messages) >= self.buffer:
            self._messages.popleft()
            self.dropped += 1
        self._messages.append(parsed)
        self._arrived.set()

    async def get(self, timeout: float | None = STREAM_DEFAULT) -> M | None:
        """The next message, waiting for it; None once the stream is closed.
        WaitTimeout when none came within ``timeout`` (default: the stream's)."""
        timeout_s = self.timeout_s if timeout is STREAM_DEFAULT else timeout
        await self.started()
        while not self._messages:
            if self.closed:
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_s)
            except asyncio.TimeoutError:
                raise WaitTimeout(self.what, timeout_s) from None  # type: ignore[arg-type]
        return self._messages.popleft()

    def latest(self) -> M | None:
        if not self._messages:
            return None
        newest = self._messages[-1]
        self._messages.clear()
        return newest

    def close(self) -> None:
        if self._close_once():
            self._arrived.set()

    def __aiter__(self) -> AsyncStream[M]:
        return self

    async def __anext__(self) -> M:
        message = await self.get()
        if message is None:
            raise StopAsyncIteration
        return message

    async def __aenter__(self) -> AsyncStream[M]:
        return await self.started()

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AsyncStream {self.what}: {self.received} received, {self.dropped} dropped, {self.invalid} invalid>"
