# syntax=docker/dockerfile:1
# liuma: multi-stage build. The builder compiles the `liuma` binary (etcd-client's
# build script compiles etcd's .proto files, hence protobuf-compiler); the runtime
# image is debian:bookworm-slim with only the binary, run as uid 10001.
#
#   docker build -t liuma:0.1.0 .
#   docker run -p 9000-9002:9000-9002 -v liuma-data:/data liuma:0.1.0
#   docker run ... liuma:0.1.0 server --etcd http://etcd:2379
#   cluster node: ... server --etcd URL --node-id n1 --advertise HOST:9003 (9003: shard API)

FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The cache mounts only speed up rebuilds (BuildKit); the binary is copied out of
# the cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p liuma-server \
    && install -D -m 0755 target/release/liuma /out/liuma

# debian-slim rather than distroless: the Helm chart's init container needs `sh`
# and `install` to copy the Secret into <data>/secrets with mode 0600, and the
# HEALTHCHECK below uses bash's /dev/tcp (no curl in the image).
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 liuma \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin liuma \
    && mkdir -p /data \
    && chown 10001:10001 /data \
    && chmod 0750 /data
COPY --from=build /out/liuma /usr/local/bin/liuma

# Every `liuma server` flag also reads a LIUMA_* variable (flags win over env), so
# `docker run IMAGE server --etcd ...` keeps these defaults: listen on every
# interface (liuma's own default is 127.0.0.1) and keep everything under /data.
ENV LIUMA_DATA=/data \
    LIUMA_S3_LISTEN=0.0.0.0:9000 \
    LIUMA_NATIVE_LISTEN=0.0.0.0:9001 \
    LIUMA_ADMIN_LISTEN=0.0.0.0:9002 \
    LIUMA_CLUSTER_LISTEN=0.0.0.0:9003 \
    LIUMA_ADMIN_TOKEN_FILE=/data/secrets/admin.token

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
# 9000 S3 API, 9001 native token API, 9002 admin API (/health, /ready, /metrics),
# 9003 internal shard API (cluster nodes only, i.e. with --etcd; signed with
# <data>/secrets/cluster.secret, which every node of a cluster must share)
EXPOSE 9000 9001 9002 9003

# Liveness only (/health answers as soon as the admin listener serves); Kubernetes
# uses its own probes instead. Assumes the admin API on port 9002 in the container.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9002 && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/usr/local/bin/liuma"]
CMD ["server", "--data", "/data", "--s3-listen", "0.0.0.0:9000", "--native-listen", "0.0.0.0:9001", "--admin-listen", "0.0.0.0:9002"]
