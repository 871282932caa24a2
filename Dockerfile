# syntax=docker/dockerfile:1.7
#
# The gazewire processor for the lab server; docker-compose.yml builds it as
# service "processor", and runs the HTTP API from the same image as service
# "api" (entrypoint gazewire api run; the image has the api extra). On its own:
#
#   docker build -t gazewire-processor .
#   docker run --env-file processor.env gazewire-processor
#
# It is configured by GAZEWIRE_* variables only (processor/config.py, nested
# with "__": GAZEWIRE_MQTT__HOST, GAZEWIRE_INFLUX__TOKEN, ...), like
# `gazewire processor run` anywhere else.
#
# Base: CPython 3.12 on Debian bookworm, slim, pinned to the patch release.
# The processor runs on 3.10 and newer; only the agent (on tracker PCs, not
# here) needs exactly 3.10 for the Tobii Pro SDK.
# BuildKit (the default builder since Docker Engine 23) is needed for the
# here-document and the bind mount below.

# --------------------------------------------------------------------------- build: wheels
FROM python:3.12.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY gazewire ./gazewire
COPY agent ./agent
COPY processor ./processor
# gazewire itself and every dependency as wheels (numpy, paho-mqtt, influxdb-client, ...),
# with the HTTP API's (fastapi, uvicorn)
RUN pip wheel --wheel-dir /wheels ".[api]"

# --------------------------------------------------------------------------- run
FROM python:3.12.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GAZEWIRE_DATA_DIR=/var/lib/gazewire

# An unprivileged system user; /var/lib/gazewire holds the line-protocol spill files.
RUN groupadd --system --gid 10001 gazewire \
 && useradd --system --uid 10001 --gid gazewire --home-dir /var/lib/gazewire --no-create-home \
        --shell /usr/sbin/nologin gazewire \
 && install -d -o gazewire -g gazewire -m 0750 /var/lib/gazewire

# pip install the package (from the wheels of the build stage, no network).
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels "gazewire[api]" \
 && gazewire processor sample-config >/dev/null \
 && gazewire api sample-config >/dev/null


USER gazewire
WORKDIR /var/lib/gazewire
VOLUME ["/var/lib/gazewire"]

# Healthy when the processor's own retained status on the broker is "online",
# fresh, and its sink is ok (gazewire/cli/health.py; docker-compose.yml uses the same).
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 CMD ["gazewire", "processor", "health"]
ENTRYPOINT ["gazewire", "processor", "run"]
