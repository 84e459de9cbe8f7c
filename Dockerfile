# syntax=docker/dockerfile:1
#
# Tessera container image: a release build on Debian bookworm, run as a
# non-root user on debian:bookworm-slim with only ca-certificates added.
#
#   docker build -t tessera .
#   docker run -p 8080:8080 -v tessera-data:/var/lib/tessera \
#     -e TESSERA_ISSUER=https://auth.example.com tessera
#
# TESSERA_ISSUER must be set: the container listens on 0.0.0.0, and an issuer
# derived from that address is refused (http is allowed on loopback only).
# Data lives in /var/lib/tessera (SQLite by default); point
# TESSERA_DATABASE_URL at PostgreSQL to run several replicas
# (deploy/compose.yaml). A bind mount there must be writable by uid 10001.
#
# On SIGTERM Tessera gives open connections up to 30 s to finish: stop it with
# a longer timeout than Docker's 10 s (`docker stop -t 40`,
# stop_grace_period: 40s in compose, terminationGracePeriodSeconds: 40).
#
# No HEALTHCHECK: the slim image has no curl or wget. Probe from the
# orchestrator instead: GET /health for readiness (the database answers),
# GET /health/live for liveness (the process serves).

# The toolchain rust-toolchain.toml pins.
ARG RUST_VERSION=1.95.0

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# The workspace manifest and lock file, the resource-server kit member crate,
# and everything the build reads: sources, migrations (sqlx::migrate! and
# include_str!), askama templates, the stylesheet, the embedded example
# configuration, and the [[bench]] target Cargo.toml names (cargo refuses a
# manifest whose declared bench file is missing, even when building a binary).
# No .git: `tessera --version` names the commit given as TESSERA_BUILD_COMMIT
# (`docker build --build-arg TESSERA_BUILD_COMMIT=$(git rev-parse --short=12 HEAD)`).
ARG TESSERA_BUILD_COMMIT=
ENV TESSERA_BUILD_COMMIT=${TESSERA_BUILD_COMMIT}
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/ crates/
COPY src/ src/
COPY migrations/ migrations/
COPY templates/ templates/
COPY static/ static/
COPY examples/ examples/
COPY benches/ benches/
# The target directory is a cache mount, so the binary is copied out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tessera \
    && install -D -m 0755 target/release/tessera /out/tessera

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tessera \
    && useradd --system --uid 10001 --gid tessera --home-dir /var/lib/tessera \
       --no-create-home --shell /usr/sbin/nologin tessera \
    && install -d -m 0700 -o tessera -g tessera /var/lib/tessera
COPY --from=builder /out/tessera /usr/local/bin/tessera
ENV TESSERA_DATABASE_URL=sqlite:///var/lib/tessera/tessera.db \
    TESSERA_LISTEN=0.0.0.0:8080
WORKDIR /var/lib/tessera
VOLUME ["/var/lib/tessera"]
EXPOSE 8080
USER tessera
ENTRYPOINT ["tessera"]
CMD ["serve"]
