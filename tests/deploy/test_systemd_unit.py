"""deploy/systemd/gazewire-agent.service checked by systemd's own tools, offline.

PID 1 is not systemd where the tests run (containers, CI), so nothing is
started. ``systemd-analyze verify`` still loads the unit exactly as systemd
would when given ``--root=DIR``, a directory laid out like a system:

- ``DIR/usr/lib/systemd/system``: a copy of this machine's systemd units
  (the unit refers to network-online.target, multi-user.target, and systemd
  needs sysinit.target etc. to build the start job);
- ``DIR/etc/systemd/system/gazewire-agent.service``: the shipped unit, byte for
  byte: nothing is rewritten;
- ``DIR/opt/gazewire/venv/bin/gazewire``: an empty executable script, because
  verify checks that ExecStart's program exists (paths are resolved in DIR).

The command is ``systemd-analyze verify --man=no --root=DIR gazewire-agent.service``
(systemd 252, Debian's ``systemd`` package; scripts/test.sh installs it), and
any output at all fails the test: systemd prints warnings (unknown keys, bad
values) but still exits 0 for most of them.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT_DIR = REPO / "deploy" / "systemd"
UNIT = UNIT_DIR / "gazewire-agent.service"
SYSUSERS = UNIT_DIR / "gazewire.sysusers.conf"
HOST_UNIT_DIRS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))


def systemd_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run scripts/test.sh, or apt-get install systemd")
    return found


def quiet_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSTEMD_")}
    env.update({"SYSTEMD_LOG_LEVEL": "info", "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "", "LC_ALL": "C"})
    return env


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value in order (systemd keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"directive outside a section: {raw!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a KEY=VALUE line: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


UNIT_TEXT = UNIT.read_text()
SERVICE = parse_unit(UNIT_TEXT)["Service"]


def one(key: str) -> str:
    values = SERVICE.get(key)
    assert values, f"{key}= missing from [Service]"
    return values[-1]


def exec_start() -> list[str]:
    return shlex.split(one("ExecStart"))


def make_root(root: Path, unit_text: str, *, executable: bool = True) -> Path:
    """A directory that systemd-analyze --root= can load the unit from."""
    host_units = next((d for d in HOST_UNIT_DIRS if (d / "sysinit.target").exists()), None)
    if host_units is None:
        pytest.fail("no systemd unit directory with sysinit.target: apt-get install systemd")
    shutil.copytree(host_units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system/gazewire-agent.service").write_text(unit_text)
    if executable:
        program = root / exec_start()[0].lstrip("/")
        program.parent.mkdir(parents=True)
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(0o755)
    return root


def verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [systemd_tool("systemd-analyze"), "verify", "--man=no", f"--root={root}", "gazewire-agent.service"],
        check=False, capture_output=True, text=True, env=quiet_env(), timeout=60,
    )


# --------------------------------------------------------------------------- systemd's verdict


def test_systemd_analyze_verify_passes_without_any_warning(tmp_path):
    root = make_root(tmp_path / "root", UNIT_TEXT)
    assert (root / "etc/systemd/system/gazewire-agent.service").read_bytes() == UNIT.read_bytes()
    result = verify(root)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_verify_check_does_see_warnings_and_errors(tmp_path):
    """The empty-output assertion above means something: a misspelt directive
    makes systemd-analyze print a warning (with exit code 0), and a missing
    ExecStart program makes it fail."""
    typo = UNIT_TEXT.replace("ProtectHome=yes", "ProtectHomes=yes")
    result = verify(make_root(tmp_path / "typo", typo))
    assert "ProtectHomes" in result.stderr

    result = verify(make_root(tmp_path / "no-program", UNIT_TEXT, executable=False))
    assert result.returncode != 0
    assert exec_start()[0] in result.stderr


def test_systemd_analyze_security_rates_the_unit_ok(tmp_path):
    root = make_root(tmp_path / "root", UNIT_TEXT)
    result = subprocess.run(
        [systemd_tool("systemd-analyze"), "security", "--offline=yes", f"--root={root}",
         "--threshold=25", "--no-pager", "gazewire-agent.service"],
        check=False, capture_output=True, text=True, env=quiet_env(), timeout=60,
    )
    exposure = re.search(r"Overall exposure level for gazewire-agent\.service: (\d+\.\d+)", result.stdout)
    assert exposure, result.stdout + result.stderr
    # 1.8 ("OK") when written; the threshold (2.5) catches a hardening line dropped by accident.
    assert result.returncode == 0 and float(exposure.group(1)) <= 2.5, result.stdout


def test_sysusers_file_creates_the_user_the_unit_runs_as(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    result = subprocess.run(
        [systemd_tool("systemd-sysusers"), f"--root={root}", str(SYSUSERS)],
        check=False, capture_output=True, text=True, env=quiet_env(), timeout=60,
    )
    assert result.returncode == 0, result.stderr
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    user = users[one("User")]
    assert user[5] == "/var/lib/gazewire" and user[6] == "/usr/sbin/nologin"
    groups = {line.split(":")[0] for line in (root / "etc/group").read_text().splitlines()}
    assert one("Group") in groups


# --------------------------------------------------------------------------- what the unit says


def test_notify_type_with_watchdog_and_restart():
    unit = parse_unit(UNIT_TEXT)
    assert one("Type") == "notify"
    assert one("NotifyAccess") == "main"
    assert one("Restart") == "on-failure"
    assert seconds(one("RestartSec")) >= 1
    assert "2" in one("RestartPreventExitStatus").split()  # bad settings: exit code 2, no restart loop
    assert unit["Unit"]["StartLimitIntervalSec"] and unit["Unit"]["StartLimitBurst"]
    assert "network-online.target" in unit["Unit"]["Wants"][0].split()
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


def test_watchdog_leaves_room_for_the_pipeline_loop():
    from gazewire.agent.config import AgentSettings
    from gazewire.agent.service.systemd import WATCHDOG_SHARE

    watchdog_s = seconds(one("WatchdogSec"))
    # The loop calls watchdog() at least every 1/publish_hz s; pings go out every WATCHDOG_SHARE of it.
    loop_period_s = 1 / AgentSettings.model_fields["publish_hz"].default
    assert watchdog_s * WATCHDOG_SHARE > 10 * loop_period_s
    assert 10 <= watchdog_s <= 120


def test_stop_timeout_covers_the_agents_flush():
    from gazewire.agent.inputs.tobii import JOIN_TIMEOUT_S

    assert one("KillSignal") == "SIGTERM"
    # Agent._close: up to 5 s for acknowledgements, 2 s for the offline status,
    # and the Tobii source's stop joins its thread for up to JOIN_TIMEOUT_S.
    assert seconds(one("TimeoutStopSec")) > 5 + 2 + JOIN_TIMEOUT_S


def test_exec_start_is_a_valid_gazewire_command_line():
    from gazewire.cli.main import build_parser

    argv = exec_start()
    assert argv[0] == "/opt/gazewire/venv/bin/gazewire"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.agent_command, args.config) == ("agent", "run", "/etc/gazewire/agent.toml")
    assert SERVICE["EnvironmentFile"] == ["-/etc/gazewire/agent.env"]  # optional: '-'


def test_hardening_directives():
    expected = {
        "User": "gazewire",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "gazewire",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "LockPersonality": "yes",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "CapabilityBoundingSet": "",
        "SystemCallArchitectures": "native",
        "DevicePolicy": "closed",
    }
    assert {key: SERVICE.get(key, [None])[-1] for key in expected} == expected
    assert set(one("RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"}
    assert "@system-service" in SERVICE["SystemCallFilter"]
    # Nothing that breaks the Tobii SDK: USB devices stay reachable, the network stays open.
    assert one("PrivateDevices") == "no"
    assert "char-usb_device rw" in SERVICE["DeviceAllow"]
    for absent in ("PrivateNetwork", "IPAddressDeny", "MemoryDenyWriteExecute", "PrivateUsers", "DynamicUser"):
        assert absent not in SERVICE, f"{absent}= would break the agent or the SDK (see the unit's comments)"


def test_state_directory_is_where_the_agent_keeps_its_data(monkeypatch):
    """systemd sets $STATE_DIRECTORY=/var/lib/gazewire; the agent's default
    data_dir follows it (outbox and recordings)."""
    from gazewire.agent.config import default_data_dir

    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/" + one("StateDirectory"))
    assert default_data_dir() == Path("/var/lib/gazewire")
