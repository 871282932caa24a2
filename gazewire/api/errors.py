"""Every error the API answers with: one status code and one line.

The body is always ``{"detail": "<one line>"}`` (FastAPI's own shape), so a
client prints ``detail`` and is done. What becomes which status:

* 400: a body that is not JSON text;
* 401: no bearer token, or one the API does not know (``WWW-Authenticate: Bearer``);
* 403: a viewer token on an operator's endpoint;
* 404: no such recording or session;
* 409: the agent refused because of the recording's state (one already runs,
  none runs, another one runs);
* 422: bad parameters or body (FastAPI's validation errors reshaped to one line
  naming each parameter), a range that ends before it starts, a command the
  agent found invalid;
* 502: the agent tried and failed;
* 503: no journal yet or it cannot be read, the broker unreachable, too many
  downloads at once (``Retry-After``);
* 504: the agent did not answer in time.

Tokens never appear in a message: they are only read from the Authorization
header, and nothing here echoes a header.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gazewire.errors import (
    AgentNotResponding,
    AlreadyRecording,
    BrokerError,
    ClientClosed,
    CommandRefused,
    GazewireError,
    InvalidArgument,
    InvalidCommand,
    InvalidSessionId,
    NotRecording,
    UnknownSession,
)

log = logging.getLogger("gazewire.api")


class ApiError(GazewireError):
    """An answer other than success: ``status`` and one line for the caller."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=dict(headers or {}))


# --------------------------------------------------------------------------- validation errors as one line

_WHERE = {"query": "query parameter", "path": "path parameter", "body": "body", "header": "header"}


def describe_validation(errors: Sequence[Mapping[str, Any]]) -> str:
    """FastAPI's validation errors as one line: ``query parameter 'format': Input should be
    'csv', 'parquet', 'json' or 'arrow' (got 'xml')``; several joined by ``; ``. A value that
    fits none of a parameter's types (a time: microseconds or ISO 8601) is one problem, not one
    per type."""
    from gazewire.api.params import TIME_PARAMETERS, TIME_PROBLEM

    problems: dict[str, tuple[str, str]] = {}  # where -> (message, shown input)
    for error in errors:
        location = [str(part) for part in error.get("loc", ())]
        kind, names = (location[0], location[1:]) if location else ("request", [])
        if kind in ("query", "path", "header") and names:
            names = names[:1]  # deeper parts name the alternatives of a union, not the parameter
        where = _WHERE.get(kind, kind)
        if kind == "body" and names:
            where = f"body field {'.'.join(names)!r}"
        elif names:
            where = f"{where} {'.'.join(names)!r}"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if error.get("type") == "missing":
            message = "required"
        if kind == "query" and names and names[0] in TIME_PARAMETERS:
            message = TIME_PROBLEM
        shown = ""
        if "input" in error and error.get("type") != "missing" and not isinstance(error["input"], (dict, list)):
            shown = f" (got {_short(error['input'])})"
        if where in problems and problems[where][0] != message:
            message = f"{problems[where][0]}, or {message}"
        problems[where] = (message, shown)
    return "; ".join(f"{where}: {message}{shown}" for where, (message, shown) in problems.items()) or "invalid request"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


# --------------------------------------------------------------------------- the client library's errors


def status_of_client_error(error: Exception) -> int:
    """The status for an error of :mod:`gazewire.client` (a command through the broker)."""
    if isinstance(error, (InvalidArgument, InvalidCommand, InvalidSessionId)):
        return 422
    if isinstance(error, (AlreadyRecording, NotRecording)):
        return 409
    if isinstance(error, CommandRefused):
        return {"invalid_command": 422, "failed": 502}.get(error.code or "", 409)
    if isinstance(error, AgentNotResponding):
        return 504
    if isinstance(error, UnknownSession):
        return 404
    if isinstance(error, (BrokerError, ClientClosed)):
        return 503
    return 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.detail, error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        unreadable = not_json(error.errors())
        if unreadable is not None:
            return error_response(400, unreadable)
        return error_response(422, describe_validation(error.errors()))


def not_json(errors: Sequence[Mapping[str, Any]]) -> str | None:
    """The one line for a body that is not JSON text (FastAPI reports it as a validation
    error of a body field ``0``), or None."""
    for error in errors:
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error")
            return "body: not JSON text" + (f" ({reason})" if reason else "")
    return None
