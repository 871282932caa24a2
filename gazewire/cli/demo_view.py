"""The demo's live console view: rates, status, fixations and alerts per
session, as any lab client sees them: a :class:`gazewire.client.Lab` with a
callback stream per channel, every session at once, and the statuses the
broker keeps (:meth:`~gazewire.client.Lab.statuses`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gazewire.client.lab import Lab
from gazewire.mqtt import MqttSettings
from gazewire.wire.messages import (
    Alert,
    AgentStatus,
    AoiEvent,
    FixationEvent,
    GazeBatch,
    LiveGaze,
    Marker,
    ProcessorStatus,
)
from gazewire.wire.topics import Channel

WINDOW_S = 2.0


@dataclass
class SessionView:
    state: str = "?"
    tracker: str = ""
    frequency_hz: float | None = None
    live: deque = field(default_factory=deque)  # arrival times
    samples: deque = field(default_factory=deque)  # (arrival, count)
    batches: int = 0
    samples_total: int = 0
    x: float | None = None
    y: float | None = None
    fixations: int = 0
    last_fixation: str = ""
    active_alerts: dict[str, str] = field(default_factory=dict)
    alerts_total: int = 0
    last_alert: str = ""
    aoi: str = ""
    markers: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def show_status(self, status: AgentStatus) -> None:
        self.state = status.state
        self.tracker = (status.tracker.model or "") if status.tracker else ""
        self.frequency_hz = status.tracker.frequency_hz if status.tracker else None
        self.counters = status.counters.model_dump()
        self.warnings = list(status.warnings)

    def rates(self, now: float) -> tuple[float, float]:
        while self.live and now - self.live[0] > WINDOW_S:
            self.live.popleft()
        while self.samples and now - self.samples[0][0] > WINDOW_S:
            self.samples.popleft()
        return len(self.live) / WINDOW_S, sum(count for _, count in self.samples) / WINDOW_S


class ConsoleView:
    def __init__(self, mqtt: MqttSettings, prefix: str, *, plain: bool) -> None:
        self.mqtt = mqtt
        self.prefix = prefix
        self.plain = plain
        self.sessions: dict[str, SessionView] = {}
        self.processor: ProcessorStatus | None = None
        self._lock = threading.Condition()
        self._last_message = time.monotonic()
        self._last_plain = 0.0
        self._live_display: Any = None
        self._lab: Lab | None = None

    def start(self) -> None:
        self._lab = lab = Lab(self.mqtt.host, mqtt=self.mqtt, prefix=self.prefix,
                              client_id=f"gazewire-demo-view-{int(time.time())}")
        for channel, model in ((Channel.GAZE, LiveGaze), (Channel.GAZE_BATCH, GazeBatch),
                               (Channel.FIXATIONS, FixationEvent), (Channel.ALERTS, Alert),
                               (Channel.AOI, AoiEvent), (Channel.EVENTS, Marker)):
            lab.stream(channel, model, callback=self._on_message)
        if not self.plain:
            try:
                from rich.live import Live

                self._live_display = Live(self._table(), refresh_per_second=4, transient=False)
                self._live_display.start()
            except ImportError:
                self.plain = True

    def stop(self) -> None:
        if self._live_display is not None:
            self._live_display.stop()
        if self._lab is not None:
            self._show_statuses()
            self._lab.close()

    def wait_quiet(self, seconds: float) -> None:
        """Wait (at most ``seconds``) until nothing has arrived for a quarter of a second."""
        deadline = time.monotonic() + seconds
        with self._lock:
            while time.monotonic() < deadline:
                if time.monotonic() - self._last_message > 0.25:
                    return
                self._lock.wait(0.05)

    # ------------------------------------------------------------------ messages

    def _show_statuses(self) -> None:
        """The statuses the broker keeps, onto the views (they change every few seconds)."""
        if self._lab is None or self._lab.closed:
            return
        statuses = self._lab.statuses()
        with self._lock:
            for session, status in statuses.agents.items():
                self.sessions.setdefault(session, SessionView()).show_status(status)
            if statuses.processors:
                self.processor = sorted(statuses.processors.items())[0][1]

    def _on_message(self, message: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self._last_message = now
            self._apply(self.sessions.setdefault(message.session, SessionView()), message, now)
            self._lock.notify_all()

    def _apply(self, view: SessionView, message: Any, now: float) -> None:
        if isinstance(message, LiveGaze):
            view.live.append(now)
            view.x, view.y = message.x, message.y
        elif isinstance(message, GazeBatch):
            view.samples.append((now, message.count))
            view.batches += 1
            view.samples_total += message.count
        elif isinstance(message, FixationEvent):
            if message.event == "end" and not message.retracted:  # a retracted start was none
                view.fixations += 1
                view.last_fixation = f"{message.duration_ms:.0f} ms @ {_fmt(message.x)},{_fmt(message.y)}"
        elif isinstance(message, Alert):
            if message.state == "raised":
                view.alerts_total += 1
                view.active_alerts[message.type] = message.severity
                view.last_alert = f"{message.type} raised"
            else:
                view.active_alerts.pop(message.type, None)
                view.last_alert = f"{message.type} cleared"
        elif isinstance(message, AoiEvent):
            view.aoi = f"{message.event} {message.aoi}"
        elif isinstance(message, Marker):
            view.markers += 1

    # ------------------------------------------------------------------ rendering

    def render(self, final: bool = False) -> None:
        self._show_statuses()
        now = time.monotonic()
        if self._live_display is not None:
            self._live_display.update(self._table())
            return
        if not final and now - self._last_plain < 2.0:
            return
        self._last_plain = now
        with self._lock:
            for session, view in sorted(self.sessions.items()):
                live_rate, sample_rate = view.rates(now)
                alerts = ",".join(view.active_alerts) or (f"({view.last_alert})" if view.last_alert else "-")
                print(
                    f"{session}: {view.state:<19} live {live_rate:4.1f}/s  samples {sample_rate:6.1f}/s "
                    f"total {view.samples_total:>7}  fixations {view.fixations:>4}  alerts {alerts:<26} "
                    f"AOI {view.aoi or '-'}",
                    flush=True,
                )

    def _table(self):
        from rich import box
        from rich.table import Table

        table = Table(title="gazewire demo: what the lab network sees", expand=False, box=box.SIMPLE_HEAD)
        # The numbers keep their width; the free-text columns give way on narrow terminals.
        for column, width in (("session", 7), ("state", 8), ("live/s", 6), ("samples/s", 9), ("fixations", 9),
                              ("alerts", 13), ("AOI", None), ("last fixation", None), ("gaze x,y", None)):
            table.add_column(column, no_wrap=True, overflow="ellipsis", min_width=width)
        now = time.monotonic()
        with self._lock:
            for session, view in sorted(self.sessions.items()):
                live_rate, sample_rate = view.rates(now)
                alerts = ", ".join(f"[red]{k}[/red]" for k in view.active_alerts) or view.last_alert or "-"
                state_style = "green" if view.state == "tracking" else "yellow"
                table.add_row(
                    session,
                    f"[{state_style}]{view.state}[/{state_style}]",
                    f"{live_rate:.1f}",
                    f"{sample_rate:.0f}",
                    str(view.fixations),
                    alerts,
                    view.aoi,
                    view.last_fixation,
                    f"{_fmt(view.x)},{_fmt(view.y)}",
                )
            if self.processor is not None:
                counters = self.processor.counters
                table.caption = (
                    f"processor {self.processor.processor}: {self.processor.state}; "
                    + ", ".join(f"{k} {counters[k]}" for k in ("samples", "fixations", "alerts_raised",
                                                              "points_written", "bad_input") if k in counters)
                )
        return table

    def summary(self) -> str:
        with self._lock:
            lines = ["", "summary:"]
            for session, view in sorted(self.sessions.items()):
                c = view.counters
                lines.append(
                    f"  {session}: {view.samples_total} samples in {view.batches} batches on the wire; "
                    f"agent counted {c.get('samples_in', '?')} in, {c.get('samples_published', '?')} acknowledged, "
                    f"{c.get('samples_dropped_queue', 0) + c.get('samples_dropped_outbox', 0)} dropped; "
                    f"{view.fixations} fixations, {view.alerts_total} alerts; final state {view.state}"
                )
            return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"
