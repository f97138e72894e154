# A static, non-root image of the kanaria binary. Build with
#   docker build -t ghcr.io/kanaria-rollouts/kanaria:dev .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/kanaria ./cmd/kanaria

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/kanaria /usr/local/bin/kanaria
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kanaria"]
