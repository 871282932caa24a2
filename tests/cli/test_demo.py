"""``gazewire demo`` end to end: its own Mosquitto, simulated agents, the
processor, the console view, and a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess

from tests.conftest import REPO, gazewire_command


def test_demo_runs_and_stops_cleanly_on_ctrl_c(tmp_path):
    # Its own process group, so that SIGINT can go to the whole group, as Ctrl-C in a terminal does.
    process = subprocess.Popen(
        gazewire_command("demo", "--agents", "2", "--plain", "--data-dir", str(tmp_path)),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines = []
    # Wait until the view shows a fixation and an alert, then press Ctrl-C.
    for line in process.stdout:
        lines.append(line)
        if re.search(r"tracking .* fixations +[1-9]\d* +alerts [a-z(]", line):
            break
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: every process of the foreground group
    output = "".join(lines) + process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output
    summaries = re.findall(
        r"(demo-\d): (\d+) samples in \d+ batches on the wire; agent counted (\d+) in, (\d+) acknowledged, "
        r"(\d+) dropped; (\d+) fixations, (\d+) alerts",
        output,
    )
    assert len(summaries) == 2, output
    for _, on_wire, counted, acknowledged, dropped, fixations, alerts in summaries:
        assert int(on_wire) == int(counted) == int(acknowledged) > 0
        assert dropped == "0"
        assert int(fixations) > 0, "the processor detected fixations live"
        assert int(alerts) > 0, "the demo's lowered thresholds raise alerts"
    assert "final state offline" in output
    assert (tmp_path / "agents" / "recordings" / "demo-1.csv").exists()
