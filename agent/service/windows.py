"""The agent as a Windows service, through pywin32 (the ``windows`` extra).

The service runs the same agent as ``gazewire agent run``
(:class:`gazewire.agent.runtime.Agent` with :func:`gazewire.agent.inputs.factory.open_source`)
with the same TOML config file:

- ``gazewire agent service install --config PATH`` registers the service with
  pywin32's host, ``pythonservice.exe``, and stores the config path in the
  registry (``HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>\\Parameters``,
  value ``config``). Default: ``%PROGRAMDATA%\\gazewire\\agent.toml``. A start
  parameter ``--config PATH`` overrides it for one run.
- The service reports ``SERVICE_START_PENDING`` until the agent says it is
  ready, then ``SERVICE_RUNNING`` (:class:`WindowsServiceNotifier`); a stop
  request (or Windows shutting down) calls :meth:`Agent.request_shutdown` and
  reports ``SERVICE_STOP_PENDING`` while the agent flushes.
- Logs go to ``%PROGRAMDATA%\\gazewire\\logs\\<name>.log`` (rotated), warnings
  and errors also to the Windows event log (Application, source ``<name>``).
  The last status line (state and counters) is kept in
  ``%PROGRAMDATA%\\gazewire\\<name>.status`` for ``gazewire agent service status``.
- Unless the config sets ``data_dir``, the outbox and recordings live in
  ``%PROGRAMDATA%\\gazewire\\data`` (the service account's own profile
  directory is no place for them). The working directory is
  ``%PROGRAMDATA%\\gazewire``, so a ``.env`` file there can hold secrets.
- Install also sets the recovery actions: restart after 5 s, 5 s and 30 s,
  reset the failure count after a day (the Windows counterpart of systemd's
  ``Restart=on-failure``). A bad config file is not retried: the service logs
  the error and stops.

This module imports on any platform. pywin32 is imported when the module is
loaded, guarded; everything that needs it raises :class:`ServiceError` with
:data:`NEEDS_WINDOWS` when it is missing.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gazewire.errors import GazewireError

try:  # pywin32: only on Windows, with the 'windows' extra
    import servicemanager
    import win32service
    import win32serviceutil
except ImportError as error:  # Linux, macOS, or pywin32 missing/broken on Windows
    servicemanager = win32service = win32serviceutil = None  # type: ignore[assignment]
    _PYWIN32_ERROR: ImportError | None = error
else:
    _PYWIN32_ERROR = None

log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "gazewire-agent"
DEFAULT_DISPLAY_NAME = "gazewire agent"
DESCRIPTION = "Streams gaze from the eye tracker to the lab MQTT broker (gazewire agent)."
STARTUP_TYPES = ("auto", "delayed", "manual")
CONFIG_OPTION = "config"  # registry value under Services\<name>\Parameters
START_WAIT_HINT_MS = 60_000  # the SCM waits this long for RUNNING
# The agent's flush: 5 s for acknowledgements, 2 s for the offline status, up to
# 10 s for the Tobii SDK to stop.
STOP_WAIT_HINT_MS = 30_000
RESTART_DELAYS_MS = (5_000, 5_000, 30_000)
RESET_FAILURES_AFTER_S = 24 * 3600
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5

NEEDS_WINDOWS = (
    "Windows services need Windows and the 'windows' extra (pywin32): pip install pywin32"
)
LINUX_HINT = (
    "On Linux, run the agent with systemd instead: deploy/systemd/gazewire-agent.service "
    "(see docs/services.md)."
)
ERROR_ACCESS_DENIED = 5
ERROR_SERVICE_DOES_NOT_EXIST = 1060
ERROR_SERVICE_NOT_ACTIVE = 1062
ERROR_SERVICE_EXISTS = 1073


class ServiceError(GazewireError):
    """A Windows service cannot be installed, controlled or run."""


def pywin32_available() -> bool:
    return _PYWIN32_ERROR is None


def require_pywin32() -> None:
    """Raise :class:`ServiceError` saying what is missing, unless pywin32 is there."""
    if _PYWIN32_ERROR is None:
        return
    if sys.platform != "win32":
        raise ServiceError(f"{NEEDS_WINDOWS}. {LINUX_HINT}")
    raise ServiceError(
        f"{NEEDS_WINDOWS} (importing pywin32 failed: {_PYWIN32_ERROR}; if it is installed, "
        "run 'pywin32_postinstall -install' from an administrator prompt)"
    )


# --------------------------------------------------------------------------- where things live


def program_data_dir() -> Path:
    """``%PROGRAMDATA%\\gazewire``: config, logs, data and status of the service."""
    return Path(os.environ.get("PROGRAMDATA") or r"C:\ProgramData") / "gazewire"


def default_config_path() -> Path:
    return program_data_dir() / "agent.toml"


def logs_dir() -> Path:
    return program_data_dir() / "logs"


def service_data_dir() -> Path:
    """Outbox and recordings, unless the config file sets ``data_dir``."""
    return program_data_dir() / "data"


def status_path(name: str) -> Path:
    return program_data_dir() / f"{name}.status"


# --------------------------------------------------------------------------- the notifier


class WindowsServiceNotifier:
    """Maps the agent's :class:`~gazewire.agent.runtime.ServiceNotifier` calls to the
    service status the SCM sees. Never raises into the agent."""

    def __init__(self, service: Any, name: str, *, status_file: Path | None = None) -> None:
        self.service = service
        self.name = name
        self.status_file = status_file
        self.last_status: str | None = None
        self._warned = False

    def ready(self) -> None:
        self._report(win32service.SERVICE_RUNNING)
        try:
            servicemanager.LogMsg(
                servicemanager.EVENTLOG_INFORMATION_TYPE, servicemanager.PYS_SERVICE_STARTED, (self.name, "")
            )
        except Exception as error:  # noqa: BLE001 - the event log is a nicety; never fail the agent
            self._warn("cannot write to the event log", error)
        log.info("service %s running", self.name)

    def watchdog(self) -> None:
        """The SCM has no watchdog; crashes are handled by the recovery actions."""

    def status(self, text: str) -> None:
        self.last_status = text
        if self.status_file is None:
            return
        try:
            self.status_file.parent.mkdir(parents=True, exist_ok=True)
            partial = self.status_file.with_suffix(".tmp")
            partial.write_text(text + "\n", encoding="utf-8")
            os.replace(partial, self.status_file)
        except OSError as error:
            self._warn(f"cannot write {self.status_file}", error)

    def stopping(self) -> None:
        self._report(win32service.SERVICE_STOP_PENDING, STOP_WAIT_HINT_MS)
        self.status("stopping: flushing to the broker")

    def _report(self, state: int, wait_hint_ms: int = 5000) -> None:
        try:
            self.service.ReportServiceStatus(state, waitHint=wait_hint_ms)
        except Exception as error:  # noqa: BLE001 - pywintypes.error and the like; never fail the agent
            self._warn("cannot report the service status", error)

    def _warn(self, what: str, error: BaseException) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s: %s (further failures are not logged)", what, error)


# --------------------------------------------------------------------------- logging


class EventLogHandler(logging.Handler):
    """Warnings and errors to the Windows event log, through pythonservice's
    message DLL (source: the service name)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.ERROR:
                servicemanager.LogErrorMsg(text)
            else:
                servicemanager.LogWarningMsg(text)
        except Exception:  # noqa: BLE001 - logging.Handler's contract
            self.handleError(record)


@dataclass
class _LoggingState:
    handlers: list[logging.Handler]
    level: int


def start_service_logging(name: str, directory: Path | None = None) -> _LoggingState:
    """Add the log file and the event log to the root logger (undone by
    :func:`stop_service_logging`)."""
    directory = directory or logs_dir()
    directory.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        directory / f"{name}.log", maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
    )
    event_handler = EventLogHandler(level=logging.WARNING)
    event_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    state = _LoggingState([file_handler, event_handler], root.level)
    for handler in state.handlers:
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    return state


def set_log_level(level: str) -> None:
    logging.getLogger().setLevel(level)
    logging.getLogger("gazewire.mqtt.paho").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)


def stop_service_logging(state: _LoggingState) -> None:
    root = logging.getLogger()
    for handler in state.handlers:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(state.level)


# --------------------------------------------------------------------------- settings


def configured_config_path(name: str, start_args: Sequence[str] = ()) -> Path:
    """The config file for this run: a ``--config PATH`` start parameter, else
    the path stored at install, else :func:`default_config_path`."""
    parser = argparse.ArgumentParser(prog=name, add_help=False)
    parser.add_argument("--config", "-c")
    known, _ = parser.parse_known_args(list(start_args))
    if known.config:
        return Path(known.config)
    stored = win32serviceutil.GetServiceCustomOption(name, CONFIG_OPTION, None)
    return Path(stored) if stored else default_config_path()


def load_service_settings(config_path: Path):
    """The agent's settings from ``config_path``, exactly as ``gazewire agent
    run --config`` loads them; ``data_dir`` defaults to :func:`service_data_dir`."""
    from gazewire.agent.config import AgentSettings
    from gazewire.settings import load_settings

    settings = load_settings(AgentSettings, config_file=config_path)
    if "data_dir" not in settings.model_fields_set:
        settings = settings.model_copy(update={"data_dir": service_data_dir()})
    return settings


# --------------------------------------------------------------------------- the service


_ServiceBase: Any = win32serviceutil.ServiceFramework if win32serviceutil is not None else object


class GazewireAgentService(_ServiceBase):
    """The pywin32 service class; ``pythonservice.exe`` instantiates it with
    ``args = [service name, start parameters...]``."""

    _svc_name_ = DEFAULT_SERVICE_NAME
    _svc_display_name_ = DEFAULT_DISPLAY_NAME
    _svc_description_ = DESCRIPTION

    def __init__(self, args: Sequence[str]) -> None:
        require_pywin32()
        win32serviceutil.ServiceFramework.__init__(self, args)
        self.service_name = str(args[0]) if args else self._svc_name_
        self.start_args = [str(a) for a in args[1:]]
        servicemanager.SetEventSourceName(self.service_name)
        self.agent: Any = None
        self.notifier: WindowsServiceNotifier | None = None
        self._stop_requested = threading.Event()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ SCM controls (the SCM's thread)

    def SvcStop(self) -> None:  # pywin32's method names
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)
        log.info("service %s: stop requested", self.service_name)
        with self._lock:
            self._stop_requested.set()
            if self.agent is not None:
                self.agent.request_shutdown()

    def SvcShutdown(self) -> None:  # Windows is shutting down
        self.SvcStop()

    # ------------------------------------------------------------------ running (the service's thread)

    def SvcRun(self) -> None:
        # ServiceFramework.SvcRun reports RUNNING at once; the agent reports it
        # through the notifier when it is ready.
        self.ReportServiceStatus(win32service.SERVICE_START_PENDING, waitHint=START_WAIT_HINT_MS)
        self.SvcDoRun()
        self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=STOP_WAIT_HINT_MS)

    def SvcDoRun(self) -> None:
        from gazewire.agent.inputs.factory import open_source
        from gazewire.agent.runtime import Agent
        from gazewire.settings import SettingsError

        logging_state = start_service_logging(self.service_name)
        try:
            home = program_data_dir()
            home.mkdir(parents=True, exist_ok=True)
            os.chdir(home)  # a .env file here is read like in a console
            config_path = configured_config_path(self.service_name, self.start_args)
            log.info("service %s: starting with %s", self.service_name, config_path)
            try:
                settings = load_service_settings(config_path)
            except SettingsError as error:
                # Restarting will not fix a bad config: log it and stop.
                log.error("service %s not started: %s", self.service_name, error)
                return
            set_log_level(settings.log_level)
            self.notifier = WindowsServiceNotifier(self, self.service_name, status_file=status_path(self.service_name))
            agent = Agent(settings, open_source(settings), notifier=self.notifier)
            with self._lock:
                self.agent = agent
                if self._stop_requested.is_set():
                    agent.request_shutdown()
            agent.run()
            log.info("service %s stopped", self.service_name)
            servicemanager.LogMsg(
                servicemanager.EVENTLOG_INFORMATION_TYPE, servicemanager.PYS_SERVICE_STOPPED, (self.service_name, "")
            )
        except Exception:
            log.exception("service %s failed", self.service_name)
            raise  # the SCM records the failure and the recovery actions restart the service
        finally:
            stop_service_logging(logging_state)


def service_class_string() -> str:
    """What ``pythonservice.exe`` imports: ``gazewire.agent.service.windows.GazewireAgentService``."""
    return f"{GazewireAgentService.__module__}.{GazewireAgentService.__qualname__}"


# --------------------------------------------------------------------------- managing the service


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    config: str | None
    last_status: str | None


_STATE_NAMES = {
    "SERVICE_STOPPED": "stopped",
    "SERVICE_START_PENDING": "starting",
    "SERVICE_STOP_PENDING": "stopping",
    "SERVICE_RUNNING": "running",
    "SERVICE_CONTINUE_PENDING": "continuing",
    "SERVICE_PAUSE_PENDING": "pausing",
    "SERVICE_PAUSED": "paused",
}


def install_service(
    *,
    config: str | Path | None = None,
    startup: str = "auto",
    name: str = DEFAULT_SERVICE_NAME,
    display_name: str | None = None,
    check_config: bool = True,
) -> Path:
    """Register the service; return the absolute config path it will use."""
    require_pywin32()
    if startup not in STARTUP_TYPES:
        raise ServiceError(f"--startup {startup!r}: choose one of {', '.join(STARTUP_TYPES)}")
    config_path = Path(os.path.abspath(config if config is not None else default_config_path()))
    if check_config:
        from gazewire.settings import SettingsError

        try:
            load_service_settings(config_path)
        except SettingsError as error:
            raise SettingsError(f"{error} (fix the config before installing the service)") from None
    start_type = {
        "auto": win32service.SERVICE_AUTO_START,
        "delayed": win32service.SERVICE_AUTO_START,
        "manual": win32service.SERVICE_DEMAND_START,
    }[startup]
    delayed = {"auto": False, "delayed": True, "manual": None}[startup]
    with _windows_errors(f"installing service {name!r}", name):
        win32serviceutil.InstallService(
            service_class_string(),
            name,
            display_name or (DEFAULT_DISPLAY_NAME if name == DEFAULT_SERVICE_NAME else f"{DEFAULT_DISPLAY_NAME} ({name})"),
            startType=start_type,
            description=DESCRIPTION,
            delayedstart=delayed,
        )
    try:
        with _windows_errors(f"configuring service {name!r}", name):
            win32serviceutil.SetServiceCustomOption(name, CONFIG_OPTION, str(config_path))
            _set_recovery_actions(name)
            servicemanager.SetEventSourceName(name, True)  # register the event log source now, as admin
    except ServiceError:
        try:  # a half-installed service would start without its config
            win32serviceutil.RemoveService(name)
        except Exception:  # noqa: BLE001 - best effort; the install error is what matters
            log.warning("could not remove the partially installed service %s", name)
        raise
    _warn_if_python_dll_not_on_machine_path()
    return config_path


def remove_service(name: str = DEFAULT_SERVICE_NAME) -> None:
    require_pywin32()
    try:
        stop_service(name, wait_s=40)
    except ServiceError as error:  # not running (or not there: RemoveService says so below)
        if getattr(error, "winerror", None) not in (ERROR_SERVICE_NOT_ACTIVE, ERROR_SERVICE_DOES_NOT_EXIST):
            raise
    with _windows_errors(f"removing service {name!r}", name):
        win32serviceutil.RemoveService(name)


def start_service(name: str = DEFAULT_SERVICE_NAME, *, wait_s: int = 60, args: Sequence[str] | None = None) -> None:
    """Start the service and wait until the agent reports RUNNING."""
    require_pywin32()
    with _windows_errors(f"starting service {name!r}", name):
        win32serviceutil.StartService(name, list(args) if args else None)
        if wait_s:
            win32serviceutil.WaitForServiceStatus(name, win32service.SERVICE_RUNNING, wait_s)


def stop_service(name: str = DEFAULT_SERVICE_NAME, *, wait_s: int = 40) -> None:
    """Ask the service to stop and wait until the agent has flushed and exited."""
    require_pywin32()
    with _windows_errors(f"stopping service {name!r}", name):
        win32serviceutil.StopService(name)
        if wait_s:
            win32serviceutil.WaitForServiceStatus(name, win32service.SERVICE_STOPPED, wait_s)


def service_status(name: str = DEFAULT_SERVICE_NAME) -> ServiceStatus:
    require_pywin32()
    with _windows_errors(f"querying service {name!r}", name):
        code = win32serviceutil.QueryServiceStatus(name)[1]
        config = win32serviceutil.GetServiceCustomOption(name, CONFIG_OPTION, None)
    state = next(
        (label for constant, label in _STATE_NAMES.items() if getattr(win32service, constant, None) == code),
        f"state {code}",
    )
    try:
        last = status_path(name).read_text(encoding="utf-8").strip() or None
    except OSError:
        last = None
    return ServiceStatus(name=name, state=state, config=config, last_status=last)


def _set_recovery_actions(name: str) -> None:
    """Restart on failure (crash or error exit), like systemd's Restart=on-failure."""
    scm = win32service.OpenSCManager(None, None, win32service.SC_MANAGER_ALL_ACCESS)
    try:
        handle = win32service.OpenService(scm, name, win32service.SERVICE_ALL_ACCESS)
        try:
            win32service.ChangeServiceConfig2(
                handle,
                win32service.SERVICE_CONFIG_FAILURE_ACTIONS,
                {
                    "ResetPeriod": RESET_FAILURES_AFTER_S,
                    "RebootMsg": None,
                    "Command": None,
                    "Actions": tuple((win32service.SC_ACTION_RESTART, delay) for delay in RESTART_DELAYS_MS),
                },
            )
            # Also when the service stops with an error code, not only when the process dies.
            win32service.ChangeServiceConfig2(handle, win32service.SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, True)
        finally:
            win32service.CloseServiceHandle(handle)
    finally:
        win32service.CloseServiceHandle(scm)


class _windows_errors:
    """Turns pywin32's errors into one-line :class:`ServiceError` messages."""

    def __init__(self, doing: str, name: str) -> None:
        self.doing, self.name = doing, name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is None or not isinstance(error, win32service.error):
            return False
        code = getattr(error, "winerror", None)
        text = getattr(error, "strerror", None) or str(error)
        hint = ""
        if code == ERROR_ACCESS_DENIED:
            hint = ": run the command from an administrator prompt"
        elif code == ERROR_SERVICE_DOES_NOT_EXIST:
            hint = f": no service {self.name!r} (gazewire agent service install --name {self.name})"
        elif code == ERROR_SERVICE_EXISTS:
            hint = f": service {self.name!r} exists (remove it first, or choose another --name)"
        failure = ServiceError(f"{self.doing} failed: {text} ({code}){hint}")
        failure.winerror = code  # type: ignore[attr-defined]
        raise failure from None


def _warn_if_python_dll_not_on_machine_path() -> None:  # pragma: no cover - Windows only
    """pythonservice.exe (copied into the venv) must find pythonXY.dll; a
    service sees only the machine PATH, not the installing user's."""
    if sys.platform != "win32":
        return
    try:
        import winreg

        python_dir = os.path.normcase(os.path.dirname(os.path.abspath(sys._base_executable)))  # type: ignore[attr-defined]
        key = winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\Session Manager\Environment"
        )
        with key:
            machine_path = winreg.QueryValueEx(key, "Path")[0]
        entries = {os.path.normcase(os.path.expandvars(p)).rstrip("\\") for p in machine_path.split(";") if p}
        if python_dir.rstrip("\\") not in entries:
            print(
                f"warning: {python_dir} is not on the machine PATH; the service may fail to start "
                "(error 1053) because pythonservice.exe cannot find the Python DLL. Install Python "
                "for all users with 'Add Python to environment variables', or add that directory "
                "to the system PATH, then reboot or restart the Service Control Manager.",
                file=sys.stderr,
            )
    except Exception as error:  # noqa: BLE001 - only a hint
        log.debug("could not check the machine PATH: %s", error)
