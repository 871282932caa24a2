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

The client library (``gazewire.client``) raises the broker errors below and
the :class:`ClientError` family: one class per way a call to an agent can
end other than as asked. Bad arguments are refused before anything is sent,
as :class:`InvalidSessionId` or :class:`InvalidCommand` (both ValueErrors).
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


class InvalidArgument(GazewireError, ValueError):
    """An argument of a client call is out of range; refused before anything is sent."""


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


class NotAuthorized(BrokerError):
    """The broker refused to let this user publish or subscribe on a topic (its ACL role)."""

    def __init__(self, username: str | None, action: str, topic: str, reason: str) -> None:
        who = f"user {username!r}" if username else "an anonymous client"
        super().__init__(f"the broker does not let {who} {action} {topic}: {reason}")
        self.username, self.action, self.topic, self.reason = username, action, topic, reason


# --------------------------------------------------------------------------- the client library


class ClientError(GazewireError):
    """A call of the client library did not get what it asked an agent for."""


class ClientClosed(ClientError):
    """The :class:`~gazewire.client.Lab` was closed; it cannot be used any more."""

    def __init__(self) -> None:
        super().__init__("this Lab connection is closed")


class AgentNotResponding(ClientError, TimeoutError):
    """The agent of a session sent no reply to a command within the time allowed."""

    def __init__(self, session: str, command: str, timeout_s: float) -> None:
        super().__init__(
            f"no reply from session {session!r} to {command!r} within {timeout_s:g} s "
            "(is its agent running, and is the session id right?)"
        )
        self.session, self.command, self.timeout_s = session, command, timeout_s


class CommandRefused(ClientError):
    """The agent answered a command with ``ok: false``; ``reason`` is its error
    text, ``code`` its machine-readable kind (``invalid_command``, ``failed``, ...)."""

    def __init__(self, session: str, command: str, reason: str, code: str | None = None) -> None:
        super().__init__(f"session {session!r} refused {command!r}: {reason}")
        self.session, self.command, self.reason, self.code = session, command, reason, code


class AlreadyRecording(CommandRefused):
    """``start`` while a recording runs; ``recording`` is the running one's id (if the agent said)."""

    def __init__(self, session: str, command: str, reason: str, code: str | None = None,
                 recording: str | None = None) -> None:
        super().__init__(session, command, reason, code)
        self.recording = recording


class NotRecording(CommandRefused):
    """``stop`` (or ``annotate``) when no recording runs, or not the one named."""


class UnknownSession(ClientError):
    """The broker holds no status for this session: no agent has used the id (under this prefix)."""

    def __init__(self, session: str, prefix: str) -> None:
        super().__init__(
            f"no agent status for session {session!r} under prefix {prefix!r} "
            "(no agent has used this session id, or it runs under another topic prefix)"
        )
        self.session, self.prefix = session, prefix


class WaitTimeout(ClientError, TimeoutError):
    """What a call waited for (a state, a message on a live stream) did not come in time."""

    def __init__(self, what: str, timeout_s: float, last: str | None = None) -> None:
        suffix = f" ({last})" if last else ""
        super().__init__(f"{what}: not within {timeout_s:g} s{suffix}")
        self.what, self.timeout_s, self.last = what, timeout_s, last


class UnsupportedByAgent(ClientError):
    """The agent of a session is older than the client: its replies lack what
    the call needs (recording ids, the clock times of ``ping``)."""

    def __init__(self, session: str, what: str, version: str | None = None) -> None:
        agent = f"gazewire {version}" if version else "an older gazewire"
        super().__init__(f"the agent of session {session!r} ({agent}) does not support {what}: update it")
        self.session, self.what, self.version = session, what, version


class ApiRefused(ClientError):
    """The lab server's HTTP API answered with an error (``status``; ``detail``: its one line)."""

    def __init__(self, status: int, detail: str, request: str) -> None:
        super().__init__(f"the lab server's API refused {request} (HTTP {status}): {detail}")
        self.status, self.detail, self.request = status, detail, request


class ApiUnreachable(ClientError):
    """The lab server's HTTP API did not answer (wrong URL, server down, network)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"no answer from the lab server's API at {url}: {reason}")
        self.url, self.reason = url, reason


class ClockSyncFailed(ClientError):
    """No clock offset could be measured: every probe was spoilt (a clock was
    stepped while it ran)."""


__all__ = [
    "ApiRefused",
    "ApiUnreachable",
    "GazewireError",
    "InvalidSessionId",
    "InvalidTopic",
    "InvalidPayload",
    "InvalidCommand",
    "InvalidArgument",
    "SettingsError",
    "BrokerError",
    "BrokerUnreachable",
    "BrokerRefused",
    "NotAuthorized",
    "ClientError",
    "ClientClosed",
    "AgentNotResponding",
    "CommandRefused",
    "AlreadyRecording",
    "NotRecording",
    "UnknownSession",
    "WaitTimeout",
    "UnsupportedByAgent",
    "ClockSyncFailed",
]
