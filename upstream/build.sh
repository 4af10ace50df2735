#!/usr/bin/env bash
# make coredns-upstream: build CoreDNS the official way, from CoreDNS's own
# source with failover added to its plugin.cfg, and check the result.
#
#  1. copy CoreDNS's source, at the version this module requires (go.mod), out
#     of the Go module cache into .build/coredns-upstream (made writable);
#  2. add "failover:github.com/failover-dns/failover" to its plugin.cfg just
#     before "hosts:hosts";
#  3. point its go.mod at this checkout (go mod edit -replace), 'go generate'
#     (zplugin.go, zdirectives.go), 'go mod tidy', 'go build' as CoreDNS's
#     Makefile does (CGO_ENABLED=0);
#  4. check that './coredns -plugins' lists failover, that failover sits just
#     before hosts in the generated directive list, and that the binary answers
#     A queries from a health-checked pool: the demo's scripted failover
#     (go run ./demo -once) runs against it, on 127.0.0.1 only.
#
# Needs only Go and the module proxy (for modules not yet in the cache).
set -euo pipefail
start=$SECONDS
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

GO=${GO:-go}
module=github.com/failover-dns/failover
scratch=$root/.build/coredns-upstream

version=$($GO list -m -f '{{.Version}}' github.com/coredns/coredns)
src=$($GO mod download -json "github.com/coredns/coredns@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
if [ -z "$src" ] || [ ! -f "$src/plugin.cfg" ]; then
  echo "coredns-upstream: no CoreDNS $version source in the module cache" >&2
  exit 1
fi
echo "== CoreDNS $version from $src"

rm -rf "$scratch"
mkdir -p "$(dirname "$scratch")"
cp -R "$src" "$scratch"
chmod -R u+w "$scratch" # the module cache is read-only
cd "$scratch"

# plugin.cfg sets the order of the plugin chain: failover goes just before
# hosts, after cache, dnssec, minimal, template, transfer and dynupdate.
if ! grep -qx 'hosts:hosts' plugin.cfg; then
  echo "coredns-upstream: no 'hosts:hosts' line in plugin.cfg" >&2
  exit 1
fi
sed -i "s|^hosts:hosts\$|failover:$module\n&|" plugin.cfg
echo "== plugin.cfg around failover:"
grep -B4 -A1 "^failover:" plugin.cfg

$GO mod edit -replace "$module=$root"
echo "== go generate"
$GO generate
echo "== go mod tidy"
$GO mod tidy
echo "== go build"
CGO_ENABLED=${CGO_ENABLED:-0} $GO build -buildvcs=false -o coredns .

echo "== checks"
if ! ./coredns -plugins | tr -d ' \t' | grep -qx 'failover'; then
  echo "coredns-upstream: './coredns -plugins' does not list failover:" >&2
  ./coredns -plugins >&2
  exit 1
fi
echo "./coredns -plugins lists failover"
order=$(grep -o '"[a-z0-9_]*",' core/dnsserver/zdirectives.go | tr -d '",' | grep -x -A1 failover | tr '\n' ' ')
if [ "$order" != "failover hosts " ]; then
  echo "coredns-upstream: failover is not just before hosts in zdirectives.go (got: $order)" >&2
  exit 1
fi
echo "failover runs just before hosts"
$GO version -m coredns | grep -E "^[[:space:]]+(mod|dep|=>)[[:space:]]+$module([[:space:]]|\$)" -A1 || true

cd "$root"
echo "== demo (scripted failover) against $scratch/coredns"
$GO run ./demo -coredns "$scratch/coredns" -dns-port 0 -once

echo "== coredns-upstream: OK in $((SECONDS - start)) s: $scratch/coredns"
