#!/usr/bin/env bash
# Build the local schema registry (Apicurio Registry, Quarkus) from Maven Central into
# deploy/local/target/registry (cached in ~/.m2). Idempotent: nothing to do when the pom has not changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
POM="$ROOT/deploy/local/registry/pom.xml"
JAR="$ROOT/deploy/local/target/registry/local-schema-registry-1.0.0-runner.jar"
if [[ -f "$JAR" && ! "$POM" -nt "$JAR" ]]; then
    exit 0
fi
command -v java >/dev/null || { echo "Java 17 or newer is required for the local schema registry: install openjdk-17-jre-headless" >&2; exit 1; }
command -v mvn >/dev/null || { echo "Maven is required once to build the local schema registry from Maven Central: install maven" >&2; exit 1; }
log="$(mktemp)"
if ! mvn -B -q -f "$POM" package -DskipTests \
        -Dquarkus.index-dependency.app.group-id=io.apicurio \
        -Dquarkus.index-dependency.app.artifact-id=apicurio-registry-app >"$log" 2>&1 || [[ ! -f "$JAR" ]]; then
    echo "Maven could not build the local schema registry from Maven Central:" >&2
    tail -n 15 "$log" >&2
    rm -f "$log"
    exit 1
fi
rm -f "$log"
touch "$JAR"
