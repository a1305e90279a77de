#!/usr/bin/env bash
# Totals of the OpenAPI conformance check (testkit::conformance) per service, from the JSON lines
# the API tests append to <target>/openapi-conformance/<service>.jsonl (one line per test app).
# Usage: deploy/conformance-summary.sh [--fail] [dir]
#   dir     default: $CARGO_TARGET_DIR/openapi-conformance, else ./target/openapi-conformance
#   --fail  exit 1 when an enforced app had violations (mode "enforce")
# Clear the directory before `cargo test` to total one run (the lines are appended).
set -euo pipefail

fail=0
if [ "${1:-}" = "--fail" ]; then fail=1; shift; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-${CARGO_TARGET_DIR:-$ROOT/target}/openapi-conformance}

if ! ls "$DIR"/*.jsonl >/dev/null 2>&1; then
  echo "openapi conformance: no results in $DIR (run the API tests first)"
  exit 0
fi

printf '%-15s %6s %10s %11s %10s  %s\n' service apps validated violations unmatched mode
status=0
for f in "$DIR"/*.jsonl; do
  read -r svc apps validated violations unmatched modes enforced_bad < <(jq -rs '
    [ (.[0].service), length, (map(.validated) | add), (map(.violations) | add),
      (map(.unmatched_requests[]) | unique | length),
      (map(.mode) | unique | join(",")),
      (map(select(.mode == "enforce") | .violations) | add // 0) ] | @tsv' "$f")
  printf '%-15s %6s %10s %11s %10s  %s\n' "$svc" "$apps" "$validated" "$violations" "$unmatched" "$modes"
  if [ "$fail" = 1 ] && [ "$enforced_bad" -gt 0 ]; then status=1; fi
done
jq -rs '"total           " + (length|tostring) + " apps, " + (map(.validated)|add|tostring)
  + " responses validated, " + (map(.violations)|add|tostring) + " violations"' <(cat "$DIR"/*.jsonl)
exit $status
