#!/usr/bin/env bash
# Build the Jaeger v2 binary (github.com/jaegertracing/jaeger/cmd/jaeger) from the Go module proxy
# into .local/bin/jaeger. Idempotent: does nothing when the pinned version is already built.
#
# `go install ...@v1.76.0` is refused for this module (its go.mod has a `replace` directive), so the
# module is downloaded with `go mod download` and built in a writable copy with its own go.mod/go.sum:
# the exact dependency versions Jaeger releases with. First build: several minutes on 2 cores; later
# builds reuse Go's module and build caches (~/go/pkg/mod, ~/.cache/go-build).
set -euo pipefail
VERSION="${JAEGER_VERSION:-v1.76.0}"
MODULE="github.com/jaegertracing/jaeger"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${ROOT}/.local/bin"
STAMP="${BIN_DIR}/.jaeger-${VERSION}"
if [[ -x "${BIN_DIR}/jaeger" && -f "${STAMP}" ]]; then
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "jaeger install: the Go toolchain (go >= 1.24) is required to build Jaeger ${VERSION}" >&2
  exit 1
fi
mkdir -p "${BIN_DIR}"
LOCK="${BIN_DIR}/.jaeger-install.lock"
exec 9>"${LOCK}"
flock 9  # two test sessions starting at once build only once
if [[ -x "${BIN_DIR}/jaeger" && -f "${STAMP}" ]]; then
  exit 0
fi
echo "jaeger install: building ${MODULE}/cmd/jaeger@${VERSION} (first time: several minutes)" >&2
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
rm -f "${BIN_DIR}"/.jaeger-v*
touch "${STAMP}"
echo "jaeger install: ${BIN_DIR}/jaeger" >&2
