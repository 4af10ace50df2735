#!/usr/bin/env bash
# make bench: every performance figure of BENCHMARKS.md in one run (about
# thirteen minutes on 2 cores), each printed beside its target with MET or
# MISSED. Talks to loopback only; every load is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

need=()
command -v dnsperf >/dev/null || need+=(dnsperf)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "bench: install ${need[*]} (Debian packages) first" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

out=.bench
mkdir -p "$out"
make -s coredns
go build -o "$out/bench" ./bench
# The fleet's benchmark embeds an etcd server: it lives in the e2e module.
(cd e2e && go build -o "../$out/bench-fleet" ./cmd/benchfleet)

echo "== Machine"
echo "  $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "  $(go version | cut -d' ' -f3-), CoreDNS $(./coredns -version | awk '/CoreDNS/ {print $1}'), $(dnsperf -h 2>&1 | awk '/Version/ {print "dnsperf " $2}')"

echo
echo "== Query path: ServeDNS for a pool name vs the hosts plugin, same two A records"
go test -run '^$' -bench 'BenchmarkServeDNS' -benchmem -count 6 . > "$out/servedns.txt"
awk '/^BenchmarkServeDNS/ {
       split($1, n, "/"); sub(/-[0-9]+$/, "", n[2]); k = n[2]
       ns[k] += $3; b[k] = $5; allocs[k] = $7; runs[k]++
     }
     END {
       for (k in ns) printf "  %-9s %7.0f ns/op %5d B/op %3d allocs/op  (mean of %d)\n", k, ns[k]/runs[k], b[k], allocs[k], runs[k]
       printf "  ratio failover/hosts: time %.2f, allocs %.2f  target allocs <= hosts: %s\n",
         (ns["failover"]/runs["failover"])/(ns["hosts"]/runs["hosts"]), allocs["failover"]/allocs["hosts"],
         (allocs["failover"] <= allocs["hosts"]) ? "MET" : "MISSED"
     }' "$out/servedns.txt"

echo
"$out/bench" throughput -coredns ./coredns
echo
"$out/bench" detect -coredns ./coredns
echo
"$out/bench" scale -coredns ./coredns -profiles "$out"
echo
"$out/bench-fleet" -coredns ./coredns -profiles "$out"
echo
echo "Profiles of CoreDNS after each scale measurement: go tool pprof -top ./coredns $out/scale-ESTATE-cpu.pprof"
echo "  (ESTATE: tcp10k, http10k, tcp100k, http20k; heap profiles: scale-ESTATE-heap.pprof;"
echo "  a fleet replica's, alone and in the fleet: fleet-alone-cpu.pprof, fleet-fleet-cpu.pprof)"
echo "make bench took $((SECONDS / 60))m$((SECONDS % 60))s"
