# syntax=docker/dockerfile:1
#
# The `mlops` binary in a slim, non-root runtime image.
#
#   docker build -t mlops:0.1.0 .
#   docker run --rm -p 8080:8080 -v "$PWD/mlops-registry:/registry:ro" mlops:0.1.0 \
#       serve --addr 0.0.0.0:8080 --store /registry --model churn@production
#
# `mlops serve` listens on 127.0.0.1:8080 unless told otherwise, which no one outside the
# container can reach: always pass `--addr 0.0.0.0:8080` in a container. See deploy/README.md
# for Kubernetes, S3 registries and building without a Docker daemon (buildah).
#
# Dependency caching uses BuildKit cache mounts (Docker ≥ 23 and buildah both honour them):
# the cargo registry and the target directory survive between builds, so a source change
# recompiles only the crates it touches. A builder without cache mounts still builds, from
# scratch each time.

ARG RUST_VERSION=1.95
# The builder and the runtime must share a Debian release (glibc): both are bookworm. Fully
# qualified names, so that buildah and podman (no short-name aliases) find them too.
ARG BUILDER_IMAGE=docker.io/library/rust:${RUST_VERSION}-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release -p mlops-cli --locked \
    && install -D -m 0755 target/release/mlops /out/mlops

FROM ${RUNTIME_IMAGE} AS runtime
# ca-certificates: S3 over HTTPS verifies the endpoint against the system roots.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/mlops --create-home \
        --shell /usr/sbin/nologin mlops \
    && install -d -o 10001 -g 10001 /var/cache/mlops
COPY --from=builder /out/mlops /usr/local/bin/mlops

USER 10001:10001
WORKDIR /var/lib/mlops
ENV MLOPS_LOG=info
EXPOSE 8080

# `mlops` has no probe subcommand, and the image carries no curl: bash (part of every Debian
# image) speaks just enough HTTP over /dev/tcp. Set MLOPS_HEALTH_PORT when serving on another
# port. Kubernetes ignores HEALTHCHECK (it uses the probes in deploy/kubernetes); Docker and
# Podman use it (buildah/podman keep it only in the `docker` image format).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${MLOPS_HEALTH_PORT:-8080} && printf 'GET /v2/health/ready HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && read -r -t 3 _ code _ <&3 && [ \"$code\" = 200 ]"]

ENTRYPOINT ["mlops"]
# Without arguments the image prints how to run the server; give `serve --addr 0.0.0.0:8080
# --store URI --model NAME@ALIAS` (or any other subcommand) to do something.
CMD ["serve", "--help"]
