package failover

import (
	"runtime/debug"
	"testing"
)

func TestModuleVersion(t *testing.T) {
	const zero = "v0.0.0-00010101000000-000000000000"
	coredns := debug.Module{Path: "github.com/coredns/coredns", Version: "v1.15.0"}
	tests := []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"published dependency", debug.BuildInfo{
			Main: debug.Module{Path: coredns.Path, Version: develVersion},
			Deps: []*debug.Module{&coredns, {Path: modulePath, Version: "v1.2.0"}},
		}, "v1.2.0"},
		{"local checkout (go mod edit -replace to a directory)", debug.BuildInfo{
			Main: debug.Module{Path: coredns.Path, Version: develVersion},
			Deps: []*debug.Module{{Path: modulePath, Version: zero, Replace: &debug.Module{Path: "/src/failover"}}},
		}, develVersion},
		{"replaced by a fork's version", debug.BuildInfo{
			Main: debug.Module{Path: coredns.Path},
			Deps: []*debug.Module{{Path: modulePath, Version: "v1.2.0", Replace: &debug.Module{Path: "example.org/fork/failover", Version: "v1.2.1"}}},
		}, "v1.2.1"},
		{"failover is the main module (plugin/main.go)", debug.BuildInfo{
			Main: debug.Module{Path: modulePath, Version: "v1.3.0"},
			Deps: []*debug.Module{&coredns},
		}, "v1.3.0"},
		{"main module from a checkout", debug.BuildInfo{
			Main: debug.Module{Path: modulePath, Version: develVersion},
		}, develVersion},
		{"not in the build", debug.BuildInfo{
			Main: debug.Module{Path: coredns.Path, Version: "v1.15.0"},
			Deps: []*debug.Module{&coredns, nil},
		}, develVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := moduleVersion(&tc.info); got != tc.want {
				t.Errorf("Got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	// A test binary's main module is failover itself, built from this checkout.
	if got := version(); got == "" {
		t.Fatal("Empty version")
	}
	t.Logf("version() = %q", version())
}
