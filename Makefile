# failover: a health-checked DNS failover plugin for CoreDNS.
GO       ?= go
PKGS     := ./...
COREDNS  := ./coredns
# staticcheck, pinned: v0.8.2 is release 2026.2.2, which supports the Go of go.mod (1.26).
STATICCHECK_VERSION := v0.8.2
BIN      := $(CURDIR)/.bin
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

.PHONY: all coredns coredns-upstream image test lint demo demo-fleet bench screenshot kubernetes clean

all: coredns

# CoreDNS with every standard plugin plus failover (see plugin/main.go).
coredns:
	$(GO) build -o $(COREDNS) ./plugin

# CoreDNS built the official way: its own source at the version in go.mod,
# failover added to its plugin.cfg before hosts, go generate, go build; then
# checked with -plugins and the demo's scripted failover (see upstream/build.sh).
# Leaves .build/coredns-upstream/coredns. Three to four minutes from an empty
# build cache, half a minute with a warm one.
coredns-upstream:
	GO=$(GO) upstream/build.sh

# The container image, without a registry or a container runtime: a static
# CoreDNS with failover on scratch, with CA roots and a non-root user, as
# an OCI archive that podman load and docker load read (see the README's
# Installation). IMAGE names it; GOARCH=arm64 builds another architecture.
# The Dockerfile builds the same image where a registry is at hand.
IMAGE         ?= coredns-failover:latest
IMAGE_ARCHIVE ?= .build/coredns-failover.oci.tar
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
STATIC_FLAGS  := -trimpath -ldflags '-s -w'
image:
	@mkdir -p .build/image $(dir $(IMAGE_ARCHIVE))
	CGO_ENABLED=0 $(GO) build $(STATIC_FLAGS) -o .build/image/coredns ./plugin
	cd e2e && $(GO) run ./cmd/ociimage -binary $(CURDIR)/.build/image/coredns \
	  -out $(abspath $(IMAGE_ARCHIVE)) -name $(IMAGE) -version $(IMAGE_VERSION) -created $(SOURCE_DATE_EPOCH)

# Everything CI checks: formatting, vet, and every test with the race detector,
# those of the e2e module (its own go.mod: a browser driver, an etcd server,
# the image builder) included; make image on the way.
test: lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(MAKE) image  # e2e/container reads images back: compiled here, not beside timing tests
	cd e2e && $(GO) test -race -count=1 -timeout 10m ./...

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
	cd e2e && $(GO) vet ./... && $(STATICCHECK) ./...

# The binary's name carries its version, so that changing the pin reinstalls it.
$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

# CoreDNS with failover in front of three local demo backends, on
# 127.0.0.1 port DNS_PORT (make demo DNS_PORT=5300; 0 picks a free port).
DNS_PORT ?= 1053
demo: coredns
	$(GO) run ./demo -coredns $(COREDNS) -dns-port $(DNS_PORT)

# Three CoreDNS replicas in one fleet (an embedded etcd, loopback only) in
# front of the same three backends: a failover every replica sees alike,
# a replica killed and back, then by hand. Replicas a, b and c serve DNS on
# 127.0.0.1 ports DNS_PORT, DNS_PORT+1 and DNS_PORT+2 (0: free ports).
# The program lives in the e2e module, which holds the etcd server.
demo-fleet: coredns
	cd e2e && $(GO) run ./cmd/demofleet -coredns $(CURDIR)/coredns -dns-port $(DNS_PORT)

# Throughput vs hosts, query-path cost, detection times, estates of
# 10,000 to 100,000 targets, and a fleet of three replicas (probes, etcd
# writes, agreement after a kill): the figures of BENCHMARKS.md (about
# thirteen minutes; installs dnsperf if missing).
bench:
	bench/run.sh

# The README's picture of the status page, taken by the browser test.
screenshot:
	cd e2e && FAILOVER_SCREENSHOT=$(CURDIR)/docs/status-page.png $(GO) test -count=1 -run TestStatusPageInBrowser .

# The generated manifests of deploy/kubernetes/monitoring: the
# PrometheusRule from alerts/failover.rules.yml and the dashboard's
# ConfigMap from dashboards/failover.json (e2e/kubernetes fails on drift).
kubernetes:
	cd e2e && $(GO) run ./cmd/kubegen -root $(CURDIR)

clean:
	rm -f $(COREDNS)
	rm -rf .bench .bin .build
