"""The archive behind the API, and the downloads streamed from it.

:class:`ArchiveAccess` opens the processor's journal (read only: the archive
reader opens SQLite with ``mode=ro``) on first use and again after a failure, so
the API starts before the processor has made its journal and answers 503 until
it exists.

:class:`Downloads` streams a table: the archive's chunks are read and encoded
on worker threads (the event loop is never blocked by SQLite, Zstandard or
Arrow), one chunk at a time - the next one made while the last one is sent - and
sent as they come; uvicorn waits for a slow client before the next chunk is asked
for, so a download of any length holds about two chunks in memory. At most
``max_downloads`` run at once (one more: 503 with ``Retry-After``). The first
chunk is read before the response starts, so an unknown recording, a bad range
or an unreadable journal get their own status; an error after that cuts the
response short (the client sees an incomplete body, never a complete-looking
partial table) and is logged.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from gazewire.api.errors import ApiError

log = logging.getLogger("gazewire.api")

RETRY_AFTER_S = 5


class ArchiveAccess:
    """The archive, opened when first asked for (and again while it cannot be)."""

    def __init__(self, journal_path: Path, opener: Callable[[Path], Any] | None = None) -> None:
        self.journal_path = journal_path
        self._opener = opener or open_journal_archive
        self._archive: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:  # -> gazewire.archive.Archive
        """The archive; 503 with the reason while there is none."""
        with self._lock:
            if self._archive is None:
                from gazewire.archive.base import ArchiveError

                if not self.journal_path.exists():
                    raise ApiError(503, f"no journal at {str(self.journal_path)!r} yet (the processor makes it "
                                        "on its first start; is journal.path or data_dir the processor's?)",
                                   {"Retry-After": str(RETRY_AFTER_S)})
                try:
                    self._archive = self._opener(self.journal_path)
                except ArchiveError as error:
                    raise ApiError(503, f"the journal cannot be read: {error}",
                                   {"Retry-After": str(RETRY_AFTER_S)}) from None
            return self._archive

    def state(self) -> str:
        """``ok``, or why the archive cannot be read (for /api/health)."""
        try:
            self.get()
        except ApiError as error:
            return error.detail
        return "ok"


def open_journal_archive(path: Path) -> Any:
    from gazewire.archive import open_archive

    return open_archive(journal=path)


class Downloads:
    """Streams tables, at most ``limit`` at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._count_lock = threading.Lock()
        self.active = 0

    async def open(self, what: str, produce: Callable[[], Iterator[bytes]]) -> Download:
        """A download: ``produce()`` is called on a worker thread (it raises the archive's
        errors: unknown recording, bad range) and its first chunk is read before this
        returns; the rest is read as the client takes it."""
        if not self._slots.acquire(blocking=False):
            raise ApiError(503, f"{self.limit} downloads are running, the most at once (api.max_downloads); "
                                "try again shortly", {"Retry-After": str(RETRY_AFTER_S)})
        with self._count_lock:
            self.active += 1
        download = Download(what, self._release)
        try:
            download.chunks = await run_in_threadpool(produce)
            download.first = await run_in_threadpool(next, download.chunks, None)
        except BaseException:
            download.release()
            raise
        return download

    def _release(self) -> None:
        with self._count_lock:
            self.active -= 1
        self._slots.release()


class Download:
    """One table being sent: its chunks, and its place among the downloads (given back once).

    The next chunk is made on a worker thread while the current one is sent, so reading the
    journal overlaps with the network and the client: at most two chunks are held."""

    def __init__(self, what: str, give_back: Callable[[], None]) -> None:
        self.what = what
        self.chunks: Iterator[bytes] | None = None
        self.first: bytes | None = None
        self._give_back: Callable[[], None] | None = give_back
        self._making: asyncio.Future | None = None  # the next chunk, being made

    async def body(self) -> AsyncIterator[bytes]:
        try:
            chunk = self.first
            self.first = None
            while chunk is not None:
                self._making = asyncio.ensure_future(run_in_threadpool(next, self.chunks, None))
                if chunk:
                    yield chunk
                # shielded: a client that leaves cancels the wait, not the chunk being made (its
                # generator cannot be closed while it runs; release() closes it once it is done)
                chunk = await asyncio.shield(self._making)
                self._making = None
        except Exception:
            log.exception("download of %s cut short: the response ends without its last chunk", self.what)
            raise
        finally:
            self.release()

    def release(self) -> None:
        """Close the archive's reader and give the place back (once; from wherever the download
        ended). A chunk still being made (the client left meanwhile) is let finish first: a
        generator cannot be closed while it runs."""
        give_back, self._give_back = self._give_back, None
        if give_back is None:
            return
        making, self._making = self._making, None
        if making is not None and not making.done():
            making.add_done_callback(lambda done: self._close(give_back, done))
        else:
            self._close(give_back)

    def _close(self, give_back: Callable[[], None], made: asyncio.Future | None = None) -> None:
        if made is not None and not made.cancelled() and made.exception() is not None:
            log.warning("the download of %s, left by its client, failed making its next chunk: %s", self.what,
                        made.exception())
        close = getattr(self.chunks, "close", None)
        if close is not None:
            try:
                close()  # the archive's generator closes its SQLite connection
            except Exception:
                log.exception("closing the download of %s", self.what)
        give_back()


class DownloadResponse(StreamingResponse):
    """A streamed download that gives its place back however the response ends (the
    client gone before the first byte included)."""

    def __init__(self, download: Download, *, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(download.body(), media_type=media_type, headers=headers)
        self.download = download

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.download.release()
