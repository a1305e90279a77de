#!/usr/bin/env bash
# `make smoke`: checks a running `make run` from the outside, with curl only.
#   1. every service answers GET /ready with 200 on its own port;
#   2. through the gateway, one request under every path prefix of ARCHITECTURE §6 is answered by
#      the right service (response header `x-served-by`);
#   3. /internal/... is not reachable through the gateway (the gateway's own 404, no x-served-by),
#      also when disguised with `..` or percent-encoding; unknown paths get the gateway's 404.
# Prints PASS/FAIL per check; exits 1 if any check failed.
#
# Environment: GATEWAY (default http://127.0.0.1:8080), SERVICE_HOST (default 127.0.0.1).
set -uo pipefail

GATEWAY=${GATEWAY:-http://127.0.0.1:8080}
SERVICE_HOST=${SERVICE_HOST:-127.0.0.1}
command -v curl >/dev/null 2>&1 || { echo "smoke: curl is required" >&2; exit 2; }

pass=0
fail=0
ok() { pass=$((pass + 1)); printf 'PASS  %s\n' "$*"; }
ko() { fail=$((fail + 1)); printf 'FAIL  %s\n' "$*"; }

# request METHOD URL [curl args...] -> sets STATUS, SERVED_BY, CTYPE
request() {
    local method=$1 url=$2 headers
    shift 2
    STATUS=000 SERVED_BY="" CTYPE=""
    headers=$(curl -s -m 5 -X "$method" -o /dev/null -D - "$@" "$url" 2>/dev/null | tr -d '\r') || true
    [ -n "$headers" ] || return 0
    # The last status line wins (curl prints one block per response).
    STATUS=$(printf '%s\n' "$headers" | awk '/^HTTP\//{s=$2} END{print s}')
    SERVED_BY=$(printf '%s\n' "$headers" | awk 'tolower($1)=="x-served-by:"{v=$2} END{print v}')
    CTYPE=$(printf '%s\n' "$headers" | awk 'tolower($1)=="content-type:"{v=$2} END{print v}')
}

echo "== services (/ready)"
for entry in auth:8081 voice-webhook:8082 calendar:8083 messaging:8084 lead-scoring:8085; do
    svc=${entry%%:*} port=${entry##*:}
    request GET "http://$SERVICE_HOST:$port/ready"
    if [ "$STATUS" = 200 ]; then
        ok "$svc :$port /ready -> 200"
    else
        ko "$svc :$port /ready -> $STATUS (expected 200)"
    fi
    if [ "$SERVED_BY" = "$svc" ]; then
        ok "$svc :$port x-served-by: $SERVED_BY"
    else
        ko "$svc :$port x-served-by: '${SERVED_BY}' (expected $svc)"
    fi
done

echo "== gateway $GATEWAY (routing table, ARCHITECTURE §6)"
routes=(
    "GET  /api/auth/smoke                 auth"
    "GET  /api/orgs/smoke                 auth"
    "GET  /.well-known/jwks.json          auth"
    "GET  /api/webhooks/vapi              voice-webhook"
    "GET  /api/voice/smoke                voice-webhook"
    "GET  /api/calendar/smoke             calendar"
    "GET  /api/integrations/google/smoke  calendar"
    "GET  /api/webhooks/twilio/smoke      messaging"
    "GET  /api/messaging/smoke            messaging"
    "GET  /api/leads/smoke                lead-scoring"
)
for line in "${routes[@]}"; do
    read -r method path want <<<"$line"
    request "$method" "$GATEWAY$path"
    if [ "$SERVED_BY" = "$want" ]; then
        ok "$method $path -> $want ($STATUS)"
    else
        ko "$method $path -> x-served-by '${SERVED_BY}' status $STATUS (expected $want)"
    fi
done
# The auth service publishes its signing keys (SMOKE_EXPECT_JWKS=0 skips this check).
if [ "${SMOKE_EXPECT_JWKS:-1}" = 1 ]; then
  request GET "$GATEWAY/.well-known/jwks.json"
  if [ "$STATUS" = 200 ]; then ok "GET /.well-known/jwks.json -> 200"; else ko "GET /.well-known/jwks.json -> $STATUS (expected 200)"; fi
fi

echo "== gateway: not routed"
not_routed=(
    "/internal/anything"
    "/internal/orgs/00000000-0000-0000-0000-000000000000/smoke"
    "/api/auth/../../internal/anything"
    "/api/auth/%2e%2e/%2e%2e/internal/anything"
    "/api/voice/..%2f..%2finternal/anything"
    "/internal/../api/voice/smoke"
    "//internal/../api/leads/smoke"
    "/%69nternal/../api/auth/smoke"
    "/%2Finternal/../api/calendar/smoke"
    "/smoke-unknown-route"
)
for path in "${not_routed[@]}"; do
    request GET "$GATEWAY$path" --path-as-is
    if [ "$STATUS" = 404 ] && [ -z "$SERVED_BY" ] && [[ "$CTYPE" == application/problem+json* ]]; then
        ok "GET $path -> gateway 404 problem+json"
    else
        ko "GET $path -> status $STATUS x-served-by '${SERVED_BY}' content-type '${CTYPE}' (expected the gateway's 404 problem+json)"
    fi
done

echo
echo "smoke: $pass passed, $fail failed"
if [ "$pass" -eq 0 ]; then echo "smoke: nothing answered -- is 'make run' running?"; fi
[ "$fail" -eq 0 ]
