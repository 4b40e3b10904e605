# Sourced by scripts/jaeger/install.sh and scripts/promtool/install.sh: the steps around building one Go
# tool into .local/bin/NAME, idempotent, and built once when two test sessions start at once.
# Sets ROOT (the source tree) and BIN_DIR; the caller sets VERSION and MODULE, then calls go_tool_begin.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${ROOT}/.local/bin"

go_tool_built() {
  [[ -x "${BIN_DIR}/${NAME}" && -f "${STAMP}" ]]
}

# go_tool_begin NAME LABEL [VARIANT]: sets NAME, LABEL and STAMP (the file saying that this VERSION, built
# as VARIANT, is in place); exits 0 when it is, otherwise needs Go, takes the install lock (then looks
# again) and says what is being built.
go_tool_begin() {
  NAME="$1" LABEL="$2"
  STAMP="${BIN_DIR}/.${NAME}-${VERSION}${3:+-$3}"
  if go_tool_built; then
    exit 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "${NAME} install: the Go toolchain (go >= 1.24) is required to build ${LABEL} ${VERSION}" >&2
    exit 1
  fi
  mkdir -p "${BIN_DIR}"
  exec 9>"${BIN_DIR}/.${NAME}-install.lock"
  flock 9
  if go_tool_built; then
    exit 0
  fi
  echo "${NAME} install: building ${MODULE}/cmd/${NAME}@${VERSION} (first time: several minutes)" >&2
}

# Forget the stamps of other versions, stamp this one, say where the binary is.
go_tool_done() {
  rm -f "${BIN_DIR}/.${NAME}-v"*
  touch "${STAMP}"
  echo "${NAME} install: ${BIN_DIR}/${NAME}" >&2
}
