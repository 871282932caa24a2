"""The exception tree: every error gazewire raises on purpose derives from
:class:`GazewireError`.

Every error that a user can cause (a bad session id, a bad topic, a bad
payload, a bad command, a bad setting, a broker that cannot be reached) has a
class of its own, so callers can catch exactly what they expect and report one
clear line. The classes a user of the library meets anywhere are defined here
(standard library only, so ``import gazewire`` stays cheap); errors that belong
to one part live with it and derive from the same root:

``gazewire.agent``: ``TrackerError`` (inputs.base), ``OutboxError``
(outputs.outbox), ``ServiceError`` (service.windows); ``gazewire.processor``:
``BadInput``, ``AoiFileError``, ``WriteRefused``, ``EmptyPointError``,
``UnknownNameError``; the command line: ``UserError`` (cli.users).
tests/test_errors.py checks that no other exception class is defined.
"""


class GazewireError(Exception):
    """Base class of every error gazewire raises on purpose."""


class InvalidSessionId(GazewireError, ValueError):
    """A session id is empty, too long, or holds a character outside ``[A-Za-z0-9._-]``."""


class InvalidTopic(GazewireError, ValueError):
    """A topic does not belong to the gazewire contract (wrong prefix or shape)."""


class InvalidPayload(GazewireError, ValueError):
    """A message payload is not valid JSON or does not match its model.

    ``kind`` names the class of problem (``json``, ``schema``, ``version``,
    ``non_finite``, ``too_large``, ...) so that consumers can count problems
    per kind without parsing the message text.
    """

    def __init__(self, message: str, *, kind: str = "schema") -> None:
        super().__init__(message)
        self.kind = kind


class InvalidCommand(GazewireError, ValueError):
    """A remote command is unknown or has bad arguments."""


class SettingsError(GazewireError):
    """Settings that cannot be used (raised by :mod:`gazewire.settings`). The
    message is one line naming the setting."""


class BrokerError(GazewireError):
    """The MQTT broker cannot be used: it is not reachable, or it refuses us."""


class BrokerUnreachable(BrokerError):
    """No connection to the broker within the time allowed."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        super().__init__(f"no connection to the broker at {host}:{port} within {timeout_s:.0f} s")
        self.host, self.port, self.timeout_s = host, port, timeout_s


class BrokerRefused(BrokerError):
    """The broker refused the connection (bad user name or password, not authorised, ...)."""

    def __init__(self, host: str, port: int, username: str | None, reason: str) -> None:
        super().__init__(f"broker refused the connection: {reason}")
        self.host, self.port, self.username, self.reason = host, port, username, reason


__all__ = [
    "GazewireError",
    "InvalidSessionId",
    "InvalidTopic",
    "InvalidPayload",
    "InvalidCommand",
    "SettingsError",
    "BrokerError",
    "BrokerUnreachable",
    "BrokerRefused",
]
