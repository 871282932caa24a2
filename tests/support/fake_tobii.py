"""A fake ``tobii_research`` module, for the tests that run the Tobii source.

No eye tracker can be attached to the machines these tests run on, and
tobii-research 2.1.0 only installs on CPython 3.10, so the SDK is replaced by
this module, injected with ``monkeypatch.setitem(sys.modules,
"tobii_research", fake_sdk(network))``. It follows the documented API of
tobii-research 2.1.0 closely (see ../shared/reference/tobii-research-sdk.md and
the SDK's EyeTracker.py): the same constant strings and exception class names,
``subscribe_to`` raising ``EyeTrackerInvalidOperationError`` on a duplicate
(type, callback), ``unsubscribe_from`` semantics, notifications multiplexed
over one stream and delivered as dicts with ``notification_type`` and
``system_time_stamp``, callbacks invoked while holding the subscription lock.
"""

from __future__ import annotations

import threading
import time
import types
from collections.abc import Callable
from typing import Any

from gazewire.agent.inputs.sdk import GazeDict

GAZE = "eyetracker_gaze_data"
STREAM_ERRORS = "eyetracker_stream_errors"
LOST = "eyetracker_notification_connection_lost"
RESTORED = "eyetracker_notification_connection_restored"
FREQUENCY_CHANGED = "eyetracker_notification_gaze_output_frequency_changed"
DISPLAY_AREA_CHANGED = "eyetracker_notification_display_area_changed"
BUFFER_OVERFLOW = "eyetracker_notification_stream_buffer_overflow"
NOTIFICATIONS = (
    LOST,
    RESTORED,
    FREQUENCY_CHANGED,
    DISPLAY_AREA_CHANGED,
    BUFFER_OVERFLOW,
    "eyetracker_notification_calibration_mode_entered",
    "eyetracker_notification_calibration_mode_left",
    "eyetracker_notification_calibration_changed",
    "eyetracker_notification_eye_tracking_mode_changed",
    "eyetracker_notification_device_faults",
    "eyetracker_notification_device_warnings",
)
STREAMS = (
    GAZE,
    STREAM_ERRORS,
    "eyetracker_external_signal",
    "eyetracker_time_synchronization_data",
    "eyetracker_eye_images",
    "eyetracker_user_position_guide",
    "eyetracker_eye_openness_data",
)


# --------------------------------------------------------------------------- the fake SDK


class EyeTrackerConnectionFailedError(Exception):
    pass


class EyeTrackerInvalidOperationError(Exception):
    pass


class EyeTrackerFeatureNotSupportedError(Exception):
    pass


class FakeDisplayArea:
    """Like the SDK's DisplayArea: corners in mm, width/height computed from them."""

    def __init__(self, width: float, height: float) -> None:
        self.top_left = (-width / 2, height, 0.0)
        self.top_right = (width / 2, height, 0.0)
        self.bottom_left = (-width / 2, 0.0, 0.0)

    @property
    def width(self) -> float:
        return sum((a - b) ** 2 for a, b in zip(self.top_left, self.top_right)) ** 0.5

    @property
    def height(self) -> float:
        return sum((a - b) ** 2 for a, b in zip(self.top_left, self.bottom_left)) ** 0.5


def clock_us() -> int:
    return time.monotonic_ns() // 1000


class FakeEyeTracker:
    def __init__(
        self,
        serial: str,
        *,
        model: str = "Tobii Pro Spectrum",
        frequencies: tuple[float, ...] = (60.0, 120.0, 250.0),
        frequency: float = 60.0,
        display_mm: tuple[float, float] = (527.0, 296.0),
    ) -> None:
        self.address = f"tobii-prp://{serial}"
        self.device_name = f"Spectrum {serial}"
        self.serial_number = serial
        self.model = model
        self.firmware_version = "2.6.1"
        self.frequencies = frequencies
        self.frequency = frequency
        self.display = FakeDisplayArea(*display_mm)
        self.set_calls: list[float] = []
        self.refuse_gaze_subscriptions = 0
        self.delivered: list[Any] = []  # the exact objects handed to gaze callbacks
        self._lock = threading.RLock()
        self._streams: dict[str, dict[Callable[..., None], bool]] = {}
        self._notifications: dict[str, dict[Callable[..., None], bool]] = {}

    # the SDK's API ------------------------------------------------------------
    def get_gaze_output_frequency(self) -> float:
        return self.frequency

    def get_all_gaze_output_frequencies(self) -> tuple[float, ...]:
        return self.frequencies

    def set_gaze_output_frequency(self, hz: float) -> None:
        if float(hz) not in self.frequencies:
            raise ValueError("An invalid parameter has been sent to the API. invalid_parameter")
        self.set_calls.append(float(hz))
        self.frequency = float(hz)
        self.notify(FREQUENCY_CHANGED, gaze_output_frequency=self.frequency)

    def get_display_area(self) -> FakeDisplayArea:
        return self.display

    def subscribe_to(
        self, subscription_type: str, callback: Callable[..., None], as_dictionary: bool = False
    ) -> None:
        if subscription_type not in (*NOTIFICATIONS, *STREAMS) or not callable(callback):
            raise ValueError("An invalid parameter has been sent to the API. invalid_parameter")
        with self._lock:
            if subscription_type in NOTIFICATIONS:
                table = self._notifications
            elif subscription_type in STREAMS:
                table = self._streams
            else:
                raise ValueError("An invalid parameter has been sent to the API.")
            if callback in table.get(subscription_type, {}):
                raise EyeTrackerInvalidOperationError(
                    "The operation is invalid in this context. invalid_operation"
                )
            if subscription_type == GAZE and self.refuse_gaze_subscriptions > 0:
                self.refuse_gaze_subscriptions -= 1
                raise EyeTrackerInvalidOperationError(
                    "Eye tracker internal error. Already subscribed. se_already_subscribed"
                )
            table.setdefault(subscription_type, {})[callback] = as_dictionary

    def unsubscribe_from(
        self, subscription_type: str, callback: Callable[..., None] | None = None
    ) -> None:
        with self._lock:
            if subscription_type in NOTIFICATIONS:
                table = self._notifications
            elif subscription_type in STREAMS:
                table = self._streams
            else:
                raise ValueError("An invalid parameter has been sent to the API.")
            if subscription_type in table:
                table[subscription_type].pop(callback, None)  # type: ignore[arg-type]
                if callback is None or not table[subscription_type]:
                    del table[subscription_type]

    # driving the fake, as the tracker / SDK thread would -----------------------
    def subscriptions(self) -> dict[str, bool]:
        """Subscribed type -> as_dictionary of its (single) callback."""
        with self._lock:
            both = {**self._streams, **self._notifications}
            return {kind: all(callbacks.values()) for kind, callbacks in both.items()}

    def emit_gaze(self, sample: GazeDict) -> None:
        self._dispatch(self._streams, GAZE, sample)

    def emit_stream_error(self, error: str, source: str, message: str) -> None:
        data = {"system_time_stamp": clock_us(), "error": error, "source": source}
        self._dispatch(self._streams, STREAM_ERRORS, {**data, "message": message})

    def notify(self, kind: str, **fields: Any) -> None:
        data = {"notification_type": kind, "system_time_stamp": clock_us(), **fields}
        self._dispatch(self._notifications, kind, data)

    def _dispatch(
        self, table: dict[str, dict[Callable[..., None], bool]], kind: str, data: Any
    ) -> None:
        with self._lock:  # the SDK also calls back holding its subscription lock
            for callback, as_dictionary in table.get(kind, {}).items():
                delivered = dict(data) if as_dictionary else object()  # no SDK objects here
                if kind == GAZE:
                    self.delivered.append(delivered)
                callback(delivered)


class FakeNetwork:
    """The trackers the fake SDK can see; find_all_eyetrackers() calls are timed."""

    def __init__(self) -> None:
        self.trackers: list[FakeEyeTracker] = []
        self.searches: list[float] = []
        self.arrivals: dict[int, FakeEyeTracker] = {}  # plugged in before the n-th search

    def find_all_eyetrackers(self) -> tuple[FakeEyeTracker, ...]:
        self.searches.append(time.monotonic())
        if len(self.searches) in self.arrivals:
            self.trackers.append(self.arrivals[len(self.searches)])
        return tuple(reversed(self.trackers))  # "order not stable": never insertion order

    def eye_tracker(self, address: str) -> FakeEyeTracker:
        for tracker in self.trackers:
            if tracker.address == address:
                return tracker
        raise EyeTrackerConnectionFailedError(
            "The connection to the eye tracker failed. se_connection_failed"
        )


def fake_sdk(network: FakeNetwork) -> types.ModuleType:
    module = types.ModuleType("tobii_research")
    for kind in (*NOTIFICATIONS, *STREAMS):
        setattr(module, kind.upper(), kind)
    module.find_all_eyetrackers = network.find_all_eyetrackers  # type: ignore[attr-defined]
    module.EyeTracker = network.eye_tracker  # type: ignore[attr-defined]
    module.get_system_time_stamp = clock_us  # type: ignore[attr-defined]
    for error in (
        EyeTrackerConnectionFailedError,
        EyeTrackerInvalidOperationError,
        EyeTrackerFeatureNotSupportedError,
    ):
        setattr(module, error.__name__, error)
    return module
