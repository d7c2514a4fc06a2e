# The allocation workload (alloc_main.rs) as a static musl binary in a scratch image, with
# jemalloc (--build-arg FEATURES=jemalloc) or musl's own malloc (FEATURES empty).
ARG BUILDER_IMAGE=local/rust-musl-builder:1.96-bookworm
FROM ${BUILDER_IMAGE} AS builder
ARG FEATURES=""
WORKDIR /build
COPY . .
RUN cargo build --release --target x86_64-unknown-linux-musl --features "$FEATURES" \
 && cp target/x86_64-unknown-linux-musl/release/alloc-workload /alloc-workload

FROM scratch
COPY --from=builder /alloc-workload /alloc-workload
ENTRYPOINT ["/alloc-workload"]
