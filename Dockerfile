# syntax=docker/dockerfile:1
# Purser's image: the `purser` binary built from this repository, run as an unprivileged user
# (uid and gid 10001, which the rendered Kubernetes manifests name) with its data directory on
# a volume.
#
#   docker build -t purser .
#   docker run -p 7543:7543 -v purser-data:/var/lib/purser purser

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The registry and the target directory are BuildKit caches that survive between builds; the
# binary is copied out of the cached target directory in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p purser \
    && install -D -m 0755 target/release/purser /out/purser

FROM debian:bookworm-slim
# SQLite is compiled in and the time zone database is bundled: the binary needs only glibc.
RUN groupadd --system --gid 10001 purser \
    && useradd --system --uid 10001 --gid purser --no-create-home \
        --home-dir /var/lib/purser --shell /usr/sbin/nologin purser \
    && install -d -o purser -g purser -m 0750 /var/lib/purser
COPY --from=build /out/purser /usr/local/bin/purser
# A numeric user, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /var/lib/purser
EXPOSE 7543
VOLUME /var/lib/purser
ENTRYPOINT ["purser"]
CMD ["serve", "--listen", "0.0.0.0:7543", "--data-dir", "/var/lib/purser"]
