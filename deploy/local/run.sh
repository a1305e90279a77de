#!/usr/bin/env bash
# `make run`: infrastructure (setup.sh), build, migrate, start the 5 services and the nginx
# gateway on 127.0.0.1:8080 under a supervisor (deploy/local/supervise.py: a process that exits
# is started again with a backoff of 1 s doubling to 30 s while the others keep serving), print
# the URLs, and stay in the foreground. Ctrl-C stops every process this script started (not the
# system Postgres/Redis/RabbitMQ). Current pids and restart counts: .run/pids/<name>.{pid,restarts}.
#
# Environment:
#   RELEASE=1           build and run the release profile
#   SKIP_BUILD=1        do not run cargo build (use the binaries already built)
#   VOXANNE_BIN_DIR     take the service binaries from this directory instead of target/<profile>
#   READY_TIMEOUT       seconds to wait for every /ready (default 60)
#   DASHBOARD_ORIGIN    the one origin the gateway answers CORS for (default http://localhost:5173)
# Any variable the services read (RUST_LOG, DATABASE_URL, ...) can be set in the environment or
# in .run/local.env (created on first run with a fresh local ENCRYPTION_KEYS; mode 600).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
export PATH

SERVICES=(auth voice-webhook calendar messaging lead-scoring)
declare -A PORT=([auth]=8081 [voice-webhook]=8082 [calendar]=8083 [messaging]=8084 [lead-scoring]=8085)
GATEWAY_PORT=8080
RUN_DIR="$ROOT/.run"
LOG_DIR="$RUN_DIR/logs"
NGINX_PREFIX="$RUN_DIR/nginx"
READY_TIMEOUT=${READY_TIMEOUT:-60}
PID_DIR="$RUN_DIR/pids"
DASHBOARD_ORIGIN=${DASHBOARD_ORIGIN:-http://localhost:5173}
[[ "$DASHBOARD_ORIGIN" =~ ^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$ ]] \
    || { printf 'run: ERROR: DASHBOARD_ORIGIN must be scheme://host[:port] (got %s)\n' "$DASHBOARD_ORIGIN" >&2; exit 1; }

say() { printf 'run: %s\n' "$*"; }
die() { printf 'run: ERROR: %s\n' "$*" >&2; exit 1; }

# ---- what we started, and how to stop it ------------------------------------------------------
declare -A STARTED=()     # pid -> name
NGINX_PID=""
cleaned=0
cleanup() {
    [ "$cleaned" -eq 0 ] || return 0
    cleaned=1
    trap - INT TERM EXIT
    [ ${#STARTED[@]} -gt 0 ] || return 0
    say "stopping ${STARTED[*]}"
    local pid
    for pid in "${!STARTED[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    if [ -n "$NGINX_PID" ] && [ -s "$NGINX_PREFIX/nginx.pid" ]; then
        local nginx_master
        nginx_master=$(cat "$NGINX_PREFIX/nginx.pid" 2>/dev/null || true)
        if [ -n "$nginx_master" ] && [ "$nginx_master" != "$NGINX_PID" ]; then
            kill -TERM "$nginx_master" 2>/dev/null || true
        fi
    fi
    local deadline=$((SECONDS + 15)) alive
    while :; do
        alive=()
        for pid in "${!STARTED[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
        [ ${#alive[@]} -gt 0 ] || break
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "still running after 15 s, killing: ${alive[*]}"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    wait 2>/dev/null || true
}
on_signal() { cleanup; exit 130; }
trap cleanup EXIT
trap on_signal INT TERM

port_in_use() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# ---- 1. infrastructure -----------------------------------------------------------------------
"$ROOT/deploy/local/setup.sh"

# ---- 2. local secrets -------------------------------------------------------------------------
mkdir -p "$RUN_DIR" "$LOG_DIR" "$NGINX_PREFIX"
if [ ! -f "$RUN_DIR/local.env" ]; then
    (
        umask 077
        key=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
        {
            echo "# Local development settings for deploy/local/run.sh (not committed: .run/ is gitignored)."
            echo "# A fresh random encryption key for this checkout; data encrypted with it is only readable here."
            echo "ENCRYPTION_KEYS=local1:$key"
        } >"$RUN_DIR/local.env"
    )
    chmod 600 "$RUN_DIR/local.env"
    say "created .run/local.env with a new local ENCRYPTION_KEYS"
    # What another checkout (or a deleted .run/) sealed in the local database needs its key:
    # auth would answer every sign-in 503 signing_keys_unavailable. A new key starts a new local
    # database (only the local one: `voxanne` on the local server, never a DATABASE_URL given).
    admin_url=${TEST_DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
    if [ -z "${DATABASE_URL:-}" ] \
        && [ "$(psql "$admin_url" -X -Atc "SELECT 1 FROM pg_database WHERE datname = 'voxanne'" 2>/dev/null)" = 1 ]; then
        say "the local database voxanne holds data sealed with another key: dropping and bootstrapping it again"
        psql "$admin_url" -X -q -v ON_ERROR_STOP=1 -c 'DROP DATABASE voxanne WITH (FORCE)' \
            || { say "could not drop the local database voxanne"; exit 1; }
        "$ROOT/deploy/local/setup.sh"
    fi
fi
# A local secret for the service client voice-webhook uses at auth (client_credentials); added to
# an older local.env too.
if ! grep -q '^VAPI_WEBHOOK_SECRET=' "$RUN_DIR/local.env"; then
    # The shared secret Vapi (or tools/call-sim) sends to /api/webhooks/vapi on this machine.
    echo "VAPI_WEBHOOK_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')" >>"$RUN_DIR/local.env"
fi
if ! grep -q '^SERVICE_CLIENT_SECRET=' "$RUN_DIR/local.env"; then
    echo "SERVICE_CLIENT_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '\n/+=')" >>"$RUN_DIR/local.env"
fi
set -a
# shellcheck source=/dev/null
. "$RUN_DIR/local.env"
set +a
# auth sits behind the local gateway (nginx sets X-Forwarded-For) and knows voice-webhook's client.
export AUTH_TRUST_FORWARDED_FOR=${AUTH_TRUST_FORWARDED_FOR:-true}
export SERVICE_CLIENT_ID=${SERVICE_CLIENT_ID:-voice-webhook}
export AUTH_SERVICE_CLIENTS=${AUTH_SERVICE_CLIENTS:-$SERVICE_CLIENT_ID:$SERVICE_CLIENT_SECRET}
# Local runs have no SMTP: signup answers with the first token pair (the demo uses it) instead of
# waiting for the mailed confirmation (the product default, which never reveals a registered email).
export AUTH_SIGNUP_CONFIRM_EMAIL=${AUTH_SIGNUP_CONFIRM_EMAIL:-false}
export VOXANNE_ENV=${VOXANNE_ENV:-local}
export RUST_LOG=${RUST_LOG:-info}

# ---- 3. build ---------------------------------------------------------------------------------
if [ "${RELEASE:-0}" = "1" ]; then profile=release; build_flags=(--release); else profile=debug; build_flags=(); fi
if [ "${SKIP_BUILD:-0}" != "1" ]; then
    command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"
    say "cargo build --workspace --bins ${build_flags[*]}"
    cargo build --workspace --bins "${build_flags[@]}"
fi
BIN_DIR=${VOXANNE_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/$profile}
for svc in "${SERVICES[@]}"; do
    [ -x "$BIN_DIR/$svc" ] || die "$BIN_DIR/$svc not found or not executable (build first)"
done

# ---- 4. ports must be free --------------------------------------------------------------------
for port in "$GATEWAY_PORT" "${PORT[@]}"; do
    if port_in_use "$port"; then
        die "127.0.0.1:$port is already in use (another 'make run'?). Stop it first."
    fi
done

# ---- 5. migrate -------------------------------------------------------------------------------
for svc in "${SERVICES[@]}"; do
    log="$LOG_DIR/$svc.migrate.log"
    if ! "$BIN_DIR/$svc" migrate >"$log" 2>&1; then
        printf 'run: ERROR: %s migrate failed; last lines of %s:\n' "$svc" "${log#"$ROOT"/}" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
    say "migrated $svc"
done

# ---- 6. start services and the gateway, supervised ---------------------------------------------
# The gateway's configuration with the dashboard origin in place of its placeholder.
sed "s|__VOXANNE_DASHBOARD_ORIGIN__|$DASHBOARD_ORIGIN|g" "$ROOT/deploy/local/nginx.conf" >"$NGINX_PREFIX/nginx.conf"
rm -f "$NGINX_PREFIX/nginx.pid"
procs=()
for svc in "${SERVICES[@]}"; do
    procs+=(--proc "$svc|$LOG_DIR/$svc.log|env APP_PORT=${PORT[$svc]} $BIN_DIR/$svc serve")
done
procs+=(--proc "nginx|$LOG_DIR/nginx.log|nginx -p $NGINX_PREFIX/ -c $NGINX_PREFIX/nginx.conf -e stderr -g 'daemon off;'")
rm -rf "$PID_DIR"
python3 "$ROOT/deploy/local/supervise.py" --state-dir "$PID_DIR" --grace 8 "${procs[@]}" \
    > >(tee -a "$LOG_DIR/supervise.log") 2>&1 &
SUPERVISOR_PID=$!
STARTED[$SUPERVISOR_PID]=supervisor
NGINX_PID=$SUPERVISOR_PID

# ---- 7. wait until ready ----------------------------------------------------------------------
show_log() {
    printf 'run: --- last lines of %s ---\n' "${1#"$ROOT"/}" >&2
    tail -n 40 "$1" >&2 || true
}

deadline=$((SECONDS + READY_TIMEOUT))
pending=("${SERVICES[@]}")
while [ ${#pending[@]} -gt 0 ]; do
    still=()
    for svc in "${pending[@]}"; do
        if ! kill -0 "$SUPERVISOR_PID" 2>/dev/null; then
            printf 'run: ERROR: the supervisor exited during startup\n' >&2
            show_log "$LOG_DIR/supervise.log"
            exit 1
        fi
        code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:${PORT[$svc]}/ready" || true)
        [ "$code" = "200" ] || still+=("$svc")
    done
    pending=("${still[@]+"${still[@]}"}")
    [ ${#pending[@]} -gt 0 ] || break
    if [ "$SECONDS" -ge "$deadline" ]; then
        for svc in "${pending[@]}"; do
            body=$(curl -s -m 2 "http://127.0.0.1:${PORT[$svc]}/ready" || true)
            printf 'run: ERROR: %s not ready after %ss (GET /ready: %s)\n' "$svc" "$READY_TIMEOUT" "${body:-no answer}" >&2
            show_log "$LOG_DIR/$svc.log"
        done
        exit 1
    fi
    sleep 0.5
done

until [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$GATEWAY_PORT/" || true)" = "404" ]; do
    if ! kill -0 "$SUPERVISOR_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
        printf 'run: ERROR: the nginx gateway did not come up on 127.0.0.1:%s\n' "$GATEWAY_PORT" >&2
        show_log "$LOG_DIR/nginx.log"
        exit 1
    fi
    sleep 0.2
done

# ---- 8. tell ----------------------------------------------------------------------------------
echo
printf '  %-15s %-32s %s\n' "what" "url" "openapi"
printf '  %-15s %-32s %s\n' "gateway" "http://127.0.0.1:$GATEWAY_PORT" "-"
for svc in "${SERVICES[@]}"; do
    printf '  %-15s %-32s %s\n' "$svc" "http://127.0.0.1:${PORT[$svc]}" "http://127.0.0.1:${PORT[$svc]}/openapi.json"
done
echo
echo "  health/ready/metrics: http://127.0.0.1:<port>/health  /ready  /metrics"
echo "  logs:                 ${LOG_DIR#"$ROOT"/}/<service>.log, <service>.migrate.log, nginx.log (errors)"
echo "  gateway access log:   ${NGINX_PREFIX#"$ROOT"/}/access.log"
echo "  smoke test:           make smoke      (in another terminal)"
echo "  stop:                 Ctrl-C"
echo

# ---- 9. stay up: the supervisor restarts what crashes; Ctrl-C stops it and everything ---------
echo "  supervisor:           a crashed service is restarted with backoff (.run/logs/supervise.log)"
echo
wait "$SUPERVISOR_PID" || true
unset "STARTED[$SUPERVISOR_PID]"
printf 'run: ERROR: the supervisor (pid %s) exited\n' "$SUPERVISOR_PID" >&2
show_log "$LOG_DIR/supervise.log"
exit 1
