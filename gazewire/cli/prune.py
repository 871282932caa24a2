"""``gazewire status --prune``: clear the retained statuses of offline and stale
agents and processors, after saying which and asking.

    $ gazewire status --prune --broker labserver --username alice
    session room3: offline for 9 days
    session old-pc: says tracking, but not refreshed for 3 h
    clear these 2 retained statuses? [y/N] y
    cleared 2 retained statuses

Without a terminal to ask at, ``--yes`` confirms; without it nothing is cleared
(exit 2). An agent that is running republishes its status within its status
interval, so clearing one by mistake costs nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from gazewire.client.pruning import clear_retained, prunable
from gazewire.client.statuses import Statuses
from gazewire.errors import SettingsError
from gazewire.wire.topics import Topics


def prune(settings: Any, statuses: Statuses, *, yes: bool, timeout_s: float) -> int:
    found = prunable(statuses, Topics(settings.topic_prefix))
    if not found:
        print("nothing to prune: every retained status is of a program that is there")
        return 0
    for item in found:
        print(f"{item.who}: {item.why}")
    if not yes:
        if not sys.stdin.isatty():
            raise SettingsError("--prune: confirm with --yes (there is no terminal to ask at); nothing was cleared")
        answer = input(f"clear these {len(found)} retained statuses? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing cleared")
            return 1
    refused = clear_retained(settings.mqtt, [item.topic for item in found], timeout_s=timeout_s)
    cleared = len(found) - len(refused)
    print(f"cleared {cleared} retained status{'es' if cleared != 1 else ''}")
    for topic, reason in sorted(refused.items()):
        print(f"not cleared: {topic}: the broker refused ({reason}; the operator role may clear statuses)",
              file=sys.stderr)
    return 0 if not refused else 1
