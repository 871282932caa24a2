"""The browser client (deploy/mosquitto/www/gazewire.js) end to end: headless
Chromium runs the example experiment (examples/browser/experiment.html,
served by a web server as an experiment is) against the real Mosquitto
(the shipped configuration, ACL and users; the WebSocket listener) and a
real simulated agent. The page's clock is shifted on purpose
(``?clock_shift_ms``): the markers must still land in the right recording and
at the right time, within the offset the page measured.

Never a fixed sleep: playwright's wait_for_function polls the page's state,
LabDevice waits for messages with a deadline.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gazewire.wire.messages import AgentStatus, Marker
from tests.conftest import AgentProcess, agent_env
from tests.deploy.test_live_page import CHROMIUM, CHROMIUM_ARGS
from tests.support.lab_device import LabDevice

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
SESSION = "lab-pc-1"  # the agent's broker user is its session id (deploy/mosquitto/acl)
SHIFT_MS = 250.0


class _Files(SimpleHTTPRequestHandler):
    """The checkout as an experiment's web server serves it: ES modules with a JavaScript type."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
        pass


@pytest.fixture(scope="module")
def web_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(REPO)))
    threading.Thread(target=server.serve_forever, name="experiment-web-server", daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


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
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def agent(lab_broker, tmp_path) -> Iterator[AgentProcess]:
    """A simulated agent logged in as the agent user lab-pc-1, tracking."""
    env = agent_env(lab_broker, tmp_path / "agent-data", GAZEWIRE_MQTT__USERNAME=SESSION,
                    GAZEWIRE_MQTT__PASSWORD=lab_broker.password(SESSION))
    process = AgentProcess(env, "--session", SESSION, log_path=tmp_path / "agent.log")
    watcher = viewer(lab_broker, f"lab/{SESSION}/status")
    try:
        watcher.wait_for(lambda messages: any(AgentStatus.model_validate_json(m.payload).state == "tracking"
                                              for m in messages), timeout_s=30, what="the agent tracking")
    finally:
        watcher.close()
    yield process
    if process.process.poll() is None:
        process.terminate()


def viewer(lab_broker, *topics: str) -> LabDevice:
    return LabDevice(lab_broker.host, lab_broker.port, list(topics), username="viewer",
                     password=lab_broker.password("viewer"))


def ws_url(lab_broker) -> str:
    return f"ws://127.0.0.1:{lab_broker.websocket_port}/mqtt"


def test_a_browser_experiment_records_each_participant_with_markers_on_the_agents_clock(
        lab_broker, agent, web_server, page, lab_devices):
    events = viewer(lab_broker, f"lab/{SESSION}/events")
    lab_devices.append(events)
    page.goto(f"{web_server}/examples/browser/experiment.html?clock_shift_ms={SHIFT_MS}")
    page.fill("#broker", ws_url(lab_broker))
    page.fill("#username", "operator")
    page.fill("#password", lab_broker.password("operator"))
    page.fill("#session", SESSION)
    page.fill("#participants", "P01,P02")
    page.fill("#trials", "2")
    page.click("#start")
    page.wait_for_function("['done', 'failed'].includes(window.experiment.state)", timeout=60_000)
    result = page.evaluate("window.experiment")
    assert result["state"] == "done", result["error"]
    assert page.errors == []

    # the page measured the shift it was given, within its own bound
    offset = result["offset"]
    assert abs(offset["offsetMs"] + SHIFT_MS) <= offset["uncertaintyMs"] + 1.0  # +1 ms: the page's vs the system clock

    # two recordings, each with its own markers, in order, inside its own time
    first, second = result["recordings"]
    assert first["id"] != second["id"] and (first["participant"], second["participant"]) == ("P01", "P02")
    markers = events.wait_for(lambda messages: len(messages) >= 8 and messages, what="8 markers")
    taken = [Marker.model_validate_json(m.payload) for m in markers]
    assert [m.name for m in taken] == ["stimulus_on", "stimulus_off"] * 4
    assert [m.recording for m in taken] == [first["id"]] * 4 + [second["id"]] * 4
    assert [m["recording"] for m in result["markers"]] == [first["id"]] * 4 + [second["id"]] * 4
    for marker, recording in zip(taken, [first] * 4 + [second] * 4):
        started, stopped = (utc_ns(recording["startedUtc"]), utc_ns(recording["stoppedUtc"]))
        slack_ns = offset["uncertaintyMs"] * 1e6
        assert started - slack_ns <= marker.utc_ns <= stopped + slack_ns, (marker, recording)
    assert all(a.utc_ns < b.utc_ns for a, b in zip(taken, taken[1:]))


def test_a_marker_from_a_shifted_browser_clock_lands_within_the_measured_offset(
        lab_broker, agent, web_server, page, lab_devices):
    page.goto(f"{web_server}/examples/browser/experiment.html")
    page.evaluate(
        """async ([url, password, session, shiftMs]) => {
            const { connect } = await import('/deploy/mosquitto/www/gazewire.js');
            const clock = () => performance.timeOrigin + performance.now() + shiftMs;
            window.lab = await connect({ url, username: 'operator', password, clock });
            window.room = window.lab.session(session);
            window.offset = await window.room.clockOffset({ probes: 10 });
            window.recording = await window.room.startRecording({ participant: 'P03' });
        }""",
        [ws_url(lab_broker), lab_broker.password("operator"), SESSION, -SHIFT_MS],
    )
    offset = page.evaluate("window.offset")
    before = time.time_ns()
    marker = page.evaluate("window.room.marker('response')")
    after = time.time_ns()
    uncertainty_ns = offset["uncertaintyMs"] * 1e6 + 1e6  # +1 ms: the page's clock vs the system's
    assert before - uncertainty_ns <= int(marker["utcNs"]) <= after + uncertainty_ns
    assert marker["recording"] == page.evaluate("window.recording.id")
    before = time.time_ns()
    unshifted = page.evaluate("window.room.marker('uncorrected', { applyOffset: false })")
    after = time.time_ns()
    shift_ns = SHIFT_MS * 1e6  # the shift is real: without the offset the marker is that much early
    assert before - shift_ns - uncertainty_ns <= int(unshifted["utcNs"]) <= after - shift_ns + uncertainty_ns
    # live gaze, tagged with the running recording
    page.evaluate("""() => { window.seen = []; window.stopGaze = window.room.gaze((g) => window.seen.push(g));
                             return window.stopGaze.ready; }""")
    page.wait_for_function("window.seen.length >= 3")
    gaze = page.evaluate("window.seen.slice(-1)[0]")
    assert 0 <= gaze["x"] <= 1.5 and gaze["recording"] == page.evaluate("window.recording.id")
    page.evaluate("window.stopGaze(); window.room.stopRecording().then(() => window.lab.close())")


def test_browser_errors_are_precise(lab_broker, agent, web_server, page):
    page.goto(f"{web_server}/examples/browser/experiment.html")
    outcome = page.evaluate(
        """async ([url, operator, viewer, session]) => {
            const gazewire = await import('/deploy/mosquitto/www/gazewire.js');
            const caught = async (call) => { try { await call(); return 'no error'; }
                                             catch (error) { return `${error.name}: ${error.message}`; } };
            const out = {};
            out.refused = await caught(() => gazewire.connect({ url, username: 'operator', password: 'wrong' }));
            const watching = await gazewire.connect({ url, username: 'viewer', password: viewer });
            out.viewer = await caught(() => watching.session(session).startRecording({ participant: 'P09' }));
            watching.close();
            const lab = await gazewire.connect({ url, username: 'operator', password: operator, timeoutMs: 1000 });
            out.sessions = (await lab.sessions()).map((s) => `${s.session} ${s.state}`);
            out.typo = await caught(() => lab.session(session).waitFor('trackng'));
            out.waited = await caught(() => lab.session(session).waitFor('offline', { timeoutMs: 300 }));
            out.silent = await caught(() => lab.session('nobody-here').startRecording());
            out.badSession = await caught(() => lab.session('room 1'));
            const room = lab.session(session);
            out.notRecording = await caught(() => room.stopRecording());
            const first = await room.startRecording({ participant: 'P10' });
            out.already = await caught(() => room.startRecording({ participant: 'P11' }));
            out.runningId = first.id;
            out.wrongRecording = await caught(() => room.annotate({ site: 'B' }, { recording: 'another-one' }));
            await room.stopRecording();
            lab.close();
            out.closed = await caught(() => room.marker('late'));
            return out;
        }""",
        [ws_url(lab_broker), lab_broker.password("operator"), lab_broker.password("viewer"), SESSION],
    )
    assert outcome["refused"].startswith("BrokerRefused: broker refused the connection")
    assert outcome["sessions"] == [f"{SESSION} tracking"]
    assert outcome["typo"].startswith("InvalidArgument: unknown agent state 'trackng'")
    assert outcome["waited"] == (f"WaitTimeout: session '{SESSION}' to be offline: not within 0.3 s "
                                 "(last state: tracking)")
    assert outcome["viewer"].startswith(f"NotAuthorized: the broker does not let user 'viewer' publish on lab/{SESSION}/cmd")
    assert outcome["silent"].startswith("AgentNotResponding: no reply from session 'nobody-here' to 'start' within 1 s")
    assert outcome["badSession"].startswith("InvalidArgument: session id \"room 1\" is not valid")
    assert outcome["notRecording"].startswith(f"NotRecording: session '{SESSION}' refused 'stop': stop: no recording")
    assert outcome["already"].startswith(f"AlreadyRecording: session '{SESSION}' refused 'start': start: recording "
                                         f"{outcome['runningId']}")
    assert outcome["wrongRecording"].startswith("NotRecording: ")
    assert outcome["closed"] == "ClientClosed: this Lab connection is closed"


def utc_ns(iso: str) -> int:
    from gazewire.wire.timeutil import utc_us_from_iso

    return utc_us_from_iso(iso) * 1000


def test_the_module_is_next_to_the_live_page_and_the_examples_import_it():
    module = REPO / "deploy" / "mosquitto" / "www" / "gazewire.js"
    assert module.is_file()
    for example in (REPO / "examples" / "browser").glob("*.html"):
        assert '"../../deploy/mosquitto/www/gazewire.js"' in example.read_text(), example
