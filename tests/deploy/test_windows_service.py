"""The Windows service (agent/service/windows.py, gazewire/cli/service.py), tested on Linux.

Two kinds of test:

- As shipped, on Linux: both modules import without pywin32, and every
  ``gazewire agent service ...`` action exits with code 1 and one clear line
  that names the 'windows' extra and points to the systemd unit.
- With pywin32 MOCKED: Windows cannot run here, so ``win32service``,
  ``win32serviceutil`` and ``servicemanager`` are replaced in ``sys.modules``
  by the stand-ins below (:class:`FakeWindows`), and gazewire.agent.service.windows is
  imported again on top of them. They record what the code asks of the
  Service Control Manager, the registry and the event log, following
  pywin32's signatures (InstallService, SetServiceCustomOption,
  ChangeServiceConfig2, ServiceFramework.ReportServiceStatus, ...). What they
  cannot prove: that pythonservice.exe, the SCM and the real pywin32 behave as
  the stand-ins do. docs/services.md has the manual check on a Windows PC.

The service class is run with the REAL agent (simulated tracker) against a
real Mosquitto (the ``broker`` fixture), not a stub agent: the point of the
service is that it runs the same agent with the same config file as
``gazewire agent run``, which a stub cannot show. The SCM's side (starting
the service on its thread, the stop control) is played by the test.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import types
import uuid
from pathlib import Path

import pytest

import gazewire.agent.service as service_package
from gazewire.cli import main
from tests.support.lab_device import LabDevice

REPO = Path(__file__).resolve().parents[2]
ACTIONS = ["install", "remove", "start", "stop", "status"]


# --------------------------------------------------------------------------- as shipped, on Linux


def test_modules_import_on_linux_without_pywin32():
    code = (
        "import sys, gazewire.agent.service.windows as w, gazewire.cli.service as c\n"
        "assert not any(m in sys.modules for m in ('win32service', 'win32serviceutil', 'servicemanager'))\n"
        "print(w.pywin32_available(), w.GazewireAgentService.__name__, callable(c.add_service_commands))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "GazewireAgentService", "True"]


@pytest.mark.parametrize("action", ACTIONS)
def test_service_commands_fail_cleanly_on_linux(action, capsys):
    from gazewire.agent.service.windows import NEEDS_WINDOWS

    assert main(["agent", "service", action]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("gazewire: " + NEEDS_WINDOWS)
    assert "pip install pywin32" in err
    assert "deploy/systemd/gazewire-agent.service" in err  # what to use on Linux
    assert len(err.strip().splitlines()) == 1  # one line, no traceback


def test_service_command_exit_code_from_the_real_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "gazewire.cli", "agent", "service", "install", "--config", "agent.toml",
         "--startup", "delayed", "--name", "lab-agent"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 1
    assert "Windows services need Windows and the 'windows' extra (pywin32)" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_service_class_refuses_to_run_without_pywin32():
    from gazewire.agent.service.windows import GazewireAgentService, ServiceError

    with pytest.raises(ServiceError, match="pip install pywin32"):
        GazewireAgentService(["gazewire-agent"])


# --------------------------------------------------------------------------- pywin32 stand-ins


class FakeWinError(Exception):
    """pywintypes.error: (winerror, funcname, strerror)."""

    def __init__(self, winerror: int, funcname: str, strerror: str) -> None:
        super().__init__(winerror, funcname, strerror)
        self.winerror, self.funcname, self.strerror = winerror, funcname, strerror


class FakeWindows:
    """The Service Control Manager, the services' registry keys and the event log."""

    def __init__(self) -> None:
        self.services: dict[str, dict] = {}
        self.event_log: list[tuple[str, object]] = []
        self.event_sources: list[tuple[str, bool]] = []
        self.calls: list[tuple] = []
        self.fail: dict[str, FakeWinError] = {}  # function name -> error to raise
        self.win32service = self._win32service()
        self.servicemanager = self._servicemanager()
        self.win32serviceutil = self._win32serviceutil()

    def modules(self) -> dict[str, types.ModuleType]:
        return {
            "win32service": self.win32service,
            "win32serviceutil": self.win32serviceutil,
            "servicemanager": self.servicemanager,
        }

    def _check(self, function: str) -> None:
        if function in self.fail:
            raise self.fail.pop(function)

    def _service(self, name: str) -> dict:
        if name not in self.services:
            raise FakeWinError(1060, "OpenService", "The specified service does not exist as an installed service.")
        return self.services[name]

    # ------------------------------------------------------------------ win32service

    def _win32service(self) -> types.ModuleType:
        m = types.ModuleType("win32service")
        m.__dict__.update(
            error=FakeWinError,
            SERVICE_STOPPED=1, SERVICE_START_PENDING=2, SERVICE_STOP_PENDING=3, SERVICE_RUNNING=4,
            SERVICE_CONTINUE_PENDING=5, SERVICE_PAUSE_PENDING=6, SERVICE_PAUSED=7,
            SERVICE_AUTO_START=2, SERVICE_DEMAND_START=3, SERVICE_DISABLED=4,
            SERVICE_CONTROL_STOP=1, SERVICE_CONTROL_SHUTDOWN=5,
            SERVICE_ACCEPT_STOP=1, SERVICE_ACCEPT_SHUTDOWN=4, SERVICE_WIN32_OWN_PROCESS=0x10,
            SC_MANAGER_ALL_ACCESS=0xF003F, SERVICE_ALL_ACCESS=0xF01FF,
            SERVICE_CONFIG_FAILURE_ACTIONS=2, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG=4, SC_ACTION_RESTART=1,
        )

        def open_sc_manager(machine, database, access):
            return ("scm", access)

        def open_service(scm, name, access):
            self._service(name)
            return ("service", name)

        def change_service_config2(handle, level, info):
            self._check("ChangeServiceConfig2")
            service = self._service(handle[1])
            if level == m.SERVICE_CONFIG_FAILURE_ACTIONS:
                # pywin32 parses this dict strictly (PyWinObject_AsSERVICE_FAILURE_ACTIONS).
                assert set(info) == {"ResetPeriod", "RebootMsg", "Command", "Actions"}
                assert all(isinstance(a, tuple) and len(a) == 2 for a in info["Actions"])
                service["failure_actions"] = info
            elif level == m.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG:
                service["failure_actions_on_error_exit"] = bool(info)
            else:
                raise AssertionError(f"unexpected ChangeServiceConfig2 level {level}")

        m.OpenSCManager = open_sc_manager
        m.OpenService = open_service
        m.ChangeServiceConfig2 = change_service_config2
        m.CloseServiceHandle = lambda handle: None
        return m

    # ------------------------------------------------------------------ servicemanager

    def _servicemanager(self) -> types.ModuleType:
        m = types.ModuleType("servicemanager")
        m.EVENTLOG_INFORMATION_TYPE, m.EVENTLOG_WARNING_TYPE, m.EVENTLOG_ERROR_TYPE = 4, 2, 1
        m.PYS_SERVICE_STARTED, m.PYS_SERVICE_STOPPED = 0x40000003, 0x40000006

        def log_msg(kind, event_id, inserts=None):
            label = {m.PYS_SERVICE_STARTED: "started", m.PYS_SERVICE_STOPPED: "stopped"}.get(event_id, event_id)
            self.event_log.append((label, tuple(inserts or ())))

        m.LogMsg = log_msg
        m.LogInfoMsg = lambda text: self.event_log.append(("info", text))
        m.LogWarningMsg = lambda text: self.event_log.append(("warning", text))
        m.LogErrorMsg = lambda text: self.event_log.append(("error", text))
        m.SetEventSourceName = lambda name, register_now=False: self.event_sources.append((name, bool(register_now)))
        m.RegisterServiceCtrlHandler = lambda name, handler, extra=False: ("ssh", name)
        return m

    # ------------------------------------------------------------------ win32serviceutil

    def _win32serviceutil(self) -> types.ModuleType:
        m = types.ModuleType("win32serviceutil")
        fake = self
        win32service, servicemanager = self.win32service, self.servicemanager

        class ServiceFramework:
            """As pywin32's: registers the control handler, reports statuses."""

            _svc_name_ = None

            def __init__(self, args):
                self.ssh = servicemanager.RegisterServiceCtrlHandler(args[0], self.ServiceCtrlHandlerEx, True)
                servicemanager.SetEventSourceName(self._svc_name_)
                self.checkPoint = 0
                self.reports: list[tuple[int, int]] = []
                self.running = threading.Event()

            def ReportServiceStatus(self, serviceStatus, waitHint=5000, win32ExitCode=0, svcExitCode=0):
                self.reports.append((serviceStatus, waitHint))
                if serviceStatus == win32service.SERVICE_RUNNING:
                    self.running.set()

            def ServiceCtrlHandlerEx(self, control, event_type, data):
                if control == win32service.SERVICE_CONTROL_STOP:
                    return self.SvcStop()
                if control == win32service.SERVICE_CONTROL_SHUTDOWN:
                    return self.SvcShutdown()
                return None

        def install_service(pythonClassString, serviceName, displayName, startType=None, errorControl=None,
                            bRunInteractive=0, serviceDeps=None, userName=None, password=None, exeName=None,
                            perfMonIni=None, perfMonDll=None, exeArgs=None, description=None, delayedstart=None):
            fake._check("InstallService")
            if serviceName in fake.services:
                raise FakeWinError(1073, "CreateService", "The specified service already exists.")
            fake.services[serviceName] = {
                "class": pythonClassString, "display_name": displayName, "start_type": startType,
                "delayed": delayedstart, "description": description, "exe": exeName, "exe_args": exeArgs,
                "user": userName, "parameters": {}, "state": win32service.SERVICE_STOPPED,
            }

        def set_option(serviceName, option, value):
            fake._check("SetServiceCustomOption")
            fake._service(serviceName)["parameters"][option] = value

        def get_option(serviceName, option, defaultValue=None):
            return fake._service(serviceName)["parameters"].get(option, defaultValue)

        def remove_service(serviceName):
            fake._check("RemoveService")
            fake._service(serviceName)
            del fake.services[serviceName]

        def start_service(serviceName, args=None, machine=None):
            fake.calls.append(("StartService", serviceName, args))
            service = fake._service(serviceName)
            if service["state"] == win32service.SERVICE_RUNNING:
                raise FakeWinError(1056, "StartService", "An instance of the service is already running.")
            service["state"] = win32service.SERVICE_RUNNING

        def stop_service(serviceName, machine=None):
            fake.calls.append(("StopService", serviceName))
            service = fake._service(serviceName)
            if service["state"] != win32service.SERVICE_RUNNING:
                raise FakeWinError(1062, "ControlService", "The service has not been started.")
            service["state"] = win32service.SERVICE_STOPPED

        def wait_for_status(serviceName, status, waitSecs, machine=None):
            fake.calls.append(("WaitForServiceStatus", serviceName, status, waitSecs))
            if fake._service(serviceName)["state"] != status:
                raise FakeWinError(1053, "QueryServiceStatus", "The service did not respond in a timely fashion.")

        def query_status(serviceName, machine=None):
            return (win32service.SERVICE_WIN32_OWN_PROCESS, fake._service(serviceName)["state"], 5, 0, 0, 0, 0)

        m.ServiceFramework = ServiceFramework
        m.InstallService = install_service
        m.SetServiceCustomOption = set_option
        m.GetServiceCustomOption = get_option
        m.RemoveService = remove_service
        m.StartService = start_service
        m.StopService = stop_service
        m.WaitForServiceStatus = wait_for_status
        m.QueryServiceStatus = query_status
        return m


@pytest.fixture
def fake_windows(monkeypatch, tmp_path):
    """pywin32 mocked through sys.modules, gazewire.agent.service.windows imported on top
    of it, %PROGRAMDATA% in tmp_path; everything restored afterwards."""
    fake = FakeWindows()
    names = ["gazewire.agent.service.windows", "gazewire.cli.service", *fake.modules()]
    saved = {name: sys.modules.get(name) for name in names}
    saved_attr = service_package.__dict__.get("windows")
    for name, module in fake.modules().items():
        sys.modules[name] = module
    sys.modules.pop("gazewire.agent.service.windows", None)
    sys.modules.pop("gazewire.cli.service", None)
    try:
        windows = importlib.import_module("gazewire.agent.service.windows")
        assert windows.pywin32_available()
        monkeypatch.setenv("PROGRAMDATA", str(tmp_path / "ProgramData"))
        for key in [k for k in list(os.environ) if k.startswith("GAZEWIRE_")]:
            monkeypatch.delenv(key)
        monkeypatch.chdir(tmp_path)  # the service chdirs to %PROGRAMDATA%\gazewire; undone after the test
        fake.windows = windows
        yield fake
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if saved_attr is None:
            service_package.__dict__.pop("windows", None)
        else:
            service_package.windows = saved_attr


def write_config(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text or 'source = "simulated"\nsession = "pc-1"\n\n[mqtt]\nhost = "broker.lab"\n')
    return path


# --------------------------------------------------------------------------- install and friends (mocked)


@pytest.mark.parametrize(
    ("startup", "start_type", "delayed"),
    [("auto", "SERVICE_AUTO_START", False), ("delayed", "SERVICE_AUTO_START", True),
     ("manual", "SERVICE_DEMAND_START", None)],
)
def test_install_passes_name_display_name_startup_and_config(fake_windows, tmp_path, capsys, startup, start_type,
                                                             delayed):
    config = write_config(tmp_path / "configs" / "agent.toml")
    assert main(["agent", "service", "install", "--config", str(config), "--startup", startup,
                 "--name", "gazewire-agent-2"]) == 0
    service = fake_windows.services["gazewire-agent-2"]
    assert service["class"] == "gazewire.agent.service.windows.GazewireAgentService"
    assert service["display_name"] == "gazewire agent (gazewire-agent-2)"
    assert service["start_type"] == getattr(fake_windows.win32service, start_type)
    assert service["delayed"] is delayed
    assert service["exe"] is None  # pywin32's pythonservice.exe hosts the class
    assert service["user"] is None  # LocalSystem
    assert "eye tracker" in service["description"]
    assert service["parameters"] == {"config": str(config)}
    assert service["failure_actions"]["Actions"] == ((1, 5000), (1, 5000), (1, 30000))
    assert service["failure_actions"]["ResetPeriod"] == 86400
    assert service["failure_actions_on_error_exit"] is True
    assert ("gazewire-agent-2", True) in fake_windows.event_sources  # event log source registered at install
    out = capsys.readouterr().out
    assert str(config) in out and "gazewire agent service start --name gazewire-agent-2" in out


def test_install_defaults(fake_windows, tmp_path, monkeypatch):
    config = write_config(tmp_path / "ProgramData" / "gazewire" / "agent.toml")
    monkeypatch.chdir(tmp_path / "ProgramData")
    assert main(["agent", "service", "install"]) == 0
    service = fake_windows.services["gazewire-agent"]
    assert service["display_name"] == "gazewire agent"
    assert service["start_type"] == fake_windows.win32service.SERVICE_AUTO_START and service["delayed"] is False
    assert service["parameters"]["config"] == str(config)


def test_relative_config_path_is_stored_absolute(fake_windows, tmp_path, monkeypatch):
    write_config(tmp_path / "here" / "lab.toml")
    monkeypatch.chdir(tmp_path / "here")
    assert main(["agent", "service", "install", "--config", "lab.toml"]) == 0
    assert fake_windows.services["gazewire-agent"]["parameters"]["config"] == str(tmp_path / "here" / "lab.toml")


def test_install_refuses_a_config_that_does_not_load(fake_windows, tmp_path, capsys):
    config = write_config(tmp_path / "agent.toml", 'sesion = "typo"\n')
    assert main(["agent", "service", "install", "--config", str(config)]) == 2
    assert "sesion" in capsys.readouterr().err
    assert fake_windows.services == {}
    missing = tmp_path / "missing.toml"
    assert main(["agent", "service", "install", "--config", str(missing)]) == 2
    assert main(["agent", "service", "install", "--config", str(missing), "--no-check"]) == 0
    assert fake_windows.services["gazewire-agent"]["parameters"]["config"] == str(missing)


def test_install_errors_are_one_clear_line(fake_windows, tmp_path, capsys):
    config = write_config(tmp_path / "agent.toml")
    fake_windows.fail["InstallService"] = FakeWinError(5, "OpenSCManager", "Access is denied.")
    assert main(["agent", "service", "install", "--config", str(config)]) == 1
    assert capsys.readouterr().err.strip() == (
        "gazewire: installing service 'gazewire-agent' failed: Access is denied. (5): "
        "run the command from an administrator prompt"
    )
    assert main(["agent", "service", "install", "--config", str(config)]) == 0
    assert main(["agent", "service", "install", "--config", str(config)]) == 1
    assert "exists (remove it first, or choose another --name)" in capsys.readouterr().err


def test_a_half_installed_service_is_removed(fake_windows, tmp_path):
    config = write_config(tmp_path / "agent.toml")
    fake_windows.fail["ChangeServiceConfig2"] = FakeWinError(5, "ChangeServiceConfig2", "Access is denied.")
    assert main(["agent", "service", "install", "--config", str(config)]) == 1
    assert fake_windows.services == {}


def test_start_stop_status_remove(fake_windows, tmp_path, capsys):
    config = write_config(tmp_path / "agent.toml")
    assert main(["agent", "service", "install", "--config", str(config), "--name", "gw"]) == 0
    running = fake_windows.win32service.SERVICE_RUNNING
    stopped = fake_windows.win32service.SERVICE_STOPPED

    assert main(["agent", "service", "start", "--name", "gw"]) == 0
    assert fake_windows.calls[-2:] == [("StartService", "gw", None), ("WaitForServiceStatus", "gw", running, 60)]
    assert main(["agent", "service", "start", "--name", "gw"]) == 1  # already running: pywin32's error, one line

    status_file = tmp_path / "ProgramData" / "gazewire" / "gw.status"
    status_file.parent.mkdir(parents=True, exist_ok=True)
    status_file.write_text("tracking, connected; 1200 samples in, 1100 published, 0 dropped, outbox 1\n")
    capsys.readouterr()
    assert main(["agent", "service", "status", "--name", "gw"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "service 'gw': running",
        f"config: {config}",
        "agent: tracking, connected; 1200 samples in, 1100 published, 0 dropped, outbox 1",
    ]

    assert main(["agent", "service", "stop", "--name", "gw", "--wait", "5"]) == 0
    assert fake_windows.calls[-2:] == [("StopService", "gw"), ("WaitForServiceStatus", "gw", stopped, 5)]

    assert main(["agent", "service", "start", "--name", "gw", "--config", "other.toml", "--no-wait"]) == 0
    assert fake_windows.calls[-1] == ("StartService", "gw", ["--config", "other.toml"])

    assert main(["agent", "service", "remove", "--name", "gw"]) == 0  # stops first
    assert fake_windows.calls[-2] == ("StopService", "gw") and fake_windows.services == {}
    capsys.readouterr()
    assert main(["agent", "service", "remove", "--name", "gw"]) == 1
    assert "no service 'gw'" in capsys.readouterr().err


def test_config_path_for_a_run(fake_windows, tmp_path):
    windows = fake_windows.windows
    config = write_config(tmp_path / "agent.toml")
    windows.install_service(config=config, name="gw")
    assert windows.configured_config_path("gw") == config
    assert windows.configured_config_path("gw", ["--config", "D:/lab/other.toml"]) == Path("D:/lab/other.toml")
    fake_windows.services["gw"]["parameters"].clear()
    assert windows.configured_config_path("gw") == tmp_path / "ProgramData" / "gazewire" / "agent.toml"


def test_notifier_never_raises_into_the_agent(fake_windows, tmp_path, caplog):
    windows = fake_windows.windows

    class BrokenService:
        def ReportServiceStatus(self, *args, **kwargs):
            raise FakeWinError(6, "SetServiceStatus", "The handle is invalid.")

    status_file = tmp_path / "no-such-dir-allowed" / "x.status"
    notifier = windows.WindowsServiceNotifier(BrokenService(), "gw", status_file=status_file)
    notifier.ready()
    notifier.watchdog()
    notifier.status("tracking")
    notifier.stopping()
    assert notifier.last_status == "stopping: flushing to the broker"
    assert status_file.read_text() == "stopping: flushing to the broker\n"
    assert sum("further failures are not logged" in r.getMessage() for r in caplog.records) == 1


# --------------------------------------------------------------------------- the service runs the agent


def run_service(windows, name: str):
    """What pythonservice.exe does: instantiate the class with the service name,
    call SvcRun on the service thread."""
    service = windows.GazewireAgentService([name])
    errors: list[BaseException] = []

    def target():
        try:
            service.SvcRun()
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    thread = threading.Thread(target=target, name="service-main", daemon=True)
    thread.start()
    return service, thread, errors


def statuses(messages, session):
    return [json.loads(m.payload)["state"] for m in messages if m.topic == f"lab/{session}/status"]


@pytest.mark.broker
def test_service_runs_the_agent_and_stop_requests_shutdown(fake_windows, broker, tmp_path):
    windows = fake_windows.windows
    win32service = fake_windows.win32service
    session = "svc-" + uuid.uuid4().hex[:6]
    config = write_config(
        tmp_path / "ProgramData" / "gazewire" / "agent.toml",
        f'session = "{session}"\nsource = "simulated"\nstatus_interval_s = 0.5\n\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n',
    )
    windows.install_service(config=config, name="gazewire-agent")
    watcher = LabDevice(broker.host, broker.port, [f"lab/{session}/status"])
    try:
        service, thread, errors = run_service(windows, "gazewire-agent")
        assert service.running.wait(30), (service.reports, errors)
        assert service.reports[0] == (win32service.SERVICE_START_PENDING, windows.START_WAIT_HINT_MS)
        watcher.wait_for(lambda m: "tracking" in statuses(m, session), timeout_s=30, what="status tracking")
        status_file = tmp_path / "ProgramData" / "gazewire" / "gazewire-agent.status"
        watcher.wait_for(lambda m: status_file.exists(), timeout_s=10, what="the status file")

        # The SCM's stop control, on the SCM's thread.
        service.ServiceCtrlHandlerEx(win32service.SERVICE_CONTROL_STOP, 0, None)
        thread.join(30)
        assert not thread.is_alive() and errors == []
        watcher.wait_for(lambda m: statuses(m, session)[-1:] == ["offline"], what="status offline")
    finally:
        watcher.close()

    states = [state for state, _ in service.reports]
    running = states.index(win32service.SERVICE_RUNNING)
    assert states[:running] == [win32service.SERVICE_START_PENDING]
    assert states[running + 1:] and set(states[running + 1:]) == {win32service.SERVICE_STOP_PENDING}
    assert (win32service.SERVICE_STOP_PENDING, windows.STOP_WAIT_HINT_MS) in service.reports
    # Same agent, same config; data where the service keeps it; logs and event log.
    data = tmp_path / "ProgramData" / "gazewire" / "data"
    assert (data / "outbox" / f"{session}.sqlite3").exists()
    assert list((data / "recordings").iterdir())
    log_text = (tmp_path / "ProgramData" / "gazewire" / "logs" / "gazewire-agent.log").read_text()
    assert f"starting with {config}" in log_text and "service gazewire-agent running" in log_text
    assert "stopped: " in log_text  # the agent's own last line
    assert ("started", ("gazewire-agent", "")) in fake_windows.event_log
    assert ("stopped", ("gazewire-agent", "")) in fake_windows.event_log
    assert status_file.read_text().startswith("stopping")


def test_a_bad_config_stops_the_service_without_a_restart_loop(fake_windows, tmp_path):
    windows = fake_windows.windows
    config = write_config(tmp_path / "agent.toml", 'source = "simulated"\npublish_hz = -1\n')
    windows.install_service(config=config, name="gazewire-agent", check_config=False)
    service, thread, errors = run_service(windows, "gazewire-agent")
    thread.join(30)
    assert not thread.is_alive()
    assert errors == []  # returned normally: the recovery actions do not fire
    assert fake_windows.win32service.SERVICE_RUNNING not in [state for state, _ in service.reports]
    logged = [text for kind, text in fake_windows.event_log if kind == "error"]
    assert len(logged) == 1 and "publish_hz" in logged[0]


def test_stop_before_the_agent_exists_still_stops(fake_windows, tmp_path):
    windows = fake_windows.windows
    config = write_config(tmp_path / "agent.toml", 'source = "simulated"\nsession = "early"\n\n[mqtt]\nport = 1\n')
    windows.install_service(config=config, name="gazewire-agent")
    service = windows.GazewireAgentService(["gazewire-agent"])
    service.SvcStop()  # before SvcRun: the agent shuts down as soon as it is built
    service.SvcRun()
    states = [state for state, _ in service.reports]
    assert states[0] == fake_windows.win32service.SERVICE_STOP_PENDING
    assert states[-1] == fake_windows.win32service.SERVICE_STOP_PENDING


# --------------------------------------------------------------------------- the WinSW alternative


def test_winsw_config_runs_the_same_agent_command():
    import xml.etree.ElementTree as ET

    from gazewire.agent.inputs.tobii import JOIN_TIMEOUT_S
    from gazewire.agent.service.windows import DEFAULT_SERVICE_NAME
    from gazewire.cli.main import build_parser

    root = ET.parse(REPO / "deploy" / "windows" / "gazewire-agent.xml").getroot()
    assert root.tag == "service"
    text = {child.tag: (child.text or "").strip() for child in root}
    assert text["id"] == DEFAULT_SERVICE_NAME  # the same name as the pywin32 service: one or the other
    assert text["executable"].endswith(r"\venv\Scripts\gazewire.exe")
    argv = [part.strip('"') for part in text["arguments"].split()]
    args = build_parser().parse_args(argv)
    assert (args.command, args.agent_command) == ("agent", "run")
    assert args.config == r"%ProgramData%\gazewire\agent.toml"
    env = {e.get("name"): e.get("value") for e in root.iter("env")}
    assert env["STATE_DIRECTORY"] == r"%ProgramData%\gazewire\data"  # where the pywin32 service keeps data
    assert text["startmode"] == "Automatic" and text["delayedAutoStart"] == "true"
    number, unit = text["stoptimeout"].split()
    assert unit == "sec" and int(number) > 5 + 2 + JOIN_TIMEOUT_S
    failures = [(f.get("action"), f.get("delay")) for f in root.iter("onfailure")]
    assert failures and all(action == "restart" for action, _ in failures)
    log = root.find("log")
    assert log is not None and log.get("mode") == "roll-by-size"
    assert int(log.findtext("sizeThreshold")) > 0 and int(log.findtext("keepFiles")) > 0
    assert text["logpath"] == r"%ProgramData%\gazewire\logs"
