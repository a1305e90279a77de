#!/usr/bin/env bash
# Local infrastructure for Voxanne: PostgreSQL, Redis, RabbitMQ (installed and running) and
# nginx (installed only; `deploy/local/run.sh` starts it with deploy/local/nginx.conf).
#
# Idempotent: on a machine where everything is installed and running it only checks, prints
# one line and finishes in a second or two. Works without systemd as PID 1 (containers).
#
# What it may change on a fresh Debian/Ubuntu machine (see docs/runbooks/local-dev.md):
#   * apt-get installs postgresql, redis-server, rabbitmq-server, nginx, curl (and for make test
#     jq, python3, python3-yaml, python3-venv, npm, openssl, libpq-dev);
#   * starts the Postgres cluster, Redis and RabbitMQ if they are not running;
#   * LOCAL DEV ONLY: if the superuser `postgres` cannot connect to 127.0.0.1 without a
#     password, prepends `trust` lines for 127.0.0.1/::1 to pg_hba.conf and reloads;
#   * creates a `root` superuser role when run as root;
#   * applies deploy/postgres/bootstrap.sql (database voxanne, schemas, roles; idempotent).
#
# Environment:
#   TEST_DATABASE_ADMIN_URL  superuser URL (default postgres://postgres@127.0.0.1:5432/postgres)
#   SETUP_TIMEOUT            seconds to wait for each service to come up (default 60)
#   SETUP_RABBITMQ_TIMEOUT   seconds for each attempt to start RabbitMQ (default 2 x SETUP_TIMEOUT)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# Debian keeps daemons (nginx, rabbitmq-server, service) in sbin, which a normal user's PATH lacks.
PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export PATH

ADMIN_URL=${TEST_DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
TIMEOUT=${SETUP_TIMEOUT:-60}
BOOTSTRAP_SQL="$ROOT/deploy/postgres/bootstrap.sql"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    SUDO=()
fi
as_root() {
    if [ "$(id -u)" -ne 0 ] && [ ${#SUDO[@]} -eq 0 ]; then
        die "need root for: $*  (run as root or install sudo)"
    fi
    "${SUDO[@]}" "$@"
}

# ---------------------------------------------------------------------------------------------
# 1. Install what is missing (Debian/Ubuntu only).
# ---------------------------------------------------------------------------------------------
have_postgres_server() { compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }

missing=()
{ have_postgres_server && command -v psql >/dev/null && command -v pg_ctlcluster >/dev/null; } \
    || missing+=(postgresql)
{ command -v redis-server >/dev/null && command -v redis-cli >/dev/null; } || missing+=(redis-server)
command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
command -v nginx >/dev/null || missing+=(nginx)
command -v curl >/dev/null || missing+=(curl)
# make test: jq totals the OpenAPI conformance results; libpq-dev lets the schema-drift check
# build diesel_cli; python3 runs the dependency check.
command -v jq >/dev/null || missing+=(jq)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)  # make k8s-check (part of make lint)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)  # auth's test of the official Python client
command -v npm >/dev/null || missing+=(npm)  # auth's test of @supabase/auth-js
command -v openssl >/dev/null || missing+=(openssl)  # auth's SSO tests make an RSA key at test time
dpkg -s libpq-dev >/dev/null 2>&1 || missing+=(libpq-dev)
# The Rust build: a C toolchain and pkg-config for the crates with C parts (aws-lc-sys, ring,
# pq-sys of diesel_cli). Rust itself is not a Debian package we use: see the message below.
{ command -v cc >/dev/null && command -v make >/dev/null && dpkg -s build-essential >/dev/null 2>&1; } \
    || missing+=(build-essential)
command -v pkg-config >/dev/null || missing+=(pkg-config)

if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 \
        || die "missing: ${missing[*]}; this script installs only on Debian/Ubuntu (apt-get). Install them yourself and re-run."
    say "installing ${missing[*]} with apt-get"
    # Keep the system nginx service from being started by the package's postinst: the gateway is
    # our own nginx process (run.sh). Only if no policy-rc.d exists; it is removed right after.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ " ${missing[*]} " == *" nginx "* ]] && [ ! -e "$policy" ]; then
        # shellcheck disable=SC2016  # $1 belongs to the generated script
        printf '#!/bin/sh\n# temporary, from voxanne deploy/local/setup.sh: do not start nginx on install\ncase "$1" in nginx) exit 101;; esac\nexit 0\n' \
            | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        own_policy=1
    fi
    apt_status=0
    {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    } || apt_status=$?
    if [ "$own_policy" -eq 1 ]; then as_root rm -f "$policy"; fi
    [ "$apt_status" -eq 0 ] || die "apt-get failed (exit $apt_status) installing: ${missing[*]}"
    # If a pre-existing policy allowed it, the package started the system nginx (port 80). Stop it.
    if [[ " ${missing[*]} " == *" nginx "* ]] && [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
        say "stopping the system nginx service the package started (run.sh runs its own gateway)"
        as_root service nginx stop >/dev/null 2>&1 || true
    fi
fi

# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
tcp_open() { timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 -t 1 >/dev/null 2>&1; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }
amqp_up() { tcp_open 127.0.0.1 5672; }

# wait_for NAME CHECK_FUNCTION HINT
wait_for() {
    local name=$1 check=$2 hint=$3 deadline=$((SECONDS + TIMEOUT))
    until "$check"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            die "$name is not reachable after ${TIMEOUT}s. $hint"
        fi
        sleep 0.5
    done
}

# Rust: rustup's toolchain in ~/.cargo (rust-toolchain / rust-version in Cargo.toml). Not
# installed here (it is a per-user download); say exactly how when it is missing.
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    say "cargo not found. Install Rust (rust-version $(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml") or newer) with rustup:"
    say "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy"
    say "  . \"\$HOME/.cargo/env\"      # or open a new shell; the Makefile also finds ~/.cargo/bin"
    say "  (the build also needs build-essential and pkg-config, installed above)"
fi

# ---------------------------------------------------------------------------------------------
# 2. PostgreSQL
# ---------------------------------------------------------------------------------------------
pg_version=""
pg_cluster_version() {
    # The newest version that has a `main` cluster configured, e.g. 15.
    local d v best=""
    for d in /etc/postgresql/*/main; do
        [ -f "$d/postgresql.conf" ] || continue
        v=$(basename "$(dirname "$d")")
        if [ -z "$best" ] || [ "$(printf '%s\n%s\n' "$best" "$v" | sort -V | tail -n1)" = "$v" ]; then best=$v; fi
    done
    printf '%s' "$best"
}

if ! pg_up; then
    command -v pg_ctlcluster >/dev/null \
        || die "PostgreSQL is not reachable on 127.0.0.1:5432 and pg_ctlcluster is missing: start it yourself."
    pg_version=$(pg_cluster_version)
    if [ -z "$pg_version" ]; then
        v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
        [ -n "$v" ] || die "no PostgreSQL server found under /usr/lib/postgresql"
        say "creating PostgreSQL cluster $v/main"
        as_root pg_createcluster "$v" main >/dev/null
        pg_version=$v
    fi
    if pg_ctlcluster "$pg_version" main status >/dev/null 2>&1; then
        die "PostgreSQL $pg_version/main is running but not reachable on 127.0.0.1:5432: check listen_addresses and port in /etc/postgresql/$pg_version/main/postgresql.conf"
    fi
    say "starting PostgreSQL $pg_version/main"
    # pg_ctlcluster itself redirects to systemctl only when systemd is running.
    as_root pg_ctlcluster "$pg_version" main start \
        || die "pg_ctlcluster $pg_version main start failed; see /var/log/postgresql/postgresql-$pg_version-main.log"
    wait_for PostgreSQL pg_up "Check /var/log/postgresql/postgresql-$pg_version-main.log and listen_addresses/port in /etc/postgresql/$pg_version/main/postgresql.conf."
fi

admin_psql() { psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }
admin_ok() { admin_psql -Atc 'select 1' >/dev/null 2>&1; }

if ! admin_ok; then
    case "$ADMIN_URL" in
        postgres://postgres@127.0.0.1:5432/* | postgresql://postgres@127.0.0.1:5432/*) ;;
        *) die "cannot connect as superuser with TEST_DATABASE_ADMIN_URL=$ADMIN_URL (not touching pg_hba.conf for a custom URL)" ;;
    esac
    [ -n "$pg_version" ] || pg_version=$(pg_cluster_version)
    hba=/etc/postgresql/$pg_version/main/pg_hba.conf
    if [ -z "$pg_version" ] || ! as_root test -f "$hba"; then
        die "cannot connect as postgres to 127.0.0.1 without a password, and no Debian pg_hba.conf was found to fix it"
    fi
    echo "setup: ############################################################################"
    echo "setup: # LOCAL DEV MACHINE ONLY: the superuser 'postgres' cannot connect to"
    echo "setup: # 127.0.0.1 without a password. Prepending to $hba:"
    echo "setup: #   host all all 127.0.0.1/32 trust"
    echo "setup: #   host all all ::1/128 trust"
    echo "setup: # (anyone who can reach this machine's loopback can then connect as any role)."
    echo "setup: ############################################################################"
    tmp=$(mktemp)
    {
        echo "# Added by voxanne deploy/local/setup.sh -- LOCAL DEVELOPMENT MACHINE ONLY."
        echo "# Lets tests connect as the superuser over TCP without a password. Never in production."
        echo "host    all    all    127.0.0.1/32    trust"
        echo "host    all    all    ::1/128         trust"
        as_root cat "$hba"
    } >"$tmp"
    as_root cp "$hba" "$hba.voxanne-backup"
    as_root tee "$hba" <"$tmp" >/dev/null
    rm -f "$tmp"
    as_root pg_ctlcluster "$pg_version" main reload
    deadline=$((SECONDS + 10))
    until admin_ok; do
        [ "$SECONDS" -lt "$deadline" ] || die "still cannot connect with $ADMIN_URL after editing $hba (backup: $hba.voxanne-backup)"
        sleep 0.3
    done
fi

if [ "$(id -u)" -eq 0 ]; then
    if [ "$(admin_psql -Atc "select count(*) from pg_roles where rolname = 'root'")" = "0" ]; then
        say "creating superuser role root (running as root)"
        admin_psql -c 'CREATE ROLE root LOGIN SUPERUSER'
    fi
fi

# ---------------------------------------------------------------------------------------------
# 3. Redis
# ---------------------------------------------------------------------------------------------
if ! redis_up; then
    say "starting Redis"
    if ! as_root service redis-server start >/dev/null 2>&1 || ! { sleep 1; redis_up; }; then
        say "service redis-server start did not work; starting redis-server --daemonize yes"
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
            --dir "${TMPDIR:-/tmp}" >/dev/null
    fi
    wait_for Redis redis_up "Check /var/log/redis/ or run: redis-server --bind 127.0.0.1 --port 6379"
fi

# ---------------------------------------------------------------------------------------------
# 4. RabbitMQ
# ---------------------------------------------------------------------------------------------
# RabbitMQ's port can be closed for several reasons, each with its own way back: the node is
# still booting (wait), the Erlang VM runs with the rabbit app stopped (start_app; `service
# start` and `-detached` both refuse then, as the node name is taken), the node is down
# (service start, or -detached where there is no init script), or it is wedged (stop it, then
# start it again). Whatever happens, a failure prints what the broker said about itself.
rabbit_node_alive() { as_root rabbitmqctl -q -t 5 ping >/dev/null 2>&1; }
rabbit_diagnose() {
    printf 'setup: --- RabbitMQ diagnostics ---\n' >&2
    df -h /var/lib/rabbitmq 2>/dev/null | sed 's/^/setup:   /' >&2 || true
    pgrep -fa 'beam.*rabbit' 2>/dev/null | cut -c1-160 | sed 's/^/setup:   process: /' >&2 || true
    as_root rabbitmqctl -q -t 10 status 2>&1 | head -n 25 | sed 's/^/setup:   status: /' >&2 || true
    for f in /var/log/rabbitmq/*.log; do
        [ -s "$f" ] || continue
        printf 'setup:   last lines of %s:\n' "$f" >&2
        tail -n 25 "$f" | cut -c1-240 | sed 's/^/setup:     /' >&2
    done
}
rabbit_wait() { # rabbit_wait SECONDS: true once the port is open
    local deadline=$((SECONDS + $1))
    until amqp_up; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}
if ! amqp_up; then
    RABBIT_TIMEOUT=${SETUP_RABBITMQ_TIMEOUT:-$((TIMEOUT * 2))}
    if pgrep -f 'beam.*rabbit' >/dev/null 2>&1; then
        say "RabbitMQ's node runs but its port is closed: waiting for it to finish booting"
        rabbit_wait 15 || true
        if ! amqp_up && rabbit_node_alive; then
            say "the node answers but the broker is stopped: rabbitmqctl start_app"
            as_root rabbitmqctl -q start_app >/dev/null 2>&1 || true
            rabbit_wait "$RABBIT_TIMEOUT" || true
        fi
    fi
    if ! amqp_up; then
        say "starting RabbitMQ (can take ~10-20 s)"
        if ! pgrep -f 'beam.*rabbit' >/dev/null 2>&1; then
            if ! as_root service rabbitmq-server start >/dev/null 2>&1; then
                say "service rabbitmq-server start did not work; starting rabbitmq-server -detached"
                as_root rabbitmq-server -detached >/dev/null 2>&1 || true
            fi
            rabbit_wait "$RABBIT_TIMEOUT" || true
        fi
    fi
    if ! amqp_up; then
        say "RabbitMQ still unreachable: stopping whatever is left of its node and starting it again"
        rabbit_diagnose
        as_root rabbitmqctl -q -t 15 shutdown >/dev/null 2>&1 || true
        as_root pkill -KILL -f 'beam.*rabbit' >/dev/null 2>&1 || true
        sleep 1
        as_root service rabbitmq-server start >/dev/null 2>&1 \
            || as_root rabbitmq-server -detached >/dev/null 2>&1 || true
        rabbit_wait "$RABBIT_TIMEOUT" || true
    fi
    if ! amqp_up; then
        rabbit_diagnose
        die "RabbitMQ is not reachable on 127.0.0.1:5672 after the steps above. Check /var/log/rabbitmq/ and: rabbitmq-diagnostics status"
    fi
    say "RabbitMQ is up"
fi

# ---------------------------------------------------------------------------------------------
# 5. Database, schemas and roles
# ---------------------------------------------------------------------------------------------
if [ -f "$BOOTSTRAP_SQL" ]; then
    PGOPTIONS='-c client_min_messages=warning' admin_psql -f "$BOOTSTRAP_SQL" >/dev/null \
        || die "deploy/postgres/bootstrap.sql failed"
    bootstrap="bootstrap.sql applied"
else
    bootstrap="bootstrap.sql not found (skipped)"
fi

say "ok: postgres, redis, rabbitmq up on 127.0.0.1; nginx installed; $bootstrap"
