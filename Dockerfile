# creel's image: one binary for `creel worker` and `creel api` (deploy/k8s runs both).
# Build: docker build -t ghcr.io/<you>/creel:<version> .
# Dependencies are compiled in their own layer (cargo-chef), so a source change rebuilds only
# creel's own crates. The runtime is distroless (glibc, CA certificates, no shell) as uid 65532.

FROM rust:1.95-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.71
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --package creel
COPY . .
RUN cargo build --release --locked --package creel --bin creel

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="creel" \
      org.opencontainers.image.description="Classroom-video job orchestration on Redis: vendor exports, polling, callbacks, uploads to OSS/S3" \
      org.opencontainers.image.source="https://github.com/creel-dev/creel" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /src/target/release/creel /usr/local/bin/creel
USER 65532:65532
# The API's port and the worker's probe/metrics port (deploy/k8s/base/creel.toml).
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/creel"]
CMD ["worker"]
