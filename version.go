package failover

import "runtime/debug"

// modulePath is this plugin's Go module, as CoreDNS's plugin.cfg names it.
const modulePath = "github.com/failover-dns/failover"

// develVersion is what the go command reports for a module built from a
// directory rather than from a published version.
const develVersion = "(devel)"

// version returns the version of the failover module this binary was built
// with, for the start-up log: "v1.2.0" when CoreDNS was built with a
// published version, "(devel)" when built from a local checkout (a
// directory replace, or failover's own main) or when the build has no
// module information.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return develVersion
	}
	return moduleVersion(info)
}

// moduleVersion finds failover among the build's modules: the main module
// when failover is built as the program, else one of its dependencies.
func moduleVersion(info *debug.BuildInfo) string {
	var m *debug.Module
	if info.Main.Path == modulePath {
		m = &info.Main
	}
	for _, d := range info.Deps {
		if m == nil && d != nil && d.Path == modulePath {
			m = d
		}
	}
	if m == nil {
		return develVersion
	}
	if m.Replace != nil {
		// Replaced by a directory (Version "") or another module version.
		m = m.Replace
	}
	// "go mod tidy" requires a module replaced by a directory at the zero
	// pseudo-version: it says nothing about the code.
	if m.Version == "" || m.Version == "v0.0.0-00010101000000-000000000000" {
		return develVersion
	}
	return m.Version
}
