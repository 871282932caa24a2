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


def broker_address(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets (``[::1]:1883``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class BrokerUnreachable(BrokerError):
    """No connection to the broker within the time allowed."""

    def __init__(self, host: str, port: int, timeout_s: float) -> None:
        super().__init__(f"no connection to the broker at {broker_address(host, port)} within {timeout_s:g} s")
        self.host, self.port, self.timeout_s = host, port, timeout_s


# What brokers answer to a login they refuse (MQTT 5 reason names; 3.1.1 return codes).
CREDENTIAL_REFUSALS = frozenset({"Not authorized", "Bad user name or password", "Bad authentication method"})


class BrokerRefused(BrokerError):
    """The broker refused the connection (bad user name or password, not authorised, ...).
    The message says as whom, and whether a password was given at all (``password_given``
    None: not known)."""

    def __init__(
        self, host: str, port: int, username: str | None, reason: str, *, password_given: bool | None = None
    ) -> None:
        who = f"user {username!r}" if username else "an anonymous login (no user name was given)"
        hint = ""
        if reason in CREDENTIAL_REFUSALS and username:
            hint = (" (no password was given: GAZEWIRE_MQTT__PASSWORD sets it)" if password_given is False
                    else " (check the user name and its password)")
        super().__init__(f"broker {broker_address(host, port)} refused {who}: {reason}{hint}")
        self.host, self.port, self.username, self.reason = host, port, username, reason
        self.password_given = password_given

    @property
    def bad_credentials(self) -> bool:
        """Refused for who we are (a setting to fix), not for the broker's own state."""
        return self.reason in CREDENTIAL_REFUSALS


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
