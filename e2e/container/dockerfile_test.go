package container

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
	"github.com/failover-dns/failover/e2e/ociimage"
)

// instruction is one Dockerfile instruction: its keyword, upper case, and
// its arguments, continuation lines joined.
type instruction struct{ cmd, args string }

// dockerfileStages reads the Dockerfile's instructions, one slice per
// stage (each starting with its FROM).
func dockerfileStages(t *testing.T) [][]instruction {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(imagetest.RepoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var line string
	for _, raw := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(raw), "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(raw, "\\"); ok {
			line += cont + " "
			continue
		}
		line += raw
		cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
		line = ""
		if cmd == "" {
			continue
		}
		in := instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before the first FROM", in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

// TestDockerfileStatesTheImage checks the Dockerfile against what make
// image builds, since no test here can build it (its base images need a
// registry): a build stage and a scratch stage; the binary built as the
// Makefile builds it and given cap_net_bind_service; the same user,
// working directory, ports, entry point and arguments as the archive's
// configuration; the binary and CA roots where the image keeps them.
func TestDockerfileStatesTheImage(t *testing.T) {
	stages := dockerfileStages(t)
	if len(stages) != 2 {
		t.Fatalf("The Dockerfile has %d stages, want 2: a build stage and the image", len(stages))
	}
	build, final := stages[0], stages[1]
	if final[0].args != "scratch" {
		t.Errorf("The image stage starts FROM %q, want scratch", final[0].args)
	}
	runs := ""
	for _, in := range build {
		if in.cmd == "RUN" {
			runs += in.args + "\n"
		}
	}
	for _, want := range []string{"CGO_ENABLED=0 go build " + makefileStaticFlags(t) + " -o /out/coredns ./plugin",
		"setcap cap_net_bind_service=+ep /out/coredns", "nonroot:x:65532:65532:"} {
		if !strings.Contains(runs, want) {
			t.Errorf("The build stage does not run %q", want)
		}
	}
	checkFinalStage(t, final[1:])
}

// makefileStaticFlags is the Makefile's STATIC_FLAGS, which make image
// builds with.
func makefileStaticFlags(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(imagetest.RepoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^STATIC_FLAGS\s*:?=\s*(.+)$`).FindStringSubmatch(string(data))
	if m == nil {
		t.Fatal("The Makefile sets no STATIC_FLAGS")
	}
	return strings.TrimSpace(m[1])
}

// checkFinalStage compares the image stage's instructions with the
// archive's configuration (ociimage's constants, which TestImageConfig
// checks in the archive).
func checkFinalStage(t *testing.T, final []instruction) {
	t.Helper()
	got := map[string]string{}
	var copies []string
	for _, in := range final {
		if in.cmd == "COPY" {
			copies = append(copies, in.args)
			continue
		}
		got[in.cmd] = in.args
	}
	want := map[string]string{
		"USER":    ociimage.User,
		"WORKDIR": ociimage.WorkingDir,
		"EXPOSE":  strings.Join(ociimage.ExposedPorts, " "),
	}
	for cmd, w := range want {
		if got[cmd] != w {
			t.Errorf("Dockerfile %s %q, want %q as make image's", cmd, got[cmd], w)
		}
	}
	for cmd, w := range map[string][]string{"ENTRYPOINT": ociimage.Entrypoint, "CMD": ociimage.Cmd} {
		var args []string
		if err := json.Unmarshal([]byte(got[cmd]), &args); err != nil || !slices.Equal(args, w) {
			t.Errorf("Dockerfile %s %s, want the JSON form of %q", cmd, got[cmd], w)
		}
	}
	for _, path := range []string{ociimage.BinaryPath, ociimage.CACertsPath} {
		if !slices.ContainsFunc(copies, func(c string) bool { return strings.HasSuffix(c, " "+path) }) {
			t.Errorf("The image stage copies nothing to %s", path)
		}
	}
}
