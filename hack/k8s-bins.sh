#!/usr/bin/env bash
# Builds the pinned Kubernetes components the e2e-k8s test runs, from the Go module proxy, into a
# cache outside the project's module:
#   etcd, kube-apiserver, kube-controller-manager, kubectl, csi-snapshotter, snapshot-controller,
#   csi-provisioner, the snapshot CRDs (config/crd of the snapshotter's client module) and
#   the snapshot-controller's upstream RBAC (the cluster's part the project does not ship).
# Each tool is built in its own scratch module (GOWORK=off) so the project's go.mod is never touched
# and each tool keeps exactly its upstream dependency pins. A cache whose stamp matches the pinned
# versions is reused as it is.
#
# Usage: hack/k8s-bins.sh [cache-dir]    (default ${TSM_CSI_K8S_CACHE:-/var/cache/tsm-csi-k8s})
# Progress goes to stderr; the binaries end up in <cache-dir>/bin, the CRDs in <cache-dir>/crd,
# the RBAC in <cache-dir>/rbac-snapshot-controller.yaml. Needs Go 1.26 and the Go module proxy
# (or a module cache holding these versions); about 10 minutes and 8 GB of build cache cold.
set -euo pipefail

K8S_VERSION=v1.37.2
STAGING_VERSION=v0.37.2
SNAPSHOTTER_VERSION=v8.7.0
PROVISIONER_VERSION=v6.4.0
ETCD_VERSION=v3.6.16
STAMP="k8s=$K8S_VERSION snapshotter=$SNAPSHOTTER_VERSION provisioner=$PROVISIONER_VERSION etcd=$ETCD_VERSION"
BINS="etcd kube-apiserver kube-controller-manager kubectl csi-snapshotter snapshot-controller csi-provisioner"

CACHE=${1:-${TSM_CSI_K8S_CACHE:-/var/cache/tsm-csi-k8s}}
BIN=$CACHE/bin
export GOWORK=off GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local}

log() { echo "k8s-bins: $*" >&2; }

complete() {
  [ -f "$CACHE/stamp" ] && [ "$(cat "$CACHE/stamp")" = "$STAMP" ] || return 1
  for b in $BINS; do [ -x "$BIN/$b" ] || return 1; done
  [ -f "$CACHE/crd/kustomization.yaml" ] && [ -f "$CACHE/rbac-snapshot-controller.yaml" ] || return 1
}

if complete; then
  log "reusing $CACHE ($STAMP)"
  exit 0
fi

command -v go >/dev/null 2>&1 || { echo "Go is not installed (need Go 1.26 or newer on PATH)." >&2; exit 1; }
mkdir -p "$BIN" "$CACHE/src"
rm -f "$CACHE/stamp"
start=$(date +%s)

# step NAME: runs the rest of the line, logging its duration.
step() {
  local name=$1 t0; shift
  t0=$(date +%s)
  "$@"
  log "$name: $(( $(date +%s) - t0 ))s"
}

gomod_of() { # module@version -> path of its go.mod in the module cache (downloads it)
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'
}
dir_of() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# --- Kubernetes: kube-apiserver, kube-controller-manager, kubectl -------------------------------
build_k8s() {
  local d=$CACHE/src/k8s mod
  rm -rf "$d"; mkdir -p "$d"
  mod=$(cd "$d" && gomod_of "k8s.io/kubernetes@$K8S_VERSION")
  {
    echo "module local/k8sbuild"
    grep -E '^(go|godebug) ' "$mod"
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 '"$STAGING_VERSION"'#p' "$mod"
    echo ")"
  } >"$d/go.mod"
  local ldf="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
  ldf="$ldf -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X k8s.io/component-base/version.gitTreeState=clean"
  (
    cd "$d"
    go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kube-controller-manager@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
    for c in kube-apiserver kube-controller-manager kubectl; do
      step "$c" go build -trimpath -ldflags "$ldf" -o "$BIN/$c.new" "k8s.io/kubernetes/cmd/$c"
      mv "$BIN/$c.new" "$BIN/$c"
    done
  )
}

# --- a sidecar: scratch module with the tool's own go.mod (renamed) and go.sum -----------------
sidecar_module() { # dir module version
  local d=$1 m=$2 v=$3 mod
  rm -rf "$d"; mkdir -p "$d"
  mod=$(cd "$d" && gomod_of "$m@$v")
  sed -e "s#^module .*#module local/$(basename "$d")#" "$mod" >"$d/go.mod"
  local src; src=$(cd "$d" && dir_of "$m@$v")
  [ -f "$src/go.sum" ] && cp "$src/go.sum" "$d/go.sum" && chmod u+w "$d/go.sum"
  chmod u+w "$d/go.mod"
}

build_snapshotter() {
  local d=$CACHE/src/snapshotter m=github.com/kubernetes-csi/external-snapshotter/v8
  sidecar_module "$d" "$m" "$SNAPSHOTTER_VERSION"
  sed -i -E "s#(github.com/kubernetes-csi/external-snapshotter/client/v8) => \./client#\1 => \1 $SNAPSHOTTER_VERSION#" "$d/go.mod"
  (
    cd "$d"
    go get "$m/cmd/csi-snapshotter@$SNAPSHOTTER_VERSION" "$m/cmd/snapshot-controller@$SNAPSHOTTER_VERSION"
    for c in csi-snapshotter snapshot-controller; do
      step "$c" go build -trimpath -ldflags "-s -w -X main.version=$SNAPSHOTTER_VERSION" -o "$BIN/$c.new" "$m/cmd/$c"
      mv "$BIN/$c.new" "$BIN/$c"
    done
    # The CRDs live in the nested client module.
    local crd; crd=$(dir_of "github.com/kubernetes-csi/external-snapshotter/client/v8@$SNAPSHOTTER_VERSION")/config/crd
    rm -rf "$CACHE/crd"; mkdir -p "$CACHE/crd"
    cp "$crd"/*.yaml "$CACHE/crd/"
    chmod -R u+w "$CACHE/crd"
    copy_rbac
  )
}

copy_rbac() {
  local src
  src=$(cd "$CACHE/src/snapshotter" && dir_of "github.com/kubernetes-csi/external-snapshotter/v8@$SNAPSHOTTER_VERSION")
  cp "$src/deploy/kubernetes/snapshot-controller/rbac-snapshot-controller.yaml" "$CACHE/rbac-snapshot-controller.yaml"
  chmod u+w "$CACHE/rbac-snapshot-controller.yaml"
}

build_provisioner() {
  local d=$CACHE/src/provisioner m=github.com/kubernetes-csi/external-provisioner/v6
  sidecar_module "$d" "$m" "$PROVISIONER_VERSION"
  (
    cd "$d"
    go get "$m/cmd/csi-provisioner@$PROVISIONER_VERSION"
    step csi-provisioner go build -trimpath -ldflags "-s -w -X main.version=$PROVISIONER_VERSION" -o "$BIN/csi-provisioner.new" "$m/cmd/csi-provisioner"
    mv "$BIN/csi-provisioner.new" "$BIN/csi-provisioner"
  )
}

build_etcd() {
  local d=$CACHE/src/etcd
  rm -rf "$d"; mkdir -p "$d"
  (
    cd "$d"
    go mod init local/etcdbuild >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    step etcd go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.new" go.etcd.io/etcd/server/v3
    mv "$BIN/etcd.new" "$BIN/etcd"
  )
}

# Only what is missing is built (a partial cache from an interrupted run is completed).
have() { [ -x "$BIN/$1" ] && [ -f "$CACHE/stamp.$1" ] && [ "$(cat "$CACHE/stamp.$1")" = "$STAMP" ]; }
mark() { for b in "$@"; do echo "$STAMP" >"$CACHE/stamp.$b"; done; }

have etcd || { build_etcd; mark etcd; }
{ have kube-apiserver && have kube-controller-manager && have kubectl; } || { build_k8s; mark kube-apiserver kube-controller-manager kubectl; }
{ have csi-snapshotter && have snapshot-controller && [ -f "$CACHE/crd/kustomization.yaml" ]; } || { build_snapshotter; mark csi-snapshotter snapshot-controller; }
have csi-provisioner || { build_provisioner; mark csi-provisioner; }
[ -f "$CACHE/rbac-snapshot-controller.yaml" ] || copy_rbac

echo "$STAMP" >"$CACHE/stamp"
complete || { echo "k8s-bins: the cache at $CACHE is incomplete after the build" >&2; exit 1; }
log "built into $CACHE in $(( $(date +%s) - start ))s"
