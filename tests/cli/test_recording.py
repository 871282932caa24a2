"""``gazewire recording start|stop|annotate`` as a researcher runs it: child
processes against a real Mosquitto and a real simulated agent. One line per
result; bad input is exit 2 before anything is sent; refusals are exit 1 in
one line; never a traceback; the password never printed."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest

from gazewire.client import Lab
from tests.conftest import REPO, gazewire_command
from tests.support.lab_device import LabDevice
from tests.support.mosquitto import MosquittoBroker
from tests.support.ports import free_port

pytestmark = pytest.mark.broker

RECORDING_ID = r"\d{8}T\d{6}Z-[0-9a-f]{4}"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(gazewire_command(*args), capture_output=True, text=True, cwd=REPO, timeout=60,
                          input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL)


def one_line(result: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_start_annotate_stop_and_the_refusals(broker, start_agent):
    session = "rec-" + uuid.uuid4().hex[:6]
    start_agent("--session", session)
    with Lab(broker.host, broker.port) as lab:
        lab.session(session).wait_for("tracking", timeout=30)
    where = ["--broker", f"{broker.host}:{broker.port}"]

    started = run("recording", "start", session, "--participant", "P07", "--name", "stroop",
                  "--meta", "group=control", "--meta", "site=B", *where)
    assert started.returncode == 0, started.stderr
    line = one_line(started)
    assert re.fullmatch(rf"started recording ({RECORDING_ID}) on {session} "
                        r"\(name stroop, participant P07, group=control, site=B\)", line), line
    recording = line.split()[2]

    again = run("recording", "start", session, "--participant", "P08", *where)
    assert again.returncode == 1
    assert one_line(again) == (f"gazewire: session '{session}' refused 'start': start: recording {recording} "
                               "(participant P07) is running; stop it first")

    annotated = run("recording", "annotate", session, "--meta", "note=glasses", "--recording", recording, *where)
    assert annotated.returncode == 0, annotated.stderr
    assert one_line(annotated) == f"annotated recording {recording} on {session}: group=control, site=B, note=glasses"

    wrong = run("recording", "stop", session, "--recording", "20000101T000000Z-0000", *where)
    assert wrong.returncode == 1 and "stop: recording 20000101T000000Z-0000 is not running" in one_line(wrong)

    stopped = run("recording", "stop", session, *where)
    assert stopped.returncode == 0, stopped.stderr
    assert re.fullmatch(rf"stopped recording {recording} on {session}: \d+ samples in \d+\.\d s", one_line(stopped))

    nothing = run("recording", "stop", session, *where)
    assert nothing.returncode == 1 and "stop: no recording is running" in one_line(nothing)


@pytest.mark.parametrize(("args", "message"), [
    (["start", "room 1"], "gazewire: session id 'room 1' contains ' '"),
    (["start", "room1", "--participant", "P 07"], "gazewire: start: participant: 'P 07' contains ' '"),
    (["start", "room1", "--meta", "group"], "gazewire: --meta 'group': expected KEY=VALUE"),
    (["start", "room1", "--meta", "a=1", "--meta", "a=2"], "gazewire: --meta 'a' given twice"),
    (["start", "room1", "--name", "x" * 201], "gazewire: start: name: String should have at most 200"),
    (["start", "room1", *[f"--meta=k{i}=v" for i in range(33)]], "gazewire: start: metadata: has 33 keys"),
    (["stop", "room1", "--recording", "a/b"], "gazewire: stop: recording: 'a/b' contains '/'"),
    (["annotate", "room1"], "gazewire: annotate needs at least one --meta KEY=VALUE"),
    (["start", "room1", "--timeout", "0"], "gazewire recording start: argument --timeout: must be a positive number"),
])
def test_bad_input_is_exit_2_in_one_line_before_anything_is_sent(broker, lab_devices, args, message):
    watcher = LabDevice(broker.host, broker.port, ["lab/+/cmd"])
    lab_devices.append(watcher)
    result = run("recording", *args, "--broker", f"{broker.host}:{broker.port}")
    assert result.returncode == 2, result.stderr
    assert one_line(result).startswith(message), result.stderr
    assert watcher.messages == []


def test_a_password_file_logs_in_and_the_password_is_never_shown(tmp_path):
    broker = MosquittoBroker(tmp_path / "mosquitto", users={"operator": "s3cret-operator"})
    broker.start()
    try:
        where = ["--broker", f"{broker.host}:{broker.port}", "--username", "operator", "--timeout", "0.5"]
        password_file = tmp_path / "password"
        password_file.write_text("s3cret-operator\n")
        silent = run("recording", "stop", "room1", *where, "--password-file", str(password_file))
        assert silent.returncode == 1
        assert one_line(silent) == ("gazewire: no reply from session 'room1' to 'stop' within 0.5 s "
                                    "(is its agent running, and is the session id right?)")
        from_stdin = run("recording", "stop", "room1", *where, "--password-file", "-", stdin="s3cret-operator\n")
        assert from_stdin.returncode == 1 and "no reply from session 'room1'" in one_line(from_stdin)
        wrong = run("recording", "stop", "room1", *where, "--password-file", "-", stdin="not-it\n")
        assert wrong.returncode == 2  # bad credentials are bad settings
        assert one_line(wrong) == (f"gazewire: broker {broker.host}:{broker.port} refused user 'operator': "
                                   "Not authorized (check the user name and its password)")
        missing = run("recording", "stop", "room1", *where, "--password-file", str(tmp_path / "missing"))
        assert missing.returncode == 2 and one_line(missing).startswith("gazewire: cannot read the password file: ")
        for result in (silent, from_stdin, wrong, missing):
            assert "s3cret" not in result.stdout + result.stderr and "not-it" not in result.stdout + result.stderr
        assert "s3cret" not in broker.log()
    finally:
        broker.kill()


def test_no_broker_is_one_line():
    where = f"127.0.0.1:{free_port()}"
    result = run("recording", "start", "room1", "--broker", where, "--timeout", "1")
    assert result.returncode == 1
    assert one_line(result) == f"gazewire: no connection to the broker at {where} within 1 s"
