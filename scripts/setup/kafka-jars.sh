#!/usr/bin/env bash
# Resolve the local Apache Kafka broker and its runtime dependencies from Maven Central into
# deploy/local/target/lib (cached in ~/.m2). Idempotent: nothing to do when the pom has not changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POM="$ROOT/deploy/local/pom.xml"
LIB="$ROOT/deploy/local/target/lib"
MARKER="$LIB/.resolved"
if [[ -f "$MARKER" && ! "$POM" -nt "$MARKER" ]]; then
    exit 0
fi
command -v mvn >/dev/null || { echo "kafka-jars: Maven is required once to resolve the broker: install maven" >&2; exit 1; }
rm -rf "$LIB"
log="$(mktemp)"
if ! mvn -B -q -f "$POM" dependency:copy-dependencies >"$log" 2>&1; then
    echo "Maven could not resolve the Kafka broker from Maven Central:" >&2
    tail -n 15 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
touch "$MARKER"
