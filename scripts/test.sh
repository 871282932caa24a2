#!/usr/bin/env bash
# gazewire tests: installs what they need (Mosquitto, VictoriaMetrics,
# Chromium from apt; Python packages into .venv; the Tobii SDK into
# .venv-py310 when python3.10 exists), then runs pytest. Extra arguments go
# to pytest, e.g. scripts/test.sh -k outbox.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
apt_install "the tests (real broker, time-series server, browser)" \
    mosquitto mosquitto-clients victoria-metrics chromium systemd iproute2
ensure_venv "dev"

# The real Tobii Pro SDK only has wheels for CPython 3.10.
if PY310="$(find_python310)"; then
    GW_VENV310="$GW_ROOT/.venv-py310"
    if [ ! -x "$GW_VENV310/bin/python" ]; then
        say "creating $GW_VENV310 for the Tobii Pro SDK (CPython 3.10 only)"
        "$PY310" -m venv "$GW_VENV310"
    fi
    if [ ! -f "$GW_VENV310/.gazewire-installed" ] || [ "$GW_ROOT/pyproject.toml" -nt "$GW_VENV310/.gazewire-installed" ] || [ "$GW_ROOT/setup.py" -nt "$GW_VENV310/.gazewire-installed" ]; then
        say "installing gazewire[tobii] into $GW_VENV310"
        "$GW_VENV310/bin/python" -m pip install -q -e "$GW_ROOT[tobii]" && touch "$GW_VENV310/.gazewire-installed" \
            || say "could not install gazewire[tobii] under Python 3.10; the SDK test will report it"
    fi
    export GAZEWIRE_PY310="$GW_VENV310/bin/python"
else
    say "no CPython 3.10 found: the real Tobii SDK test will be skipped (set GAZEWIRE_PYTHON310 to one)"
fi

cd "$GW_ROOT"
say "running the tests"
exec "$GW_VENV/bin/python" -m pytest "$@"
