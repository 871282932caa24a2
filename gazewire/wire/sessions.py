"""Session ids: the one name that ties a participant's recording together.

A session id becomes a topic level (``lab/<session>/gaze``), a file name
(``<session>.csv``) and an InfluxDB tag, so it must be safe in all three.
"""

from __future__ import annotations

import re
import zlib

from gazewire.errors import InvalidSessionId

SESSION_ID_MAX_LENGTH = 64
SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


def validate_session_id(session: object) -> str:
    """Return ``session`` unchanged if it is a valid session id, else raise InvalidSessionId.

    Valid: 1 to 64 characters, each a letter, a digit, ``.``, ``_`` or ``-``.
    Refused: anything else, in particular the MQTT topic characters
    ``/``, ``+``, ``#``, a leading ``$``, NUL and the empty string. ``.`` and
    ``..`` alone are refused too, because they name directories.
    """
    if not isinstance(session, str):
        raise InvalidSessionId(f"session id must be a string, got {type(session).__name__}")
    if session == "":
        raise InvalidSessionId("session id must not be empty")
    if len(session) > SESSION_ID_MAX_LENGTH:
        raise InvalidSessionId(
            f"session id is {len(session)} characters long; at most {SESSION_ID_MAX_LENGTH} allowed"
        )
    if session in {".", ".."}:
        raise InvalidSessionId(f"session id {session!r} is reserved (it names a directory)")
    if not SESSION_ID_PATTERN.fullmatch(session):
        bad = next(ch for ch in session if not re.fullmatch(r"[A-Za-z0-9._-]", ch))
        raise InvalidSessionId(
            f"session id {session!r} contains {bad!r}; "
            "allowed are letters, digits, '.', '_' and '-' (1 to 64 characters)"
        )
    return session


def is_valid_session_id(session: object) -> bool:
    """True if ``session`` would pass :func:`validate_session_id`."""
    try:
        validate_session_id(session)
    except InvalidSessionId:
        return False
    return True


# --------------------------------------------------------------------------- shards


SHARD_PATTERN = re.compile(r"([1-9][0-9]{0,3})/([1-9][0-9]{0,3})")


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` (1 <= k <= n <= 9999) as ``(k, n)``; raises ValueError naming the problem."""
    match = SHARD_PATTERN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"shard {text!r} is not k/n (e.g. 1/2: the first of two processors)")
    k, n = int(match.group(1)), int(match.group(2))
    if k > n:
        raise ValueError(f"shard {text!r}: k must be at most n")
    return k, n


def session_shard(session: str, shards: int) -> int:
    """Which of ``shards`` processors (1 to n) takes ``session``: a stable hash of the id (CRC-32
    of its UTF-8 bytes, the same on every host and Python version) modulo ``shards``, plus one."""
    return zlib.crc32(session.encode()) % shards + 1


def shard_takes(shard: str | None, session: str) -> bool:
    """Does the processor of ``shard`` (``"k/n"``; None: it takes every session) take ``session``?"""
    if shard is None:
        return True
    k, n = parse_shard(shard)
    return session_shard(session, n) == k
