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

.PHONY: all build install uninstall clean test unit integration lint FORCE
all: build

build: $(addprefix bin/,$(BINS))

bin/%: FORCE
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/$*

$(addprefix bin/,$(STATIC_CGO)): bin/%: FORCE
	@mkdir -p bin
	CGO_ENABLED=1 $(GO) build -trimpath -tags "netgo osusergo" -ldflags "$(LDFLAGS) -linkmode external -extldflags -static" -o $@ ./cmd/$*

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(addprefix bin/,$(BINS)) $(DESTDIR)$(BINDIR)/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(BINS))

clean:
	rm -rf bin

FORCE:
