# cargo-chef's documented pattern (its README, "Running the binary in Alpine": planner, cook
# with --target, build), on a builder with cargo-chef installed (chef-builder.Dockerfile). The
# runtime stage is FROM scratch with the CA bundle, like the other strategies'.
ARG CHEF_IMAGE
FROM ${CHEF_IMAGE} AS chef
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG APP
COPY --from=planner /app/recipe.json recipe.json
# Notice that we are specifying the --target flag!
RUN cargo chef cook --release --target x86_64-unknown-linux-musl --recipe-path recipe.json
COPY . .
RUN cargo build --release --target x86_64-unknown-linux-musl --bin "$APP" \
 && cp "target/x86_64-unknown-linux-musl/release/$APP" /app-binary

FROM scratch AS runtime
COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=builder /app-binary /usr/local/bin/app
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/app"]
