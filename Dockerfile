# Keyward container image: the server, and the CLI for CI jobs.
#   docker build -t keyward .
#   docker run --cap-add=IPC_LOCK -p 8200:8200 -v keyward-data:/keyward/data \
#     -v $PWD/server.hcl:/keyward/config/server.hcl:ro keyward
#   docker run --rm -e KEYWARD_ADDR -e KEYWARD_TOKEN keyward run --env X=secret/ci/db#password -- printenv X
# See docs/install.md.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
ARG BUILD_DATE=""
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags="-s -w -buildid= -X github.com/keyward/keyward/internal/cli.version=${VERSION} -X github.com/keyward/keyward/internal/cli.commit=${COMMIT} -X github.com/keyward/keyward/internal/cli.buildDate=${BUILD_DATE}" \
      -o /out/keyward ./cmd/keyward \
 && mkdir -p /out/root/keyward/data /out/root/keyward/config /out/root/keyward/audit /out/root/tmp \
 && cp packaging/docker/server.hcl /out/root/keyward/config/server.hcl \
 && printf 'keyward:x:10001:10001:keyward:/keyward:/nonexistent\n' > /out/root/passwd \
 && printf 'keyward:x:10001:\n' > /out/root/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/root/passwd /etc/passwd
COPY --from=build /out/root/group /etc/group
COPY --from=build --chown=10001:10001 /out/root/keyward /keyward
COPY --from=build --chown=10001:10001 --chmod=1777 /out/root/tmp /tmp
COPY --from=build /out/keyward /usr/local/bin/keyward
USER 10001:10001
ENV HOME=/keyward \
    KEYWARD_ADDR=http://127.0.0.1:8200
VOLUME ["/keyward/data"]
EXPOSE 8200 8201
# Up and answering, sealed or not: an operator unseals a sealed server.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/keyward", "health", "-sealed-ok", "-timeout=4s"]
ENTRYPOINT ["/usr/local/bin/keyward"]
CMD ["server", "-config", "/keyward/config/server.hcl"]
