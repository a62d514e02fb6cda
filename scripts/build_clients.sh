#!/usr/bin/env bash
# Build the gRPC clients in other languages from proto/ (nothing generated is committed):
#   Go:   protoc -> clients/go/build/gopath (GOPATH mode, Debian's Go packages) -> clients/go/build/bin/aifarm-go-client
#   Node: npm ci in clients/node (loads the .proto files at run time; nothing generated)
# Idempotent. Missing Debian packages are installed only when running as root or under CI=true;
# otherwise the script says what to install and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

DEBIAN_PACKAGES=(golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev
  golang-google-protobuf-dev golang-github-golang-protobuf-1-5-dev golang-google-genproto-dev)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] || [ "${CI:-}" = "true" ]; then
    echo "--- apt-get install ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
command -v npm >/dev/null || { echo "npm not found: install Node.js 18 or newer" >&2; exit 1; }

echo "--- node: npm ci (clients/node)"
(cd clients/node && npm ci --no-audit --no-fund --loglevel=error)

echo "--- go: protoc (proto/ -> clients/go/build/gopath)"
GO_BUILD=$REPO/clients/go/build
GO_PREFIX=aifarm.dev/gen            # import path of the generated packages
GEN_DIR=$GO_BUILD/gopath/src
rm -rf "$GEN_DIR/$GO_PREFIX"
mkdir -p "$GEN_DIR" "$GO_BUILD/bin"

# Our .proto files name no go_package (the contract stays language neutral): map each one here.
mapfile -t PROTOS < <(cd proto && find aifarm -name '*.proto' | sort)
MAPPINGS=()
for file in "${PROTOS[@]}"; do
  dir=$(dirname "$file")                                  # aifarm/v1, aifarm/options/v1
  name=$(echo "${dir#aifarm/}" | tr -d '/')               # v1, optionsv1
  [ "$name" = v1 ] && name=aifarmv1
  MAPPINGS+=("M$file=$GO_PREFIX/$dir;$name")
done
go_opts=$(IFS=,; echo "${MAPPINGS[*]}")
# google/api and google/rpc come from Debian's genproto (their go_package options point there);
# only our own files are generated.
protoc -I proto -I third_party/googleapis \
  --go_out="$GEN_DIR" --go_opt="$go_opts" \
  --go-grpc_out="$GEN_DIR" --go-grpc_opt="$go_opts" \
  "${PROTOS[@]}"

echo "--- go: build clients/go -> clients/go/build/bin/aifarm-go-client"
(cd clients/go && GO111MODULE=off GOFLAGS= GOPATH="$GO_BUILD/gopath:/usr/share/gocode" \
  GOCACHE="${GOCACHE:-$GO_BUILD/gocache}" go build -o "$GO_BUILD/bin/aifarm-go-client" .)

echo "built: clients/go/build/bin/aifarm-go-client, clients/node (node clients/node/client.js)"
