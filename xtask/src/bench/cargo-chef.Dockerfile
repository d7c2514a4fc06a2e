# cargo-chef's documented pattern (its README, "Running the binary in Alpine": planner, cook
# with --target, build), on a builder with cargo-chef installed (chef-builder.Dockerfile). The
# runtime stage is FROM scratch with the CA bundle, like the other strategies'. The cargo profile
# is a build argument (bench: PROFILE), so that cargo-chef is compared with the same profile:
# `--profile release` is the README's `--release`; `--profile container` is the app's default.
ARG CHEF_IMAGE
FROM ${CHEF_IMAGE} AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG APP
ARG PROFILE=release
COPY --from=planner /app/recipe.json recipe.json
# Notice that we are specifying the --target flag!
RUN cargo chef cook --profile "$PROFILE" --target x86_64-unknown-linux-musl --recipe-path recipe.json
COPY . .
RUN cargo build --profile "$PROFILE" --target x86_64-unknown-linux-musl --bin "$APP" \
 && cp "target/x86_64-unknown-linux-musl/$PROFILE/$APP" /app-binary

FROM scratch AS runtime
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /app-binary /usr/local/bin/app
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/app"]
