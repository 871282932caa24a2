"""``gazewire demo`` end to end: its own Mosquitto, simulated agents, the
processor, the console view, and a clean stop."""

from __future__ import annotations

import re
import signal
import subprocess

from tests.conftest import REPO, gazewire_command


def test_demo_runs_and_stops_cleanly_on_sigint(tmp_path):
    process = subprocess.Popen(
        gazewire_command("demo", "--agents", "2", "--plain", "--data-dir", str(tmp_path)),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines = []
    # Wait until the view has shown both sessions tracking twice, then press Ctrl-C.
    for line in process.stdout:
        lines.append(line)
        if sum("tracking" in seen and "samples" in seen for seen in lines) >= 4:
            break
    process.send_signal(signal.SIGINT)
    output = "".join(lines) + process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert "Traceback" not in output
    summaries = re.findall(r"(demo-\d): (\d+) samples in \d+ batches on the wire; agent counted (\d+) in, (\d+) acknowledged, (\d+) dropped", output)
    assert len(summaries) == 2, output
    for _, on_wire, counted, acknowledged, dropped in summaries:
        assert int(on_wire) == int(counted) == int(acknowledged) > 0
        assert dropped == "0"
    assert "final state offline" in output
    assert (tmp_path / "agents" / "recordings" / "demo-1.csv").exists()
