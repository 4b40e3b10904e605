# syntax=docker/dockerfile:1
# One image for every worker; the Deployment's command picks the service (and the loop: --loop uvloop for uvloop):
#   faust --loop aio -A services.intake.app   worker
#   faust --loop aio -A services.routing.app  worker
#   faust --loop aio -A services.notifier.app worker
#   faust --loop aio -A services.stats.app    worker
#   faust --loop aio -A services.inbox.app    worker
#   faust --loop aio -A services.ledger.app   worker
# Build: docker build -t referral-bus:<version> .
# Runs as uid 10001 with a read-only root filesystem: everything written at run time goes to
# the data dir (*_DATA_DIR, an emptyDir) or /tmp (an emptyDir).

# ---- build: compile/install dependencies into a venv --------------------------------------
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler only for dependencies without a wheel for this platform; not in the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# Dependencies first, from pyproject.toml alone, so this layer is reused until they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# Then the project itself, without touching dependencies: the runtime kernel, the shared domain and the services only
# (.dockerignore leaves out referral_cli/ and referral_devstack/, the tooling, which needs the dev extra).
COPY . ./
RUN pip install --no-deps . \
 && rm -rf build ./*.egg-info \
 && python -m compileall -q /app/referral_bus /app/referral_domain /app/services

# ---- runtime: slim, no compiler, non-root ---------------------------------------------------
# Same base as the build stage (the venv's interpreter path must match); pin a digest at release.
FROM python:3.11.14-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="referral-bus" \
      org.opencontainers.image.description="Case referral bus workers (intake, routing, notifier, stats)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 referral-bus \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin referral-bus
COPY --from=build /opt/venv /opt/venv
# The source tree stays at /app, first on the import path; the contracts and the configuration are
# found through settings (referral_bus/settings.py BusSettings), set here explicitly.
COPY --from=build --chown=root:root /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    REFERRAL_BUS_SCHEMA_DIR=/app/schemas/avro \
    REFERRAL_BUS_CONFIG_DIR=/app/config \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /app
USER 10001:10001
EXPOSE 6066 6067 6068
# checkov:skip=CKV_DOCKER_2: Kubernetes probes /healthz and /readyz on each service's own port (6066/6067/6068); one HEALTHCHECK cannot know which service the command started.
CMD ["faust", "--loop", "aio", "-A", "services.intake.app", "worker"]
