"""The real eye tracker, through the Tobii Pro SDK (``tobii_research``).

The SDK is imported lazily (:func:`load_sdk`), so this module imports on any
Python; tobii-research 2.1.0 only installs on CPython 3.10. See
../shared/reference/tobii-research-sdk.md.

:class:`TobiiTracker` runs one daemon supervisor thread. It looks for the
tracker (by address, by serial number, or the lowest serial found), retrying
with capped exponential backoff while none is there (``waiting_for_tracker``),
then configures it, reports its description and subscribes to gaze data and
notifications. A connection the SDK reports lost and does not restore within
``lost_timeout_s`` is dropped and the tracker searched for again. The SDK
calls the callbacks on its own thread: they only hand the dictionary on,
count, or wake the supervisor; everything that talks to the tracker again runs
on the supervisor thread.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gazewire.agent.inputs.base import TrackerError, TrackerEvents, TrackerSource, TrackerState
from gazewire.agent.inputs.sdk import GazeDict
from gazewire.wire.messages import DisplayArea, TrackerInfo

logger = logging.getLogger(__name__)

SDK_MODULE = "tobii_research"
SDK_VERSION = "2.1.0"
SUPPORTED_PYTHON = (3, 10)
JOIN_TIMEOUT_S = 10.0
SEARCH_INTERVAL_S = 0.5  # between repeated searches in find_trackers(timeout_hint=...)
NO_TRACKERS_MESSAGE = (
    "No eye trackers found. Check that the tracker is connected and powered, that (on Linux) "
    "avahi-daemon runs for network trackers, and that no other application is streaming from it."
)

Callback = Callable[[dict[str, Any]], None]


# --------------------------------------------------------------------------- the SDK


def load_sdk() -> ModuleType:
    """Import ``tobii_research``; raise :class:`TrackerError` saying how to get it."""
    try:
        import tobii_research
    except (ImportError, OSError) as error:  # OSError: the native library failed to load
        raise TrackerError(missing_sdk_message(sys.version_info[:2], error)) from error
    return tobii_research


def missing_sdk_message(python: tuple[int, int], error: BaseException | None = None) -> str:
    """Why the SDK cannot be imported on ``python`` (major, minor) and what to do."""
    this = f"{python[0]}.{python[1]}"
    if tuple(python) != SUPPORTED_PYTHON:
        return (
            f"The Tobii Pro SDK (tobii_research) is not available on Python {this}: "
            f"tobii-research {SDK_VERSION} has wheels only for CPython 3.10 (Windows x64, "
            "Linux x86_64, macOS). Install gazewire[tobii] under Python 3.10, e.g. "
            "python3.10 -m pip install 'gazewire[tobii]', or use the simulated tracker."
        )
    message = (
        "The Tobii Pro SDK (tobii_research) cannot be imported: pip install 'gazewire[tobii]' "
        "(CPython 3.10 on Windows x64, Linux x86_64 or macOS)."
    )
    if error is not None and not isinstance(error, ModuleNotFoundError):
        message += f" Import error: {error}"
    return message


def sdk_errors(tr: ModuleType) -> tuple[type[Exception], ...]:
    """What the SDK raises: its own ``EyeTracker*Error`` classes (they share no
    base class) and ``ValueError`` (invalid or out-of-bounds parameters)."""
    own = [
        value
        for name, value in vars(tr).items()
        if name.endswith("Error") and isinstance(value, type) and issubclass(value, Exception)
    ]
    return (*own, ValueError)


def _by_serial(trackers: Iterable[Any]) -> list[Any]:
    """Trackers in a stable order: the SDK's order changes from call to call."""
    return sorted(trackers, key=lambda et: (str(et.serial_number or ""), str(et.address or "")))


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class TrackerDescription:
    """One tracker found on this computer or the network, as plain data."""

    address: str
    model: str | None
    serial: str | None
    name: str | None
    firmware: str | None
    frequency_hz: float | None
    frequencies_hz: tuple[float, ...] = ()

    def to_info(self) -> TrackerInfo:
        return TrackerInfo(
            model=self.model,
            serial=self.serial,
            address=self.address,
            name=self.name,
            firmware=self.firmware,
            frequency_hz=self.frequency_hz,
            source="tobii",
        )


def describe(et: Any, errors: tuple[type[Exception], ...] = ()) -> TrackerDescription:
    """Describe an SDK ``EyeTracker``; the frequencies are left out when reading
    them raises one of ``errors`` (see :func:`sdk_errors`)."""
    frequency: float | None = None
    frequencies: tuple[float, ...] = ()
    try:
        frequency = float(et.get_gaze_output_frequency())
        frequencies = tuple(float(hz) for hz in et.get_all_gaze_output_frequencies())
    except errors as error:
        logger.debug("cannot read the frequencies of %s: %s", et.address, error)
    return TrackerDescription(
        address=str(et.address),
        model=et.model,
        serial=et.serial_number,
        name=et.device_name,
        firmware=et.firmware_version,
        frequency_hz=frequency,
        frequencies_hz=frequencies,
    )


def find_trackers(timeout_hint: float | None = None) -> list[TrackerDescription]:
    """Every tracker the SDK finds, ordered by serial number.

    The first SDK search in a process takes about 2 s (it cannot be
    shortened); later ones return at once with what the SDK's discovery has
    seen since. With ``timeout_hint`` (seconds), the search is repeated every
    ``SEARCH_INTERVAL_S`` until a tracker is found or that much time has
    passed (mDNS answers can be slow).
    Raises :class:`TrackerError` when the SDK is missing or the search fails.
    """
    tr = load_sdk()
    errors = sdk_errors(tr)
    deadline = time.monotonic() + (timeout_hint or 0.0)
    while True:
        try:
            found = tr.find_all_eyetrackers()
        except errors as error:
            raise TrackerError(f"searching for eye trackers failed: {error}") from error
        left = deadline - time.monotonic()
        if found or left <= 0:
            return [describe(et, errors) for et in _by_serial(found)]
        time.sleep(min(SEARCH_INTERVAL_S, left))


def _hz(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def format_tracker_list(trackers: Sequence[TrackerDescription]) -> str:
    """A readable table of ``trackers``, or what to check when there are none."""
    if not trackers:
        return NO_TRACKERS_MESSAGE
    header = ("Serial", "Model", "Name", "Address", "Firmware", "Hz", "Supported Hz")
    rows = [
        (
            t.serial or "-",
            t.model or "-",
            t.name or "-",
            t.address,
            t.firmware or "-",
            _hz(t.frequency_hz),
            ", ".join(_hz(hz) for hz in t.frequencies_hz) or "-",
        )
        for t in trackers
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
        for row in (header, *rows)
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def choose_frequency(requested: float, supported: Iterable[float]) -> float | None:
    """The supported frequency equal to ``requested`` (within rounding), else None."""
    for hz in supported:
        if math.isclose(float(hz), requested, rel_tol=1e-3, abs_tol=0.01):
            return float(hz)
    return None


def display_area_of(area: Any) -> DisplayArea | None:
    """The SDK's display area (``.width``/``.height`` mm) as a message; None if unusable."""
    try:
        width, height = float(area.width), float(area.height)
    except (AttributeError, TypeError, ValueError):
        return None
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        return None
    return DisplayArea(width_mm=width, height_mm=height)


# --------------------------------------------------------------------------- the source


class TobiiTracker(TrackerSource):
    """Gaze from a Tobii Pro tracker, found by ``address``, by ``serial``, or
    the lowest serial number found.

    Counters (read by the agent's status): ``stream_errors``,
    ``buffer_overflows``, ``callback_errors``, ``connection_losses``;
    :meth:`warnings` says what the agent's status should.
    """

    name = "tobii"

    def __init__(
        self,
        address: str | None = None,
        frequency_hz: float | None = None,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 30.0,
        serial: str | None = None,
        lost_timeout_s: float = 10.0,
    ) -> None:
        if frequency_hz is not None and not (math.isfinite(frequency_hz) and frequency_hz > 0):
            raise TrackerError(f"frequency_hz must be a positive number, not {frequency_hz!r}")
        if not (retry_initial_s > 0 and retry_max_s >= retry_initial_s):
            raise TrackerError("need 0 < retry_initial_s <= retry_max_s")
        if not lost_timeout_s > 0:
            raise TrackerError(f"lost_timeout_s must be > 0, not {lost_timeout_s!r}")
        if address is not None and serial is not None:
            raise TrackerError("give the tracker's address or its serial number, not both")
        self.address = address
        self.serial = serial
        self.frequency_hz = frequency_hz
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.lost_timeout_s = lost_timeout_s

        self.stream_errors = 0
        self.buffer_overflows = 0
        self.callback_errors = 0
        self.connection_losses = 0

        self._sdk: ModuleType | None = None
        self._errors: tuple[type[Exception], ...] = (ValueError,)
        self._events: TrackerEvents | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        # Guards _tracker/_subscriptions between the supervisor and stop().
        # Never taken in an SDK callback: the SDK runs callbacks holding its own
        # lock, which unsubscribe_from takes too.
        self._lock = threading.Lock()
        self._tracker: Any = None
        self._subscriptions: list[tuple[str, Callback]] = []
        self._info: TrackerInfo | None = None
        self._display_area: DisplayArea | None = None
        self._pending_frequency: float | None = None
        self._lost_at: float | None = None  # monotonic time the SDK reported the connection lost
        self._found: tuple[str, ...] = ()  # serials of the trackers last found, as logged
        self._choice_warning: str | None = None
        self._frequency_warning: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, events: TrackerEvents) -> None:
        """Load the SDK (raises :class:`TrackerError` if missing) and start the supervisor."""
        if self._thread is not None and self._thread.is_alive():
            raise TrackerError("the Tobii tracker source is already running")
        self._sdk = load_sdk()
        self._errors = sdk_errors(self._sdk)
        self._events = events
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(
            target=self._supervise,
            args=(self._sdk, events, self._stop, self._wake),
            name="tobii-supervisor",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the supervisor, unsubscribe everything, join. Safe to call twice."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(JOIN_TIMEOUT_S)
            if thread.is_alive():
                logger.warning("the Tobii supervisor did not stop within %.0f s", JOIN_TIMEOUT_S)
        self._detach()

    def system_time_us(self) -> int:
        """``tobii_research.get_system_time_stamp()`` once the SDK is loaded: the samples' clock."""
        if self._sdk is not None:
            return int(self._sdk.get_system_time_stamp())
        return super().system_time_us()

    @property
    def tracker_info(self) -> TrackerInfo | None:
        """The last description reported, None before a tracker was found."""
        return self._info

    @property
    def connected(self) -> bool:
        return self._tracker is not None

    def warnings(self) -> list[str]:
        return [w for w in (self._choice_warning, self._frequency_warning) if w]

    # ------------------------------------------------------------------ supervisor

    def _supervise(
        self,
        tr: ModuleType,
        events: TrackerEvents,
        stop: threading.Event,
        wake: threading.Event,
    ) -> None:
        try:
            delay = self.retry_initial_s
            attempt = 0
            while not stop.is_set():
                attempt += 1
                problem = self._connect(tr, events, stop)
                if problem is None:
                    if stop.is_set():
                        break
                    events.tracker_state(TrackerState.TRACKING)
                    self._serve(events, stop, wake)
                    if stop.is_set():
                        break
                    # Lost, and the SDK did not restore it: search again, from the start.
                    detail = f"connection lost for {self.lost_timeout_s:g} s; searching for the tracker again"
                    logger.warning("eye tracker %s", detail)
                    self._detach()
                    events.tracker_state(TrackerState.LOST, detail)
                    delay, attempt = self.retry_initial_s, 0
                    continue
                detail = f"{problem}; attempt {attempt}, retrying in {delay:g} s"
                logger.info("waiting for the eye tracker: %s", detail)
                events.tracker_state(TrackerState.WAITING, detail)
                if stop.wait(delay):
                    break
                delay = min(delay * 2, self.retry_max_s)
        except Exception:
            logger.exception("the Tobii supervisor failed; the tracker source has stopped")
        finally:
            if self._stop is stop:  # not when a newer start() replaced this run
                self._detach()

    def _connect(self, tr: ModuleType, events: TrackerEvents, stop: threading.Event) -> str | None:
        """Find, configure, describe and subscribe; None on success, else why not."""
        try:
            if self.address is not None:
                et = tr.EyeTracker(self.address)
            else:
                found = _by_serial(tr.find_all_eyetrackers())
                if not found:
                    return "no eye tracker found"
                et = self._choose(found)
                if et is None:
                    serials = ", ".join(str(t.serial_number) for t in found)
                    return f"eye tracker {self.serial} not found (found: {serials})"
        except Exception as error:
            where = self.address or "the eye trackers"
            logger.debug("connecting to %s failed", where, exc_info=True)
            return f"cannot connect to {where}: {type(error).__name__}: {error}"
        if stop.is_set():
            return None
        self._lost_at = None
        try:
            self._configure_frequency(et)
            info, area = self._read_info(et)
            self._info, self._display_area = info, area
            events.tracker_info(info, area)
            self._subscribe_all(tr, et, stop)
        except Exception as error:
            logger.warning("setting up eye tracker %s failed", et.address, exc_info=True)
            if self._stop is stop:
                self._detach()
            return f"setting up {et.address} failed: {type(error).__name__}: {error}"
        return None

    def _choose(self, found: list[Any]) -> Any | None:
        """The tracker to use among ``found`` (ordered by serial); says what it found."""
        serials = tuple(str(t.serial_number) for t in found)
        if self.serial is not None:
            chosen = next((t for t in found if t.serial_number == self.serial), None)
            how = "its serial number, tracker_serial"
        else:
            chosen = found[0]
            how = "the lowest serial number; set tracker_serial to choose"
        if serials != self._found:  # once per change, not per retry
            self._found = serials
            listed = ", ".join(f"{t.serial_number} ({t.model}, {t.address})" for t in found)
            using = f"using {chosen.serial_number} ({how})" if chosen is not None else "none of them is tracker_serial"
            logger.info("found %d eye tracker%s: %s; %s", len(found), "s" if len(found) > 1 else "", listed, using)
        if self.serial is None and len(found) > 1:
            self._choice_warning = (
                f"{len(found)} eye trackers found ({', '.join(serials)}); using {serials[0]}, the lowest "
                "serial number: set tracker_serial to choose"
            )
        else:
            self._choice_warning = None
        return chosen

    def _configure_frequency(self, et: Any) -> None:
        self._frequency_warning = None
        requested = self.frequency_hz
        if requested is None:
            return
        supported = tuple(float(hz) for hz in et.get_all_gaze_output_frequencies())
        chosen = choose_frequency(requested, supported)
        current = float(et.get_gaze_output_frequency())
        if chosen is None:
            self._frequency_warning = (
                f"eye tracker {et.serial_number} does not support {requested:g} Hz (supported: "
                f"{', '.join(f'{hz:g}' for hz in supported) or 'none reported'}); keeping {current:g} Hz"
            )
            logger.warning("%s", self._frequency_warning)
            return
        if chosen == current:
            return
        try:
            et.set_gaze_output_frequency(chosen)
        except self._errors as error:
            self._frequency_warning = f"cannot set {et.serial_number} to {chosen:g} Hz ({error}); keeping {current:g} Hz"
            logger.warning("%s", self._frequency_warning)
        else:
            logger.info("eye tracker %s set to %g Hz", et.serial_number, chosen)

    def _read_info(self, et: Any) -> tuple[TrackerInfo, DisplayArea | None]:
        frequency = float(et.get_gaze_output_frequency())
        try:
            area = display_area_of(et.get_display_area())
        except self._errors as error:  # e.g. EyeTrackerFeatureNotSupportedError
            logger.warning("cannot read the display area of %s: %s", et.serial_number, error)
            area = None
        info = TrackerInfo(
            model=et.model,
            serial=et.serial_number,
            address=et.address,
            name=et.device_name,
            firmware=et.firmware_version,
            frequency_hz=frequency,
            source="tobii",
        )
        return info, area

    def _subscribe_all(self, tr: ModuleType, et: Any, stop: threading.Event) -> None:
        wanted: list[tuple[str, Callback]] = [
            (tr.EYETRACKER_NOTIFICATION_CONNECTION_LOST, self._on_connection_lost),
            (tr.EYETRACKER_NOTIFICATION_CONNECTION_RESTORED, self._on_connection_restored),
            (tr.EYETRACKER_NOTIFICATION_GAZE_OUTPUT_FREQUENCY_CHANGED, self._on_frequency_changed),
            (tr.EYETRACKER_NOTIFICATION_DISPLAY_AREA_CHANGED, self._on_display_area_changed),
            (tr.EYETRACKER_NOTIFICATION_STREAM_BUFFER_OVERFLOW, self._on_buffer_overflow),
            (tr.EYETRACKER_STREAM_ERRORS, self._on_stream_error),
            (tr.EYETRACKER_GAZE_DATA, self._on_gaze),  # last: samples flow once all is ready
        ]
        with self._lock:
            if stop.is_set():  # stop() already detached: do not subscribe behind its back
                return
            self._tracker = et
            for kind, callback in wanted:
                et.subscribe_to(kind, callback, as_dictionary=True)
                self._subscriptions.append((kind, callback))

    def _detach(self) -> None:
        """Unsubscribe what was subscribed, newest first; never raises."""
        with self._lock:
            et, self._tracker = self._tracker, None
            subscriptions, self._subscriptions = self._subscriptions, []
        for kind, callback in reversed(subscriptions):
            try:
                et.unsubscribe_from(kind, callback)
            except self._errors as error:
                logger.warning("unsubscribing from %s failed: %s", kind, error)

    def _serve(self, events: TrackerEvents, stop: threading.Event, wake: threading.Event) -> None:
        """While subscribed: re-read and re-report the description when it
        changed. Returns when stopped, or when the connection has been lost
        for ``lost_timeout_s`` without the SDK restoring it."""
        while True:
            lost_at = self._lost_at
            wake.wait(None if lost_at is None else max(0.0, lost_at + self.lost_timeout_s - time.monotonic()))
            wake.clear()
            if stop.is_set():
                return
            lost_at = self._lost_at
            if lost_at is None:
                self._refresh_info(events)
            elif time.monotonic() >= lost_at + self.lost_timeout_s:
                return

    def _refresh_info(self, events: TrackerEvents) -> None:
        et = self._tracker
        if et is None:
            return
        try:
            info, area = self._read_info(et)
        except self._errors as error:
            logger.warning("cannot re-read the eye tracker's description: %s", error)
            if self._info is None:
                return
            info, area = self._info, self._display_area
            if self._pending_frequency is not None:
                info = info.model_copy(update={"frequency_hz": self._pending_frequency})
        self._info, self._display_area = info, area
        events.tracker_info(info, area)

    # ------------------------------------------------------------------ SDK callbacks
    # Called on the SDK's thread: O(1), no SDK calls, never self._lock.

    def _on_gaze(self, sample: GazeDict) -> None:
        events = self._events
        if events is None:
            return
        try:
            events.gaze(sample)
        except Exception:
            self.callback_errors += 1
            if _worth_logging(self.callback_errors):
                logger.exception("gaze callback failed (%d times)", self.callback_errors)

    def _on_connection_lost(self, data: dict[str, Any]) -> None:
        self.connection_losses += 1
        self._lost_at = time.monotonic()
        logger.warning("eye tracker connection lost; waiting %g s for the SDK to restore it", self.lost_timeout_s)
        self._report_state(TrackerState.LOST, "the SDK reported the connection to the tracker lost")
        self._wake.set()

    def _on_connection_restored(self, data: dict[str, Any]) -> None:
        self._lost_at = None
        logger.info("eye tracker connection restored")
        self._report_state(TrackerState.TRACKING, None)
        self._wake.set()  # re-read the description: it may have changed meanwhile

    def _on_frequency_changed(self, data: dict[str, Any]) -> None:
        frequency = data.get("gaze_output_frequency")
        self._pending_frequency = None if frequency is None else float(frequency)
        logger.info("eye tracker gaze output frequency changed to %s Hz", frequency)
        self._wake.set()

    def _on_display_area_changed(self, data: dict[str, Any]) -> None:
        logger.info("eye tracker display area changed")
        self._wake.set()

    def _on_buffer_overflow(self, data: dict[str, Any]) -> None:
        self.buffer_overflows += 1
        if _worth_logging(self.buffer_overflows):
            logger.warning(
                "SDK stream buffer overflow in %s (%d so far): samples were lost",
                data.get("notification_source_stream", "a stream"),
                self.buffer_overflows,
            )

    def _on_stream_error(self, data: dict[str, Any]) -> None:
        self.stream_errors += 1
        if _worth_logging(self.stream_errors):
            logger.warning(
                "SDK stream error %s from %s: %s (%d so far)",
                data.get("error"),
                data.get("source"),
                data.get("message"),
                self.stream_errors,
            )

    def _report_state(self, state: TrackerState, detail: str | None) -> None:
        events = self._events
        if events is None:
            return
        try:
            events.tracker_state(state, detail)
        except Exception:
            self.callback_errors += 1
            logger.exception("reporting tracker state %s failed", state.value)


def _worth_logging(count: int) -> bool:
    """Log the 1st, 2nd, 4th, 8th... occurrence: visible, but no log flood."""
    return count & (count - 1) == 0
