#!/usr/bin/env bash
# The Go modules the gRPC tests (tests/integration/grpc.rs) build from, downloaded into the Go
# module cache so the tests do not wait on the module proxy: the generator a `hale new --grpc`
# project pins in tools/protogen/go.mod (protocompile, protoc-gen-go, protoc-gen-go-grpc) and
# the server's go-grpc-middleware. Keep the versions equal to templates/service/go.mod.tera and
# templates/service/tools/protogen/go.mod.tera. `go mod download` is a no-op once they are
# cached. Prints no environment line.
set -euo pipefail

log() { printf 'test-env: grpc: %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go is not installed: skipped"; exit 0; }
modules=(
  github.com/bufbuild/protocompile@v0.14.1
  golang.org/x/sync@v0.8.0
  google.golang.org/protobuf@v1.36.12
  google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
  github.com/grpc-ecosystem/go-grpc-middleware/v2@v2.3.3
  github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus@v1.1.0
)
if ! go mod download "${modules[@]}" >&2; then
  log "downloading the gRPC tests' Go modules failed"
  exit 1
fi
