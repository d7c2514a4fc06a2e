# The builder image plus cargo-chef from crates.io, built once and tagged so that pruning the
# build cache between strategies keeps it. Cargo's download caches are removed so that the
# cargo-chef strategy starts with the same empty CARGO_HOME registry as the others.
ARG BUILDER_IMAGE=local/rust-musl-builder:1.96-bookworm
FROM ${BUILDER_IMAGE}
ARG CARGO_CHEF_VERSION
RUN cargo install cargo-chef --locked --version "$CARGO_CHEF_VERSION" \
 && rm -rf /usr/local/cargo/registry /usr/local/cargo/git
