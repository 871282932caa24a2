"""gazewire.cli.users: the password file and ACL blocks of deploy/mosquitto.

That the files it writes really work in Mosquitto is shown in
tests/deploy/test_mosquitto_config.py (every broker there gets its users from this tool);
here: the blocks per role, the checks, the errors, and that no password is
ever printed or written in clear.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gazewire.cli.users import (
    UserError,
    UserStore,
    add_users_command,
    check_password,
    find_mosquitto_passwd,
    role_block,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ACL = REPO / "deploy" / "mosquitto" / "acl"
SECRET = "correct-horse-battery"


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    if shutil.which("mosquitto_passwd") is None and not Path("/usr/bin/mosquitto_passwd").exists():
        pytest.fail("mosquitto_passwd is not installed: apt-get install mosquitto")
    shutil.copyfile(SHIPPED_ACL, tmp_path / "acl")
    return UserStore(tmp_path / "passwords", tmp_path / "acl")


def run_cli(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gazewire.cli.users", *args, "--dir", str(tmp_path)],
        check=False, input=stdin, capture_output=True, text=True, cwd=REPO, timeout=60,
    )


# --------------------------------------------------------------------------- blocks


def test_role_blocks() -> None:
    assert role_block("grafana", "viewer") == [
        "# gazewire-user: grafana role=viewer", "user grafana", "topic deny lab/grafana/#", "topic read lab/#",
        "# end gazewire-user: grafana",
    ]
    assert role_block("alice", "operator")[2:7] == [
        "topic deny lab/alice/#", "topic read lab/#", "topic write lab/+/cmd",
        "topic write lab/+/status", "topic write lab/_sys/processor/+/status",  # gazewire status --prune
    ]
    processor = role_block("processor", "processor", prefix="lab/room-2")
    assert "topic write lab/room-2/+/fixations" in processor
    for channel in ("saccades", "pursuits", "blinks"):
        assert f"topic write lab/room-2/+/{channel}" in processor
    assert "topic write lab/room-2/+/alerts" in processor
    assert "topic write lab/room-2/+/aoi" in processor
    assert "topic write lab/room-2/+/gaze/custody" in processor
    assert "topic write lab/room-2/_sys/processor/+/status" in processor
    assert "topic read lab/room-2/#" in processor
    pattern_agent = role_block("TRACKER-PC-1", "agent")
    assert not any(line.startswith(("user ", "topic ")) for line in pattern_agent)  # the patterns do it
    static = role_block("pc-7", "agent", sessions=["P01", "P02"])
    assert static[1] == "user pc-7"
    assert [line for line in static if line.startswith("topic") and "P02" in line] == [
        "topic write lab/P02/gaze", "topic write lab/P02/gaze/batch", "topic write lab/P02/status",
        "topic write lab/P02/events", "topic write lab/P02/cmd/reply", "topic read lab/P02/cmd",
        "topic read lab/P02/gaze/custody",
    ]
    assert static.count("topic read lab/_sys/processor/+/status") == 1


def test_shipped_acl_agent_patterns_match_the_tool() -> None:
    patterns = [line for line in SHIPPED_ACL.read_text().splitlines() if line.startswith("pattern ")]
    assert patterns == [
        "pattern write lab/%u/gaze", "pattern write lab/%u/gaze/batch", "pattern write lab/%u/status",
        "pattern write lab/%u/events", "pattern write lab/%u/cmd/reply", "pattern read lab/%u/cmd",
        "pattern read lab/%u/gaze/custody", "pattern read lab/_sys/processor/+/status",
    ]
    # the same channels as the static agent block, and as the topics module names them
    from gazewire.wire.topics import Channel

    static = role_block("x", "agent", sessions=["S"])
    assert sorted(p.replace("%u", "S").replace("pattern ", "topic ") for p in patterns) == sorted(
        line for line in static if line.startswith("topic ")
    )
    assert {line.split("/", 2)[2] for line in static if line.startswith("topic ") and "/_sys/" not in line} == {
        Channel.GAZE.value, Channel.GAZE_BATCH.value, Channel.STATUS.value, Channel.EVENTS.value,
        Channel.CMD_REPLY.value, Channel.CMD.value, Channel.GAZE_CUSTODY.value,
    }


@pytest.mark.parametrize("name", ["", "a b", "a/b", "a+b", "a#b", "x:y", "_sys", ".", "..", "é", "x" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(UserError):
        role_block(name, "viewer")


def test_bad_roles_and_options_are_refused() -> None:
    with pytest.raises(UserError, match="unknown role"):
        role_block("bob", "admin")
    with pytest.raises(UserError, match="agents only"):
        role_block("bob", "viewer", sessions=["P01"])
    with pytest.raises(UserError, match="prefix"):
        role_block("bob", "viewer", prefix="lab/#")


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short", "too short"), ("with:colon-inside", "':'"), ("two\nlines-here", "one line"), ("", "too short")],
)
def test_bad_passwords_are_refused(password: str, problem: str) -> None:
    with pytest.raises(UserError, match=problem):
        check_password(password)


# --------------------------------------------------------------------------- the store


def test_add_list_passwd_remove(store: UserStore) -> None:
    store.add("processor", "processor", SECRET)
    store.add("grafana", "viewer", SECRET)
    store.add("TRACKER-PC-1", "agent", SECRET)
    store.add("pc-7", "agent", SECRET, sessions=["P01"])
    users = {user.name: user for user in store.users()}
    assert {name: user.role for name, user in users.items()} == {
        "processor": "processor", "grafana": "viewer", "TRACKER-PC-1": "agent", "pc-7": "agent",
    }
    assert users["pc-7"].sessions == ("P01",)
    assert all(user.has_password for user in users.values())
    passwords = store.password_file.read_text()
    assert SECRET not in passwords and SECRET not in store.acl_file.read_text()
    assert all(line.split(":", 1)[1].startswith("$7$") for line in passwords.splitlines())
    assert oct(store.password_file.stat().st_mode & 0o777) == "0o600"

    before = store.password_file.read_text()
    inode = store.password_file.stat().st_ino
    store.set_password("grafana", "another-secret-1")
    after = store.password_file.read_text()
    assert after != before and len(after.splitlines()) == 4
    assert store.password_file.stat().st_ino == inode  # rewritten in place (bind mounts, owner, mode)

    shipped = SHIPPED_ACL.read_text()
    for name in ("processor", "grafana", "TRACKER-PC-1", "pc-7"):
        store.remove(name)
    assert store.users() == []
    assert store.acl_file.read_text().rstrip("\n") == shipped.rstrip("\n")  # back to the shipped file
    assert store.password_file.read_text() == ""


def test_store_errors(store: UserStore, tmp_path: Path) -> None:
    store.add("grafana", "viewer", SECRET)
    with pytest.raises(UserError, match="already has a password"):
        store.add("grafana", "viewer", SECRET)
    with pytest.raises(UserError, match="no user 'nobody'"):
        store.remove("nobody")
    with pytest.raises(UserError, match="has no password"):
        store.set_password("nobody", SECRET)
    missing_acl = UserStore(tmp_path / "p2", tmp_path / "no-acl")
    with pytest.raises(UserError, match="does not exist"):
        missing_acl.add("x", "viewer", SECRET)
    broken = tmp_path / "broken-acl"
    broken.write_text("# gazewire-user: x role=viewer\nuser x\n")
    with pytest.raises(UserError, match="has no '# end gazewire-user: x' line"):
        UserStore(tmp_path / "p3", broken).users()


def test_prefix_comes_from_the_acl_patterns(store: UserStore) -> None:
    assert store.prefix() == "lab"
    text = store.acl_file.read_text().replace("pattern write lab/", "pattern write lab/room-2/")
    store.acl_file.write_text(text.replace("pattern read lab/", "pattern read lab/room-2/"))
    assert store.prefix() == "lab/room-2"
    store.add("grafana", "viewer", SECRET)
    assert "topic deny lab/room-2/grafana/#" in store.acl_file.read_text()


def test_missing_mosquitto_passwd_is_a_clear_error(store: UserStore, monkeypatch) -> None:
    with pytest.raises(UserError, match="not an executable program"):
        find_mosquitto_passwd("/nonexistent/mosquitto_passwd")
    monkeypatch.setattr("gazewire.cli.users.MOSQUITTO_PASSWD_CANDIDATES", ("/nonexistent/mosquitto_passwd",))
    with pytest.raises(UserError, match="mosquitto_passwd was not found.*apt-get install mosquitto"):
        store.add("grafana", "viewer", SECRET)
    assert store.users() == []  # nothing half-written


def test_failing_mosquitto_passwd_is_reported(store: UserStore, tmp_path: Path) -> None:
    fake = tmp_path / "fake_passwd"
    fake.write_text("#!/bin/sh\necho 'Error: something broke' >&2\nexit 3\n")
    fake.chmod(0o755)
    failing = UserStore(store.password_file, store.acl_file, mosquitto_passwd=str(fake))
    with pytest.raises(UserError, match=r"mosquitto_passwd failed \(exit 3\): Error: something broke"):
        failing.add("grafana", "viewer", SECRET)
    lazy = tmp_path / "lazy_passwd"
    lazy.write_text("#!/bin/sh\nexit 0\n")  # leaves the password in clear: must be caught
    lazy.chmod(0o755)
    with pytest.raises(UserError, match="did not produce one hashed entry"):
        UserStore(store.password_file, store.acl_file, mosquitto_passwd=str(lazy)).add("grafana", "viewer", SECRET)
    assert not store.password_file.exists()


# --------------------------------------------------------------------------- command line


def test_cli_never_prints_passwords(store: UserStore, tmp_path: Path) -> None:
    added = run_cli(tmp_path, "add", "TRACKER-PC-1", "--role", "agent", "--password-stdin", stdin=SECRET + "\n")
    assert added.returncode == 0, added.stderr
    assert "agent of session TRACKER-PC-1" in added.stdout and "kill -s HUP mosquitto" in added.stdout
    listed = run_cli(tmp_path, "list")
    assert listed.returncode == 0 and "TRACKER-PC-1" in listed.stdout and "agent" in listed.stdout
    changed = run_cli(tmp_path, "passwd", "TRACKER-PC-1", "--password-stdin", stdin="a-new-password\n")
    assert changed.returncode == 0, changed.stderr
    refused = run_cli(tmp_path, "add", "bad:name", "--role", "viewer", "--password-stdin", stdin=SECRET)
    assert refused.returncode == 1 and "user name 'bad:name' is not allowed" in refused.stderr
    no_terminal = run_cli(tmp_path, "add", "grafana", "--role", "viewer")
    assert no_terminal.returncode == 1 and "--password-stdin" in no_terminal.stderr
    removed = run_cli(tmp_path, "remove", "TRACKER-PC-1")
    assert removed.returncode == 0
    for result in (added, listed, changed, refused, no_terminal, removed):
        assert SECRET not in result.stdout + result.stderr
        assert "a-new-password" not in result.stdout + result.stderr


def test_registers_as_a_gazewire_subcommand(store: UserStore, tmp_path: Path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="gazewire")
    add_users_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["users", "list", "--dir", str(tmp_path)])
    assert args.handler(args) == 0
    assert "no users" in capsys.readouterr().out


def test_module_runs_without_third_party_packages(tmp_path: Path) -> None:
    """A lab server may have only Python 3 and the checkout: no pydantic, no paho."""
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name.split('.')[0] in ('pydantic', 'paho', 'numpy', 'pydantic_settings'):\n"
        "        raise ImportError('blocked ' + name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "import runpy\n"
        f"sys.argv = ['gazewire.cli.users', 'list', '--dir', {str(tmp_path)!r}]\n"
        "runpy.run_module('gazewire.cli.users', run_name='__main__')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no users" in result.stdout
