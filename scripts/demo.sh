#!/usr/bin/env bash
# gazewire demo: a local Mosquitto, simulated agents, the processor and a live
# console view. Stop it with Ctrl-C. Extra arguments go to `gazewire demo`
# (try --help). Set GAZEWIRE_MQTT__HOST to use an existing broker instead.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
if [ -z "${GAZEWIRE_MQTT__HOST:-}" ] && ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    apt_install "the demo's local broker" mosquitto
fi
ensure_venv "demo"
exec "$GW_VENV/bin/gazewire" demo "$@"
