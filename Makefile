# Voxanne developer entry points. See docs/runbooks/local-dev.md.
#
#   make run             install/start Postgres, Redis, RabbitMQ; build; migrate; start all services + gateway
#   make test            setup, lint, then every test incl. the OpenAPI conformance check (output also in target/test-output.log)
#   make lint            rustfmt check, clippy with warnings denied, dependency rules, schema drift, k8s-check
#   make smoke           check a running `make run` from the outside (curl)
#   make demo            one booking phone call through a running `make run` (call simulator)
#   make bench           setup, then cargo bench; results land in bench/results/*.json
#   make k8s-check       render, strictly validate and lint k8s/, the Dockerfile, the settings contract, gateway parity, dashboards/alerts (offline after the first run)
#   make image           build the five service images with docker or podman (says so when no engine runs)
#   make fmt             format the workspace
#   make setup           only the infrastructure part of `make run`
#   make clean-test-dbs  drop leftover test databases (vxt_*)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# rustup installs into ~/.cargo/bin, which a non-login shell may not have on PATH.
ifeq ($(shell command -v cargo 2>/dev/null),)
ifneq ($(wildcard $(HOME)/.cargo/bin/cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif
endif

TEST_DATABASE_ADMIN_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_DB_PREFIX ?= vxt_

.PHONY: help run setup test lint bench smoke demo k8s-check image fmt clean-test-dbs

help:
	@sed -n 's/^#   make /  make /p' $(firstword $(MAKEFILE_LIST))

run:
	deploy/local/run.sh

setup:
	deploy/local/setup.sh

# cargo's exit status is kept through `tee` by pipefail. The last line sums every
# `test result:` line in the conventional "N passed, N failed, N skipped" form
# (skipped = cargo's "ignored").
test: setup
	$(MAKE) lint
	@mkdir -p target
	@rm -rf "$${CARGO_TARGET_DIR:-target}/openapi-conformance"
	@status=0; \
	cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee target/test-output.log || status=$$?; \
	echo; echo "OpenAPI conformance (every API test response validated against its service's /openapi.json):"; \
	deploy/conformance-summary.sh --fail || status=1; \
	awk '/^test result:/ { n++; for (i = 2; i <= NF; i++) { \
	        w = $$i; sub(/[;,.]$$/, "", w); \
	        if (w == "passed") p += $$(i-1); else if (w == "failed") f += $$(i-1); else if (w == "ignored") s += $$(i-1); } } \
	     END { printf "\ncargo test: %d \"test result\" lines (full log: target/test-output.log)\n", n; \
	           printf "summary: %d passed, %d failed, %d skipped\n", p, f, s }' target/test-output.log; \
	exit $$status

# deps.py: bus is transport only, services share no code (with a self-test showing it can fail);
# schema-drift.sh: every services/*/src/store/schema.rs equals `diesel print-schema` of a freshly
# migrated database (docs/runbooks/lint.md); k8s-check.sh: what ships (manifests, Dockerfile,
# settings contract, gateway parity, dashboards and alerts), and its self-test showing that a
# broken manifest fails it; supervise.py --self-test: `make run`'s supervisor restarts a crashed
# process while the others keep running.
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	python3 deploy/lint/deps.py
	python3 deploy/lint/deps.py --self-test
	deploy/lint/schema-drift.sh
	deploy/k8s-check.sh
	deploy/k8s-check.sh --self-test
	python3 deploy/local/supervise.py --self-test

bench: setup
	cargo bench --workspace
	@if compgen -G 'bench/results/*.json' >/dev/null; then \
	    echo "bench results:"; ls -l bench/results/*.json; \
	else \
	    echo "no bench/results/*.json written"; \
	fi

smoke:
	deploy/local/smoke.sh

demo:
	deploy/local/demo.sh

k8s-check:
	deploy/k8s-check.sh

image:
	deploy/image.sh

fmt:
	cargo fmt --all

# Test databases are created by testkit as $(TEST_DB_PREFIX)*; a crashed test run can leave some.
clean-test-dbs:
	@printf '%s\n' \
	    "SELECT format('ALTER DATABASE %I IS_TEMPLATE false', datname) FROM pg_database WHERE starts_with(datname, '$(TEST_DB_PREFIX)') AND datistemplate \gexec" \
	    "SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE starts_with(datname, '$(TEST_DB_PREFIX)') \gexec" \
	    "SELECT 'test databases left: ' || count(*) FROM pg_database WHERE starts_with(datname, '$(TEST_DB_PREFIX)');" \
	  | psql "$(TEST_DATABASE_ADMIN_URL)" -X -q -At -v ON_ERROR_STOP=1
