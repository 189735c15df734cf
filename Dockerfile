# syntax=docker/dockerfile:1
# keel: multi-stage build, slim non-root runtime.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source edits do not rebuild them.
COPY Cargo.toml Cargo.lock build.rs ./
COPY loadtest/Cargo.toml loadtest/Cargo.toml
# The manifest names the benches, so they must exist for cargo to read it.
COPY benches benches
RUN mkdir -p src loadtest/src migrations \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > loadtest/src/main.rs \
    && cargo build --release --locked --bin keel \
    && rm -rf src loadtest/src
COPY src src
COPY migrations migrations
COPY loadtest loadtest
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin keel \
    && strip target/release/keel

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin keel \
    && mkdir -p /app /data \
    && chown keel:keel /data
WORKDIR /app
COPY --from=build /src/target/release/keel /usr/local/bin/keel
COPY content-types /app/content-types
ENV KEEL_LISTEN=0.0.0.0:8080 \
    KEEL_DATABASE_URL=sqlite:///data/keel.db \
    KEEL_CONTENT_TYPES=/app/content-types \
    KEEL_LOG_FORMAT=json
USER keel
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["keel"]
CMD ["serve"]
