#!/usr/bin/env bash
# Build promtool (github.com/prometheus/prometheus/cmd/promtool) from the Go module proxy into
# .local/bin/promtool. Idempotent: does nothing when the pinned version is already built.
#
# `make test` runs `promtool check rules` and `promtool test rules` on the alert rules
# (deploy/k8s/components/monitoring/, tests/deploy/test_alerts.py). Built with the module's own
# `remove_all_sd` tag: no service-discovery plugins (cloud SDKs), which rule tests never use, so the
# first build compiles far less; later builds reuse Go's module and build caches.
set -euo pipefail
VERSION="${PROMTOOL_VERSION:-v0.316.0}"
MODULE="github.com/prometheus/prometheus"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${ROOT}/.local/bin"
TAGS="remove_all_sd"
STAMP="${BIN_DIR}/.promtool-${VERSION}-${TAGS}"
if [[ -x "${BIN_DIR}/promtool" && -f "${STAMP}" ]]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "promtool install: the Go toolchain (go >= 1.24) is required to build promtool ${VERSION}" >&2
  exit 1
fi
mkdir -p "${BIN_DIR}"
exec 9>"${BIN_DIR}/.promtool-install.lock"
flock 9  # two test sessions starting at once build only once
if [[ -x "${BIN_DIR}/promtool" && -f "${STAMP}" ]]; then
  exit 0
fi
echo "promtool install: building ${MODULE}/cmd/promtool@${VERSION} (first time: several minutes)" >&2
export GOFLAGS="${GOFLAGS:--mod=mod -buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
TMP_BIN="$(mktemp -d "${BIN_DIR}/.promtool-build.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
(cd / && GOBIN="${TMP_BIN}" go install -trimpath -tags "${TAGS}" "${MODULE}/cmd/promtool@${VERSION}")
mv "${TMP_BIN}/promtool" "${BIN_DIR}/promtool"
rm -f "${BIN_DIR}"/.promtool-v*
touch "${STAMP}"
echo "promtool install: ${BIN_DIR}/promtool" >&2
