#!/usr/bin/env bash
# Start (building first if needed) the development Jaeger v2 on 127.0.0.1: UI/API :16686, OTLP/HTTP :4318.
# `scripts/jaeger/start.sh stop` stops it. The logic lives in referral_devstack/jaeger.py (tests use it too).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "${ROOT}/.venv/bin/python" -m referral_devstack.jaeger "${1:-start}"
