"""Broker users and their roles: the password file and the ACL of deploy/mosquitto.

    python -m gazewire.cli.users add NAME --role agent|processor|viewer|operator [--session S ...]
    python -m gazewire.cli.users passwd NAME
    python -m gazewire.cli.users remove NAME
    python -m gazewire.cli.users list

(also ``gazewire users ...`` once registered in gazewire/cli/__init__.py). Runs on the
standard library alone, so a lab server with nothing but Python 3 and a
checkout of the repository can use it.

Passwords are hashed by Mosquitto's own ``mosquitto_passwd`` (``-U`` on a
private temporary file, so the password is never on a command line where
``ps`` would show it) and only the hash is written to the password file.
Passwords are read with ``getpass`` or from standard input and never printed.

Roles (see deploy/mosquitto/acl for the topics):

* ``agent``: the user name is the session id; the ACL's ``pattern`` lines give
  it its session, so only a marker comment is written. With ``--session``, a
  static block grants exactly those sessions instead.
* ``processor``, ``viewer``, ``operator``: a ``user`` block, which starts with
  ``topic deny <prefix>/<name>/#`` so the agent patterns do not let them pose
  as an agent of a session named like them.

The lab broker replaces every client id by the user name (mosquitto.conf,
``use_username_as_clientid``): one connection per user, so every program that
stays connected (each agent, processor, Grafana, health check, person) gets
its own user.

Blocks sit between ``# gazewire-user: NAME role=ROLE`` and
``# end gazewire-user: NAME`` lines; ``remove`` deletes exactly that.
The broker reads both files again on SIGHUP (``docker compose kill -s HUP mosquitto``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gazewire.errors import GazewireError, InvalidSessionId, InvalidTopic
from gazewire.wire.sessions import validate_session_id
from gazewire.wire.topics import DEFAULT_PREFIX, SYSTEM_LEVEL, validate_prefix

ROLES = ("agent", "processor", "viewer", "operator")
DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
MIN_PASSWORD_LENGTH = 8
MOSQUITTO_PASSWD_CANDIDATES = ("mosquitto_passwd", "/usr/bin/mosquitto_passwd", "/usr/local/bin/mosquitto_passwd")

AGENT_WRITES = ("gaze", "gaze/batch", "status", "events", "cmd/reply")
AGENT_READS = ("cmd", "gaze/custody")

_BEGIN = re.compile(r"^# gazewire-user: (?P<name>\S+) role=(?P<role>\S+)(?: sessions=(?P<sessions>\S+))?\s*$")
_END = "# end gazewire-user: {name}"
_PATTERN_PREFIX = re.compile(r"^pattern\s+\S+\s+(?P<prefix>.+)/%u/gaze\s*$")


class UserError(GazewireError):
    """Something the person running the command can fix; the message says what."""


@dataclass(frozen=True)
class User:
    name: str
    role: str | None  # None: a password without a gazewire block (an agent by the patterns)
    sessions: tuple[str, ...]
    has_password: bool


# --------------------------------------------------------------------------- rules


def check_name(name: str) -> str:
    """User names follow the session id rules (an agent's name is its session)."""
    try:
        validate_session_id(name)
    except InvalidSessionId:
        raise UserError(
            f"user name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-' "
            "(the session id rules, since an agent's user name is its session)"
        ) from None
    if name == SYSTEM_LEVEL:
        raise UserError(f"user name {SYSTEM_LEVEL!r} is reserved for system topics")
    return name


def check_password(password: str) -> str:
    if "\n" in password or "\r" in password or "\x00" in password:
        raise UserError("the password must be one line (no line breaks or NUL)")
    if ":" in password:
        # mosquitto_passwd -U (used so the password never appears on a command line)
        # cuts a password at its first ':' without saying so.
        raise UserError("the password must not contain ':' (mosquitto_passwd -U would cut it there)")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password is too short: at least {MIN_PASSWORD_LENGTH} characters")
    return password


def role_block(name: str, role: str, prefix: str = DEFAULT_PREFIX, sessions: Sequence[str] = ()) -> list[str]:
    """The ACL lines for one user, marker comments included."""
    check_name(name)
    try:
        prefix = validate_prefix(prefix)
    except InvalidTopic as error:
        raise UserError(str(error)) from None
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if sessions and role != "agent":
        raise UserError("--session is for agents only")
    for session in sessions:
        check_name(session)
    head = f"# gazewire-user: {name} role={role}"
    if sessions:
        head += " sessions=" + ",".join(sessions)
    lines = [head]
    if role == "agent" and not sessions:
        lines.append(f"# publishes {prefix}/{name}/... through the agent patterns at the top of this file")
    elif role == "agent":
        lines.append(f"user {name}")
        for session in sessions:
            lines += [f"topic write {prefix}/{session}/{channel}" for channel in AGENT_WRITES]
            lines += [f"topic read {prefix}/{session}/{channel}" for channel in AGENT_READS]
        lines.append(f"topic read {prefix}/{SYSTEM_LEVEL}/processor/+/status")  # custody: is a processor online?
    else:
        lines += [f"user {name}", f"topic deny {prefix}/{name}/#", f"topic read {prefix}/#"]
        if role == "processor":
            lines += [
                f"topic write {prefix}/+/fixations",
                f"topic write {prefix}/+/saccades",
                f"topic write {prefix}/+/pursuits",
                f"topic write {prefix}/+/blinks",
                f"topic write {prefix}/+/alerts",
                f"topic write {prefix}/+/aoi",
                f"topic write {prefix}/+/gaze/custody",
                f"topic write {prefix}/{SYSTEM_LEVEL}/processor/+/status",
            ]
        elif role == "operator":
            lines += [
                f"topic write {prefix}/+/cmd",
                # gazewire status --prune: clears retained statuses of agents and processors gone
                f"topic write {prefix}/+/status",
                f"topic write {prefix}/{SYSTEM_LEVEL}/processor/+/status",
            ]
    lines.append(_END.format(name=name))
    return lines


# --------------------------------------------------------------------------- mosquitto_passwd


def find_mosquitto_passwd(explicit: str | None = None) -> str:
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise UserError(f"mosquitto_passwd: {explicit!r} is not an executable program")
        return found
    for candidate in MOSQUITTO_PASSWD_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise UserError(
        "mosquitto_passwd was not found. It hashes the passwords; get it with "
        "'sudo apt-get install mosquitto' (then 'sudo systemctl disable --now mosquitto' if the "
        "broker runs in Docker), or pass --mosquitto-passwd PATH, or do it by hand inside the "
        "broker container: docker compose exec mosquitto mosquitto_passwd "
        "/mosquitto/config/passwords NAME (see deploy/mosquitto/README.md)"
    )


def hash_entry(name: str, password: str, mosquitto_passwd: str) -> str:
    """The password-file line ``name:$7$...`` made by mosquitto_passwd."""
    with tempfile.TemporaryDirectory(prefix="gazewire-users-") as work:
        os.chmod(work, 0o700)
        plain = Path(work) / "passwords"
        descriptor = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(f"{name}:{password}\n")
        try:
            result = subprocess.run(
                [mosquitto_passwd, "-U", str(plain)],
                check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
            )
        except OSError as error:
            raise UserError(f"could not run {mosquitto_passwd}: {error}") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise UserError(f"mosquitto_passwd failed (exit {result.returncode}): {detail[0] if detail else 'no message'}")
        lines = [line for line in plain.read_text(encoding="utf-8").splitlines() if line.strip()]
    hashed = re.fullmatch(rf"{re.escape(name)}:\$[67]\$\S+", lines[0]) if len(lines) == 1 else None
    if hashed is None or lines[0] == f"{name}:{password}":
        raise UserError("mosquitto_passwd -U did not produce one hashed entry; is it Mosquitto 2.0?")
    return lines[0]


# --------------------------------------------------------------------------- the two files


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []


def _write_lines(path: Path, lines: list[str], *, new_mode: int) -> None:
    """Rewrite in place: keeps the file's owner and mode (the broker container's
    uid must still read it) and its inode (a bind-mounted single file stays current)."""
    text = "\n".join(lines) + ("\n" if lines else "")
    if path.exists():
        with path.open("r+", encoding="utf-8") as handle:
            handle.truncate(0)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, new_mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)


class UserStore:
    """The password file and the ACL file of one broker."""

    def __init__(self, password_file: Path, acl_file: Path, *, mosquitto_passwd: str | None = None) -> None:
        self.password_file = Path(password_file)
        self.acl_file = Path(acl_file)
        self._mosquitto_passwd = mosquitto_passwd

    # ---- reading

    def _password_names(self) -> list[str]:
        return [line.split(":", 1)[0] for line in _read_lines(self.password_file) if ":" in line]

    def _blocks(self) -> dict[str, tuple[str, tuple[str, ...], int, int]]:
        """name -> (role, sessions, first line index, last line index) of each gazewire block."""
        lines = _read_lines(self.acl_file)
        blocks: dict[str, tuple[str, tuple[str, ...], int, int]] = {}
        index = 0
        while index < len(lines):
            match = _BEGIN.match(lines[index])
            if match:
                name = match["name"]
                end = _END.format(name=name)
                try:
                    last = lines.index(end, index + 1)
                except ValueError:
                    raise UserError(f"{self.acl_file}: the block of {name!r} has no '{end}' line") from None
                sessions = tuple(match["sessions"].split(",")) if match["sessions"] else ()
                blocks[name] = (match["role"], sessions, index, last)
                index = last
            index += 1
        return blocks

    def prefix(self) -> str:
        """The topic prefix the ACL's agent patterns use (``lab`` if there are none)."""
        for line in _read_lines(self.acl_file):
            match = _PATTERN_PREFIX.match(line.strip())
            if match:
                return match["prefix"]
        return DEFAULT_PREFIX

    def users(self) -> list[User]:
        names = self._password_names()
        blocks = self._blocks()
        result = []
        for name in sorted(set(names) | set(blocks), key=str.lower):
            role, sessions, _, _ = blocks.get(name, (None, (), 0, 0))
            result.append(User(name, role, sessions, name in names))
        return result

    # ---- changing

    def _check_acl_file(self) -> None:
        if not self.acl_file.is_file():
            raise UserError(
                f"ACL file {str(self.acl_file)!r} does not exist; start from deploy/mosquitto/acl"
            )

    def add(
        self, name: str, role: str, password: str, *, sessions: Sequence[str] = (), prefix: str | None = None
    ) -> User:
        check_name(name)
        check_password(password)
        self._check_acl_file()
        block = role_block(name, role, prefix or self.prefix(), sessions)
        if name in self._password_names():
            raise UserError(f"user {name!r} already has a password; 'passwd' changes it, 'remove' deletes the user")
        if name in self._blocks():
            raise UserError(f"user {name!r} already has an ACL block in {self.acl_file}; 'remove' it first")
        entry = hash_entry(name, password, find_mosquitto_passwd(self._mosquitto_passwd))
        acl = _read_lines(self.acl_file)
        while acl and not acl[-1].strip():
            acl.pop()
        _write_lines(self.acl_file, [*acl, "", *block], new_mode=0o644)
        _write_lines(self.password_file, [*_read_lines(self.password_file), entry], new_mode=0o600)
        return User(name, role, tuple(sessions), True)

    def set_password(self, name: str, password: str) -> None:
        check_name(name)
        check_password(password)
        lines = _read_lines(self.password_file)
        positions = [i for i, line in enumerate(lines) if line.split(":", 1)[0] == name]
        if not positions:
            raise UserError(f"user {name!r} has no password in {self.password_file}; 'add' the user first")
        entry = hash_entry(name, password, find_mosquitto_passwd(self._mosquitto_passwd))
        lines[positions[0]] = entry
        for position in reversed(positions[1:]):
            del lines[position]
        _write_lines(self.password_file, lines, new_mode=0o600)

    def remove(self, name: str) -> None:
        check_name(name)
        blocks = self._blocks()
        passwords = _read_lines(self.password_file)
        kept = [line for line in passwords if line.split(":", 1)[0] != name]
        if name not in blocks and len(kept) == len(passwords):
            raise UserError(f"no user {name!r} in {self.password_file} or {self.acl_file}")
        if name in blocks:
            _, _, first, last = blocks[name]
            acl = _read_lines(self.acl_file)
            if first > 0 and not acl[first - 1].strip():
                first -= 1  # the blank line add() put before the block
            del acl[first : last + 1]
            _write_lines(self.acl_file, acl, new_mode=0o644)
        if len(kept) != len(passwords):
            _write_lines(self.password_file, kept, new_mode=0o600)


# --------------------------------------------------------------------------- command line


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise UserError("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for the password: pipe it in with --password-stdin")
    first = getpass.getpass("Password: ")
    check_password(first)
    if getpass.getpass("Password again: ") != first:
        raise UserError("the two passwords differ")
    return first


def _store(args: argparse.Namespace) -> UserStore:
    directory = Path(args.dir)
    return UserStore(
        Path(args.password_file) if args.password_file else directory / "passwords",
        Path(args.acl_file) if args.acl_file else directory / "acl",
        mosquitto_passwd=args.mosquitto_passwd,
    )


RELOAD_HINT = "reload the broker to apply: docker compose kill -s HUP mosquitto (or kill -HUP <pid>)"


def _add(args: argparse.Namespace) -> int:
    store = _store(args)
    check_name(args.name)
    user = store.add(args.name, args.role, _read_password(args.password_stdin), sessions=args.session or (),
                     prefix=args.prefix)
    if user.role == "agent":
        sessions = user.sessions or (user.name,)
        what = f"agent of session{'s' if len(sessions) > 1 else ''} {', '.join(sessions)}"
    else:
        what = user.role
    print(f"added {user.name} ({what}) to {store.password_file} and {store.acl_file}")
    print(RELOAD_HINT)
    return 0


def _passwd(args: argparse.Namespace) -> int:
    store = _store(args)
    check_name(args.name)
    store.set_password(args.name, _read_password(args.password_stdin))
    print(f"changed the password of {args.name} in {store.password_file}")
    print(RELOAD_HINT)
    return 0


def _remove(args: argparse.Namespace) -> int:
    store = _store(args)
    store.remove(args.name)
    print(f"removed {args.name} from {store.password_file} and {store.acl_file}")
    print(RELOAD_HINT + "; connected clients of that user stay connected until they reconnect or the broker restarts")
    return 0


def _list(args: argparse.Namespace) -> int:
    store = _store(args)
    users = store.users()
    if not users:
        print(f"no users in {store.password_file}")
        return 0
    width = max(len(u.name) for u in users)
    for user in users:
        role = user.role or "agent (no block: session by the patterns)"
        extra = f"  sessions {','.join(user.sessions)}" if user.sessions else ""
        missing = "" if user.has_password else "  NO PASSWORD (cannot log in)"
        print(f"{user.name:<{width}}  {role}{extra}{missing}")
    return 0


def add_users_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``users`` sub-commands, on ``parser`` (``gazewire users`` or ``python -m gazewire.cli.users``)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=str(DEPLOY_DIR), help="directory of passwords and acl (default: %(default)s)")
    common.add_argument("--password-file", help="password file (default: DIR/passwords)")
    common.add_argument("--acl-file", help="ACL file (default: DIR/acl)")
    common.add_argument("--mosquitto-passwd", metavar="PATH", help="the mosquitto_passwd program to use")
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)

    add = actions.add_parser("add", parents=[common], help="add a user with a role")
    add.add_argument("name", help="user name; for an agent, its session id (default: the tracker PC's host name)")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--session", action="append", metavar="SESSION",
                     help="agent only: grant this session instead of the one named like the user (repeatable)")
    add.add_argument("--prefix", help="topic prefix (default: the one of the ACL's agent patterns, else lab)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(handler=_add)

    passwd = actions.add_parser("passwd", parents=[common], help="change a user's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.set_defaults(handler=_passwd)

    remove = actions.add_parser("remove", parents=[common], help="delete a user's password and ACL block")
    remove.add_argument("name")
    remove.set_defaults(handler=_remove)

    listing = actions.add_parser("list", parents=[common], help="list users and roles (never passwords)")
    listing.set_defaults(handler=_list)


def add_users_command(commands: argparse._SubParsersAction) -> None:
    """Register ``gazewire users`` on the main command line."""
    users = commands.add_parser("users", help="broker users, passwords and roles (deploy/mosquitto)")
    add_users_arguments(users)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gazewire.cli.users", description=__doc__.split("\n\n")[0])
    add_users_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except GazewireError as error:
        print(f"gazewire users: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
