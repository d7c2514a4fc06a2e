# The seed: the blog post's Dockerfile (/work/shared/seed, "Dockerfile for small Rust images")
# as published, adapted only where this machine or this app forces it. Each adaptation is marked
# "bench:"; everything else, including its bugs, is the post's.
#   - the builder is a build argument (no registry here; it has the musl target and musl-tools,
#     so the post's rustup and apt lines are gone)
#   - the app's name replaces api_gateway and my_app in the paths
#   - the app is a workspace: its xtask member needs a manifest and a dummy main too
#   - no `update-ca-certificates`: the builder's bundle is this machine's (it reaches crates.io
#     through a proxy with its own CA); regenerating it from Debian's store drops that CA and
#     cargo then fails "self-signed certificate in certificate chain". On rust:1.73 it changed
#     nothing.
#   - the final stage is FROM scratch (alpine cannot be pulled here), so `apk add` and
#     `RUN chown` become COPY --chown, and the CA bundle alpine would ship is copied in

# bench: a build argument instead of `FROM rust:1.73`
ARG BUILDER_IMAGE=local/rust-musl-builder:1.96-bookworm

## BUILDER IMAGE
FROM ${BUILDER_IMAGE} as builder
ARG APP

WORKDIR /usr/app
# bench: `RUN update-ca-certificates` removed (see above)

# bench: the app's name instead of api_gateway
WORKDIR /usr/app/${APP}

RUN adduser \
    --disabled-password \
    --gecos "" \
    --home "/nonexistent" \
    --shell "/sbin/nologin" \
    --no-create-home \
    --uid 10001 \
    userland

COPY ./Cargo.toml ./Cargo.toml
# bench: the workspace member's manifest and a dummy main for it
COPY ./xtask/Cargo.toml ./xtask/Cargo.toml
RUN mkdir xtask/src && echo "fn main(){}" > ./xtask/src/main.rs
RUN mkdir src && echo "fn main(){}" > ./src/main.rs
# Build the dependencies. This is the longest part and we don't want
# to repeat it if there is no dependency change,
# which is why there is no copy or volume for sources at this point
RUN cargo build --target x86_64-unknown-linux-musl --release
COPY ./src ./src

# 5. Build for release.
RUN cargo build --target x86_64-unknown-linux-musl --release

## EXECUTOR
# bench: scratch instead of alpine
FROM scratch
ARG APP

WORKDIR /opt
COPY --from=builder /etc/passwd /etc/passwd
COPY --from=builder /etc/group /etc/group
# bench: alpine ships a CA bundle; scratch has none
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# bench: the app's name instead of my_app; --chown instead of `RUN chown` (scratch has no shell)
COPY --from=builder --chown=userland:userland /usr/app/${APP}/target/x86_64-unknown-linux-musl/release/${APP} ./

# As published: nothing is at this path (the binary is in /opt), so the bench runs /opt/$APP.
CMD ["/usr/app/my_app"]
