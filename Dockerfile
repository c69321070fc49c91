# syntax=docker/dockerfile:1

# ---- build -------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && mkdir knowledge migrations \
    && cargo build --release --locked || true
COPY src ./src
COPY migrations ./migrations
COPY knowledge ./knowledge
COPY assets ./assets
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
    && strip target/release/richesreach-chat

# ---- run ---------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
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
ENTRYPOINT ["/usr/local/bin/richesreach-chat"]
CMD ["serve"]
