#!/usr/bin/env bash
# make demo: one booking phone call through the gateway of a running `make run`.
# Signs up a throw-away clinic, gives its default agent a phone number, plays a signed Vapi call
# with call-sim (assistant-request, availability, a booking of the first time the agent offered,
# end-of-call report), then prints the appointment calendar stored and the call voice-webhook
# stored. Fails (non-zero, with the reason) when no appointment was booked.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GATEWAY=${GATEWAY:-http://127.0.0.1:8080}
BIN_DIR=${VOXANNE_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}
ENV_FILE="$ROOT/.run/local.env"

die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }

curl -sf "$GATEWAY/.well-known/jwks.json" >/dev/null || die "nothing answers at $GATEWAY: start 'make run' first"
[ -f "$ENV_FILE" ] || die "$ENV_FILE missing: start 'make run' first"
SECRET=$(grep '^VAPI_WEBHOOK_SECRET=' "$ENV_FILE" | cut -d= -f2-)
[ -n "$SECRET" ] || die "no VAPI_WEBHOOK_SECRET in .run/local.env (restart 'make run' once)"
# Built unless a prebuilt directory is given (a stale call-sim would play an older script).
if [ -z "${VOXANNE_BIN_DIR:-}" ] || [ ! -x "$BIN_DIR/call-sim" ]; then
    cargo build -q -p voice-webhook --bin call-sim
fi
CALLSIM="$BIN_DIR/call-sim"

email="demo-$(date +%s)@clinic.example"
number="+1555$(date +%s | tail -c 8)"
echo "== sign up $email (org 'Demo Dental', America/New_York)"
token=$(curl -sf -X POST "$GATEWAY/api/auth/signup" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"demo password 123\",\"org_name\":\"Demo Dental\",\"org_timezone\":\"America/New_York\"}" |
    json "d['access_token']")
auth=(-H "authorization: Bearer $token")

echo "== wait for org.created.v1 to reach calendar and voice-webhook"
agent=""
for _ in $(seq 1 50); do
    services=$(curl -sf "$GATEWAY/api/calendar/services" "${auth[@]}" | json "len(d['items'])")
    agent=$(curl -sf "$GATEWAY/api/voice/agents" "${auth[@]}" | json "d['items'][0]['id'] if d['items'] else ''")
    [ "$services" -gt 0 ] && [ -n "$agent" ] && break
    sleep 0.2
done
[ -n "$agent" ] || die "the default agent did not appear (is the bus up? see .run/logs/)"
echo "   $services services, agent $agent"

curl -sf -X POST "$GATEWAY/api/voice/numbers" "${auth[@]}" -H 'content-type: application/json' \
    -d "{\"number\":\"$number\",\"agent_id\":\"$agent\"}" >/dev/null
echo "== call $number: ask for a Cleaning, book the first time the agent offers"
# call-sim exits non-zero with the agent's own sentence when nothing was booked (clinic closed,
# no openings, a refused step).
if ! "$CALLSIM" --base-url "$GATEWAY" --secret "$SECRET" --number "$number" --service Cleaning \
    >"$ROOT/.run/demo-call.log" 2>&1; then
    cut -c1-200 "$ROOT/.run/demo-call.log"
    die "the call booked no appointment: $(grep -m1 'no appointment was booked' "$ROOT/.run/demo-call.log" || tail -n1 "$ROOT/.run/demo-call.log")"
fi
cut -c1-200 "$ROOT/.run/demo-call.log"

echo "== the appointment (calendar)"
appointments=$(curl -sf "$GATEWAY/api/calendar/appointments" "${auth[@]}")
[ "$(echo "$appointments" | json "len(d['items'])")" -gt 0 ] ||
    die "calendar has no appointment although the agent said it booked one"
echo "$appointments" |
    json "'\n'.join(f\"   {a['local_start']}  {a['service_name']}  {a['contact_name']}  {a['status']}  source={a['source']}\" for a in d['items'])"
echo "== the call (voice-webhook)"
# Status updates and the end-of-call report are applied in the background after Vapi's 200.
for _ in $(seq 1 25); do
    calls=$(curl -sf "$GATEWAY/api/voice/calls" "${auth[@]}")
    [ "$(echo "$calls" | json "sum(c['status'] == 'ended' for c in d['items'])")" -gt 0 ] && break
    sleep 0.2
done
echo "$calls" | json "'\n'.join(f\"   {c.get('id')}  status={c['status']}  from={c['from_number']}  duration={c['duration_seconds']}s  ended={c['ended_reason']}  booked={c['booked']}\" for c in d['items'])"
