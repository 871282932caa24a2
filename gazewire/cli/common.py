"""Command-line plumbing shared by the commands.

* The settings flags every command that reads settings has (``--config``,
  ``--broker``, ``--set``, ...) and turning them into overrides.
* :class:`Program`: what ``gazewire agent`` and ``gazewire processor`` have in
  common. Each declares its settings class, its own flags (:class:`Flag`: the
  flag and the setting it sets, in one place) and how to build the running
  program; :func:`add_program_commands` gives both the same ``run``,
  ``config`` and ``sample-config`` actions.
* :func:`add_client_arguments`, :func:`load_client_settings`,
  :func:`open_lab`: the lab-client commands (``send``, ``status``,
  ``recording``), built on :class:`gazewire.client.Lab`.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gazewire.errors import SettingsError


def add_common_settings_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("settings (flags override environment, .env and config file)")
    group.add_argument("--config", "-c", metavar="FILE", help="TOML config file (default: $GAZEWIRE_CONFIG)")
    group.add_argument(
        "--broker", metavar="HOST[:PORT]", help="broker address (mqtt.host, mqtt.port); IPv6 in brackets: [::1]:1883"
    )
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


def common_overrides(args: argparse.Namespace) -> Any:  # -> gazewire.settings.Overrides
    """The settings the common flags give, each with the flag that gave it (a problem names it)."""
    from gazewire.mqtt import parse_broker
    from gazewire.settings import Overrides

    overrides = Overrides()
    if args.broker:
        host, port = parse_broker(args.broker)
        overrides.give("mqtt.host", host, "--broker")
        if port is not None:
            overrides.give("mqtt.port", port, "--broker")
    if args.username:
        overrides.give("mqtt.username", args.username, "--username")
    if args.topic_prefix:
        overrides.give("topic_prefix", args.topic_prefix, "--topic-prefix")
    if args.log_level:
        overrides.give("log_level", args.log_level, "--log-level")
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"--set {item!r}: expected NAME=VALUE, e.g. --set mqtt.port=1884")
        overrides.give(name.strip(), value, f"--set {name.strip()}")
    return overrides


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (``--timeout``)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (0 < value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def add_client_arguments(parser: argparse.ArgumentParser, *, timeout_help: str) -> None:
    """The flags of the lab-client commands (``send``, ``status``, ``recording``):
    the settings flags, the password, the time to wait."""
    add_common_settings_arguments(parser)
    group = parser.add_argument_group("lab client")
    group.add_argument(
        "--password-file", metavar="FILE",
        help="read the broker password from the first line of FILE ('-': standard input); without it, "
             "GAZEWIRE_MQTT__PASSWORD, or a prompt when --username is given at a terminal",
    )
    group.add_argument("--timeout", type=seconds, default=5.0, help=timeout_help)


def load_client_settings(args: argparse.Namespace) -> Any:  # -> ClientSettings
    """The settings of the lab-client commands: flags, environment, .env,
    config file; the password from ``--password-file``, or asked for at a
    terminal when a user has none. It is never printed or logged."""
    from gazewire.client.settings import ClientSettings
    from gazewire.settings import load_settings

    from gazewire.client.script import read_password_file

    overrides = common_overrides(args)
    password_file = getattr(args, "password_file", None)
    if password_file:
        overrides.give("mqtt.password", read_password_file(password_file), "--password-file")
    settings = load_settings(ClientSettings, config_file=args.config, overrides=overrides)
    if settings.mqtt.username and settings.mqtt.password is None and _at_a_terminal():
        import getpass

        from pydantic import SecretStr

        password = getpass.getpass(f"broker password for {settings.mqtt.username}: ")
        mqtt = settings.mqtt.model_copy(update={"password": SecretStr(password) if password else None})
        settings = settings.model_copy(update={"mqtt": mqtt})
    return settings


def _at_a_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def open_lab(args: argparse.Namespace) -> Any:  # -> gazewire.client.Lab
    """A :class:`~gazewire.client.Lab` from the command's settings and ``--timeout``."""
    from gazewire.client.lab import Lab

    settings = load_client_settings(args)
    return Lab.from_settings(settings, timeout=args.timeout)


# --------------------------------------------------------------------------- agent and processor


@dataclass(frozen=True)
class Flag:
    """One command-line flag that sets one setting.

    A flag with ``value`` is a switch (no argument): given, it sets the
    setting to ``value``. Values are passed as text; the settings check them.
    """

    names: tuple[str, ...]
    setting: str
    help: str
    metavar: str | None = None
    choices: Sequence[str] | None = None
    value: Any = None

    @property
    def dest(self) -> str:
        return self.setting.replace(".", "_")

    def add_to(self, group: argparse._ArgumentGroup) -> None:
        if self.value is not None:
            group.add_argument(*self.names, dest=self.dest, action="store_true", help=self.help)
        else:
            group.add_argument(*self.names, dest=self.dest, metavar=self.metavar, choices=self.choices, help=self.help)

    def override(self, args: argparse.Namespace) -> Any:
        """The setting's value from the parsed flags, or None when the flag was not given."""
        given = getattr(args, self.dest, None)
        if self.value is not None:
            return self.value if given else None
        return given


class Running(Protocol):
    """A program as the command line runs it: the agent or the processor."""

    def run(self) -> None: ...

    def request_shutdown(self) -> None: ...


@dataclass(frozen=True)
class Program:
    """``gazewire <name> run|config|sample-config`` for one program."""

    name: str
    help: str
    settings_class: str  # "module:Class", imported on first use
    flags: tuple[Flag, ...]
    run_help: str
    build: Callable[[Any], Running]  # settings -> the program, ready to run
    check: Callable[[Any], None] | None = None  # more checks for ``config`` (raise SettingsError)

    def load_settings_class(self) -> type:
        module, _, name = self.settings_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def overrides(self, args: argparse.Namespace) -> dict[str, Any]:
        overrides = common_overrides(args)
        for flag in self.flags:
            value = flag.override(args)
            if value is not None:
                overrides.give(flag.setting, value, flag.names[0])
        return overrides

    def load_settings(self, args: argparse.Namespace) -> Any:
        from gazewire.settings import load_settings

        return load_settings(self.load_settings_class(), config_file=args.config, overrides=self.overrides(args))

    def sample_config(self) -> str:
        from gazewire.settings import sample_config

        title = f"gazewire {self.name}: sample configuration ({self.name}.toml)"
        return sample_config(self.load_settings_class(), title=title)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_common_settings_arguments(parser)
        group = parser.add_argument_group(self.name)
        for flag in self.flags:
            flag.add_to(group)

    # ------------------------------------------------------------------ actions

    def _run(self, args: argparse.Namespace) -> int:
        from gazewire.logs import configure_logging

        settings = self.load_settings(args)
        configure_logging(settings.log_level)
        program = self.build(settings)
        install_shutdown_handlers(program.request_shutdown)
        program.run()
        return 0

    def _config(self, args: argparse.Namespace) -> int:
        settings = self.load_settings(args)
        if self.check is not None:
            self.check(settings)
        print_effective_settings(settings, self.name)
        return 0

    def _sample_config(self, args: argparse.Namespace) -> int:
        sys.stdout.write(self.sample_config())
        return 0


def add_program_commands(commands: argparse._SubParsersAction, program: Program) -> argparse._SubParsersAction:
    """``gazewire <program> run|config|sample-config``; returns the program's
    sub-commands, for the actions only one program has."""
    parser = commands.add_parser(program.name, help=program.help)
    sub = parser.add_subparsers(dest=f"{program.name}_command", metavar="ACTION", required=True)

    run = sub.add_parser("run", help=program.run_help)
    program.add_arguments(run)
    run.set_defaults(handler=program._run)

    config = sub.add_parser("config", help="print the effective settings (secrets masked)")
    program.add_arguments(config)
    config.set_defaults(handler=program._config)

    sample = sub.add_parser(
        "sample-config", help=f"print a commented sample {program.name}.toml with every option"
    )
    sample.set_defaults(handler=program._sample_config)
    return sub


def print_effective_settings(settings: Any, program: str) -> None:
    """``gazewire <program> config``: the settings in force, as TOML, secrets masked."""
    from gazewire.settings import masked_settings, to_toml

    sys.stdout.write(f"# effective {program} settings (secrets masked)\n")
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
