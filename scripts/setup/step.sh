#!/usr/bin/env bash
# One set-up step of `make run` / `make test`: say what it does (and, the first time in this clone, how
# long it usually takes), run it with its output in .local/setup/NAME.log (shown only when it fails),
# say how long it took. Usage: step.sh NAME USUAL WHAT COMMAND [ARG...]
set -euo pipefail
name="$1" usual="$2" what="$3"
shift 3
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
stamp="$ROOT/.local/setup/$name.done"
log="$ROOT/.local/setup/$name.log"
mkdir -p "$ROOT/.local/setup"
if [[ -f "$stamp" ]]; then
    printf '==> %s\n' "$what"
else
    printf '==> %s (first time: usually %s)\n' "$what" "$usual"
fi
start=$(date +%s)
if "$@" >"$log" 2>&1; then
    touch "$stamp"
    printf '    %s: ready (%ss)\n' "$name" "$(( $(date +%s) - start ))"
else
    rc=$?
    tail -n 30 "$log" >&2
    printf '    %s: FAILED after %ss (exit %s); full output in %s\n' "$name" "$(( $(date +%s) - start ))" "$rc" "$log" >&2
    exit "$rc"
fi
