package failover

import "slices"

// Directives returns a copy of a CoreDNS directive list with failover
// inserted just before hosts: after cache (which may cache its answers for
// their short TTL), dnssec (which signs them), rewrite and acl, and before
// every plugin that serves records itself (hosts, file, kubernetes,
// forward, ...), so that pool names are answered here and everything else
// falls through. A list that already holds failover is returned unchanged.
func Directives(list []string) []string {
	out := slices.Clone(list)
	if slices.Contains(out, pluginName) {
		return out
	}
	for _, before := range []string{"hosts", "file", "forward"} {
		if i := slices.Index(out, before); i >= 0 {
			return slices.Insert(out, i, pluginName)
		}
	}
	return append(out, pluginName)
}
