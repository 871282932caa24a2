"""The endpoints: the archive read (sessions, recordings, their data), and the
recordings started, stopped and annotated through the agents' command topic.

Reading needs a viewer token (or an operator's); writing an operator token.
Every data endpoint streams (see :mod:`gazewire.api.downloads`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from gazewire.api.auth import Operator, Viewer
from gazewire.api.downloads import DownloadResponse
from gazewire.api.errors import ApiError, status_of_client_error
from gazewire.api.formats import Format, encode
from gazewire.api.models import (
    ChangeRecording,
    ErrorOut,
    CommandOut,
    Health,
    RecordingDetailsOut,
    RecordingOut,
    SessionOut,
    StartRecording,
)
from gazewire.api.params import From, FormatQuery, Since, To, Until, utc_us
from gazewire.errors import ClientError, GazewireError

log = logging.getLogger("gazewire.api")

RECORDING_ID = Path(description="Recording id (20261130T101500Z-3f9a).", pattern=r"^[A-Za-z0-9._-]{1,64}$")
SESSION_ID = Path(description="Session id (the station).", pattern=r"^[A-Za-z0-9._-]{1,64}$")

TABLE_HELP = {
    "gaze": "Every sample: the columns of gaze/batch (docs/protocol.md) and its recording.",
    "fixations": "Every ended fixation the processor detected.",
    "markers": "Every marker (event) the agent took.",
    "alerts": "Every alert raised and cleared.",
    "movements": "Saccades, smooth pursuits and blinks the processor detected.",
}
ERRORS = {
    400: "A body that cannot be read (not JSON text).",
    401: "No bearer token, or an unknown one.",
    403: "A viewer's token where an operator's is needed.",
    404: "No such recording or session.",
    409: "The recording's state does not allow it (one runs already; it is not running).",
    422: "A bad parameter or body.",
    502: "The agent tried and failed.",
    503: "No journal yet, the broker unreachable, or too many downloads at once (Retry-After).",
    504: "The agent did not answer in time.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers: each ``{"detail": "<one line>"}``."""
    return {code: {"model": ErrorOut, "description": ERRORS[code]} for code in codes}


READ_ERRORS = errors(401, 404, 422, 503)
WRITE_ERRORS = errors(400, 401, 403, 404, 409, 422, 502, 503, 504)
DATA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The table, streamed in the format asked for.",
          "content": {format.media_type.split(";")[0]: {} for format in Format}},
    **READ_ERRORS,
}


def archive_errors(error: Exception) -> ApiError:
    """The archive's errors as answers."""
    from gazewire.archive.base import ArchiveError, BadSelection, UnknownRecording, UnknownSession

    if isinstance(error, (UnknownRecording, UnknownSession)):
        return ApiError(404, str(error))
    if isinstance(error, BadSelection):
        return ApiError(422, str(error))
    if isinstance(error, ArchiveError):
        return ApiError(503, f"the journal cannot be read: {error}")
    raise error


def archive(request: Request) -> Any:
    return request.app.state.archive.get()


async def read(request: Request, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call`` on a worker thread, the archive's errors turned into answers."""
    from gazewire.archive.base import ArchiveError

    try:
        return await run_in_threadpool(call, *args, **kwargs)
    except ArchiveError as error:
        raise archive_errors(error) from None


def known_query_only(request: Request) -> None:
    """A query parameter the endpoint does not take (a typo: ``form=csv``, ``start=``) or one
    given twice is refused, not ignored: the answer would not be what was asked for."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = {param.alias for param in _query_params(dependant)}
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in known:
            takes = ", ".join(sorted(known)) or "none"
            raise ApiError(422, f"query parameter {name!r}: not a parameter of this endpoint (it takes: {takes})")
        if len(request.query_params.getlist(name)) > 1:
            raise ApiError(422, f"query parameter {name!r}: given more than once")


def _query_params(dependant: Any) -> list[Any]:
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found += _query_params(sub)
    return found


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api", dependencies=[Depends(known_query_only)])

    @router.get("/health", response_model=Health, tags=["service"], summary="Is the API up? (no token needed)")
    async def health(request: Request) -> Health:
        state = await run_in_threadpool(request.app.state.archive.state)
        return Health(journal=state, downloads=request.app.state.downloads.active)

    # ------------------------------------------------------------------ sessions and recordings

    @router.get("/sessions", response_model=list[SessionOut], tags=["archive"], responses=READ_ERRORS,
                summary="The sessions (stations) the journal holds data of")
    async def sessions(request: Request, caller: Viewer) -> list[dict[str, Any]]:
        found = await read(request, lambda: archive(request).sessions())
        return [asdict(summary) for summary in found]

    @router.get("/recordings", response_model=list[RecordingOut], tags=["archive"], responses=READ_ERRORS,
                summary="The recordings in the journal, oldest first")
    async def recordings(
        request: Request, caller: Viewer,
        session: Annotated[str | None, Query(description="Only this session's.",
                                             pattern=r"^[A-Za-z0-9._-]{1,64}$")] = None,
        participant: Annotated[str | None, Query(description="Only this participant's.", max_length=64)] = None,
        since: Since = None, until: Until = None,
    ) -> list[dict[str, Any]]:
        since_us, until_us = utc_us(since), utc_us(until)
        found = await read(request, lambda: archive(request).recordings(
            session, since_utc_us=since_us, until_utc_us=until_us, participant=participant))
        return [summary.to_dict() for summary in found]

    @router.get("/recordings/{recording}", response_model=RecordingDetailsOut, tags=["archive"],
                responses=READ_ERRORS,
                summary="One recording: who, when, how many samples, what was lost, the tracker")
    async def recording_details(request: Request, caller: Viewer,
                                recording: Annotated[str, RECORDING_ID]) -> dict[str, Any]:
        details = await read(request, lambda: archive(request).recording(recording))
        return details.to_dict()

    # ------------------------------------------------------------------ the data

    for table, help_text in TABLE_HELP.items():
        _add_table(router, table, help_text)

    # ------------------------------------------------------------------ recordings through the agents

    @router.post("/sessions/{session}/recordings", status_code=201, response_model=CommandOut, tags=["recording"],
                 responses=WRITE_ERRORS,
                 summary="Start a recording on a session's agent (operator token)")
    async def start_recording(request: Request, response: Response, caller: Operator,
                              session: Annotated[str, SESSION_ID],
                              body: StartRecording | None = None) -> dict[str, Any]:
        body = body or StartRecording()
        commands = request.app.state.commands
        try:
            recording = await commands.start(session, name=body.name, participant=body.participant,
                                             metadata=body.metadata)
        except (ClientError, GazewireError) as error:
            raise ApiError(status_of_client_error(error), str(error)) from None
        log.info("%s %r started recording %s on session %s", caller.role.value, caller.name, recording.id, session)
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/api/recordings/{recording.id}"
        return asdict(recording)

    @router.patch("/recordings/{recording}", response_model=CommandOut, tags=["recording"],
                  responses=WRITE_ERRORS,
                  summary="Stop or annotate a running recording (operator token)")
    async def change_recording(request: Request, caller: Operator, recording: Annotated[str, RECORDING_ID],
                               body: ChangeRecording) -> dict[str, Any]:
        if body.state is None and not body.metadata:
            raise ApiError(422, "body: nothing to change: give 'state': 'stopped' and/or 'metadata'")
        known_session = await _session_in_archive(request, recording)
        commands = request.app.state.commands
        try:
            changed = await commands.change(recording, stop=body.state == "stopped", metadata=body.metadata,
                                            known_session=known_session)
        except ApiError:
            raise
        except (ClientError, GazewireError) as error:
            raise ApiError(status_of_client_error(error), str(error)) from None
        what = " and ".join(x for x in ("annotated" if body.metadata else "", "stopped" if body.state else "") if x)
        log.info("%s %r %s recording %s on session %s", caller.role.value, caller.name, what, recording,
                 changed.session)
        return asdict(changed)

    return router


async def _session_in_archive(request: Request, recording: str) -> str | None:
    """The session of a recording the journal holds (None when it holds none, or cannot be read)."""
    from gazewire.archive.base import ArchiveError

    try:
        details = await run_in_threadpool(lambda: archive(request).recording(recording))
    except (ArchiveError, ApiError):
        return None
    return details.session


def _add_table(router: APIRouter, table: str, help_text: str) -> None:
    """``GET /api/recordings/{id}/<table>`` and ``GET /api/sessions/{session}/<table>``."""

    async def of_recording(request: Request, caller: Viewer, recording: Annotated[str, RECORDING_ID],
                           from_: From = None, to: To = None, format: FormatQuery = Format.CSV) -> DownloadResponse:
        return await _download(request, table, format, from_, to, recording=recording)

    async def of_session(request: Request, caller: Viewer, session: Annotated[str, SESSION_ID],
                         from_: From = None, to: To = None, format: FormatQuery = Format.CSV) -> DownloadResponse:
        return await _download(request, table, format, from_, to, session=session)

    responses = DATA_RESPONSES
    router.add_api_route(
        f"/recordings/{{recording}}/{table}", of_recording, methods=["GET"], tags=["data"],
        response_class=DownloadResponse, status_code=200, responses=responses, operation_id=f"recording_{table}",
        summary=f"A recording's {table}, streamed (csv, parquet, json, arrow)",
        description=f"{help_text} Optionally only `from <= t < to`.",
    )
    router.add_api_route(
        f"/sessions/{{session}}/{table}", of_session, methods=["GET"], tags=["data"],
        response_class=DownloadResponse, status_code=200, responses=responses, operation_id=f"session_{table}",
        summary=f"A session's {table} in a time range, streamed (csv, parquet, json, arrow)",
        description=f"{help_text} Every sample of the session, in recordings and between them; "
                    "optionally only `from <= t < to`.",
    )


async def _download(request: Request, table: str, format: Format, from_: Any, to: Any, *,
                    recording: str | None = None, session: str | None = None) -> DownloadResponse:
    from gazewire.archive.base import ArchiveError
    from gazewire.archive.tables import TABLES

    from_us, to_us = utc_us(from_), utc_us(to)
    if from_us is not None and to_us is not None and to_us <= from_us:
        shown = [value.isoformat() if hasattr(value, "isoformat") else value for value in (to, from_)]
        raise ApiError(422, f"query parameters 'from' and 'to': the range ends ({shown[0]}) before or where it "
                            f"starts ({shown[1]})")
    state = request.app.state
    chunk_rows = state.settings.api.chunk_rows
    subject = recording if recording is not None else session
    what = f"{table} of {'recording' if recording is not None else 'session'} {subject}"

    def produce() -> Iterator[bytes]:
        source = state.archive.get()
        reader = getattr(source, table)
        batches = reader(recording, session=session, from_utc_us=from_us, to_utc_us=to_us, chunk_rows=chunk_rows)
        metadata = {}
        if format in (Format.PARQUET, Format.ARROW):
            metadata = _file_metadata(source, table, recording=recording, session=session, from_utc_us=from_us,
                                      to_utc_us=to_us)
        return encode(format, TABLES[table], batches, metadata=metadata)

    try:
        download = await state.downloads.open(what, produce)
    except ArchiveError as error:
        raise archive_errors(error) from None
    name = f"{subject}_{table}.{format.suffix}"
    return DownloadResponse(download, media_type=format.media_type,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _file_metadata(source: Any, table: str, **selection: Any) -> dict[str, str]:
    """Key-value metadata of a Parquet or Arrow download, as ``gazewire export`` writes it: the
    recording's details (null for a session's range), what was selected, which table."""
    import json

    from gazewire.archive.export import METADATA_KEY, SELECTION_KEY

    recording = selection["recording"]
    details = source.recording(recording).to_dict() if recording is not None else None
    if details is not None:
        selection = {**selection, "session": details["session"]}
    return {METADATA_KEY.decode(): json.dumps(details), SELECTION_KEY.decode(): json.dumps(selection),
            "gazewire.table": table}
