"""The agent's recordings: a recording is one run of one participant on the
session, from a ``start`` command to a ``stop``.

:class:`Recordings` keeps the one running: its id, its CSV and JSON sidecar
(:mod:`gazewire.agent.recording_format`), its counts and what the agent lost
while it ran. It says where the rows of the samples go now (the recording's
CSV, the session's CSV of the samples between recordings, or nowhere) and, at
the agent's start, finalises a recording an earlier run left running as
``interrupted``: an agent that restarts does not resume a recording.

Runs on the agent's pipeline thread only. The agent numbers the samples and
ends a batch at every start and stop; this class never sees a sample, only
what the agent notes of each (:meth:`RunningRecording.note_sample`).
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazewire.agent.outputs.recording import Recording, count_rows, read_sidecar, write_sidecar
from gazewire.agent.recording_format import (
    AgentOfRecording,
    RecordingSidecar,
    file_stem,
    recording_id,
    recording_path,
    recordings_dir,
)
from gazewire.errors import GazewireError
from gazewire.wire.messages import DisplayArea, RecordingInfo, TrackerInfo, metadata_problem
from gazewire.wire.timeutil import iso_from_utc_us

log = logging.getLogger(__name__)

RUNNING_POINTER = ".running"  # in the session's recordings folder: the sidecar of the recording running
CHECKPOINT_S = 10.0  # how often a running recording's sidecar is brought up to date (and its CSV synced)


class CommandRefused(GazewireError):
    """A valid command the agent will not carry out now (``start`` while a
    recording runs, ``stop`` while none does, ...). The message says why; the
    ``code`` is the reply's code for programs, ``recording`` the running one
    that stands in the way, when there is one."""

    def __init__(self, message: str, *, code: str = "refused", recording: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.recording = recording


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """What a sidecar says about the agent and its tracker, as the agent knows them now."""

    version: str
    run: str
    host: str
    tracker: TrackerInfo | None
    display_area: DisplayArea | None
    clock_offset_us: int | None


@dataclass
class RunningRecording:
    id: str
    name: str | None
    participant: str | None
    metadata: dict[str, str]
    started_utc_us: int
    losses_at_start: dict[str, int]
    file: Recording | None = None  # None: the agent keeps no local files (record = false)
    sidecar_path: Path | None = None
    sidecar: RecordingSidecar | None = None
    first_seq: int | None = None
    last_seq: int | None = None
    samples: int = 0
    samples_invalid: int = 0
    markers: int = 0
    checkpoint_at: float = 0.0

    def note_sample(self, seq: int, valid: bool) -> None:
        self.note_samples(seq, 1, 0 if valid else 1)

    def note_samples(self, first_seq: int, count: int, invalid: int) -> None:
        """``count`` samples numbered from ``first_seq``, ``invalid`` of them with no valid eye."""
        if self.first_seq is None:
            self.first_seq = first_seq
        self.last_seq = first_seq + count - 1
        self.samples += count
        self.samples_invalid += invalid

    def info(self) -> RecordingInfo:
        return RecordingInfo(
            id=self.id, name=self.name, participant=self.participant, metadata=dict(self.metadata),
            started_utc=iso_from_utc_us(self.started_utc_us), samples=self.samples,
        )

    def result(self) -> dict[str, Any]:
        """The ``result`` of the ``start`` reply (``stop`` adds to it)."""
        return {
            "recording": self.id, "name": self.name, "participant": self.participant,
            "metadata": dict(self.metadata), "started_utc": iso_from_utc_us(self.started_utc_us),
        }

    def describe(self) -> str:
        return self.id + (f" (participant {self.participant})" if self.participant else "")


@dataclass(frozen=True, slots=True)
class EndedRecording:
    """A recording that ended: how, and when (the sample or moment it ended at)."""

    id: str
    participant: str | None
    state: str  # stopped or interrupted
    ended_utc_us: int
    how: str  # in words, for errors and warnings
    file: str | None = None

    def describe(self) -> str:
        return self.id + (f" (participant {self.participant})" if self.participant else "")


@dataclass
class _Losses:
    """Samples and markers the closed CSVs could not keep (their disks failed)."""

    samples: int = 0
    markers: int = 0
    last_error: str | None = None


class Recordings:
    def __init__(
        self,
        data_dir: Path,
        session: str,
        *,
        write_files: bool,
        keep_unrecorded: bool,
        facts: Callable[[], AgentFacts],
        losses: Callable[[], dict[str, int]],
        suffix: Callable[[], str] = lambda: secrets.token_hex(2),
        monotonic: Callable[[], float] = time.monotonic,
        checkpoint_s: float = CHECKPOINT_S,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.session = session
        self.directory = recordings_dir(self.data_dir, session)
        self.write_files = write_files
        self.keep_unrecorded = keep_unrecorded
        self._facts = facts
        self._losses = losses
        self._suffix = suffix
        self._monotonic = monotonic
        self.checkpoint_s = checkpoint_s
        self.running: RunningRecording | None = None
        self.last_ended: EndedRecording | None = None
        self.interrupted: list[EndedRecording] = []  # left running by an earlier run: announced until a start
        self.sidecar_error: str | None = None
        self._session_file: Recording | None = None
        self._closed = _Losses()

    # ------------------------------------------------------------------ where rows go

    @property
    def writer(self) -> Recording | None:
        """The CSV the rows of the samples (and markers) taken now go to, or None."""
        running = self.running
        if running is not None:
            return running.file
        if not (self.write_files and self.keep_unrecorded):
            return None
        if self._session_file is None:
            self._session_file = Recording(recording_path(self.data_dir, self.session))
        return self._session_file

    def samples_not_recorded(self) -> int:
        return self._closed.samples + sum(f.samples_lost for f in self._open_files())

    def markers_not_recorded(self) -> int:
        return self._closed.markers + sum(f.markers_lost for f in self._open_files())

    def last_disk_error(self) -> str | None:
        """The last failure of a disk under the local files, kept after they recovered."""
        for file in reversed(self._open_files()):
            if file.last_error:
                return file.last_error
        return self._closed.last_error

    def _open_files(self) -> list[Recording]:
        files = [self._session_file] if self._session_file is not None else []
        if self.running is not None and self.running.file is not None:
            files.append(self.running.file)
        return files

    # ------------------------------------------------------------------ commands

    def start(self, *, name: str | None, participant: str | None, metadata: dict[str, str] | None,
              utc_us: int) -> RunningRecording:
        self.check_not_running()
        rid = self._new_id(utc_us)
        recording = RunningRecording(
            id=rid, name=name, participant=participant, metadata=dict(metadata or {}),
            started_utc_us=utc_us, losses_at_start=self._losses(),
        )
        if self.write_files:
            stem = file_stem(rid, name)
            if self._session_file is not None:
                self._session_file.flush()
            recording.file = Recording(self.directory / f"{stem}.csv")
            recording.sidecar_path = self.directory / f"{stem}.json"
            self._write_sidecar(recording, state="recording")
            self._write_pointer(recording.sidecar_path.name)
        recording.checkpoint_at = self._monotonic() + self.checkpoint_s
        self.running = recording
        self.interrupted = []  # announced until now; the new recording says what matters
        log.info(
            "recording %s started%s%s%s", rid, f": {name!r}" if name else "",
            f", participant {participant}" if participant else "",
            f", file {recording.file.path}" if recording.file is not None else "",
        )
        return recording

    def stop(self, recording: str | None, *, utc_us: int) -> tuple[RunningRecording, EndedRecording]:
        running = self.check_running(recording)
        ended = self._end(running, state="stopped", how=f"stopped at {iso_from_utc_us(utc_us)}", utc_us=utc_us)
        self._remove_pointer()
        return running, ended

    def annotate(self, metadata: dict[str, str], recording: str | None) -> RunningRecording:
        running = self.check_running(recording)
        merged = {**running.metadata, **metadata}
        problem = metadata_problem(merged)
        if problem:
            raise CommandRefused(f"the merged metadata {problem}; nothing was merged")
        running.metadata = merged
        if running.sidecar_path is not None:
            self._write_sidecar(running, state="recording")
        return running

    def check_not_running(self) -> None:
        running = self.running
        if running is not None:
            raise CommandRefused(
                f"recording {running.describe()} is running; stop it first",
                code="already_recording", recording=running.id,
            )

    def check_running(self, recording: str | None) -> RunningRecording:
        """The running recording, if it is the one meant; raises CommandRefused saying why not."""
        running = self.running
        if running is None:
            last = self.last_ended
            if recording is not None and last is not None and last.id == recording:
                raise CommandRefused(f"recording {recording} is not running: it was {last.how}", code="not_recording")
            if recording is not None:
                raise CommandRefused(f"recording {recording} is not running (no recording is)", code="not_recording")
            if last is not None:
                raise CommandRefused(f"no recording is running (the last one, {last.describe()}, was {last.how})", code="not_recording")
            raise CommandRefused("no recording is running", code="not_recording")
        if recording is not None and recording != running.id:
            raise CommandRefused(
                f"recording {recording} is not running ({running.id} is)", code="not_recording", recording=running.id
            )
        return running

    # ------------------------------------------------------------------ the agent's lifecycle

    def recover(self) -> list[EndedRecording]:
        """At the agent's start: finalise every recording an earlier run left
        running (a crash: its sidecar still says ``recording``) and take note of
        one a clean shutdown interrupted. They are announced (:meth:`warnings`)
        until the next start. Never raises: a folder that cannot be read is
        logged."""
        if not self.write_files or not self.directory.is_dir():
            return []
        found: list[EndedRecording] = []
        pointer = self.directory / RUNNING_POINTER
        pointed = None
        try:
            pointed = pointer.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            pass
        except OSError as error:
            log.warning("cannot read %s: %s", pointer, error)
        try:
            sidecars = sorted(self.directory.glob("*.json"))
        except OSError as error:
            log.error("cannot list the recordings in %s: %s", self.directory, error)
            return []
        for path in sidecars:
            try:
                sidecar = read_sidecar(path)
            except (OSError, ValueError) as error:
                log.warning("%s is not a readable recording sidecar (%s); left as it is", path, error)
                continue
            if sidecar.state == "recording":
                sidecar = self._finalise_crashed(path, sidecar)
            elif path.name != pointed:
                continue
            found.append(EndedRecording(
                id=sidecar.recording, participant=sidecar.participant, state=sidecar.state,
                ended_utc_us=sidecar.stopped_utc_us or sidecar.started_utc_us, how=sidecar.ended or "interrupted",
                file=sidecar.csv,
            ))
        self._remove_pointer()
        for ended in found:
            log.warning("recording %s was %s", ended.describe(), ended.how)
        if found:
            self.last_ended = max(found, key=lambda e: e.id)
        self.interrupted = found
        return found

    def interrupt(self, how: str, utc_us: int) -> EndedRecording | None:
        """The agent stops while recording: end the recording as ``interrupted``. The
        pointer stays, so the next run announces it."""
        running = self.running
        if running is None:
            return None
        ended = self._end(running, state="interrupted", how=how, utc_us=utc_us)
        log.warning("recording %s %s", running.describe(), how)
        return ended

    def checkpoint(self) -> None:
        """Every ``checkpoint_s``: sync the running recording's CSV and bring its sidecar
        up to date, so that after a crash little is left to count."""
        running = self.running
        if running is None or running.sidecar_path is None or self._monotonic() < running.checkpoint_at:
            return
        running.checkpoint_at = self._monotonic() + self.checkpoint_s
        if running.file is not None:
            running.file.sync()
        self._write_sidecar(running, state="recording")

    def close(self) -> None:
        if self._session_file is not None:
            self._retire(self._session_file)
            self._session_file = None

    def warnings(self) -> list[str]:
        found = [
            f"recording {ended.describe()} was {ended.how}; a start command begins a new recording"
            for ended in self.interrupted
        ]
        if self.sidecar_error:
            found.append(f"recording sidecar not written: {self.sidecar_error}")
        return found

    # ------------------------------------------------------------------ internals

    def _new_id(self, utc_us: int) -> str:
        taken = {self.last_ended.id} if self.last_ended is not None else set()
        for _ in range(100):
            rid = recording_id(utc_us, self._suffix())
            if rid in taken:
                continue
            if self.write_files:
                try:
                    if any(self.directory.glob(f"{rid}*")):
                        continue
                except OSError:
                    pass
            return rid
        raise CommandRefused("no free recording id (100 tries)")  # pragma: no cover - 65536 per second

    def _end(self, running: RunningRecording, *, state: str, how: str, utc_us: int) -> EndedRecording:
        if running.file is not None:
            running.file.close()
        if running.sidecar_path is not None:
            self._write_sidecar(running, state=state, ended=how, stopped_utc_us=utc_us)
        if running.file is not None:
            self._retire(running.file)
        self.running = None
        ended = EndedRecording(
            id=running.id, participant=running.participant, state=state, ended_utc_us=utc_us, how=how,
            file=running.file.path.name if running.file is not None else None,
        )
        self.last_ended = ended
        log.info("recording %s %s: %d samples, %d markers", running.id, state, running.samples, running.markers)
        return ended

    def _retire(self, file: Recording) -> None:
        file.close()
        self._closed.samples += file.samples_lost
        self._closed.markers += file.markers_lost
        self._closed.last_error = file.last_error or self._closed.last_error

    def _sidecar_of(self, running: RunningRecording, *, state: str, ended: str | None,
                    stopped_utc_us: int | None) -> RecordingSidecar:
        facts = self._facts()
        now = self._losses()
        losses = {name: now[name] - running.losses_at_start.get(name, 0) for name in now}
        file = running.file
        losses["samples_not_recorded"] = file.samples_lost if file is not None else 0
        losses["markers_not_recorded"] = file.markers_lost if file is not None else 0
        tracker = facts.tracker
        return RecordingSidecar(
            recording=running.id, session=self.session, name=running.name, participant=running.participant,
            metadata=running.metadata, csv=file.path.name if file is not None else "",
            state=state, ended=ended,  # type: ignore[arg-type]
            agent=AgentOfRecording(version=facts.version, run=facts.run, host=facts.host),
            tracker=tracker, display_area=facts.display_area,
            frequency_hz=tracker.frequency_hz if tracker is not None else None,
            clock_offset_us=(running.sidecar.clock_offset_us if running.sidecar is not None else facts.clock_offset_us),
            started_utc=iso_from_utc_us(running.started_utc_us), started_utc_us=running.started_utc_us,
            stopped_utc=iso_from_utc_us(stopped_utc_us) if stopped_utc_us is not None else None,
            stopped_utc_us=stopped_utc_us, updated_utc=iso_from_utc_us(time.time_ns() // 1000),
            first_seq=running.first_seq, last_seq=running.last_seq,
            samples=running.samples, samples_invalid=running.samples_invalid, markers=running.markers,
            samples_in_file=file.samples_in_file if file is not None else 0,
            markers_in_file=file.markers_in_file if file is not None else 0,
            csv_bytes=file.size if file is not None else 0,
            losses=losses,
        )

    def _write_sidecar(self, running: RunningRecording, *, state: str, ended: str | None = None,
                       stopped_utc_us: int | None = None) -> None:
        assert running.sidecar_path is not None
        sidecar = self._sidecar_of(running, state=state, ended=ended, stopped_utc_us=stopped_utc_us)
        if running.sidecar is None:
            running.sidecar = sidecar
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_sidecar(running.sidecar_path, sidecar)
        except OSError as error:
            text = f"{running.sidecar_path}: {error.strerror or error}"
            if self.sidecar_error is None:
                log.error("cannot write the recording's sidecar %s; trying again in %g s", text, self.checkpoint_s)
            self.sidecar_error = text
            return
        running.sidecar = sidecar
        if self.sidecar_error is not None:
            log.warning("recording sidecar %s written again", running.sidecar_path)
            self.sidecar_error = None

    def _finalise_crashed(self, path: Path, sidecar: RecordingSidecar) -> RecordingSidecar:
        """A sidecar still ``recording`` at start: its agent stopped without ending it.
        Count the rows its CSV gained since the sidecar was written, cut off a torn
        last row, and end it as ``interrupted`` at its last row."""
        csv_path = path.with_name(sidecar.csv) if sidecar.csv else None
        update: dict[str, Any] = {"state": "interrupted"}
        last_utc_us = None
        if csv_path is not None and csv_path.is_file():
            try:
                size = csv_path.stat().st_size
                resume = 0 < sidecar.csv_bytes <= size
                counted = count_rows(csv_path, sidecar.csv_bytes if resume else 0)
                samples = counted.samples + (sidecar.samples_in_file if resume else 0)
                markers = counted.markers + (sidecar.markers_in_file if resume else 0)
                if counted.torn:
                    os.truncate(csv_path, counted.end)
                    log.warning("%s ended in a torn row (a write cut off): cut back to whole rows", csv_path)
                first = sidecar.first_seq
                if first is None and samples:
                    first = count_first_seq(csv_path)
                last = counted.last_seq if counted.last_seq is not None else sidecar.last_seq
                total = (last - first + 1) if first is not None and last is not None else samples
                invalid = counted.samples_invalid + (sidecar.samples_invalid if resume else 0)
                losses = dict(sidecar.losses)
                losses["samples_not_recorded"] = max(0, total - samples)
                last_utc_us = counted.last_utc_us
                update.update(
                    samples_in_file=samples, markers_in_file=markers, samples=max(total, samples),
                    markers=max(sidecar.markers, markers), samples_invalid=invalid, first_seq=first, last_seq=last,
                    csv_bytes=counted.end, losses=losses,
                )
            except (OSError, ValueError) as error:
                log.error("cannot count the rows of %s (%s); its sidecar keeps the counts it had", csv_path, error)
        stopped = last_utc_us or utc_us_of(sidecar.updated_utc) or sidecar.started_utc_us
        update.update(
            stopped_utc_us=stopped, stopped_utc=iso_from_utc_us(stopped),
            ended=f"interrupted: the agent stopped without ending it (a crash, a kill or a power loss); "
            f"it ends at its last row, {iso_from_utc_us(stopped)}",
            updated_utc=iso_from_utc_us(time.time_ns() // 1000),
        )
        final = sidecar.model_copy(update=update)
        try:
            write_sidecar(path, final)
        except OSError as error:
            log.error("cannot finalise %s: %s", path, error)
        return final

    def _write_pointer(self, name: str) -> None:
        pointer = self.directory / RUNNING_POINTER
        try:
            temporary = pointer.with_name(pointer.name + ".tmp")
            temporary.write_text(name + "\n", encoding="utf-8")
            os.replace(temporary, pointer)
        except OSError as error:
            log.warning("cannot note the running recording in %s: %s", pointer, error)

    def _remove_pointer(self) -> None:
        try:
            (self.directory / RUNNING_POINTER).unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot remove %s: %s", self.directory / RUNNING_POINTER, error)


def count_first_seq(path: Path) -> int | None:
    """The ``seq`` of a CSV's first sample row."""
    import csv

    with Path(path).open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            if row and row[0] == "gaze":
                return int(row[1])
    return None


def utc_us_of(text: str | None) -> int | None:
    from gazewire.wire.timeutil import utc_us_from_iso

    if not text:
        return None
    try:
        return utc_us_from_iso(text)
    except ValueError:
        return None
