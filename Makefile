# tsm-csi-sidecar. `make demo` and `make test` set up what they need on a fresh Debian machine
# (as root) or stop and say what to install.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
GOTESTFLAGS ?=

.PHONY: all build deps test race unit sanity e2e e2e-k8s bench demo fuzz vet lint clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/tsm-csi-sidecar ./cmd/tsm-csi-sidecar
	$(GO) build -o $(BIN)/dsmc ./cmd/dsmc-sim

deps:
	@hack/deps.sh

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }

# golangci-lint (pinned in hack/lint.sh, built once into a cache outside the project; .golangci.yml),
# a go mod tidy check and shellcheck on the scripts. Needs no root unless shellcheck is missing.
lint:
	@hack/lint.sh

# Everything: the static checks, unit tests, kernel tests, the simulator, csi-sanity (mount/ext4,
# mount/xfs, block) and the snapshot/restore end-to-end tests, with a check that nothing is left behind.
test: deps vet lint
	hack/test.sh $(GOTESTFLAGS) ./...

# The same tests under the race detector, the driver binary included.
race: deps
	TSM_CSI_RACE=1 hack/test.sh -race ./...

unit: deps
	$(GO) test -count=1 ./pkg/...

sanity: deps
	hack/test.sh -v ./test/sanity

e2e: deps
	hack/test.sh -v ./test/e2e

# The driver under the real control plane and CSI sidecars (docs/kubernetes-e2e.md): builds the
# pinned components into TSM_CSI_K8S_CACHE once (10 to 20 minutes cold on 2 cores), then runs test/k8s.
TSM_CSI_K8S_CACHE ?= /var/cache/tsm-csi-k8s
export TSM_CSI_K8S_CACHE
e2e-k8s: deps
	hack/k8s-bins.sh
	hack/test.sh -v -tags k8se2e ./test/k8s

bench: deps
	hack/bench.sh

demo: deps build
	hack/demo.sh

# Runs every fuzz target for FUZZTIME each (the seed corpora also run in `make test`).
FUZZTIME ?= 20s
fuzz:
	@for pkg in ./pkg/tsm ./pkg/csi ./pkg/mount; do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz'); do \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
