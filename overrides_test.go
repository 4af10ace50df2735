package failover

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coredns/caddy"

	"github.com/failover-dns/failover/internal/smallfile"
)

// countingOverrides is an overrides file watcher whose opens of the file
// are counted.
func countingOverrides(t *testing.T, file string) (*overridesFile, *atomic.Int32) {
	t.Helper()
	opens := new(atomic.Int32)
	o := &overridesFile{file: file, interval: time.Second}
	o.open = func(name string) (*os.File, error) {
		opens.Add(1)
		return smallfile.Open(name)
	}
	return o, opens
}

// loadedDrainFile writes an overrides file with one drain and loads it
// through countingOverrides.
func loadedDrainFile(t *testing.T) (string, *overridesFile, *atomic.Int32) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "overrides")
	if err := os.WriteFile(file, []byte("www.example.org 192.0.2.1 drain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, opens := countingOverrides(t, file)
	if err := o.load(); err != nil {
		t.Fatal(err)
	}
	return file, o, opens
}

// targetsWith lists the targets of set's rules, in order.
func targetsWith(set *overrideSet) []string {
	var out []string
	for _, r := range set.rules {
		out = append(out, r.target)
	}
	return out
}

// TestOverridesNeverAppliedHalfWritten: a file truncated and then written
// line by line in place (as 'cat > file' does) is applied only once two
// consecutive polls read the same contents, never in between, even when a
// poll falls between two of the writes.
func TestOverridesNeverAppliedHalfWritten(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides")
	first := "www.example.org 192.0.2.1 drain\nwww.example.org 192.0.2.2 drain\n"
	if err := os.WriteFile(file, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	o, _ := countingOverrides(t, file)
	if err := o.load(); err != nil {
		t.Fatal(err)
	}
	lines := []string{"www.example.org 192.0.2.1 drain\n", "www.example.org 192.0.2.2 drain\n", "www.example.org 192.0.2.3 drain\n"}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if o.poll() { // between the truncation and the first line: no rules
		t.Fatalf("The truncated file was applied: rules for %v", targetsWith(o.current.Load()))
	}
	for i, line := range lines {
		if _, err := f.WriteString(line); err != nil {
			t.Fatal(err)
		}
		if o.poll() {
			t.Fatalf("After %d of %d lines, a poll applied the half-written file: rules for %v", i+1, len(lines), targetsWith(o.current.Load()))
		}
	}
	if got := targetsWith(o.current.Load()); len(got) != 2 {
		t.Fatalf("While written, the state in force changed to %v", got)
	}
	if !o.poll() {
		t.Fatal("Two polls read the finished file alike, and it was not applied")
	}
	if got := targetsWith(o.current.Load()); strings.Join(got, " ") != "192.0.2.1 192.0.2.2 192.0.2.3" {
		t.Errorf("Applied rules for %v, want the whole file's", got)
	}
	if o.poll() {
		t.Error("An unchanged file was applied again")
	}

	// Removing the file lifts the overrides, once a second poll agrees.
	os.Remove(file)
	if o.poll() || !o.poll() || len(o.current.Load().rules) != 0 {
		t.Errorf("Removing the file: want it applied on the second poll, rules %v", targetsWith(o.current.Load()))
	}
}

// TestOverridesUnchangedNotReread: a file whose size, modification time
// and inode have not changed is not opened again.
func TestOverridesUnchangedNotReread(t *testing.T) {
	file, o, opens := loadedDrainFile(t)
	loaded := opens.Load()
	for range 5 {
		o.poll()
	}
	if n := opens.Load() - loaded; n != 0 {
		t.Fatalf("5 polls of an unchanged file opened it %d times, want 0", n)
	}
	if err := os.WriteFile(file, []byte("www.example.org 192.0.2.2 drain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		o.poll()
	}
	if n := opens.Load() - loaded; n != 2 {
		t.Errorf("5 polls after one change opened the file %d times, want 2 (seen, confirmed)", n)
	}
	if got := targetsWith(o.current.Load()); len(got) != 1 || got[0] != "192.0.2.2" {
		t.Errorf("After the change, rules for %v, want 192.0.2.2", got)
	}
}

// TestOverridesFIFORefused: a FIFO is refused at load, with its path, and
// a FIFO put in place later neither blocks a poll nor the watcher's end;
// the state in force stays, and the error is logged once.
func TestOverridesFIFORefused(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides")
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Fatal(err)
	}
	o, _ := countingOverrides(t, file)
	err := o.load()
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Loading a FIFO: got %v, want an error naming %s as not a regular file", err, file)
	}

	os.Remove(file)
	if err := os.WriteFile(file, []byte("www.example.org 192.0.2.1 drain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, opens := countingOverrides(t, file)
	if err := o.load(); err != nil {
		t.Fatal(err)
	}
	os.Remove(file)
	if err := syscall.Mkfifo(file, 0o600); err != nil {
		t.Fatal(err)
	}
	logs := captureLog(t)
	o.interval = minInterval
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.wg.Go(func() { o.watch(ctx, func() {}) })
	within(t, file, "The watcher's first poll and its end", func() {
		for end := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "not a regular file") && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		o.wg.Wait()
	})
	within(t, file, "5 more polls", func() {
		for range 5 {
			o.poll()
		}
	})
	if got := targetsWith(o.current.Load()); len(got) != 1 {
		t.Errorf("After the FIFO, rules for %v, want the last good state", got)
	}
	if n := strings.Count(logs.String(), "not a regular file"); n != 1 {
		t.Errorf("The FIFO's error was logged %d times over 6 polls or more, want once:\n%s", n, logs)
	}
	if opens.Load() != 1 {
		t.Errorf("The FIFO was opened %d times, want never (only the regular file, once)", opens.Load()-1)
	}
}

// TestOverridesOversizedRefused: a file above the size cap is refused from
// its size alone, without being read, with its path and size in the error.
func TestOverridesOversizedRefused(t *testing.T) {
	file, o, opens := loadedDrainFile(t)
	const size = 300 << 20
	if err := os.Truncate(file, size); err != nil { // sparse: no 300 MB written
		t.Fatal(err)
	}
	loaded := opens.Load()
	logs := captureLog(t)
	for range 3 {
		if o.poll() {
			t.Fatal("An oversized file was applied")
		}
	}
	if n := opens.Load() - loaded; n != 0 {
		t.Errorf("An oversized file was opened %d times, want never", n)
	}
	want := fmt.Sprintf("%q holds %d bytes, more than the 1048576 allowed", file, size)
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("Logged %d times %q over 3 polls, want once:\n%s", n, want, logs)
	}
	if err := (&overridesFile{file: file}).load(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Loading an oversized file: got %v, want %q", err, want)
	}
}

// within runs f, failing the test if it takes more than 10 s; a FIFO at
// fifo is then opened for writing, to release a reader blocked on it.
func within(t *testing.T, fifo, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatalf("%s blocked on the FIFO", what)
	}
}

// TestParseOverridesNotRegular: at Corefile load, an overrides path that
// exists and is not a regular file is an error with the Corefile's file and
// line, naming the path and what it is.
func TestParseOverridesNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]string{fifo: "named pipe (FIFO)", dir: "directory"} {
		c := caddy.NewTestController("dns", `failover example.org {
		overrides `+path+`
		pool www.example.org {
			target 192.0.2.1
			check tcp://www.example.org:80
		}
	}`)
		want := fmt.Sprintf("Testfile:2 - Error during parsing: overrides file: %q is a %s, not a regular file", path, kind)
		if _, err := parse(c); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("overrides %s: got %v, want %q", path, err, want)
		}
	}
}
