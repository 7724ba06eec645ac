# oci-run build. `make build` puts the six binaries in bin/.
GO      ?= go
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
STAGES  := oci-cgroup oci-unshare oci-mount oci-seccomp oci-exec
BINS    := oci-run $(STAGES)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.1.0-dev)
COMMIT  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG     := github.com/oci-run/oci-run
LDFLAGS := -s -w -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Commit=$(COMMIT)

# Stages that run inside the container after pivot_root cannot load shared
# libraries from the host: they are static. oci-seccomp links libseccomp
# (cgo), so it is linked statically against libseccomp.a and glibc;
# oci-unshare has a cgo constructor that joins namespaces before the Go
# runtime starts (pkg/nsjoin), and runs from a sealed copy in the container.
STATIC_CGO := oci-seccomp oci-unshare

.PHONY: all build install uninstall clean test unit integration lint integration-stages conformance conformance-suite e2e e2e-deps fuzz fuzz-seeds bench FORCE
all: build

build: $(addprefix bin/,$(BINS))

# The linker writes its output through a shared mapping; exec'ing that
# very file costs 8-14% more CPU per command than a copy written with
# write(2), which is what make install leaves (measured with make bench on
# identical bytes; docs/architecture.md, speed). So bin/ gets a copy,
# renamed into place (a running binary is never rewritten).
bin/%: FORCE
	@mkdir -p bin build/link
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o build/link/$* ./cmd/$*
	@cp build/link/$* $@.new && mv -f $@.new $@

$(addprefix bin/,$(STATIC_CGO)): bin/%: FORCE
	@mkdir -p bin build/link
	CGO_ENABLED=1 $(GO) build -trimpath -tags "netgo osusergo" -ldflags "$(LDFLAGS) -linkmode external -extldflags -static" -o build/link/$* ./cmd/$*
	@cp build/link/$* $@.new && mv -f $@.new $@

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(addprefix bin/,$(BINS)) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(BINS))

clean:
	rm -rf bin build

# ---- tests -----------------------------------------------------------------
# `make test` is what CI (.ci/run) and the README run: build, lint, unit,
# integration, conformance, in that order, stopping at the first failure.
test:
	@set -e; t0=$$(date +%s); \
	for step in build lint unit integration integration-stages conformance; do \
		s=$$(date +%s); echo "==> make $$step"; \
		$(MAKE) --no-print-directory $$step; \
		echo "==> make $$step: ok in $$(( $$(date +%s) - s ))s"; \
	done; \
	echo "==> make test: ok in $$(( $$(date +%s) - t0 ))s"

# Unit tests: pure logic, no root, every package outside tests/.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '^$(PKG)/tests\(/\|$$\)')

# Integration tests run the built binaries against real containers: root,
# one package at a time (they share the machine's cgroups and mounts).
INTEGRATION_TIMEOUT ?= 20m
integration: build
	@[ "$$(id -u)" = 0 ] || { echo "make integration: needs root" >&2; exit 1; }
	@pkgs=$$($(GO) list ./tests/... 2>/dev/null); \
	if [ -z "$$pkgs" ]; then echo "integration: no test packages under tests/ yet"; \
	else echo "$(GO) test -p 1 -count=1 -timeout $(INTEGRATION_TIMEOUT) ./tests/..."; \
		$(GO) test -p 1 -count=1 -timeout $(INTEGRATION_TIMEOUT) ./tests/...; fi

# The same lifecycle, security and fault tests with oci-run composing the
# stage binaries themselves (OCI_RUN_CHAIN=stages) instead of doing the host
# side in-process: the chain a shell user composes stays covered end to end.
# (tests/cgroup picks the chain per test itself.)
STAGE_CHAIN_PKGS = ./tests/lifecycle ./tests/compat ./tests/security ./tests/faults ./tests/badinput ./tests/exec
integration-stages: build
	@[ "$$(id -u)" = 0 ] || { echo "make integration-stages: needs root" >&2; exit 1; }
	OCI_RUN_CHAIN=stages $(GO) test -p 1 -count=1 -timeout $(INTEGRATION_TIMEOUT) $(STAGE_CHAIN_PKGS)

# Fuzzing (not part of make test: `make unit` runs every target on its
# corpus only). Each target runs FUZZTIME; the inputs the fuzzer found
# interesting are kept in the package's testdata/fuzz/TARGET, next to the
# seeds (make fuzz-seeds, from the compat configs), so later unit runs
# replay them. A crasher lands there too, and go test prints it.
FUZZTIME ?= 1m
FUZZ_TARGETS := pkg/spec:FuzzParse pkg/state:FuzzValidateID pkg/signal:FuzzParse \
	pkg/mountopt:FuzzParse pkg/seccomp:FuzzCompile
fuzz:
	@set -e; cache=$$($(GO) env GOCACHE)/fuzz/$(PKG); \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "==> $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
		mkdir -p $$pkg/testdata/fuzz/$$fn; \
		if [ -d $$cache/$$pkg/$$fn ]; then cp -n $$cache/$$pkg/$$fn/* $$pkg/testdata/fuzz/$$fn/ 2>/dev/null || true; fi; \
		echo "    corpus: $$(ls $$pkg/testdata/fuzz/$$fn | wc -l) entries in $$pkg/testdata/fuzz/$$fn"; \
	done

fuzz-seeds:
	$(GO) run ./scripts/fuzzseeds $(COMPAT_DIR)

COMPAT_DIR ?= /work/shared/compat

# staticcheck is pinned: 2026.2.2 (v0.8.2) is the release that knows Go 1.26.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := build/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck
$(STATICCHECK):
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

# ---- OCI conformance (opencontainers/runtime-tools v0.9.0) -----------------
# make conformance                  oci-run, gated by the expected-pass list
# make conformance RUNTIME=runc     comparison run, report only
# make conformance CONFORMANCE_RUN='^(create|state)$'   only matching tests
RUNTIME              ?= bin/oci-run
CONFORMANCE_DIR      ?= build/conformance
CONFORMANCE_SUITE    := $(CONFORMANCE_DIR)/suite
CONFORMANCE_EXPECTED ?= $(if $(filter bin/oci-run,$(RUNTIME)),tests/conformance/expected-pass.txt)
CONFORMANCE_TIMEOUT  ?= 2m
CONFORMANCE_RUN      ?=
CONFORMANCE_FLAGS    ?=
GOARCH_HOST          := $(shell $(GO) env GOARCH)

# The validation programs and runtimetest (static: it runs inside the
# containers), and the suite's busybox rootfs tarball from the module.
conformance-suite:
	@mkdir -p $(CONFORMANCE_SUITE)
	cd tools/conformance && CGO_ENABLED=0 $(GO) build -trimpath -o $(CURDIR)/$(CONFORMANCE_SUITE)/ tool
	install -m 0644 "$$(cd tools/conformance && $(GO) list -m -f '{{.Dir}}' github.com/opencontainers/runtime-tools)/rootfs-$(GOARCH_HOST).tar.gz" $(CONFORMANCE_SUITE)/
	$(GO) build -o $(CONFORMANCE_DIR)/runner ./scripts/conformance

conformance: conformance-suite $(if $(filter bin/oci-run,$(RUNTIME)),build)
	@[ "$$(id -u)" = 0 ] || { echo "make conformance: needs root" >&2; exit 1; }
	$(CONFORMANCE_DIR)/runner -runtime $(RUNTIME) -suite $(CONFORMANCE_SUITE) \
		-out $(CONFORMANCE_DIR)/$(notdir $(RUNTIME)) -timeout $(CONFORMANCE_TIMEOUT) \
		$(if $(CONFORMANCE_EXPECTED),-expected $(CONFORMANCE_EXPECTED)) \
		$(if $(value CONFORMANCE_RUN),-run '$(value CONFORMANCE_RUN)') $(CONFORMANCE_FLAGS)

# ---- end to end: podman, containerd (ctr) and Docker over the runtime ----
# make e2e                    bin/oci-run
# make e2e E2E_RUNTIME=runc   the same suite against runc (the suite's own check)
# Installs the engines from apt first (scripts/e2e-deps); starts its own
# containerd and dockerd (private state, sockets, cgroup parents) and
# removes everything it made.
E2E_RUNTIME ?= $(CURDIR)/bin/oci-run
E2E_TIMEOUT ?= 15m
E2E_RUN     ?=
e2e-deps:
	scripts/e2e-deps

e2e: e2e-deps $(if $(filter $(CURDIR)/bin/oci-run,$(E2E_RUNTIME)),build)
	@[ "$$(id -u)" = 0 ] || { echo "make e2e: needs root" >&2; exit 1; }
	E2E_RUNTIME=$(E2E_RUNTIME) $(GO) test -tags e2e -count=1 -v -timeout $(E2E_TIMEOUT) \
		$(if $(E2E_RUN),-run '$(E2E_RUN)') ./tests/e2e

# ---- benchmark ---------------------------------------------------------------
# make bench                         oci-run against runc and crun, one run
# make bench BENCH_FLAGS='-rounds 20 -floor=false'
BENCH_FLAGS ?=
bench: build
	@[ "$$(id -u)" = 0 ] || { echo "make bench: needs root" >&2; exit 1; }
	$(GO) build -o build/bench ./scripts/bench
	build/bench -runtimes bin/oci-run,runc,crun $(BENCH_FLAGS)

FORCE:
