# syntax=docker/dockerfile:1
#
# Runestone container image, built from source:
#
#   docker build -t runestone .
#   docker run --rm -p 4001:4001 -v runestone-data:/data runestone
#
# The image listens on 0.0.0.0:4001 inside the container. Auth is on by
# default (the gateway refuses a non-loopback address while auth is
# disabled), so create a key first:
#
#   docker run --rm -v runestone-data:/data runestone keys create --name me
#
# Release images (ghcr.io/jmanhype/runestone) are built by GoReleaser from the
# prebuilt binaries with Dockerfile.goreleaser instead; both files describe the
# same runtime image.
#
# No Docker engine runs in this project's CI, so this file is not built there;
# `goreleaser check` validates the release configuration that refers to it.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src

# Dependencies first, for layer caching.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=none
ARG DATE=unknown
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH:-amd64} \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/runestone ./cmd/runestone \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="runestone" \
      org.opencontainers.image.description="Local OpenAI-compatible LLM gateway" \
      org.opencontainers.image.source="https://github.com/jmanhype/runestone" \
      org.opencontainers.image.licenses="MIT"

COPY --from=build /out/runestone /runestone
# /data must exist and belong to the nonroot user (65532) so a fresh named
# volume is writable.
COPY --from=build --chown=65532:65532 /out/data /data

ENV RUNESTONE_HOME=/data
VOLUME /data
EXPOSE 4001
USER nonroot:nonroot

ENTRYPOINT ["/runestone"]
CMD ["serve", "--no-tui", "--addr", "0.0.0.0:4001"]
