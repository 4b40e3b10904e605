#!/usr/bin/env bash
# Install the tools that build and validate deploy/k8s offline:
#   .local/bin/kustomize      from the Go module proxy (go install), pinned below
#   .local/k8s-venv           kubernetes-validate (ships the Kubernetes schemas) + checkov,
#                             pinned in scripts/k8s/requirements.txt
# Idempotent and quiet: a second run does nothing unless a pin changed.
# Needs only `go` and `python3` and the package registries (Go module proxy, PyPI).
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.2"   # v5.8.3 needs Go 1.27; v5.8.2 builds with the machine's Go 1.26

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL="$ROOT/.local"
BIN="$LOCAL/bin"
VENV="$LOCAL/k8s-venv"
REQS="$ROOT/scripts/k8s/requirements.txt"
mkdir -p "$BIN"

say() { printf 'install-tools: %s\n' "$*" >&2; }

# --- kustomize -------------------------------------------------------------
if [[ -x "$BIN/kustomize" ]] && "$BIN/kustomize" version 2>/dev/null | grep -qx "$KUSTOMIZE_VERSION"; then
    :
else
    command -v go >/dev/null || { say "go is not installed; it is needed to build kustomize"; exit 1; }
    say "installing kustomize $KUSTOMIZE_VERSION into $BIN"
    log="$(mktemp)"
    if ! GOBIN="$BIN" GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" \
        go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; say "kustomize install failed"; exit 1
    fi
    rm -f "$log"
    "$BIN/kustomize" version | grep -qx "$KUSTOMIZE_VERSION" \
        || { say "kustomize reports $("$BIN/kustomize" version), expected $KUSTOMIZE_VERSION"; exit 1; }
fi

# --- validation venv (kubernetes-validate, checkov) -------------------------
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    :
else
    PY="${K8S_TOOLS_PYTHON:-python3}"
    say "creating $VENV with $(basename "$REQS") (checkov takes a minute the first time)"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    log="$(mktemp)"
    if ! { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip \
           && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"; } >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"; rm -rf "$VENV"; say "pip install failed"; exit 1
    fi
    rm -f "$log"
    # Smoke check, offline: both tools import and answer (only after an install: checkov is slow to start).
    "$VENV/bin/kubernetes-validate" --version >/dev/null
    "$VENV/bin/checkov" --version >/dev/null
    echo "$want" >"$stamp"
fi
