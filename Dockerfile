# syntax=docker/dockerfile:1
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY openapi.yaml ./
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin ticket-bridge

# TLS roots are compiled in (rustls + webpki-roots), so the runtime image needs no CA bundle.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home bridge
COPY --from=build /src/target/release/ticket-bridge /usr/local/bin/ticket-bridge
USER bridge
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=15000 \
    DATABASE_URL=sqlite:///data/ticket-bridge.db \
    LOG_FORMAT=json
EXPOSE 15000
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["ticket-bridge", "healthcheck"]
ENTRYPOINT ["ticket-bridge"]
CMD ["serve"]
