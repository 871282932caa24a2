"""Recordings (issue 10) checked from the outside: ``gazewire agent run`` with the
simulated tracker as a child process, a real Mosquitto, and a plain MQTT client
sending the commands an experiment script would send.

Ground truth is the agent's own numbering: every sample's ``seq`` must arrive in
exactly one batch, tagged with the recording it was taken in, and be in that
recording's CSV (or the session's, between recordings) and nowhere else.
"""

from __future__ import annotations

import csv
import json
import signal
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from gazewire.agent.recording_format import RecordingSidecar, recording_path, recordings_dir
from gazewire.wire.messages import AgentStatus, CommandReply, GazeBatch, LiveGaze, Marker
from tests.support.disk import small_disk_at
from tests.support.lab_device import LabDevice, Received

pytestmark = pytest.mark.broker


class Station:
    """One agent's topics, seen and driven by an experiment script's MQTT client."""

    def __init__(self, broker, lab_devices, session: str) -> None:
        self.session = session
        self.client = LabDevice(broker.host, broker.port, [f"lab/{session}/#"])
        lab_devices.append(self.client)
        self._ids = 0

    def command(self, command: str, **fields) -> CommandReply:
        self._ids += 1
        request = f"{command}-{self._ids}"
        self.client.publish(f"lab/{self.session}/cmd", {"id": request, "command": command, **fields})
        return self.reply(request)

    def reply(self, request: str) -> CommandReply:
        def check(messages: list[Received]):
            for m in messages:
                if m.topic == f"lab/{self.session}/cmd/reply" and json.loads(m.payload).get("id") == request:
                    return CommandReply.model_validate_json(m.payload)
            return None

        return self.client.wait_for(check, timeout_s=20, what=f"reply to {request}")

    def statuses(self) -> list[AgentStatus]:
        return [AgentStatus.model_validate_json(m.payload) for m in self.client.on(f"lab/{self.session}/status")]

    def status(self, condition, what: str, timeout_s: float = 20) -> AgentStatus:
        def check(messages):
            found = [AgentStatus.model_validate_json(m.payload) for m in messages
                     if m.topic == f"lab/{self.session}/status"]
            found = [s for s in found if condition(s)]
            return found[-1] if found else None

        return self.client.wait_for(check, timeout_s=timeout_s, what=what)

    def batches(self) -> dict[int, GazeBatch]:
        """Every batch by batch_seq (a batch delivered twice must be the same batch)."""
        found: dict[int, GazeBatch] = {}
        for m in self.client.on(f"lab/{self.session}/gaze/batch"):
            batch = GazeBatch.model_validate_json(m.payload)
            if batch.batch_seq in found:
                assert found[batch.batch_seq].columns.seq == batch.columns.seq
            found[batch.batch_seq] = batch
        return found

    def samples_in(self, recording: str | None) -> int:
        return sum(b.count for b in self.batches().values() if b.recording == recording)

    def wait_for_samples(self, recording: str | None, at_least: int) -> None:
        self.client.wait_for(lambda _: self.samples_in(recording) >= at_least, timeout_s=30,
                             what=f"{at_least} samples of recording {recording}")

    def markers(self) -> list[Marker]:
        return [Marker.model_validate_json(m.payload) for m in self.client.on(f"lab/{self.session}/events")]

    def live(self) -> list[LiveGaze]:
        return [LiveGaze.model_validate_json(m.payload) for m in self.client.on(f"lab/{self.session}/gaze")]


def read_csv(path: Path) -> tuple[list[int], list[str]]:
    """(sample seqs, marker names) of a recording CSV, in file order."""
    seqs, markers = [], []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["kind"] == "gaze":
                seqs.append(int(row["seq"]))
            else:
                markers.append(row["marker"])
    return seqs, markers


def sidecar_of(data: Path, session: str, recording: str) -> tuple[RecordingSidecar, Path]:
    [path] = recordings_dir(data, session).glob(f"{recording}*.json")
    sidecar = RecordingSidecar.model_validate_json(path.read_bytes())
    return sidecar, path.with_name(sidecar.csv)


def stop_cleanly(station: Station, agent) -> AgentStatus:
    assert agent.terminate() == 0, agent.log()
    final = station.status(lambda s: s.state == "offline", "offline status")
    station.client.wait_for(
        lambda _: sum(b.count for b in station.batches().values())
        >= final.counters.samples_in - final.counters.samples_live_only,
        timeout_s=30, what="every sample in a batch",
    )
    return final


# --------------------------------------------------------------------------- the experiment


def test_two_recordings_in_a_row_each_get_exactly_their_samples_markers_and_files(
    broker, start_agent, lab_devices, tmp_path
):
    session = "rec-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    station = Station(broker, lab_devices, session)
    agent = start_agent("--session", session, "--frequency", "300", data_dir=data)
    station.status(lambda s: s.state == "tracking" and s.tracker is not None, "tracking")
    station.wait_for_samples(None, 100)  # the set-up view: samples before any recording

    first = station.command("start", name="reading task", participant="P01", metadata={"group": "control"})
    assert first.ok, first.error
    r1 = first.result["recording"]
    assert set(first.result) == {"recording", "name", "participant", "metadata", "started_utc"}
    assert (first.result["name"], first.result["participant"]) == ("reading task", "P01")
    status = station.status(lambda s: s.recording is not None, "status names the recording")
    assert (status.recording.id, status.recording.participant, status.recording.metadata) == (
        r1, "P01", {"group": "control"})
    station.wait_for_samples(r1, 200)
    marker_1 = station.command("marker", name="stimulus_on")
    assert marker_1.ok and marker_1.result["recording"] == r1

    again = station.command("start", participant="P02")
    assert not again.ok and again.error == f"start: recording {r1} (participant P01) is running; stop it first"
    assert (again.code, again.result) == ("already_recording", {"recording": r1})
    annotated = station.command("annotate", metadata={"calibration": "good"}, recording=r1)
    assert annotated.result == {"recording": r1, "metadata": {"group": "control", "calibration": "good"}}

    stopped_1 = station.command("stop", recording=r1)
    assert stopped_1.ok and stopped_1.result["recording"] == r1 and stopped_1.state == "tracking"
    station.wait_for_samples(None, station.samples_in(None) + 100)  # the stream goes on between recordings
    station.status(lambda s: s.recording is None and s.state == "tracking", "not recording, still tracking")

    second = station.command("start", participant="P02")
    r2 = second.result["recording"]
    assert second.ok and r2 != r1 and r2 > r1, "ids sort by start"
    station.wait_for_samples(r2, 200)
    marker_2 = station.command("marker", name="stimulus_on", utc_ns=1_800_000_000_000_000_000)
    assert marker_2.result["recording"] == r2
    stopped_2 = station.command("stop")
    assert stopped_2.ok and stopped_2.result["recording"] == r2
    final = stop_cleanly(station, agent)

    # Every sample exactly once, in the recording it was taken in.
    seq_of: dict[str | None, list[int]] = defaultdict(list)
    for _, batch in sorted(station.batches().items()):
        seq_of[batch.recording].extend(batch.columns.seq)
    everything = sorted(seq for seqs in seq_of.values() for seq in seqs)
    assert everything == list(range(final.counters.samples_in)), "a sample missing or in two batches"
    assert set(seq_of) == {None, r1, r2}
    for recording, stopped in ((r1, stopped_1), (r2, stopped_2)):
        seqs = seq_of[recording]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a recording is one unbroken run"
        assert stopped.result["samples"] == len(seqs)
    assert seq_of[r1][-1] < seq_of[r2][0]
    assert min(seq_of[None]) < seq_of[r1][0] and max(seq_of[None]) > seq_of[r2][-1]

    # Markers land in the running recording, on the wire and on disk.
    markers = station.markers()
    assert [(m.name, m.recording) for m in markers] == [("stimulus_on", r1), ("stimulus_on", r2)]

    # One CSV per recording, holding exactly its samples; the session CSV the rest.
    for recording, participant in ((r1, "P01"), (r2, "P02")):
        sidecar, csv_path = sidecar_of(data, session, recording)
        seqs, marker_rows = read_csv(csv_path)
        assert seqs == seq_of[recording]
        assert marker_rows == ["stimulus_on"]
        assert (sidecar.state, sidecar.participant, sidecar.recording) == ("stopped", participant, recording)
        assert sidecar.samples == sidecar.samples_in_file == len(seqs)
        assert sidecar.markers == sidecar.markers_in_file == 1
        assert (sidecar.first_seq, sidecar.last_seq) == (seqs[0], seqs[-1])
        assert sidecar.tracker is not None and sidecar.tracker.serial and sidecar.frequency_hz == 300
        assert sidecar.display_area is not None and sidecar.agent.run == final.run
        assert sidecar.started_utc_us < sidecar.stopped_utc_us
        assert set(sidecar.losses) >= {"samples_dropped_queue", "samples_dropped_sdk", "samples_not_recorded",
                                       "samples_dropped_outbox", "samples_malformed", "markers_not_recorded"}
        assert not any(sidecar.losses.values())
    sidecar_1, csv_1 = sidecar_of(data, session, r1)
    assert csv_1.name == f"{r1}_reading-task.csv"
    assert sidecar_1.metadata == {"group": "control", "calibration": "good"} and sidecar_1.name == "reading task"
    unrecorded, unrecorded_markers = read_csv(recording_path(data, session))
    assert unrecorded == seq_of[None] and unrecorded_markers == []
    assert not (recordings_dir(data, session) / ".running").exists()

    # Live gaze names the recording of its sample.
    for live in station.live():
        recording = next((r for r in (r1, r2) if seq_of[r][0] <= live.sample_seq <= seq_of[r][-1]), None)
        assert live.recording == recording, live


def test_bad_start_fields_are_refused_with_one_precise_reply_and_nothing_starts(
    broker, start_agent, lab_devices, tmp_path
):
    session = "bad-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    station = Station(broker, lab_devices, session)
    start_agent("--session", session, data_dir=data)
    station.status(lambda s: s.state == "tracking", "tracking")
    cases = [
        ({"participant": "P 01"}, "invalid command: participant: 'P 01' contains ' '; allowed are letters, digits, "
                                  "'.', '_' and '-' (1 to 64 characters)"),
        ({"participant": "P01", "metadata": {"age": 31}},
         "invalid command: metadata: value of 'age' must be text (a JSON string), not int 31"),
        ({"metadata": {f"k{i}": "v" for i in range(40)}}, "invalid command: metadata: has 40 keys; at most 32 allowed"),
        ({"metadata": {"k": "x" * 2000}}, "invalid command: metadata: value of 'k' is 2000 characters long; at most 1024 allowed"),
        ({"recording": "x"}, "invalid command: payload: 'start' takes no 'recording' (only 'id', 'name', 'participant', 'metadata')"),
    ]
    for fields, error in cases:
        reply = station.command("start", **fields)
        assert (reply.ok, reply.command, reply.error) == (False, "start", error)
        assert reply.received_utc_ns is not None and reply.sent_utc_ns >= reply.received_utc_ns
    stop = station.command("stop")
    assert (stop.ok, stop.command, stop.error) == (False, "stop", "stop: no recording is running")
    annotate = station.command("annotate", metadata={"a": "b"})
    assert (annotate.ok, annotate.error) == (False, "annotate: no recording is running")
    status = station.status(lambda s: s.counters.commands_refused == len(cases) + 2, "refusals counted")
    assert status.recording is None
    assert not recordings_dir(data, session).exists(), "a refused start makes no files"

    started = station.command("start", metadata={f"k{i}": "v" * 200 for i in range(30)})
    assert started.ok
    r1 = started.result["recording"]
    too_much = station.command("annotate", metadata={f"x{i}": "v" for i in range(5)})
    assert (too_much.ok, too_much.error) == (False, "annotate: the merged metadata has 35 keys; at most 32 allowed; "
                                                    "nothing was merged")
    wrong = station.command("stop", recording="20200101T000000Z-0000")
    assert wrong.error == f"stop: recording 20200101T000000Z-0000 is not running ({r1} is)"
    assert station.command("stop", recording=r1).ok
    after = station.command("stop", recording=r1)
    assert after.error.startswith(f"stop: recording {r1} is not running: it was stopped at ")


# --------------------------------------------------------------------------- an agent that stops while recording


def test_an_agent_killed_while_recording_leaves_a_sidecar_that_says_so_and_the_next_run_ends_it_as_interrupted(
    broker, start_agent, lab_devices, tmp_path
):
    session = "crash-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    station = Station(broker, lab_devices, session)
    agent = start_agent("--session", session, "--frequency", "600", data_dir=data)
    station.status(lambda s: s.state == "tracking", "tracking")
    r1 = station.command("start", participant="P01").result["recording"]
    assert station.command("marker", name="trial_1").ok
    station.wait_for_samples(r1, 1500)
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait(10)

    left, csv_path = sidecar_of(data, session, r1)
    assert left.state == "recording" and left.ended is None, "not stopped cleanly, and it says so"

    station.client.messages.clear()
    start_agent("--session", session, "--frequency", "600", data_dir=data)
    status = station.status(lambda s: s.state == "tracking", "tracking again")
    assert status.recording is None, "a restarted agent does not resume the recording"
    assert any(w.startswith(f"recording {r1} (participant P01) was interrupted: the agent stopped without "
                            "ending it") for w in status.warnings), status.warnings
    final, csv_path = sidecar_of(data, session, r1)
    seqs, markers = read_csv(csv_path)  # csv.DictReader fails on nothing: the torn row is gone
    assert final.state == "interrupted" and final.ended.startswith("interrupted: the agent stopped without ending it")
    assert final.samples_in_file == len(seqs) > 0 and final.markers_in_file == len(markers) == 1
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) and (final.first_seq, final.last_seq) == (seqs[0], seqs[-1])
    assert final.samples == len(seqs) and final.losses["samples_not_recorded"] == 0
    assert final.stopped_utc_us is not None and final.stopped_utc_us > final.started_utc_us
    with csv_path.open("rb") as handle:
        assert handle.read().endswith(b"\r\n"), "the file ends in a whole row"

    refused = station.command("stop", recording=r1)
    assert refused.error.startswith(f"stop: recording {r1} is not running: it was interrupted: the agent stopped")
    r2 = station.command("start", participant="P02").result["recording"]
    status = station.status(lambda s: s.recording is not None and s.recording.id == r2, "recording again")
    assert not any("interrupted" in w for w in status.warnings), "announced until the next start"


def test_a_service_stop_while_recording_ends_the_recording_as_interrupted_with_exact_counts(
    broker, start_agent, lab_devices, tmp_path
):
    session = "svc-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    station = Station(broker, lab_devices, session)
    agent = start_agent("--session", session, "--frequency", "300", data_dir=data)
    station.status(lambda s: s.state == "tracking", "tracking")
    r1 = station.command("start", name="block 1").result["recording"]
    station.wait_for_samples(r1, 300)
    final_status = stop_cleanly(station, agent)
    assert final_status.recording is None
    recorded = sorted(seq for b in station.batches().values() if b.recording == r1 for seq in b.columns.seq)

    sidecar, csv_path = sidecar_of(data, session, r1)
    seqs, _ = read_csv(csv_path)
    assert sidecar.state == "interrupted" and "the agent was shut down" in sidecar.ended
    assert seqs == recorded and sidecar.samples == sidecar.samples_in_file == len(seqs)
    assert (recordings_dir(data, session) / ".running").exists(), "the next run announces it"

    start_agent("--session", session, data_dir=data)
    status = station.status(lambda s: s.state == "tracking" and s.run != final_status.run, "the next run")
    assert any(w.startswith(f"recording {r1} was interrupted: the agent was shut down") for w in status.warnings)


# --------------------------------------------------------------------------- between recordings


def test_without_keep_unrecorded_only_recordings_are_batched_and_the_live_view_goes_on(
    broker, start_agent, lab_devices, tmp_path
):
    session = "live-" + uuid.uuid4().hex[:6]
    data = tmp_path / "data"
    station = Station(broker, lab_devices, session)
    agent = start_agent("--session", session, "--frequency", "300", "--set", "keep_unrecorded=false",
                        "--set", "status_interval_s=0.5", data_dir=data)
    station.status(lambda s: s.counters.samples_live_only >= 150, "samples shown live only")
    assert station.live() and all(m.recording is None for m in station.live())
    r1 = station.command("start").result["recording"]
    station.wait_for_samples(r1, 300)
    assert station.command("stop").ok
    before = station.status(lambda s: s.recording is None, "stopped").counters.samples_live_only
    station.status(lambda s: s.counters.samples_live_only >= before + 150, "live only again")
    final = stop_cleanly(station, agent)

    batches = station.batches()
    assert {b.recording for b in batches.values()} == {r1}
    seqs = sorted(seq for b in batches.values() for seq in b.columns.seq)
    assert seqs == list(range(len(seqs))), "no seq is spent on a sample that is not kept: no gap to count"
    assert final.counters.samples_in == len(seqs) + final.counters.samples_live_only
    assert not recording_path(data, session).exists(), "no session CSV either"
    sidecar, csv_path = sidecar_of(data, session, r1)
    assert read_csv(csv_path)[0] == seqs and sidecar.samples == len(seqs)


# --------------------------------------------------------------------------- a disk that fills up mid-recording


@pytest.fixture
def small_disk(tmp_path: Path):
    yield from small_disk_at(tmp_path / "disk", size_kb=16384)


def test_a_recording_whose_disk_fills_up_counts_every_sample_it_could_not_keep_in_its_sidecar(
    broker, start_agent, lab_devices, small_disk
):
    session = "rfull-" + uuid.uuid4().hex[:6]
    station = Station(broker, lab_devices, session)
    # No processor here: the outbox lets batches go on the broker's PUBACK at once (custody
    # fallback), so it does not fill the small disk again after it was freed.
    agent = start_agent("--session", session, "--frequency", "250", "--set", "status_interval_s=1",
                        "--set", "custody_fallback_s=0.5", data_dir=small_disk.path)
    station.status(lambda s: s.state == "tracking", "tracking")
    r1 = station.command("start", participant="P01").result["recording"]
    station.wait_for_samples(r1, 300)

    small_disk.fill()
    station.status(lambda s: any(w.startswith("local recording stopped") for w in s.warnings)
                   and any(w.startswith("recording sidecar not written") for w in s.warnings), "disk full")
    station.wait_for_samples(r1, station.samples_in(r1) + 500)  # the recording goes on in the batches
    small_disk.free()
    station.status(lambda s: not any(w.startswith(("local recording stopped", "recording sidecar not written"))
                                     for w in s.warnings) and s.counters.samples_not_recorded > 0, "disk back")
    station.wait_for_samples(r1, station.samples_in(r1) + 300)
    stopped = station.command("stop")
    assert stopped.ok
    stop_cleanly(station, agent)

    in_batches = sorted(seq for b in station.batches().values() if b.recording == r1 for seq in b.columns.seq)
    sidecar, csv_path = sidecar_of(small_disk.path, session, r1)
    in_file, _ = read_csv(csv_path)
    assert sidecar.state == "stopped"
    assert sidecar.samples == stopped.result["samples"] == len(in_batches), "the batches have every sample"
    assert sidecar.samples_in_file == len(in_file), "the sidecar counts the file's rows"
    assert in_file == sorted(set(in_file)) and set(in_file) < set(in_batches)
    assert sidecar.losses["samples_not_recorded"] == len(in_batches) - len(in_file) > 0
    gaps = [(before, after) for before, after in zip(in_file, in_file[1:]) if after > before + 1]
    assert gaps, "the samples the full disk refused are missing from the file ..."
    assert in_file[-1] > gaps[0][1], "... and the file resumed after them"
