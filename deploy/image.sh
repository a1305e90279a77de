#!/usr/bin/env bash
# `make image`: builds the five service images from the one Dockerfile (ADR 0022) with docker or
# podman, whichever has a running engine (IMAGE_ENGINE=docker|podman to choose). Tags
# ${IMAGE_REPO:-voxanne}/<service>:${IMAGE_TAG:-dev}. Without a running engine it says so and
# exits 3 (nothing built) — a build machine without one cannot make images, and must not pretend.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVICES=(auth voice-webhook calendar messaging lead-scoring)
REPO=${IMAGE_REPO:-voxanne}
TAG=${IMAGE_TAG:-dev}

engine=""
for e in ${IMAGE_ENGINE:-docker podman}; do
    command -v "$e" >/dev/null 2>&1 || continue
    if "$e" info >/dev/null 2>&1; then engine=$e; break; fi
    echo "image: $e is installed but its engine is not running ($e info fails)" >&2
done
if [ -z "$engine" ]; then
    echo "image: no container engine is running (tried: ${IMAGE_ENGINE:-docker podman}); nothing built." >&2
    echo "image: start dockerd or install podman, then run 'make image' again. The Dockerfile is still" >&2
    echo "image: linted by 'make k8s-check' (hadolint)." >&2
    exit 3
fi

revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for svc in "${SERVICES[@]}"; do
    echo "image: $engine build --target $svc -t $REPO/$svc:$TAG"
    "$engine" build --target "$svc" \
        --build-arg VERSION="$TAG" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
        -t "$REPO/$svc:$TAG" .
done
echo "image: built ${#SERVICES[@]} images:"
for svc in "${SERVICES[@]}"; do "$engine" image inspect --format '  {{.Id}}' "$REPO/$svc:$TAG" | sed "s|^|  $REPO/$svc:$TAG|"; done
