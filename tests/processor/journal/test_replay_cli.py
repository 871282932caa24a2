"""``gazewire processor replay`` as a real process: a sink rebuilt from the journal
holds exactly the points the live processor would write, and a target that already
holds points is refused with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gazewire.processor.journal import Journal
from gazewire.processor.journal.convert import records_of
from gazewire.processor.outputs.points import points_of
from tests.processor.streams import batch_payloads, dispatcher, simulated, status_payload


def gazewire(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gazewire.cli", *args], capture_output=True, text=True, timeout=120)


def test_replay_rebuilds_line_protocol_files_with_every_point_once(tmp_path: Path):
    d = dispatcher(long_fixation_s=0.3)
    journal = Journal(tmp_path / "data" / "journal.sqlite")
    expected: list[str] = []
    messages = [("lab/s1/status", status_payload())]
    messages += [("lab/s1/gaze/batch", p) for p in batch_payloads(simulated(4.0, seed=6).samples, sizes=12)]
    for at, (topic, payload) in enumerate(messages):
        outcome = d.handle(topic, payload)
        expected += [p.line() for p in points_of(outcome)]
        journal.append(records_of(outcome, received_utc_us=at, payloads={id(b): payload for b in outcome.batches}))
    journal.close()

    target = tmp_path / "rebuilt"
    done = gazewire("processor", "replay", "--since", "all", "--sink", "lineprotocol",
                    "--data-dir", str(tmp_path / "data"), "--lineprotocol-dir", str(target))
    assert done.returncode == 0, done.stderr
    assert f"{len(expected)} points written" in done.stdout
    written = [line for path in sorted(target.rglob("*.lp")) for line in path.read_text().splitlines()]
    assert sorted(written) == sorted(expected)

    again = gazewire("processor", "replay", "--since", "all", "--sink", "lineprotocol",
                     "--data-dir", str(tmp_path / "data"), "--lineprotocol-dir", str(target))
    assert again.returncode == 2 and "would write points twice" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_replay_without_a_journal_says_so_in_one_line(tmp_path: Path):
    done = gazewire("processor", "replay", "--since", "2026-01-01T00:00:00Z", "--data-dir", str(tmp_path))
    assert done.returncode == 2 and done.stderr.strip() == f"gazewire: no journal at {tmp_path / 'journal.sqlite'} (journal.path, --data-dir)"
