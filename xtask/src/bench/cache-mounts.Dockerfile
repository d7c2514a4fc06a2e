# BuildKit cache mounts in the style of `docker init` for Rust: sources bind-mounted, cargo's
# target directory and registry in cache mounts that survive between builds. Adapted to the
# app: the xtask workspace member is mounted too, the musl target is built, and only the app's
# package (--package), as the other strategies build it; the cargo profile is a build argument
# (bench: PROFILE, default release) so that it can be compared with the same profile.
ARG BUILDER_IMAGE=local/rust-musl-builder:1.96-bookworm
FROM ${BUILDER_IMAGE} AS build
ARG APP
ARG PROFILE=release
WORKDIR /build
RUN --mount=type=bind,source=src,target=src \
    --mount=type=bind,source=xtask,target=xtask \
    --mount=type=bind,source=Cargo.toml,target=Cargo.toml \
    --mount=type=bind,source=Cargo.lock,target=Cargo.lock \
    --mount=type=cache,target=/build/target/ \
    --mount=type=cache,target=/usr/local/cargo/git/db \
    --mount=type=cache,target=/usr/local/cargo/registry/ \
    cargo build --locked --profile "$PROFILE" --target x86_64-unknown-linux-musl --package "$APP" \
 && cp "./target/x86_64-unknown-linux-musl/$PROFILE/$APP" /bin/server

FROM scratch AS final
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /bin/server /bin/server
USER 10001:10001
ENTRYPOINT ["/bin/server"]
