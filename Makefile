# failover: a health-checked DNS failover plugin for CoreDNS.
GO       ?= go
PKGS     := ./...
COREDNS  := ./coredns

.PHONY: all coredns test lint demo bench clean

all: coredns

# CoreDNS with every standard plugin plus failover (see plugin/main.go).
coredns:
	$(GO) build -o $(COREDNS) ./plugin

# Everything CI checks: formatting, vet, and every test with the race detector.
test: lint
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# CoreDNS with failover in front of three local demo backends.
demo: coredns
	$(GO) run ./demo -coredns $(COREDNS)

# Throughput vs hosts, query-path cost, detection times and 10,000 targets:
# the figures of BENCHMARKS.md (about five minutes; installs dnsperf if missing).
bench:
	bench/run.sh

clean:
	rm -f $(COREDNS)
	rm -rf .bench
