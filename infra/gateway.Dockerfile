# syntax=docker/dockerfile:1
# The WhatsApp gateway (gateway/, the long-lived Fargate task) as a small runtime image.
# Build from the repository root (the build needs the whole cargo workspace):
#
#   docker build --platform linux/amd64 -f infra/gateway.Dockerfile -t platefull-gateway .
#
# Push to the stack's ECR repository and deploy: README, "Deploy to AWS".

# ---- build: the gateway crate with the `server` profile (release settings, panics unwind:
# a panic in one slot stops that slot, not every tenant's connections)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds; the binary is
# copied out of the cache in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile server --locked -p gateway --bin gateway \
    && cp target/server/gateway /usr/local/bin/platefull-gateway

# ---- run: glibc, libgcc, CA certificates and a non-root user; no shell, no package manager
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/platefull-gateway /usr/local/bin/platefull-gateway
USER nonroot:nonroot
# JSON logs on stdout (CloudWatch through the awslogs driver); SIGTERM closes the
# connections and releases the slot leases before the task stops.
ENTRYPOINT ["/usr/local/bin/platefull-gateway"]
