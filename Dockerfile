# syntax=docker/dockerfile:1
# Voxanne images (ADR 0022): the workspace is compiled once in the `build` stage; each service
# gets its own small runtime image from it (`--target <service>`), FROM distroless/cc: glibc and
# CA certificates, no shell, no package manager, user 65532 (nonroot). `make image` builds all
# five with docker or podman; `make k8s-check` lints this file with hadolint.
#
#   docker build --target voice-webhook -t voxanne/voice-webhook:dev .
#
# Pods run it read-only (readOnlyRootFilesystem, an emptyDir on /tmp) as a non-root uid; the
# binary is the entrypoint and the pod passes `serve`, `migrate` or a command
# (`<service> settings --json` prints what it reads from its environment).

ARG RUST_VERSION=1.95
ARG DEBIAN_SUITE=bookworm

FROM docker.io/library/rust:${RUST_VERSION}-slim-${DEBIAN_SUITE} AS build
# pkg-config and a C toolchain for the crates with C parts (aws-lc-sys, ring); versions follow
# the pinned Debian suite of the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The lockfile is the build's: --locked refuses to resolve anything new.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
        -p auth -p voice-webhook -p calendar -p messaging -p lead-scoring \
    && mkdir -p /out \
    && cp target/release/auth target/release/voice-webhook target/release/calendar \
          target/release/messaging target/release/lead-scoring /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime-base
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="voxanne" \
      org.opencontainers.image.description="Voxanne, the AI phone receptionist backend" \
      org.opencontainers.image.source="https://github.com/voxanne/voxanne" \
      org.opencontainers.image.vendor="Voxanne" \
      org.opencontainers.image.licenses="UNLICENSED" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
USER 65532:65532
WORKDIR /

FROM runtime-base AS auth
LABEL org.opencontainers.image.title="voxanne-auth"
COPY --from=build /out/auth /usr/local/bin/auth
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/auth"]
CMD ["serve"]

FROM runtime-base AS voice-webhook
LABEL org.opencontainers.image.title="voxanne-voice-webhook"
COPY --from=build /out/voice-webhook /usr/local/bin/voice-webhook
EXPOSE 8082
ENTRYPOINT ["/usr/local/bin/voice-webhook"]
CMD ["serve"]

FROM runtime-base AS calendar
LABEL org.opencontainers.image.title="voxanne-calendar"
COPY --from=build /out/calendar /usr/local/bin/calendar
EXPOSE 8083
ENTRYPOINT ["/usr/local/bin/calendar"]
CMD ["serve"]

FROM runtime-base AS messaging
LABEL org.opencontainers.image.title="voxanne-messaging"
COPY --from=build /out/messaging /usr/local/bin/messaging
EXPOSE 8084
ENTRYPOINT ["/usr/local/bin/messaging"]
CMD ["serve"]

FROM runtime-base AS lead-scoring
LABEL org.opencontainers.image.title="voxanne-lead-scoring"
COPY --from=build /out/lead-scoring /usr/local/bin/lead-scoring
EXPOSE 8085
ENTRYPOINT ["/usr/local/bin/lead-scoring"]
CMD ["serve"]
