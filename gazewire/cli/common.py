"""Command-line plumbing shared by ``gazewire agent`` and ``gazewire processor``:
the settings flags every component has, and turning them into overrides."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from gazewire.settings import SettingsError


def add_common_settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (flags override environment, .env and config file)")
    group.add_argument("--config", "-c", metavar="FILE", help="TOML config file (default: $GAZEWIRE_CONFIG)")
    group.add_argument("--broker", metavar="HOST[:PORT]", help="broker address (mqtt.host, mqtt.port)")
    group.add_argument("--username", metavar="USER", help="broker user (mqtt.username); password via GAZEWIRE_MQTT__PASSWORD")
    group.add_argument("--topic-prefix", metavar="PREFIX", help="first topic level(s), default 'lab'")
    group.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")
    group.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="any setting by name, e.g. --set mqtt.keepalive_s=30 (repeatable)",
    )


def common_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.broker:
        host, _, port = args.broker.rpartition(":") if ":" in args.broker else (args.broker, "", "")
        overrides["mqtt.host"] = host
        if port:
            overrides["mqtt.port"] = port
    if args.username:
        overrides["mqtt.username"] = args.username
    if args.topic_prefix:
        overrides["topic_prefix"] = args.topic_prefix
    if args.log_level:
        overrides["log_level"] = args.log_level
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"--set {item!r}: expected NAME=VALUE, e.g. --set mqtt.port=1884")
        overrides[name.strip()] = value
    return overrides


def flag_overrides(args: argparse.Namespace, flags_to_settings: dict[str, str]) -> dict[str, Any]:
    """Settings given as flags: ``{"frequency": "frequency_hz"}`` maps ``--frequency`` to that setting."""
    overrides = common_overrides(args)
    for flag, name in flags_to_settings.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides[name] = value
    return overrides


def print_effective_settings(settings: Any, component: str) -> None:
    """``gazewire <component> config``: the settings in force, as TOML, secrets masked."""
    from gazewire.settings import masked_settings, to_toml

    sys.stdout.write(f"# effective {component} settings (secrets masked)\n")
    sys.stdout.write(to_toml(masked_settings(settings)))


_signal_sockets: list[socket.socket] = []


def install_shutdown_handlers(request_shutdown: Callable[[], None]) -> None:
    """SIGINT, SIGTERM (and SIGBREAK on Windows) ask for a clean shutdown; a
    second Ctrl-C while shutting down exits at once.

    A Python signal handler runs on the main thread between two bytecodes, so
    it must not take a lock: the main thread may hold that very lock (inside
    ``Event.wait``, a queue, logging) and would never get it back. So the
    handler takes none: the signal number reaches a socket through
    :func:`signal.set_wakeup_fd` (written by the C-level handler), and a
    helper thread reading that socket calls ``request_shutdown``, where
    waiting for a lock is harmless. Call from the main thread.
    """
    numbers = {int(signal.SIGINT), int(signal.SIGTERM)}
    if sys.platform == "win32":  # pragma: no cover - Windows only
        numbers.add(int(signal.SIGBREAK))  # type: ignore[attr-defined]
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    _signal_sockets[:] = [reader, writer]  # alive for the life of the process
    interrupts = 0

    def handler(signum: int, frame: Any) -> None:  # no locks, no I/O: see above
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts > 1:
                raise KeyboardInterrupt

    def relay() -> None:
        while True:
            try:
                received = reader.recv(64)
            except OSError:
                return
            if not received:
                return
            if any(number in numbers for number in received):
                request_shutdown()

    threading.Thread(target=relay, name="gazewire-signals", daemon=True).start()
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for number in numbers:
        signal.signal(number, handler)
