"""The command-line login of an experiment script: one way for every script to reach the lab broker.

::

    import argparse
    from gazewire.client.script import add_lab_arguments, open_lab, run

    def main() -> None:
        parser = argparse.ArgumentParser()
        add_lab_arguments(parser)                 # --broker --port --username --password-file --prefix --session
        args = parser.parse_args()
        with open_lab(args) as lab:
            room = lab.session(args.session)
            ...

    if __name__ == "__main__":
        run(main)                                 # a failure is one line on stderr, never a traceback

The password never goes on the command line (other users of the PC could
read it in the process list): ``--password-file``, else
``$GAZEWIRE_MQTT__PASSWORD``, else a prompt when the script runs in a
terminal. The user name defaults to ``$GAZEWIRE_MQTT__USERNAME``, the broker
to ``$GAZEWIRE_MQTT__HOST``: the names gazewire's own settings read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from gazewire.errors import (
    BrokerRefused,
    BrokerUnreachable,
    GazewireError,
    InvalidArgument,
    InvalidCommand,
    InvalidSessionId,
    SettingsError,
)

PASSWORD_VARIABLE = "GAZEWIRE_MQTT__PASSWORD"
USERNAME_VARIABLE = "GAZEWIRE_MQTT__USERNAME"
HOST_VARIABLE = "GAZEWIRE_MQTT__HOST"
PORT_VARIABLE = "GAZEWIRE_MQTT__PORT"
EXIT_FAILURE, EXIT_USAGE = 1, 2
BAD_INPUT = (SettingsError, BrokerRefused, BrokerUnreachable, InvalidArgument, InvalidCommand, InvalidSessionId)


def add_lab_arguments(parser: argparse.ArgumentParser, *, session: bool = True) -> None:
    """``--broker``, ``--port``, ``--username``, ``--password-file``, ``--prefix``
    and (unless ``session=False``) a required ``--session``."""
    group = parser.add_argument_group("lab broker")
    group.add_argument("--broker", metavar="HOST[:PORT]", default=os.environ.get(HOST_VARIABLE, "localhost"),
                       help=f"broker address as every gazewire command takes it; IPv6 in brackets: [::1]:1883 "
                            f"(default: ${HOST_VARIABLE} or localhost)")
    group.add_argument("--port", type=int, default=None,
                       help=f"broker port (default: ${PORT_VARIABLE}, or 1883; 8883 with --tls)")
    group.add_argument("--tls", action="store_true", help="connect with TLS")
    group.add_argument("--username", default=os.environ.get(USERNAME_VARIABLE),
                       help=f"broker user (default: ${USERNAME_VARIABLE}; none: anonymous)")
    group.add_argument("--password-file", metavar="FILE",
                       help=f"file whose first line is the password (default: ${PASSWORD_VARIABLE}, or a prompt)")
    group.add_argument("--prefix", default="lab", help="topic prefix of the deployment (default: lab)")
    if session:
        group.add_argument("--session", required=True, help="the station: its agent's session id")


def read_password_file(path: str) -> str:
    """The first line of ``path`` (``-``: standard input), without its line end."""
    try:
        if path == "-":
            line = sys.stdin.readline()
        else:
            with open(os.path.expanduser(path), encoding="utf-8") as handle:
                line = handle.readline()
    except OSError as error:
        raise SettingsError(f"cannot read the password file: {error}") from None
    password = line.rstrip("\r\n")
    if not password:
        raise SettingsError(f"the password file {path!r} has no password on its first line")
    return password


def broker_password(username: str | None, password_file: str | None, *, ask: bool | None = None) -> str | None:
    """The password for ``username``: ``password_file``, else ``$GAZEWIRE_MQTT__PASSWORD``,
    else asked for at a terminal (``ask``: default when stdin and stdout are one);
    SettingsError when there is none. None without a user (anonymous)."""
    if password_file:
        return read_password_file(password_file)
    if not username:
        return None
    if PASSWORD_VARIABLE in os.environ:
        return os.environ[PASSWORD_VARIABLE]
    if ask if ask is not None else (sys.stdin.isatty() and sys.stdout.isatty()):
        import getpass

        return getpass.getpass(f"broker password for {username}: ")
    raise SettingsError(f"no password for user {username!r}: give --password-file, set {PASSWORD_VARIABLE}, "
                        "or run in a terminal")


def open_lab(args: argparse.Namespace, **options: Any) -> Any:  # -> Lab
    """A connected :class:`~gazewire.client.Lab` from :func:`add_lab_arguments`' flags;
    ``options`` go to ``Lab`` (``timeout``, ``clock``, ...)."""
    from gazewire.client.lab import Lab

    host, port = broker_address(args.broker, args.port)
    if port is None and os.environ.get(PORT_VARIABLE):
        port = int(os.environ[PORT_VARIABLE])
    password = broker_password(args.username, args.password_file)
    return Lab(host, port, username=args.username, password=password, tls=args.tls, prefix=args.prefix, **options)


def broker_address(broker: str, port: int | None) -> tuple[str, int | None]:
    """``--broker HOST[:PORT]`` and ``--port``: the host and the port (None: the default)."""
    from gazewire.mqtt import parse_broker

    host, given = parse_broker(broker)
    if given is None:
        return host, port
    if not given.isdigit() or not 0 < int(given) < 65536:
        raise SettingsError(f"--broker {broker!r}: the port must be a number from 1 to 65535")
    if port is not None and port != int(given):
        raise SettingsError(f"--broker {broker!r} and --port {port} name two different ports: give one")
    return host, int(given)


def describe(error: GazewireError) -> str:
    """One line a researcher can act on."""
    if isinstance(error, BrokerRefused):
        who = f"user {error.username!r}" if error.username else "an anonymous login"
        return f"the broker refused {who}: {error.reason}"
    if isinstance(error, BrokerUnreachable):
        return f"cannot reach the broker at {error.host}:{error.port} (nothing answered within {error.timeout_s:g} s)"
    return str(error)


def run(main: Callable[[], Any]) -> None:
    """Run a script's ``main``; a gazewire error is one line on stderr and exit
    code 2 (a bad login or argument) or 1 (anything else), never a traceback."""
    program = os.path.basename(sys.argv[0])
    try:
        code = main()
    except BAD_INPUT as error:
        print(f"{program}: {describe(error)}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except GazewireError as error:
        print(f"{program}: {describe(error)}", file=sys.stderr)
        sys.exit(EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code or 0)
