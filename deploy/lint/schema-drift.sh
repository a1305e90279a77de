#!/usr/bin/env bash
# Schema drift check (make lint): migrates a throw-away database with every service's migrations
# (each through its own binary's `migrate`, as its schema owner, exactly as in production), then
# regenerates each service's `src/store/schema.rs` with `diesel print-schema` (its diesel.toml)
# and fails on any difference from the committed file.
#
#   deploy/lint/schema-drift.sh            check
#   deploy/lint/schema-drift.sh --write    regenerate the files instead (after a new migration)
set -euo pipefail
cd "$(dirname "$0")/../.."

ADMIN_URL=${TEST_DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WRITE=0
[[ ${1:-} == --write ]] && WRITE=1

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v diesel >/dev/null 2>&1; then
    echo "schema-drift: installing diesel_cli (postgres only; needs libpq-dev)" >&2
    if ! dpkg -s libpq-dev >/dev/null 2>&1; then
        sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
        $sudo_cmd apt-get install -y -q libpq-dev >&2
    fi
    cargo install diesel_cli --version '^2.3' --no-default-features --features postgres --locked >&2
fi

host=${ADMIN_URL#*://}; host=${host##*@}; host=${host%%/*}
db="vxlint_schema_$$"
url_for() { echo "postgres://$1@$host/$db"; }
cleanup() { psql "$ADMIN_URL" -X -q -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -f deploy/postgres/roles.sql >/dev/null
psql "$ADMIN_URL" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$db\"" >/dev/null
psql "$(url_for postgres)" -X -q -v ON_ERROR_STOP=1 -f deploy/postgres/schemas.sql >/dev/null

mapfile -t tomls < <(ls services/*/diesel.toml)
bins=()
for toml in "${tomls[@]}"; do bins+=(--bin "$(basename "$(dirname "$toml")")"); done
cargo build -q "${bins[@]}"
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')

status=0
for toml in "${tomls[@]}"; do
    dir=$(dirname "$toml"); svc=$(basename "$dir")
    schema=$(sed -n 's/^schema *= *"\(.*\)"/\1/p' "$toml")
    file="$dir/$(sed -n 's/^file *= *"\(.*\)"/\1/p' "$toml")"
    VOXANNE_ENV=local \
    DATABASE_URL="$(url_for "svc_$schema")" MIGRATION_DATABASE_URL="$(url_for "${schema}_owner")" \
        "$target_dir/debug/$svc" migrate >/dev/null
    generated=$(mktemp)
    (cd "$dir" && diesel print-schema --database-url "$(url_for postgres)" --config-file diesel.toml) > "$generated"
    if [[ $WRITE == 1 ]]; then
        cp "$generated" "$file"; echo "schema-drift: wrote $file"
    elif ! diff -u --label "$file (committed)" --label "$file (diesel print-schema)" "$file" "$generated"; then
        echo "schema-drift: $file differs from the migrated database (run deploy/lint/schema-drift.sh --write)" >&2
        status=1
    fi
    rm -f "$generated"
done
[[ $status == 0 && $WRITE == 0 ]] && echo "schema-drift: ${#tomls[@]} schema.rs files match their migrations"
exit $status
