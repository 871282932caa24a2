"""Running the agent under a service manager.

- :mod:`gazewire.agent.service.systemd`: ``sd_notify`` for a ``Type=notify`` unit
  (``deploy/systemd/gazewire-agent.service``): READY, WATCHDOG, STATUS, STOPPING.
- :mod:`gazewire.agent.service.windows`: a Windows service through pywin32 (the
  ``windows`` extra) that runs the same agent with the same config file.
- :mod:`gazewire.cli.service`: ``gazewire agent service install|remove|start|stop|status``.

Every module here imports on any platform; pywin32 is only needed when a
Windows service is actually installed or run.
"""
