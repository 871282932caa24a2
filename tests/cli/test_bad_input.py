"""Bad input on the command line: one line naming the problem, exit code 2, never a
traceback (issue 9, item 10). Each case runs ``gazewire`` as a real child process, in a
directory of its own (its ``.env`` and files), against a real Mosquitto where it needs one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.mosquitto import MosquittoBroker, find_mosquitto
from tests.support.ports import free_port

pytestmark = pytest.mark.broker


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    line: str  # the stderr line: a regular expression, {dir} and {broker} filled in first
    files: Callable[[Path], None] = lambda directory: None  # what to put in the working directory
    env: dict[str, str] = field(default_factory=dict)
    needs_file_permissions: bool = False  # as root: run without the capabilities that bypass file modes


def text(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda directory: (directory / name).write_bytes(content)


def directory(name: str) -> Callable[[Path], None]:
    return lambda directory: (directory / name).mkdir()


def unreadable(name: str) -> Callable[[Path], None]:
    def make(directory: Path) -> None:
        (directory / name).write_text('session = "x"\n')
        (directory / name).chmod(0)

    return make


CASES = [
    # session ids and commands: refused before anything is sent
    Case("session-with-slash", ("send", "a/b", "ping"),
         r"gazewire: session id 'a/b' contains '/'; allowed are letters, digits, '\.', '_' and '-' \(1 to 64 characters\)"),
    Case("session-with-wildcard", ("send", "a+", "ping"), r"gazewire: session id 'a\+' contains '\+'; .*"),
    Case("marker-without-name", ("send", "room1", "marker"), r"gazewire send: marker needs a NAME"),
    # flags argparse checks
    Case("timeout-negative", ("status", "--timeout", "-1"),
         r"gazewire status: argument --timeout: must be a positive number of seconds, not '-1' \(see gazewire status --help\)"),
    Case("timeout-not-a-number", ("send", "room1", "ping", "--timeout", "soon"),
         r"gazewire send: argument --timeout: must be a positive number of seconds, not 'soon' \(see gazewire send --help\)"),
    Case("unknown-command", ("frobnicate",), r"gazewire: argument COMMAND: invalid choice: 'frobnicate' .*\(see gazewire --help\)"),
    Case("flag-without-value", ("status", "--broker"), r"gazewire status: argument --broker: expected one argument .*"),
    # flags that set settings: the flag is named, not its environment variable
    Case("broker-bad-brackets", ("status", "--broker", "[::1:1883"), r"gazewire: --broker '\[::1:1883': expected \[IPV6\]:PORT, e\.g\. \[::1\]:1883"),
    Case("broker-port", ("agent", "config", "--broker", "labserver:99999"),
         r"gazewire: --broker: Input should be less than or equal to 65535 \(got '99999'\)"),
    Case("frequency", ("agent", "config", "--frequency", "fast"),
         r"gazewire: --frequency: Input should be a valid number, unable to parse string as a number \(got 'fast'\)"),
    Case("log-level", ("agent", "config", "--log-level", "LOUD"), r"gazewire: --log-level: Input should be .*\(got 'LOUD'\)"),
    Case("session-flag", ("agent", "config", "--session", "a/b"), r"gazewire: --session: session id 'a/b' contains '/'; .*"),
    Case("set-typo", ("agent", "config", "--set", "sesion=X"),
         r"gazewire: --set sesion: unknown setting 'sesion' \(did you mean 'session'\?\)"),
    Case("set-nested-typo", ("processor", "config", "--set", "mqtt.prot=1884"),
         r"gazewire: --set mqtt\.prot: unknown setting 'mqtt\.prot' \(did you mean 'mqtt\.port'\?\)"),
    Case("set-unknown-for-status", ("status", "--set", "session=X"),
         r"gazewire: --set session: unknown setting 'session' \(known: log_level, mqtt, topic_prefix\)"),
    Case("set-value", ("agent", "config", "--set", "mqtt.keepalive_s=1"),
         r"gazewire: --set mqtt\.keepalive_s: Input should be greater than or equal to 5 \(got '1'\)"),
    # data directories
    Case("data-dir-is-a-file", ("agent", "config", "--data-dir", "{dir}/a-file"),
         r"gazewire: --data-dir: '{dir}/a-file' is a file, not a directory", files=text("a-file", b"x")),
    Case("data-dir-under-a-file", ("processor", "config", "--data-dir", "{dir}/a-file/data"),
         r"gazewire: --data-dir: '{dir}/a-file/data' cannot be made: '{dir}/a-file' is a file, not a directory",
         files=text("a-file", b"x")),
    Case("data-dir-from-the-environment", ("agent", "config"),
         r"gazewire: invalid setting data_dir: '{dir}/a-file' is a file, not a directory \[env GAZEWIRE_DATA_DIR\]",
         files=text("a-file", b"x"), env={"GAZEWIRE_DATA_DIR": "{dir}/a-file"}),
    Case("demo-data-dir-is-a-file", ("demo", "--data-dir", "{dir}/a-file", "--duration", "1"),
         r"gazewire: --data-dir: '{dir}/a-file' is a file, not a directory", files=text("a-file", b"x")),
    # config files and .env
    Case("config-missing", ("agent", "config", "-c", "{dir}/nope.toml"), r"gazewire: config file '{dir}/nope\.toml' does not exist"),
    Case("config-is-a-directory", ("agent", "config", "-c", "{dir}/conf"),
         r"gazewire: config file '{dir}/conf' is a directory, not a file", files=directory("conf")),
    Case("config-unreadable", ("agent", "config", "-c", "{dir}/agent.toml"),
         r"gazewire: config file '{dir}/agent\.toml' cannot be read: Permission denied",
         files=unreadable("agent.toml"), needs_file_permissions=True),
    Case("config-not-utf8", ("agent", "config", "-c", "{dir}/agent.toml"),
         r"gazewire: config file '{dir}/agent\.toml' is not UTF-8 text \(byte 12\): save it as UTF-8",
         files=text("agent.toml", 'session = "G\xf6ttingen"\n'.encode("latin-1"))),
    Case("config-typo", ("agent", "config", "-c", "{dir}/agent.toml"),
         r"gazewire: invalid setting sesion: unknown setting in '{dir}/agent\.toml' \(did you mean 'session'\?\)",
         files=text("agent.toml", b'sesion = "P07"\n')),
    Case("config-typo-utf16", ("agent", "config", "-c", "{dir}/agent.toml"),  # Notepad's "Unicode"
         r"gazewire: invalid setting mqtt\.hots: unknown setting in '{dir}/agent\.toml' \(did you mean 'mqtt\.host'\?\)",
         files=text("agent.toml", '[mqtt]\nhots = "labserver"\n'.encode("utf-16"))),
    Case("config-not-toml", ("agent", "config", "-c", "{dir}/agent.toml"),
         r"gazewire: config file '{dir}/agent\.toml' is not valid TOML: .*", files=text("agent.toml", b"session: P07\n")),
    Case("dotenv-is-a-directory", ("agent", "config"), r"gazewire: \.env file '{dir}/\.env' is a directory, not a file",
         files=directory(".env")),
    Case("dotenv-unreadable", ("agent", "config"), r"gazewire: \.env file '{dir}/\.env' cannot be read: Permission denied",
         files=unreadable(".env"), needs_file_permissions=True),
    Case("dotenv-not-utf8", ("status",), r"gazewire: \.env file '{dir}/\.env' is not UTF-8 text \(byte 25\): save it as UTF-8",
         files=text(".env", "GAZEWIRE_MQTT__USERNAME=J\xfcrgen\n".encode("latin-1"))),
    # the broker refuses the login: which user, and whether a password was given
    Case("no-password", ("status", "--broker", "{broker}", "--username", "alice"),
         r"gazewire: broker {broker} refused user 'alice': Not authorized \(no password was given: GAZEWIRE_MQTT__PASSWORD sets it\)"),
    Case("wrong-password", ("send", "room1", "ping", "--broker", "{broker}", "--username", "alice"),
         r"gazewire: broker {broker} refused user 'alice': Not authorized \(check the user name and its password\)",
         env={"GAZEWIRE_MQTT__PASSWORD": "wrong"}),
]


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> MosquittoBroker:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/test.sh, or apt-get install mosquitto")
    server = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"), users={"alice": "right-password"})
    server.start()
    yield server
    server.kill()


# Root reads a file of mode 0 through the capabilities CAP_DAC_OVERRIDE and
# CAP_DAC_READ_SEARCH; without them, as a researcher's own account would, it cannot.
WITHOUT_FILE_PERMISSION_OVERRIDE = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--")


def run_in(
    directory: Path, args: tuple[str, ...], env: dict[str, str], *, as_without_override: bool = False
) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GAZEWIRE_")}
    environment.update(env)
    environment["PYTHONPATH"] = str(REPO)
    prefix = WITHOUT_FILE_PERMISSION_OVERRIDE if as_without_override and os.geteuid() == 0 else ()
    return subprocess.run(
        [*prefix, sys.executable, "-m", "gazewire.cli", *args], cwd=directory, env=environment, capture_output=True,
        text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_and_exit_code_2(case: Case, tmp_path: Path, broker: MosquittoBroker) -> None:
    where = f"{broker.host}:{broker.port}"

    def fill(value: str) -> str:
        return value.replace("{dir}", str(tmp_path)).replace("{broker}", where)

    case.files(tmp_path)
    done = run_in(tmp_path, tuple(fill(arg) for arg in case.args), {k: fill(v) for k, v in case.env.items()},
                  as_without_override=case.needs_file_permissions)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, f"not one line:\n{done.stderr}"
    pattern = fill(case.line).replace(str(tmp_path), re.escape(str(tmp_path))).replace(where, re.escape(where))
    assert re.fullmatch(pattern, done.stderr.rstrip("\n")), done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)


# --------------------------------------------------------------------------- what is not bad input


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-be"], ids=["utf8", "utf8-bom", "utf16-le-bom", "utf16-be-bom"]
)
def test_config_files_and_dotenv_as_notepad_saves_them_are_read(encoding: str, tmp_path: Path) -> None:
    """UTF-8, and UTF-8 or UTF-16 with a byte-order mark (what Windows Notepad writes)."""
    def config(session: str) -> bytes:
        data = f'session = "{session}"\n[mqtt]\nport = 1884\n'.encode(encoding)
        return b"\xfe\xff" + data if encoding == "utf-16-be" else data

    dotenv = "GAZEWIRE_PUBLISH_HZ=7\n".encode(encoding)
    (tmp_path / ".env").write_bytes(b"\xfe\xff" + dotenv if encoding == "utf-16-be" else dotenv)
    (tmp_path / "agent.toml").write_bytes(config("Göttingen-1"))
    done = run_in(tmp_path, ("agent", "config", "-c", str(tmp_path / "agent.toml")), {})
    assert done.returncode == 2 and "'Göttingen-1' contains 'ö'" in done.stderr, done.stderr  # read, then refused
    (tmp_path / "agent.toml").write_bytes(config("Goettingen-1"))
    done = run_in(tmp_path, ("agent", "config", "-c", str(tmp_path / "agent.toml")), {})
    assert done.returncode == 0, done.stderr
    assert 'session = "Goettingen-1"' in done.stdout and "port = 1884" in done.stdout and "publish_hz = 7.0" in done.stdout


def test_a_bracketed_ipv6_broker_address_is_a_host_and_a_port(tmp_path: Path) -> None:
    """--broker [::1]:PORT is the IPv6 loopback (before: the host '[::1]', "unknown host")."""
    port = free_port()
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} ::1\nallow_anonymous true\n" + ("user root\n" if os.geteuid() == 0 else ""))
    server = subprocess.Popen([find_mosquitto() or "mosquitto", "-c", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        done = None
        for _ in range(50):  # until it listens (each try waits for the broker up to 1 s)
            done = run_in(tmp_path, ("status", "--broker", f"[::1]:{port}", "--timeout", "1"), {})
            if "no connection" not in done.stderr:
                break
        assert done is not None and done.returncode == 1, done.stderr  # connected: no agent there
        assert done.stdout.startswith("no agent status on this broker"), done.stdout + done.stderr
    finally:
        server.kill()
        server.wait(10)


def test_broker_addresses_parse_as_lab_engineers_write_them() -> None:
    from gazewire.mqtt import parse_broker

    assert parse_broker("labserver") == ("labserver", None)
    assert parse_broker("labserver:1884") == ("labserver", "1884")
    assert parse_broker("10.0.0.5:1883") == ("10.0.0.5", "1883")
    assert parse_broker("[::1]:1883") == ("::1", "1883")
    assert parse_broker("[fe80::1]") == ("fe80::1", None)
    assert parse_broker("::1") == ("::1", None)
