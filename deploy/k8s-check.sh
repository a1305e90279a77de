#!/usr/bin/env bash
# `make k8s-check`: offline checks of the Kubernetes manifests under k8s/ (no cluster needed).
#   1. python3 + PyYAML: every YAML parses; Ingress and deploy/local/nginx.conf carry the
#      ARCHITECTURE §6 path table; per-service objects are complete (deploy/k8s_check.py);
#   2. kubectl (if installed): `kubectl kustomize` renders base and every overlay;
#   3. kubernetes-validate (if installed): schema validation of the rendered output, --strict.
# A missing tool is reported as SKIP, not as a failure.
# Environment: K8S_VERSION (default 1.33.0) for kubernetes-validate.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
K8S_VERSION=${K8S_VERSION:-1.33.0}
PATH="$PATH:$HOME/.local/bin"

status=0
skip() { printf 'SKIP  %s\n' "$*"; }
pass() { printf 'PASS  %s\n' "$*"; }
failed() { printf 'FAIL  %s\n' "$*"; status=1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- render with kustomize -------------------------------------------------------------------
rendered=()
if command -v kubectl >/dev/null 2>&1; then
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
else
    skip "kubectl not installed: overlays not rendered"
fi

# ---- structure checks (python3 + PyYAML) ------------------------------------------------------
have_yaml() { python3 -c 'import yaml' >/dev/null 2>&1; }
if ! command -v python3 >/dev/null 2>&1; then
    skip "python3 not installed: YAML not parsed"
else
    if ! have_yaml; then
        echo "k8s-check: PyYAML missing, trying: python3 -m pip install --user pyyaml"
        python3 -m pip install --quiet --user pyyaml >/dev/null 2>&1 \
            || python3 -m pip install --quiet pyyaml >/dev/null 2>&1 || true
    fi
    if have_yaml; then
        python3 deploy/k8s_check.py "$ROOT" "${rendered[@]}" || status=1
    else
        skip "PyYAML not available (pip install pyyaml): YAML not parsed"
    fi
fi

# ---- schema validation ------------------------------------------------------------------------
if command -v kubernetes-validate >/dev/null 2>&1; then
    if [ ${#rendered[@]} -gt 0 ]; then
        targets=("${rendered[@]}")
    else
        # Without kustomize: the plain resource files of the base (not kustomization.yaml).
        mapfile -t targets < <(find k8s/base -name '*.yaml' ! -name 'kustomization.yaml' | sort)
    fi
    if out=$(kubernetes-validate --strict --quiet -k "$K8S_VERSION" "${targets[@]}" 2>&1); then
        pass "kubernetes-validate --strict -k $K8S_VERSION (${#targets[@]} files)"
        [ -z "$out" ] || printf '%s\n' "$out"
    else
        printf '%s\n' "$out"
        failed "kubernetes-validate --strict -k $K8S_VERSION"
    fi
else
    skip "kubernetes-validate not installed (pip install kubernetes-validate): no schema validation"
fi

if [ "$status" -eq 0 ]; then echo "k8s-check: ok"; else echo "k8s-check: FAILED"; fi
exit "$status"
