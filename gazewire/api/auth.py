"""The bearer-token check of every endpoint but ``/api/health`` and the docs.

``Depends(viewer)`` lets any known token in; ``Depends(operator)`` only an
operator's. Missing or unknown token: 401 with ``WWW-Authenticate: Bearer``;
a viewer's token where an operator's is needed: 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gazewire.api.errors import ApiError
from gazewire.api.tokens import Caller, Role, Tokens

_bearer = HTTPBearer(
    auto_error=False,
    description="A viewer token (read) or an operator token (read; start, stop, annotate recordings), "
    "from the API's tokens file or settings.",
)


def viewer(request: Request,
           credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    """Whoever holds a known token."""
    if credentials is None:
        raise ApiError(401, "missing bearer token: send the header 'Authorization: Bearer <token>'",
                       {"WWW-Authenticate": "Bearer"})
    tokens: Tokens = request.app.state.tokens
    caller = tokens.caller(credentials.credentials)
    if caller is None:
        raise ApiError(401, "invalid bearer token (not one of the API's tokens)",
                       {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    request.state.caller = caller
    return caller


def operator(caller: Annotated[Caller, Depends(viewer)]) -> Caller:
    """Whoever holds an operator's token."""
    if not caller.role.may(Role.OPERATOR):
        raise ApiError(403, f"token {caller.name!r} is a viewer's (read only): starting, stopping and annotating "
                            "recordings needs an operator token")
    return caller


Viewer = Annotated[Caller, Depends(viewer)]
Operator = Annotated[Caller, Depends(operator)]
