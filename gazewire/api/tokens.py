"""Who may use the API: bearer tokens and their roles.

Two roles, named as the broker's (deploy/mosquitto/acl): a **viewer** token reads
(sessions, recordings, their data); an **operator** token also starts, stops and
annotates recordings. Tokens come from ``api.tokens_file`` (one per line:
``<role> <name> <token>``) and from ``api.viewer_tokens`` /
``api.operator_tokens`` (comma-separated, e.g. from the environment).

Only SHA-256 digests of the tokens are kept in memory, and a presented token is
compared by its digest (the comparison time does not depend on how much of a
token was right). A token is never logged or put in an error message; the log
names a token by its ``name`` (from the file) or by ``viewer-1``, ``operator-2``
(from the settings).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from gazewire.errors import SettingsError

MIN_TOKEN_LENGTH = 16
TOKEN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


class Role(str, Enum):
    VIEWER = "viewer"
    OPERATOR = "operator"

    def may(self, needed: Role) -> bool:
        return self is Role.OPERATOR or needed is Role.VIEWER


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made a request: the token's name and role (never the token)."""

    name: str
    role: Role


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Tokens:
    """The tokens the API accepts, by digest."""

    def __init__(self, entries: Iterable[tuple[Role, str, str]]) -> None:
        self._callers: dict[bytes, Caller] = {}
        for role, name, token in entries:
            problem = token_problem(token)
            if problem:
                raise SettingsError(f"API token {name!r} ({role.value}): {problem}")
            key = digest(token)
            if key in self._callers:
                raise SettingsError(f"API token {name!r} is the same token as {self._callers[key].name!r}")
            self._callers[key] = Caller(name, role)

    def __len__(self) -> int:
        return len(self._callers)

    def count(self, role: Role) -> int:
        return sum(1 for caller in self._callers.values() if caller.role is role)

    def caller(self, token: str) -> Caller | None:
        """The caller this token belongs to, or None."""
        presented = digest(token)
        found = None
        for key, caller in self._callers.items():  # every digest compared: no early exit to time
            if hmac.compare_digest(key, presented):
                found = caller
        return found


def token_problem(token: str) -> str | None:
    """Why a token is not acceptable (never quoting it), or None."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"shorter than {MIN_TOKEN_LENGTH} characters (make one with: openssl rand -hex 32)"
    if not set(token) <= TOKEN_CHARACTERS:
        return "has characters a bearer token cannot have (use letters, digits and -._~+/=)"
    return None


def read_tokens_file(path: Path) -> list[tuple[Role, str, str]]:
    """``(role, name, token)`` of each line of a tokens file; SettingsError names a bad line (not its token)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"cannot read API tokens file {str(path)!r}: {error.strerror}") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"API tokens file {str(path)!r}, line {number}"
        if len(parts) != 3:
            raise SettingsError(f"{where}: expected '<role> <name> <token>' (3 words), found {len(parts)}")
        role, name, token = parts
        if role not in (Role.VIEWER.value, Role.OPERATOR.value):
            raise SettingsError(f"{where}: role {role!r} is not viewer or operator")
        entries.append((Role(role), name, token))
    return entries


def listed_tokens(text: str | None, role: Role) -> list[tuple[Role, str, str]]:
    """Tokens given comma-separated in a setting, named ``<role>-<n>``."""
    if not text:
        return []
    tokens = [token.strip() for token in text.split(",") if token.strip()]
    return [(role, f"{role.value}-{index}", token) for index, token in enumerate(tokens, 1)]


def load_tokens(settings) -> Tokens:  # settings: ApiSettings
    """The tokens of the settings; SettingsError when there is none or one is bad."""
    server = settings.api
    entries = []
    if server.tokens_file is not None:
        entries += read_tokens_file(server.tokens_file)
    for role, secret in ((Role.VIEWER, server.viewer_tokens), (Role.OPERATOR, server.operator_tokens)):
        entries += listed_tokens(secret.get_secret_value() if secret is not None else None, role)
    tokens = Tokens(entries)
    if not len(tokens):
        raise SettingsError(
            "invalid setting api: no API tokens: set api.tokens_file, or GAZEWIRE_API__VIEWER_TOKENS / "
            "GAZEWIRE_API__OPERATOR_TOKENS (make a token with: openssl rand -hex 32)"
        )
    return tokens
