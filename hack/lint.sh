#!/usr/bin/env bash
# The static checks `make lint` and so `make test` run:
#   - golangci-lint at a pinned version with .golangci.yml (errcheck, govet, ineffassign,
#     staticcheck, unused; test/k8s included through its build tag),
#   - `go mod tidy` would change neither go.mod nor go.sum,
#   - shellcheck on the scripts.
# golangci-lint is built from the Go module proxy into a cache outside the project, once per
# version: TSM_CSI_TOOLS_CACHE, default /var/cache/tsm-csi-tools as root, else ~/.cache/tsm-csi-tools.
# The shellcheck package comes from apt: installed as root on Debian (as hack/deps.sh does), else
# named.
set -euo pipefail
cd "$(dirname "$0")/.."

GOLANGCI_LINT_VERSION=v2.15.0

log() { echo "lint: $*" >&2; }

command -v go >/dev/null 2>&1 || { echo "Go is not installed (need Go 1.26 or newer on PATH)." >&2; exit 1; }

if [ -n "${TSM_CSI_TOOLS_CACHE:-}" ]; then
  tools=$TSM_CSI_TOOLS_CACHE
elif [ "$(id -u)" = 0 ]; then
  tools=/var/cache/tsm-csi-tools
else
  tools=${XDG_CACHE_HOME:-$HOME/.cache}/tsm-csi-tools
fi
gl_dir=$tools/golangci-lint-$GOLANGCI_LINT_VERSION
gl=$gl_dir/golangci-lint

if [ -x "$gl" ] && [ "$("$gl" version --short 2>/dev/null)" = "${GOLANGCI_LINT_VERSION#v}" ]; then
  :
else
  log "installing golangci-lint $GOLANGCI_LINT_VERSION into $gl_dir (from the Go module proxy; a few minutes once)"
  mkdir -p "$tools"
  tmp=$(mktemp -d "$tools/.install.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # Outside the project's module, with the local toolchain and no inherited -mod flags.
  (cd "$tmp" && GOBIN=$tmp GOWORK=off GOFLAGS='' GOTOOLCHAIN=local \
    go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION")
  mkdir -p "$gl_dir"
  mv -f "$tmp/golangci-lint" "$gl"
fi

if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing shellcheck"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq shellcheck >/dev/null
  else
    echo "shellcheck is not installed. Install the package shellcheck (as root: apt-get install shellcheck)." >&2
    exit 1
  fi
fi

rc=0

log "golangci-lint $GOLANGCI_LINT_VERSION"
"$gl" run ./... || rc=1

log "go mod tidy"
if ! go mod tidy -diff; then
  echo "go.mod/go.sum are not tidy: run go mod tidy" >&2
  rc=1
fi

log "shellcheck"
shellcheck hack/*.sh .ci/run || rc=1

exit $rc
