# hagate's image: the hagate binary and HAProxy 2.6 (Debian bookworm's), one
# image for the control plane (hagate controller, deploy/controller.yaml) and
# for both containers of every Gateway's data plane Pods (and of
# deploy/single/deployment.yaml):
#   haproxy: /usr/local/bin/haproxy-start (bootstrap config, then haproxy -W)
#   hagate:  /usr/local/bin/hagate run ... (the entrypoint)
#
#   docker build -t REGISTRY/hagate:TAG .
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/hagate:TAG --push .

# The build runs on the builder's own platform and cross-compiles (pure Go,
# no cgo) for the target one.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/hagate ./cmd/hagate

FROM debian:bookworm-slim
# HAProxy 2.6 LTS as Debian bookworm ships it, with Debian's security
# updates, and the system CA store for `ca-file @system-ca`. hagate is
# tested on it and on HAProxy 3.0 LTS (make test runs the HAProxy tests and
# the conformance suite on both); 2.6 stays the image's because it is the
# one a Debian stable base maintains. As a sidecar, hagate drives whichever
# of the two the user runs.
# Debian's default /etc/haproxy/haproxy.cfg is removed: it chroots and
# switches users, which a non-root HAProxy cannot; haproxy-start writes the
# bootstrap configuration instead. /etc/haproxy, /run/haproxy and
# /var/lib/hagate are mount points (volumes in Kubernetes, where the root
# filesystem is read-only), owned by the runtime user so that Docker volumes
# mounted there are writable too.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        haproxy \
        ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && rm -f /etc/haproxy/haproxy.cfg \
    && groupadd --system --gid 65532 hagate \
    && useradd --system --no-log-init --uid 65532 --gid 65532 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin hagate \
    && install -d -o 65532 -g 65532 -m 0755 /etc/haproxy /run/haproxy /var/lib/hagate \
    && haproxy -v
COPY --from=build /out/hagate /usr/local/bin/hagate
COPY --chmod=0755 deploy/image/haproxy-start /usr/local/bin/haproxy-start
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/hagate"]
CMD ["--help"]
