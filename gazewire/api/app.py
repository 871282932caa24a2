"""The API as an ASGI application: :func:`create_app`.

The lab server's HTTP API over the processor's journal (the archive) and the
agents' command topic. OpenAPI docs at ``/api/docs`` (schema at
``/api/openapi.json``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from gazewire import __version__
from gazewire.api.commands import Commands
from gazewire.api.downloads import ArchiveAccess, Downloads
from gazewire.api.errors import install_error_handlers
from gazewire.api.routes import build_router
from gazewire.api.tokens import Tokens, load_tokens

DESCRIPTION = """\
The lab's recordings, from the processor's journal, and the agents' recordings
started, stopped and annotated from afar.

* **Tokens**: every endpoint but `/api/health` needs `Authorization: Bearer <token>`;
  a *viewer* token reads, an *operator* token also starts, stops and annotates.
* **Times**: ISO 8601 with a zone (`2026-11-30T10:15:00Z`) or UTC microseconds;
  a range is `from <= t < to`.
* **Data** (`/gaze`, `/fixations`, `/markers`, `/alerts`, `/movements`) is streamed
  as `csv`, `parquet`, `json` (NDJSON: one object per line) or `arrow` (Arrow IPC
  stream), in time order, every value exact.
* **Errors**: `{"detail": "<one line>"}`.
"""


def create_app(settings: Any, *, tokens: Tokens | None = None, archive: ArchiveAccess | None = None,
               commands: Commands | None = None) -> FastAPI:
    """The application for ``settings`` (:class:`~gazewire.api.settings.ApiSettings`);
    raises SettingsError when there is no usable token."""
    tokens = tokens if tokens is not None else load_tokens(settings)
    commands = commands if commands is not None else Commands(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await commands.close()

    app = FastAPI(
        title="gazewire API",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.archive = archive if archive is not None else ArchiveAccess(settings.journal_path)
    app.state.downloads = Downloads(settings.api.max_downloads)
    app.state.commands = commands
    install_error_handlers(app)
    app.include_router(build_router())
    return app
