"""The live page (deploy/mosquitto/www) end to end: a real headless Chromium
loads it from the real Mosquitto's WebSocket listener (the shipped
mosquitto.conf and acl, password auth, a viewer user), and paho publishes as
an agent and as the processor. The assertions read what the page shows: text,
data-* attributes and window.gazewireView, plus a few canvas pixels.

Never a fixed sleep: playwright's expect() and wait_for_function() poll, and
the page says when the broker confirmed its subscriptions (body data-subscribed).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
SESSION = "lab-pc-1"


def utc_now() -> tuple[str, int]:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z", int(now * 1e6)


def agent_status(session: str, state: str, **extra) -> dict:
    utc, _ = utc_now()
    status = {
        "v": 1, "session": session, "state": state, "utc": utc, "agent_version": "0.1.0", "host": f"{session}-host",
        "run": "run-1", "reason": None, "publish_hz": 30.0,
        "tracker": {"model": "Tobii Pro Spectrum", "serial": "TPSP1-0001", "frequency_hz": 120.0, "source": "tobii"},
        "display_area": {"width_mm": 520.0, "height_mm": 290.0},
        "counters": {"samples_in": 12000, "samples_invalid": 120, "samples_published": 11900, "reconnects": 2},
        "warnings": [], "some_future_field": {"ignored": True},
    }
    status.update(extra)
    return status


def live_gaze(session: str, seq: int, x: float, y: float) -> dict:
    utc, utc_us = utc_now()
    return {
        "v": 1, "session": session, "device": "TPSP1-0001", "seq": seq, "sample_seq": seq * 4, "utc": utc,
        "utc_us": utc_us, "device_time_us": 1_000 + seq, "system_time_us": 2_000 + seq, "x": x, "y": y,
        "eye": "both", "left_pupil": 3.1, "right_pupil": 3.3, "pupil": 3.2, "samples": 4,
    }


def batch(session: str, batch_seq: int, count: int) -> dict:
    # the page reads only "count"; the columns are left out to keep the test short
    return {"v": 1, "session": session, "device": "TPSP1-0001", "run": "run-1", "batch_seq": batch_seq,
            "first_seq": batch_seq * count, "count": count, "clock_offset_us": 0, "sample_rate_hz": 120.0}


def fixation(session: str, number: int, event: str, x: float, y: float, duration_ms: float) -> dict:
    utc, utc_us = utc_now()
    return {"v": 1, "session": session, "device": "TPSP1-0001", "event": event, "fixation": number,
            "algorithm": "ivt", "start_utc_us": utc_us - int(duration_ms * 1000),
            "end_utc_us": utc_us if event == "end" else None, "duration_ms": duration_ms, "x": x, "y": y,
            "x_deg": 0.0, "y_deg": 0.0, "dispersion_deg": 0.4, "samples": 30, "utc": utc}


def movement(session: str, kind: str, number: int, start: tuple[float, float], end: tuple[float, float]) -> dict:
    """A saccade or pursuit message (the fields the page reads, and a few more)."""
    utc, utc_us = utc_now()
    message = {"v": 1, "session": session, "device": "TPSP1-0001", kind: number, "algorithm": "ivd",
               "start_utc_us": utc_us - 40_000, "end_utc_us": utc_us, "duration_ms": 40.0, "amplitude_deg": 12.0,
               "direction_deg": 0.0, "start_x": start[0], "start_y": start[1], "end_x": end[0], "end_y": end[1],
               "start_x_deg": 0.0, "start_y_deg": 0.0, "end_x_deg": 12.0, "end_y_deg": 0.0, "utc": utc}
    if kind == "saccade":
        message.update(peak_velocity_deg_s=400.0, pso_duration_ms=0.0)
    else:
        message.update(mean_velocity_deg_s=8.0, samples=50)
    return message


def blink(session: str, number: int, duration_ms: float) -> dict:
    utc, utc_us = utc_now()
    return {"v": 1, "session": session, "device": "TPSP1-0001", "blink": number, "algorithm": "ivd",
            "start_utc_us": utc_us - int(duration_ms * 1000), "end_utc_us": utc_us, "duration_ms": duration_ms,
            "samples": 20, "utc": utc}


def alert(session: str, kind: str, state: str, severity: str, details: dict) -> dict:
    utc, utc_us = utc_now()
    return {"v": 1, "session": session, "type": kind, "state": state, "severity": severity, "utc": utc,
            "utc_us": utc_us, "details": details}


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install chromium (scripts/test.sh does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser) -> Iterator:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append((message.type, message.text)))
    page.on("pageerror", lambda error: page.console_messages.append(("pageerror", str(error))))
    page.set_default_timeout(10_000)
    yield page
    context.close()


def log_in(page, url: str, user: str, password: str, prefix: str = "lab") -> None:
    page.fill("#username", user)
    page.fill("#password", password)
    page.fill("#prefix", prefix)
    if url:
        page.fill("#url", url)
    page.click("#connect")


def page_errors(page) -> list[str]:
    return [text for kind, text in page.console_messages if kind in ("error", "pageerror")]


# --------------------------------------------------------------------------- the page, end to end


def test_live_page_shows_a_session(lab_broker, mqtt_client, page) -> None:
    from playwright.sync_api import expect

    agent = mqtt_client(lab_broker, SESSION)
    other = mqtt_client(lab_broker, "lab-pc-2")
    processor = mqtt_client(lab_broker, "processor")
    agent.publish(f"lab/{SESSION}/status", json.dumps(agent_status(SESSION, "tracking")), retain=True)
    other.publish("lab/lab-pc-2/status", json.dumps(agent_status("lab-pc-2", "offline", utc=None)), retain=True)
    processor.publish("lab/_sys/processor/lab-server/status", json.dumps({
        "v": 1, "processor": "lab-server", "state": "online", "utc": utc_now()[0], "version": "0.1.0",
        "host": "lab-server", "sessions": {SESSION: {"aois": [
            {"name": "stimulus", "x_min": 0.3, "y_min": 0.3, "x_max": 0.7, "y_max": 0.7}]}},
    }), retain=True)

    origin = f"http://127.0.0.1:{lab_broker.websocket_port}"
    page.goto(origin + "/")
    expect(page.locator("#url")).to_have_value(f"ws://127.0.0.1:{lab_broker.websocket_port}/mqtt")
    # style.css applied through its <link> (no Content-Type from Mosquitto), not the fetch fallback
    assert page.evaluate("getComputedStyle(document.documentElement).backgroundColor") == "rgb(244, 245, 247)"
    assert page.evaluate("document.querySelectorAll('head style').length") == 0
    log_in(page, "", "viewer", lab_broker.password("viewer"))

    # the session list, from the retained status topics
    expect(page.locator("body")).to_have_attribute("data-connection", "connected")
    expect(page.locator("#connection-line")).to_contain_text("as viewer")
    sessions = page.locator("#sessions button")
    expect(sessions).to_have_count(2)
    first = page.locator(f'#sessions button[data-session="{SESSION}"]')
    expect(first).to_contain_text("Tracking")
    expect(first).to_contain_text("Tobii Pro Spectrum")
    expect(page.locator('#sessions button[data-session="lab-pc-2"]')).to_contain_text("Offline")
    expect(page.locator("#processor-line")).to_contain_text("lab-server online")

    first.click()
    expect(page.locator("body")).to_have_attribute("data-subscribed", SESSION)
    expect(page.locator("#agent-state")).to_have_text("Tracking")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "tracking")
    expect(page.locator("#agent-tracker")).to_contain_text("Tobii Pro Spectrum")
    expect(page.locator("#agent-display")).to_have_text("520 × 290 mm")
    expect(page.locator('#counters dd[data-counter="samples_in"]')).to_have_text("12,000")
    canvas = page.locator("#screen")
    expect(canvas).to_have_attribute("data-aspect", "1.7931")
    box = canvas.bounding_box()
    assert abs(box["width"] / box["height"] - 520 / 290) < 0.02
    expect(page.locator('#aois li[data-aoi="stimulus"]')).to_be_visible()

    # the gaze point moves; bad JSON and foreign sessions are ignored
    for seq, (x, y) in enumerate([(0.1, 0.2), (0.25, 0.75)]):
        agent.publish(f"lab/{SESSION}/gaze", json.dumps(live_gaze(SESSION, seq, x, y)), qos=0)
    expect(canvas).to_have_attribute("data-gaze-x", "0.2500")
    expect(canvas).to_have_attribute("data-gaze-y", "0.7500")
    agent.publish(f"lab/{SESSION}/gaze", b"{not json", qos=1)
    agent.publish(f"lab/{SESSION}/gaze", b"[1, 2]", qos=1)
    agent.publish(f"lab/{SESSION}/gaze", json.dumps(live_gaze(SESSION, 3, 0.62, 0.41)), qos=1)
    expect(canvas).to_have_attribute("data-gaze-x", "0.6200")
    expect(canvas).to_have_attribute("data-gaze-seq", "3")
    other.publish("lab/lab-pc-2/gaze", json.dumps(live_gaze("lab-pc-2", 9, 0.9, 0.9)))
    assert page.evaluate("window.gazewireView.badMessages") == 2
    assert any("ignored a bad message" in text for kind, text in page.console_messages if kind == "warning")
    # the dot is really drawn there (red centre at 62 % across, 41 % down)
    page.wait_for_function(
        """() => {
            const c = document.getElementById('screen');
            const p = c.getContext('2d').getImageData(Math.round(0.62 * c.width), Math.round(0.41 * c.height), 1, 1).data;
            return p[0] > 200 && p[1] < 120 && p[2] < 120;
        }"""
    )
    expect(page.locator("#rate-live")).not_to_have_attribute("data-value", "0.00")

    # samples per second from the batches' counts
    for number in range(3):
        agent.publish(f"lab/{SESSION}/gaze/batch", json.dumps(batch(SESSION, number, 120)))
    agent.publish(f"lab/{SESSION}/gaze/batch", json.dumps(batch(SESSION, 2, 120)))  # a QoS 1 duplicate
    page.wait_for_function("window.gazewireView.rates.samples >= 360 / 5 && window.gazewireView.rates.batches > 0")
    assert page.evaluate("window.gazewireView.rates.samples") <= 360

    # fixations: a start is provisional, ends are circles; duplicates count once
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, 1, "start", 0.2, 0.3, 100)))
    expect(canvas).to_have_attribute("data-provisional", "1")
    expect(canvas).to_have_attribute("data-fixations", "0")
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, 1, "end", 0.2, 0.3, 240)))
    expect(canvas).to_have_attribute("data-provisional", "0")
    expect(canvas).to_have_attribute("data-fixations", "1")
    for number, (x, y, ms) in enumerate([(0.5, 0.5, 800), (0.8, 0.25, 1500)], start=2):
        processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, number, "start", x, y, 100)))
        processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, number, "end", x, y, ms)))
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, 3, "end", 0.8, 0.25, 1500)))
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, 4, "start", 0.4, 0.6, 120)))
    expect(canvas).to_have_attribute("data-fixations", "3")
    expect(canvas).to_have_attribute("data-provisional", "1")
    # a tentative start (ivd) taken back: smooth pursuit, no fixation
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(
        {**fixation(SESSION, 5, "start", 0.7, 0.7, 60), "tentative": True, "algorithm": "ivd"}))
    expect(canvas).to_have_attribute("data-provisional", "1")
    page.wait_for_function("window.gazewireView.provisional[5] !== undefined")
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(
        {**fixation(SESSION, 5, "end", 0.7, 0.7, 0), "retracted": True, "algorithm": "ivd"}))
    expect(canvas).to_have_attribute("data-provisional", "0")
    expect(canvas).to_have_attribute("data-fixations", "3")
    processor.publish(f"lab/{SESSION}/fixations", json.dumps(fixation(SESSION, 6, "start", 0.4, 0.6, 120)))
    expect(canvas).to_have_attribute("data-provisional", "1")
    expect(page.locator("#fixation-list li")).to_have_count(3)
    expect(page.locator("#fixation-list li").first).to_contain_text("1,500 ms")
    radii = page.evaluate("[240, 800, 1500].map(d => window.GazewireScreen.fixationRadius(d, 1))")
    assert radii == sorted(radii) and radii[0] < radii[-1]

    # saccades (orange arrows) and smooth pursuit (dashed purple, a dot where it began) are drawn
    # differently from fixations; blinks are counted
    processor.publish(f"lab/{SESSION}/saccades", json.dumps(movement(SESSION, "saccade", 1, (0.05, 0.9), (0.35, 0.9))))
    processor.publish(f"lab/{SESSION}/saccades", json.dumps(movement(SESSION, "saccade", 1, (0.05, 0.9), (0.35, 0.9))))
    processor.publish(f"lab/{SESSION}/pursuits", json.dumps(movement(SESSION, "pursuit", 1, (0.6, 0.9), (0.95, 0.9))))
    processor.publish(f"lab/{SESSION}/saccades", b'{"v": 1, "saccade": "two"}')  # ignored with a warning
    for number in (1, 2, 2):
        processor.publish(f"lab/{SESSION}/blinks", json.dumps(blink(SESSION, number, 180.0)))
    expect(canvas).to_have_attribute("data-saccades", "1")
    expect(canvas).to_have_attribute("data-pursuits", "1")
    expect(page.locator("#blink-count")).to_have_attribute("data-value", "2")
    expect(page.locator("#blink-count")).to_contain_text("last 180 ms")
    page.wait_for_function(
        """() => {
            const c = document.getElementById('screen'), ctx = c.getContext('2d');
            const at = (x, y) => ctx.getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data;
            const s = at(0.2, 0.9), p = at(0.6, 0.9);
            const orange = s[0] > 200 && s[1] > 100 && s[1] < 190 && s[2] < 80;
            const purple = p[2] > 180 && p[1] < 120 && p[0] > 120;
            return orange && purple;
        }"""
    )

    # AOI: entered (the rectangle came from the processor's status)
    utc, utc_us = utc_now()
    processor.publish(f"lab/{SESSION}/aoi", json.dumps(
        {"v": 1, "session": SESSION, "aoi": "stimulus", "event": "enter", "utc": utc, "utc_us": utc_us}))
    expect(page.locator('#aois li[data-aoi="stimulus"]')).to_have_attribute("data-inside", "true")
    assert page.evaluate("window.gazewireView.aois.stimulus.rect.x_min") == 0.3

    # alerts: a banner while raised, gone when cleared
    banner = page.locator("#alerts")
    expect(banner).to_be_hidden()
    processor.publish(f"lab/{SESSION}/alerts", json.dumps(
        alert(SESSION, "long_fixation", "raised", "warning", {"duration_ms": 2500.0, "fixation": 3})))
    processor.publish(f"lab/{SESSION}/alerts", json.dumps(
        alert(SESSION, "aoi_dwell", "raised", "info", {"aoi": "stimulus", "threshold_ms": 2000.0})))
    expect(banner).to_be_visible()
    expect(banner.locator(".alert")).to_have_count(2)
    warning = banner.locator('.alert[data-type="long_fixation"]')
    expect(warning).to_contain_text("Long fixation (warning)")
    expect(warning).to_contain_text("duration ms: 2,500")
    expect(banner.locator('.alert[data-type="aoi_dwell"]')).to_contain_text("aoi: stimulus")

    # the whole page fits 1280x800 without scrolling sideways; keep a picture of it
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    assert canvas.bounding_box()["y"] + canvas.bounding_box()["height"] <= VIEWPORT["height"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-page.png"))

    processor.publish(f"lab/{SESSION}/alerts", json.dumps(
        alert(SESSION, "long_fixation", "cleared", "warning", {"duration_ms": 3100.0})))
    expect(banner.locator(".alert")).to_have_count(1)
    processor.publish(f"lab/{SESSION}/alerts", json.dumps(
        alert(SESSION, "aoi_dwell", "cleared", "info", {"aoi": "stimulus", "dwell_ms": 2600.0})))
    expect(banner).to_be_hidden()

    # a status change of the chosen session shows at once
    agent.publish(f"lab/{SESSION}/status", json.dumps(agent_status(SESSION, "tracker_lost", reason="USB unplugged")),
                  retain=True)
    expect(page.locator("#agent-state")).to_have_text("Tracker lost")
    expect(page.locator("#agent-reason")).to_have_text("USB unplugged")
    assert page_errors(page) == []

    # the password is never stored; URL, user and prefix are
    stored = page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert lab_broker.password("viewer") not in stored and "viewer" in stored
    page.reload()
    expect(page.locator("#username")).to_have_value("viewer")
    expect(page.locator("#password")).to_have_value("")


def test_wrong_password_shows_a_clear_error(lab_broker, page) -> None:
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{lab_broker.websocket_port}/")
    log_in(page, "", "viewer", "not-the-password")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("refused user “viewer”")
    expect(error).to_contain_text("wrong user name or password")
    expect(page.locator("body")).to_have_attribute("data-connection", "error")
    expect(page.locator("#live")).to_be_hidden()
    # and then the right one works from the same form
    log_in(page, "", "viewer", lab_broker.password("viewer"))
    expect(page.locator("body")).to_have_attribute("data-connection", "connected")
    expect(error).to_be_hidden()


def test_unreachable_broker_and_bad_input_show_clear_errors(lab_broker, page) -> None:
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{lab_broker.websocket_port}/")
    closed = free_port()
    log_in(page, f"ws://127.0.0.1:{closed}/mqtt", "viewer", "whatever-password")
    error = page.locator("#login-error")
    expect(error).to_contain_text(f"Cannot reach the broker at ws://127.0.0.1:{closed}/mqtt")
    log_in(page, "http://example.invalid/", "viewer", "whatever-password")
    expect(error).to_contain_text("must start with ws:// or wss://")
    log_in(page, f"ws://127.0.0.1:{lab_broker.websocket_port}/mqtt", "viewer", "whatever-password", prefix="lab/#")
    expect(error).to_contain_text("topic prefix")


def test_page_reconnects_after_a_broker_restart(lab_broker, mqtt_client, page) -> None:
    from playwright.sync_api import expect

    agent = mqtt_client(lab_broker, SESSION)
    agent.publish(f"lab/{SESSION}/status", json.dumps(agent_status(SESSION, "tracking")), retain=True)
    agent.close()
    page.goto(f"http://127.0.0.1:{lab_broker.websocket_port}/")
    log_in(page, "", "viewer", lab_broker.password("viewer"))
    page.locator(f'#sessions button[data-session="{SESSION}"]').click()
    expect(page.locator("body")).to_have_attribute("data-subscribed", SESSION)
    lab_broker.stop()
    expect(page.locator("body")).to_have_attribute("data-connection", "reconnecting")
    expect(page.locator("#connection-line")).to_contain_text("reconnecting")
    lab_broker.start()  # same ports, persistence kept the retained status
    expect(page.locator("body")).to_have_attribute("data-connection", "connected")
    # the page subscribes to the chosen session again and says so: new gaze arrives without a click
    expect(page.locator("body")).to_have_attribute("data-subscribed", SESSION)
    agent = mqtt_client(lab_broker, SESSION)
    agent.publish(f"lab/{SESSION}/gaze", json.dumps(live_gaze(SESSION, 1, 0.3, 0.6)))
    expect(page.locator("#screen")).to_have_attribute("data-gaze-x", "0.3000")
    expect(page.locator(f'#sessions button[data-session="{SESSION}"]')).to_contain_text("Tracking")


def test_anonymous_demo_broker_any_user_name(tmp_path, page, mqtt_client) -> None:
    """gazewire demo's LocalBroker: anonymous access, the page served from deploy/mosquitto/www."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from playwright.sync_api import expect

    from gazewire.cli.demo import LocalBroker

    broker = LocalBroker(tmp_path / "demo-broker")
    broker.start()
    try:
        publisher = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        publisher.publish("lab/demo-1/status", json.dumps(agent_status("demo-1", "tracking")), qos=1,
                          retain=True).wait_for_publish(10)
        for user in ("", "anyone"):
            page.goto(f"http://127.0.0.1:{broker.websocket_port}/")
            if page.locator("#disconnect").is_visible():
                page.click("#disconnect")
            log_in(page, "", user, "")
            expect(page.locator("body")).to_have_attribute("data-connection", "connected")
            page.locator('#sessions button[data-session="demo-1"]').click()
            expect(page.locator("body")).to_have_attribute("data-subscribed", "demo-1")
            publisher.publish("lab/demo-1/gaze", json.dumps(live_gaze("demo-1", 1, 0.5, 0.5)))
            expect(page.locator("#screen")).to_have_attribute("data-gaze-x", "0.5000")
        publisher.disconnect()
        publisher.loop_stop()
    finally:
        broker.stop()


def test_other_prefix(make_lab_broker, mqtt_client, page) -> None:
    """The prefix field: a deployment under lab/room-2 (ACL rewritten as its header says)."""
    from playwright.sync_api import expect

    broker = make_lab_broker(start=False, users={"viewer": ("viewer", "viewer-secret", ())})
    acl = broker.root / "config" / "acl"
    acl.write_text(re.sub(r"^(pattern|topic)( [a-z]*) lab/", r"\1\2 lab/room-2/", acl.read_text(), flags=re.MULTILINE))
    from gazewire.cli.users import UserStore

    UserStore(broker.root / "config" / "passwords", acl).add("pc-9", "agent", "pc-nine-secret")
    assert "topic deny lab/room-2/viewer/#" in acl.read_text()
    assert "lab/room-2/%u/gaze" in acl.read_text()
    broker.start()
    agent = mqtt_client(broker, "pc-9", "pc-nine-secret")
    assert agent.publish("lab/room-2/pc-9/status", json.dumps(agent_status("pc-9", "online")), retain=True) in (0, 16)
    page.goto(f"http://127.0.0.1:{broker.websocket_port}/")
    log_in(page, "", "viewer", "viewer-secret", prefix="lab/room-2")
    expect(page.locator('#sessions button[data-session="pc-9"]')).to_contain_text("Online, not tracking")
