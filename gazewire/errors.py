"""Exception classes shared by the agent and the processor.

Every error that a user can cause (a bad session id, a bad topic, a bad
payload, a bad command) has a class of its own, so callers can catch exactly
what they expect and report one clear line.
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
