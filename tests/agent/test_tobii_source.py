"""TobiiTracker against a fake ``tobii_research`` module.

No eye tracker can be attached to the machines these tests run on, and
tobii-research 2.1.0 only installs on CPython 3.10, so the SDK is replaced by
a fake module injected with ``monkeypatch.setitem(sys.modules,
"tobii_research", fake)``. This is a mock only because the hardware cannot be
attached here; the fake (tests/support/fake_tobii.py) follows the documented
API of tobii-research 2.1.0 closely, and the gaze dictionaries have exactly the
keys of agent/inputs/sdk.py.

Synchronisation with the supervisor thread uses threading.Event objects set by
the recording events object, never sleeps.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from gazewire.agent.inputs import tobii
from gazewire.agent.inputs.base import TrackerError, TrackerState
from gazewire.agent.inputs.sdk import GAZE_KEYS, GazeDict, invalid_gaze, missing_keys
from gazewire.agent.inputs.tobii import (
    NO_TRACKERS_MESSAGE,
    TobiiTracker,
    TrackerDescription,
    find_trackers,
    format_tracker_list,
    missing_sdk_message,
)
from gazewire.wire.messages import DisplayArea, TrackerInfo
from tests.support.fake_tobii import (
    GAZE,
    STREAM_ERRORS,
    LOST,
    RESTORED,
    FREQUENCY_CHANGED,
    DISPLAY_AREA_CHANGED,
    BUFFER_OVERFLOW,
    FakeDisplayArea,
    FakeEyeTracker,
    FakeNetwork,
    fake_sdk,
)

WAIT_S = 3.0


# --------------------------------------------------------------------------- recording events


class Recorder:
    """A TrackerEvents that records calls and sets Events when conditions hold."""

    def __init__(self) -> None:
        self.samples: list[GazeDict] = []
        self.states: list[tuple[TrackerState, str | None]] = []
        self.infos: list[tuple[TrackerInfo, DisplayArea | None]] = []
        self._lock = threading.Lock()
        self._waits: list[tuple[Callable[[], bool], threading.Event]] = []

    def when(self, condition: Callable[[Recorder], bool]) -> threading.Event:
        event = threading.Event()
        with self._lock:
            self._waits.append((lambda: condition(self), event))
            self._check()
        return event

    def wait(self, condition: Callable[[Recorder], bool]) -> None:
        assert self.when(condition).wait(WAIT_S), f"timed out; states so far: {self.states}"

    def _check(self) -> None:
        for condition, event in self._waits:
            if not event.is_set() and condition():
                event.set()

    def gaze(self, sample: GazeDict) -> None:
        self.samples.append(sample)

    def tracker_state(self, state: TrackerState, detail: str | None = None) -> None:
        with self._lock:
            self.states.append((state, detail))
            self._check()

    def tracker_info(self, info: TrackerInfo, display_area: DisplayArea | None) -> None:
        with self._lock:
            self.infos.append((info, display_area))
            self._check()

    def marker(self, name: str, system_time_us: int) -> None:
        raise AssertionError("a live tracker reports no markers")

    @property
    def last_state(self) -> TrackerState | None:
        return self.states[-1][0] if self.states else None


def count(state: TrackerState) -> Callable[[Recorder], int]:
    return lambda r: sum(1 for s, _ in r.states if s is state)


def tracking(r: Recorder) -> bool:
    return count(TrackerState.TRACKING)(r) >= 1


def valid_sample(n: int) -> GazeDict:
    sample = invalid_gaze(1000 * n, 2000 * n)
    sample.update(
        left_gaze_point_on_display_area=(0.4, 0.5),
        left_gaze_point_validity=1,
        left_pupil_diameter=3.1,
        left_pupil_validity=1,
        left_gaze_origin_in_user_coordinate_system=(-30.0, 5.0, 620.0),
        left_gaze_origin_validity=1,
    )
    return sample


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    net = FakeNetwork()
    monkeypatch.setitem(sys.modules, "tobii_research", fake_sdk(net))
    return net


@pytest.fixture
def sources() -> Any:
    started: list[TobiiTracker] = []
    yield started
    for source in started:
        source.stop()


def supervisor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tobii-supervisor"]


def started(sources: list[TobiiTracker], recorder: Recorder, **kwargs: Any) -> TobiiTracker:
    source = TobiiTracker(**kwargs)
    sources.append(source)
    source.start(recorder)
    return source


# --------------------------------------------------------------------------- tests


def test_waits_with_capped_backoff_then_tracks_the_lowest_serial(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    recorder = Recorder()
    started(sources, recorder, retry_initial_s=0.02, retry_max_s=0.08)

    recorder.wait(lambda r: count(TrackerState.WAITING)(r) >= 5)
    waiting = [detail or "" for state, detail in recorder.states if state is TrackerState.WAITING]
    delays = ["0.02", "0.04", "0.08", "0.08", "0.08"]
    for detail, delay in zip(waiting, delays):
        assert "no eye tracker found" in detail
        assert f"retrying in {delay} s" in detail
    gaps = [b - a for a, b in zip(network.searches, network.searches[1:])]
    assert all(gap >= float(d) * 0.9 for gap, d in zip(gaps, delays))
    assert recorder.infos == []

    network.trackers += [FakeEyeTracker("TPSP1-0001"), FakeEyeTracker("TPSP1-0002")]
    recorder.wait(tracking)

    assert recorder.last_state is TrackerState.TRACKING
    info, area = recorder.infos[-1]
    assert info.serial == "TPSP1-0001"  # chosen by serial although the SDK listed it second
    assert info.model == "Tobii Pro Spectrum"
    assert info.address == "tobii-prp://TPSP1-0001"
    assert info.frequency_hz == 60.0
    assert info.source == "tobii"
    assert area is not None
    assert (area.width_mm, area.height_mm) == pytest.approx((527.0, 296.0))
    chosen, other = network.trackers
    assert chosen.subscriptions()[GAZE] is True  # as_dictionary=True
    assert {LOST, RESTORED, STREAM_ERRORS, BUFFER_OVERFLOW} <= set(chosen.subscriptions())
    assert other.subscriptions() == {}


def test_by_address_waits_while_connecting_fails(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    recorder = Recorder()
    tracker = FakeEyeTracker("TPSP1-0007")
    started(sources, recorder, address=tracker.address, retry_initial_s=0.01, retry_max_s=0.01)

    recorder.wait(lambda r: count(TrackerState.WAITING)(r) >= 2)
    assert "EyeTrackerConnectionFailedError" in (recorder.states[0][1] or "")
    assert network.searches == []  # an address is connected to directly

    network.trackers.append(tracker)
    recorder.wait(tracking)
    assert recorder.infos[-1][0].serial == "TPSP1-0007"


def test_failed_subscription_is_rolled_back_and_retried(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0003")
    tracker.refuse_gaze_subscriptions = 1  # e.g. another application is streaming
    network.trackers.append(tracker)
    recorder = Recorder()
    started(sources, recorder, retry_initial_s=0.01)

    recorder.wait(tracking)
    first_waiting = next(d for s, d in recorder.states if s is TrackerState.WAITING)
    assert "EyeTrackerInvalidOperationError" in (first_waiting or "")
    assert GAZE in tracker.subscriptions()  # the second attempt subscribed without duplicates


def test_stop_interrupts_the_backoff_at_once(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    recorder = Recorder()
    source = started(sources, recorder, retry_initial_s=30.0, retry_max_s=30.0)
    recorder.wait(count(TrackerState.WAITING))

    begin = time.monotonic()
    source.stop()
    assert time.monotonic() - begin < 1.0
    assert supervisor_threads() == []


def test_requested_frequency_is_set_when_supported(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0004", frequencies=(60.0, 120.0, 250.0), frequency=60.0)
    network.trackers.append(tracker)
    recorder = Recorder()
    started(sources, recorder, frequency_hz=120)

    recorder.wait(tracking)
    assert tracker.set_calls == [120.0]
    assert recorder.infos[0][0].frequency_hz == 120.0


def test_unsupported_frequency_warns_and_keeps_the_current_one(
    network: FakeNetwork, sources: list[TobiiTracker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gazewire.agent.inputs.tobii")
    tracker = FakeEyeTracker("TPSP1-0005", frequencies=(60.0, 120.0, 250.0), frequency=60.0)
    network.trackers.append(tracker)
    recorder = Recorder()
    source = started(sources, recorder, frequency_hz=300)

    recorder.wait(tracking)
    assert tracker.set_calls == []
    assert recorder.infos[0][0].frequency_hz == 60.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("300 Hz" in m and "60, 120, 250" in m and "keeping 60 Hz" in m for m in warnings)
    assert source.warnings() == [
        "eye tracker TPSP1-0005 does not support 300 Hz (supported: 60, 120, 250); keeping 60 Hz"
    ], "the agent's status says it too"


def test_connection_lost_and_restored_map_to_states(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0006")
    network.trackers.append(tracker)
    recorder = Recorder()
    source = started(sources, recorder)
    recorder.wait(tracking)

    tracker.notify(LOST)
    assert recorder.last_state is TrackerState.LOST
    tracker.notify(RESTORED)
    assert recorder.last_state is TrackerState.TRACKING
    assert source.connection_losses == 1


def test_changes_are_re_reported_and_stream_problems_counted(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0008")
    network.trackers.append(tracker)
    recorder = Recorder()
    source = started(sources, recorder)
    recorder.wait(tracking)

    tracker.frequency = 250.0
    tracker.notify(FREQUENCY_CHANGED, gaze_output_frequency=250.0)
    recorder.wait(lambda r: r.infos[-1][0].frequency_hz == 250.0)

    tracker.display = FakeDisplayArea(600.0, 340.0)
    corners = {k: getattr(tracker.display, k) for k in ("top_left", "top_right", "bottom_left")}
    tracker.notify(DISPLAY_AREA_CHANGED, display_area=corners)
    recorder.wait(lambda r: r.infos[-1][1] == DisplayArea(width_mm=600.0, height_mm=340.0))

    tracker.emit_stream_error("stream_error_connection_lost", "stream_error_source_gaze_data", "x")
    tracker.emit_stream_error("stream_error_connection_lost", "stream_error_source_gaze_data", "x")
    tracker.notify(BUFFER_OVERFLOW, notification_source_stream="gaze data")
    assert (source.stream_errors, source.buffer_overflows) == (2, 1)
    assert recorder.last_state is TrackerState.TRACKING


def test_gaze_samples_are_forwarded_unchanged(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0009")
    network.trackers.append(tracker)
    recorder = Recorder()
    started(sources, recorder)
    recorder.wait(tracking)

    originals = [valid_sample(1), invalid_gaze(2000, 4000), valid_sample(3)]
    for sample in originals:
        tracker.emit_gaze(sample)

    assert len(recorder.samples) == 3
    for got, delivered, original in zip(recorder.samples, tracker.delivered, originals):
        assert got is delivered  # neither copied nor converted
        assert missing_keys(got) == []
        assert set(got) == set(GAZE_KEYS)
        assert got["system_time_stamp"] == original["system_time_stamp"]
        assert got["left_gaze_point_on_display_area"] == original["left_gaze_point_on_display_area"]
        assert got["left_pupil_validity"] == original["left_pupil_validity"]


def test_stop_unsubscribes_and_start_works_again(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0010")
    network.trackers.append(tracker)
    first = Recorder()
    source = started(sources, first)
    first.wait(tracking)
    assert tracker.subscriptions()

    source.stop()
    assert tracker.subscriptions() == {}
    assert supervisor_threads() == []
    tracker.emit_gaze(valid_sample(1))
    assert first.samples == []

    second = Recorder()
    source.start(second)  # duplicate subscriptions would raise in subscribe_to
    second.wait(tracking)
    assert not any(state is TrackerState.WAITING for state, _ in second.states)
    tracker.emit_gaze(valid_sample(2))
    assert len(second.samples) == 1
    assert first.samples == []

    source.stop()
    source.stop()  # idempotent
    assert tracker.subscriptions() == {}


def test_system_time_comes_from_the_sdk_clock(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    calls: list[int] = []
    sdk = sys.modules["tobii_research"]
    sdk.get_system_time_stamp = lambda: calls.append(1) or 123_456_789  # type: ignore[attr-defined]
    source = started(sources, Recorder(), retry_initial_s=30.0)
    assert source.system_time_us() == 123_456_789
    assert calls == [1]


def test_find_trackers_and_format_tracker_list(network: FakeNetwork) -> None:
    assert find_trackers() == []
    assert format_tracker_list([]) == NO_TRACKERS_MESSAGE

    network.trackers += [
        FakeEyeTracker("TPNA1-0011", model="Tobii Pro Nano", frequencies=(60.0,)),
        FakeEyeTracker("TPSP1-0012", frequencies=(60.0, 120.0, 1200.0), frequency=1200.0),
    ]
    found = find_trackers()
    assert [t.serial for t in found] == ["TPNA1-0011", "TPSP1-0012"]
    assert found[1] == TrackerDescription(
        address="tobii-prp://TPSP1-0012",
        model="Tobii Pro Spectrum",
        serial="TPSP1-0012",
        name="Spectrum TPSP1-0012",
        firmware="2.6.1",
        frequency_hz=1200.0,
        frequencies_hz=(60.0, 120.0, 1200.0),
    )
    table = format_tracker_list(found).splitlines()
    assert table[0].split()[:2] == ["Serial", "Model"]
    assert "TPNA1-0011" in table[2] and "Tobii Pro Nano" in table[2]
    assert "60, 120, 1200" in table[3]


def test_find_trackers_repeats_the_search_until_the_timeout_hint(
    network: FakeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tobii, "SEARCH_INTERVAL_S", 0.05)
    begin = time.monotonic()
    assert find_trackers(timeout_hint=0.3) == []
    assert 0.3 <= time.monotonic() - begin < 1.0
    assert 2 <= len(network.searches) <= 8  # paced, not a busy loop

    network.searches.clear()
    network.arrivals[3] = FakeEyeTracker("TPSP1-0013")
    found = find_trackers(timeout_hint=5.0)
    assert [t.serial for t in found] == ["TPSP1-0013"]
    assert len(network.searches) == 3


def test_missing_sdk_error_explains_python_3_10(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tobii_research", None)  # import now raises ImportError
    this = f"{sys.version_info[0]}.{sys.version_info[1]}"

    with pytest.raises(TrackerError) as raised:
        TobiiTracker().start(Recorder())
    message = str(raised.value)
    if sys.version_info[:2] == (3, 10):
        assert "pip install 'gazewire[tobii]'" in message
    else:
        assert f"Python {this}" in message
        assert "only for CPython 3.10" in message
        assert "gazewire[tobii]" in message
    assert supervisor_threads() == []
    with pytest.raises(TrackerError):
        find_trackers()


def test_missing_sdk_messages_for_both_cases() -> None:
    other = missing_sdk_message((3, 12), ModuleNotFoundError("tobii_research"))
    assert "Python 3.12" in other
    assert "wheels only for CPython 3.10 (Windows x64, Linux x86_64, macOS)" in other
    assert "under Python 3.10" in other
    same = missing_sdk_message((3, 10), ModuleNotFoundError("tobii_research"))
    assert "pip install 'gazewire[tobii]'" in same
    broken = missing_sdk_message((3, 10), ImportError("libtobii_research.so: cannot open"))
    assert "libtobii_research.so" in broken


def test_a_tracker_is_chosen_by_serial_and_what_was_found_is_logged_once(
    network: FakeNetwork, sources: list[TobiiTracker], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gazewire.agent.inputs.tobii")
    network.trackers += [FakeEyeTracker("TPSP1-0001"), FakeEyeTracker("TPSP1-0002")]
    recorder = Recorder()
    source = started(sources, recorder, serial="TPSP1-0003", retry_initial_s=0.01, retry_max_s=0.01)

    recorder.wait(lambda r: count(TrackerState.WAITING)(r) >= 3)
    detail = recorder.states[0][1] or ""
    assert detail.startswith("eye tracker TPSP1-0003 not found (found: TPSP1-0001, TPSP1-0002)")
    network.trackers.append(FakeEyeTracker("TPSP1-0003"))
    recorder.wait(tracking)
    assert recorder.infos[-1][0].serial == "TPSP1-0003"
    assert [t.subscriptions() == {} for t in network.trackers] == [True, True, False]
    found = [r.getMessage() for r in caplog.records if r.getMessage().startswith("found ")]
    assert len(found) == 2, "once per change in what was found, not per retry"
    assert found[0].endswith("none of them is tracker_serial")
    assert "found 3 eye trackers: TPSP1-0001 (Tobii Pro Spectrum, tobii-prp://TPSP1-0001)" in found[1]
    assert found[1].endswith("using TPSP1-0003 (its serial number, tracker_serial)")
    assert source.warnings() == []


def test_with_several_trackers_and_none_chosen_the_status_says_which_was_taken(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    network.trackers += [FakeEyeTracker("TPSP1-0002"), FakeEyeTracker("TPSP1-0001")]
    recorder = Recorder()
    source = started(sources, recorder)
    recorder.wait(tracking)
    assert source.warnings() == [
        "2 eye trackers found (TPSP1-0001, TPSP1-0002); using TPSP1-0001, the lowest serial number: "
        "set tracker_serial to choose"
    ]


def test_a_connection_the_sdk_does_not_restore_is_dropped_and_the_tracker_found_again(
    network: FakeNetwork, sources: list[TobiiTracker]
) -> None:
    tracker = FakeEyeTracker("TPSP1-0015")
    network.trackers.append(tracker)
    recorder = Recorder()
    source = started(sources, recorder, retry_initial_s=0.01, retry_max_s=0.01, lost_timeout_s=0.2)
    recorder.wait(tracking)

    network.trackers.remove(tracker)  # unplugged: the SDK reports the loss and never a restore
    tracker.notify(LOST)
    recorder.wait(lambda r: count(TrackerState.LOST)(r) >= 2 and r.last_state is TrackerState.WAITING)
    lost = [detail for state, detail in recorder.states if state is TrackerState.LOST]
    assert lost == [
        "the SDK reported the connection to the tracker lost",
        "connection lost for 0.2 s; searching for the tracker again",
    ]
    assert tracker.subscriptions() == {}, "the dead connection's subscriptions are dropped"

    network.trackers.append(tracker)  # plugged in again
    recorder.wait(lambda r: count(TrackerState.TRACKING)(r) >= 2)
    assert GAZE in tracker.subscriptions()
    tracker.emit_gaze(valid_sample(1))
    assert len(recorder.samples) == 1
    assert source.connection_losses == 1


def test_a_restored_connection_keeps_the_subscriptions(network: FakeNetwork, sources: list[TobiiTracker]) -> None:
    tracker = FakeEyeTracker("TPSP1-0016")
    network.trackers.append(tracker)
    recorder = Recorder()
    started(sources, recorder, lost_timeout_s=30.0)
    recorder.wait(tracking)
    searches = len(network.searches)
    tracker.notify(LOST)
    tracker.notify(RESTORED)
    assert recorder.states[-1] == (TrackerState.TRACKING, None), "no stale 'connection restored' reason"
    tracker.emit_gaze(valid_sample(1))
    assert len(recorder.samples) == 1 and len(network.searches) == searches
