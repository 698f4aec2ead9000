# syntax=docker/dockerfile:1
# The soc2-operator image: a release build of the `soc2-operator` binary on distroless, running as
# the distroless `nonroot` user (65532), which is what the Helm chart's securityContext expects.
#
#   docker build -t ghcr.io/soc2-operator/soc2-operator:0.1.0 .
#
# Build context: Cargo.toml, Cargo.lock and the workspace members (see .dockerignore). A new
# workspace member needs a COPY line here and an entry in .dockerignore: cargo refuses a
# workspace whose members are missing.

FROM rust:1-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core/ core/
COPY evidence/ evidence/
COPY operator/ operator/
COPY e2e/ e2e/
# Cache mounts keep the registry and target/ between builds (BuildKit); the binary is copied out
# of the cached target/ because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin soc2-operator \
 && install -D -m 0755 target/release/soc2-operator /out/soc2-operator

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="soc2-operator" \
      org.opencontainers.image.description="Kubernetes operator that audits the cluster against SOC 2 controls and writes signed, hash-chained evidence" \
      org.opencontainers.image.source="https://github.com/soc2-operator/soc2-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/soc2-operator /soc2-operator
# mimalloc (the binary's allocator) commits arena memory on demand and returns what is freed at
# once, so RSS follows the live data: 134 MiB instead of 180 MiB with 98k objects cached
# (BENCHMARKS.md, "Operator: watch-cache memory"). `soc2_operator::MIMALLOC_ENV` lists them.
ENV MIMALLOC_ARENA_EAGER_COMMIT=0 \
    MIMALLOC_PURGE_DELAY=0
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/soc2-operator"]
CMD ["run"]
