"""systemd's notify protocol (``sd_notify``) in a few lines of socket code.

Under ``Type=notify`` (deploy/systemd/gazewire-agent.service) systemd passes
the path of a datagram socket in ``$NOTIFY_SOCKET``; the agent writes
newline-separated ``KEY=VALUE`` assignments to it:

- ``READY=1`` once the agent runs (broker link and tracker started),
- ``WATCHDOG=1`` from the pipeline loop, at most every ``WATCHDOG_USEC / 4``
  (systemd kills and restarts the service when pings stop for ``WatchdogSec``),
- ``STATUS=<one line>`` with the state and counters (``systemctl status``),
- ``STOPPING=1`` when the shutdown starts.

Nothing is sent when ``$NOTIFY_SOCKET`` is unset (a terminal, a container, a
Windows PC): :func:`notifier_from_environment` returns ``None`` then. Socket
errors never reach the agent; the first one is logged as a warning.

Addresses starting with ``@`` are Linux abstract sockets (the ``@`` stands
for a leading NUL byte). ``vsock:`` addresses (systemd 254+, virtual machines)
are not supported and logged once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

#: Ping the watchdog this often, as a share of WATCHDOG_USEC. systemd's
#: documentation asks for at least every half; a quarter leaves room for a
#: pipeline iteration that takes longer than usual.
WATCHDOG_SHARE = 0.25


class SystemdNotifier:
    """Sends sd_notify datagrams; implements :class:`gazewire.agent.runtime.ServiceNotifier`."""

    def __init__(
        self,
        address: str | bytes,
        *,
        watchdog_interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.address = address
        self.watchdog_interval_s = watchdog_interval_s
        self._clock = clock
        self._last_ping: float | None = None
        self._socket: socket.socket | None = None
        self._warned = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ ServiceNotifier

    def ready(self) -> None:
        self.notify("READY=1")

    def watchdog(self) -> None:
        """Ping the watchdog, at most once per :attr:`watchdog_interval_s`;
        a no-op when the unit has no watchdog (or it watches another PID)."""
        if self.watchdog_interval_s is None:
            return
        now = self._clock()
        if self._last_ping is not None and now - self._last_ping < self.watchdog_interval_s:
            return
        self._last_ping = now
        self.notify("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.notify("STATUS=" + " ".join(text.splitlines()))

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    # ------------------------------------------------------------------ the socket

    def notify(self, message: str) -> bool:
        """Send one datagram; ``False`` (and one warning per notifier) on failure."""
        data = message.encode("utf-8", errors="replace")
        with self._lock:
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.sendto(data, self.address)
            except (OSError, ValueError) as error:
                if not self._warned:
                    self._warned = True
                    log.warning(
                        "cannot notify systemd through %s: %s (further failures are not logged)",
                        _shown(self.address), error,
                    )
                return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __repr__(self) -> str:
        return f"SystemdNotifier({_shown(self.address)}, watchdog_interval_s={self.watchdog_interval_s})"


def notifier_from_environment(
    environ: Mapping[str, str] | None = None,
    *,
    pid: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> SystemdNotifier | None:
    """The notifier systemd asked for, or ``None`` when ``$NOTIFY_SOCKET`` is unset."""
    env = os.environ if environ is None else environ
    value = env.get("NOTIFY_SOCKET", "")
    if not value:
        return None
    address = socket_address(value)
    if address is None:
        log.warning("NOTIFY_SOCKET=%r is not a UNIX socket path; systemd will not hear from the agent", value)
        return None
    interval = watchdog_interval_s(env, os.getpid() if pid is None else pid)
    return SystemdNotifier(address, watchdog_interval_s=interval, clock=clock)


def socket_address(value: str) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as an ``AF_UNIX`` address: a path, or ``@name`` for an
    abstract socket (a leading NUL byte). ``None`` for anything else."""
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return value
    return None


def watchdog_interval_s(environ: Mapping[str, str], pid: int) -> float | None:
    """Seconds between pings: ``WATCHDOG_USEC`` times :data:`WATCHDOG_SHARE`;
    ``None`` when there is no watchdog, or ``WATCHDOG_PID`` names another process."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    watched = environ.get("WATCHDOG_PID", "")
    try:
        if watched and int(watched) != pid:
            return None
        value = int(usec)
    except ValueError:
        log.warning("ignoring the systemd watchdog: WATCHDOG_USEC=%r, WATCHDOG_PID=%r", usec, watched)
        return None
    if value <= 0:
        return None
    return value / 1_000_000 * WATCHDOG_SHARE


def _shown(address: str | bytes) -> str:
    if isinstance(address, bytes):
        return "@" + address[1:].decode("utf-8", errors="replace")
    return address
