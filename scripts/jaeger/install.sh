#!/usr/bin/env bash
# Build the Jaeger v2 binary (github.com/jaegertracing/jaeger/cmd/jaeger) from the Go module proxy
# into .local/bin/jaeger. Idempotent: does nothing when the pinned version is already built.
#
# `go install ...@v1.76.0` is refused for this module (its go.mod has a `replace` directive), so the
# module is downloaded with `go mod download` and built in a writable copy with its own go.mod/go.sum:
# the exact dependency versions Jaeger releases with. First build: several minutes on 2 cores; later
# builds reuse Go's module and build caches (~/go/pkg/mod, ~/.cache/go-build).
set -euo pipefail
# shellcheck source=scripts/lib/go_tool.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/go_tool.sh"  # ROOT, BIN_DIR, go_tool_begin, go_tool_done
VERSION="${JAEGER_VERSION:-v1.76.0}"
MODULE="github.com/jaegertracing/jaeger"
go_tool_begin jaeger Jaeger
export GOFLAGS="${GOFLAGS:--buildvcs=false}" GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
SRC="$(cd / && go mod download -json "${MODULE}@${VERSION}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
if [[ -z "${SRC}" || ! -d "${SRC}" ]]; then
  echo "jaeger install: could not download ${MODULE}@${VERSION} from the Go module proxy" >&2
  exit 1
fi
BUILD="${ROOT}/.local/build/jaeger-${VERSION}"
rm -rf "${BUILD}"
mkdir -p "$(dirname "${BUILD}")"
cp -r "${SRC}" "${BUILD}"
chmod -R u+w "${BUILD}"
(cd "${BUILD}" && go build -trimpath -o "${BIN_DIR}/jaeger.tmp" ./cmd/jaeger)
mv "${BIN_DIR}/jaeger.tmp" "${BIN_DIR}/jaeger"
rm -rf "${BUILD}"
go_tool_done
