# syntax=docker/dockerfile:1

# ---- chef: the toolchain plus cargo-chef ---------------------------------------
FROM rust:1.95-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
# OpenSSL headers: the image's binary is built with `postgres-tls`, so its
# libpq (compiled from source into the binary) can speak TLS to PostgreSQL.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /src

# ---- planner: reduce the manifests to a recipe (changes only with dependencies)
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# ---- build -------------------------------------------------------------------
FROM chef AS build
# Dependencies first, from the recipe alone: this layer stays cached until
# Cargo.toml or Cargo.lock change, whatever happens to the sources.
COPY --from=planner /src/recipe.json recipe.json
# Build settings (the bundled SQLite's compile options) apply to the cook too.
COPY .cargo ./.cargo
RUN cargo chef cook --release --locked --features postgres-tls --recipe-path recipe.json
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
COPY migrations ./migrations
COPY knowledge ./knowledge
COPY assets ./assets
RUN cargo build --release --locked --features postgres-tls --bin richesreach-chat \
    && strip target/release/richesreach-chat

# ---- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin app \
    && mkdir -p /data && chown app:app /data
COPY --from=build /src/target/release/richesreach-chat /usr/local/bin/richesreach-chat
USER app
WORKDIR /data
ENV BIND=0.0.0.0:8000 \
    DATABASE_URL=/data/chat.db \
    RUST_LOG=info
VOLUME ["/data"]
EXPOSE 8000
# The image has no curl: the binary probes GET /healthz on BIND's port itself
# (exit 0 on a 200 within 2 s, else 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/richesreach-chat", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/richesreach-chat"]
CMD ["serve"]
