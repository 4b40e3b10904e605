#!/usr/bin/env bash
# Build promtool (github.com/prometheus/prometheus/cmd/promtool) from the Go module proxy into
# .local/bin/promtool. Idempotent: does nothing when the pinned version is already built.
#
# `make test` runs `promtool check rules` and `promtool test rules` on the alert rules
# (deploy/k8s/components/monitoring/, tests/deploy/test_alerts.py). Built with the module's own
# `remove_all_sd` tag: no service-discovery plugins (cloud SDKs), which rule tests never use, so the
# first build compiles far less; later builds reuse Go's module and build caches.
set -euo pipefail
# shellcheck source=scripts/lib/go_tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/go_tool.sh"  # ROOT, BIN_DIR, go_tool_begin, go_tool_done
VERSION="${PROMTOOL_VERSION:-v0.316.0}"
MODULE="github.com/prometheus/prometheus"
TAGS="remove_all_sd"
go_tool_begin promtool promtool "${TAGS}"
export GOFLAGS="${GOFLAGS:--mod=mod -buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
TMP_BIN="$(mktemp -d "${BIN_DIR}/.promtool-build.XXXXXX")"
trap 'rm -rf "${TMP_BIN}"' EXIT
(cd / && GOBIN="${TMP_BIN}" go install -trimpath -tags "${TAGS}" "${MODULE}/cmd/promtool@${VERSION}")
mv "${TMP_BIN}/promtool" "${BIN_DIR}/promtool"
go_tool_done
