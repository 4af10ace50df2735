package kubernetes

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/failover-dns/failover/e2e/internal/imagetest"
	"github.com/failover-dns/failover/internal/wait"
	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
)

func TestMain(m *testing.M) {
	code := m.Run()
	imagetest.Cleanup()
	os.Exit(code)
}

// TestBasePodInPodman runs the base Deployment's pod as a kubelet would,
// with podman and the image make image builds: its user, groups and
// fsGroup, read-only root filesystem, no privilege escalation, the
// capabilities it drops and adds, its environment (the example Secret's
// values), its volumes written with their modes and group, and its
// arguments, on the host network (the test's own namespace). The pod must
// serve the zone on port 53 over UDP and TCP, pass its liveness and
// readiness probes, and serve the status API with the Secret's token.
// (Its sysctls are left out: podman refuses net.* sysctls on the host
// network.) It skips where podman cannot run containers, saying why.
func TestBasePodInPodman(t *testing.T) {
	p, inside := imagetest.PodmanInOwnNetNS(t)
	if !inside {
		return
	}
	o := build(t, "base")
	_, d := only(t, "Deployment", o.deployments)
	pod := &d.Spec.Template.Spec
	c := &pod.Containers[0]
	secret := exampleSecret(t)
	args := securityArgs(pod, c)
	args = append(args, envArgs(t, c, secret)...)
	args = append(args, volumeArgs(t, pod, c, o, secret)...)
	args = append(args, "--network", "host", imagetest.Image)
	args = append(args, append(c.Command, c.Args...)...)
	p.Start(t, fmt.Sprintf("failover-pod-%d", os.Getpid()), args...)

	wait.For(t, 30*time.Second, 200*time.Millisecond, "the pod to serve example.org's SOA over UDP and TCP", func() bool {
		return soa("udp") == nil && soa("tcp") == nil
	})
	for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		url := fmt.Sprintf("http://127.0.0.1:%s%s", probe.HTTPGet.Port.String(), probe.HTTPGet.Path)
		wait.For(t, 30*time.Second, 200*time.Millisecond, url+" to answer 200", func() bool {
			code, _ := get(url, "")
			return code == http.StatusOK
		})
	}
	checkStatusToken(t, secret.StringData["status-token"])
}

// securityArgs are podman's words for the pod's and container's security
// contexts.
func securityArgs(pod *corev1.PodSpec, c *corev1.Container) []string {
	psc, sc := pod.SecurityContext, c.SecurityContext
	user, group := firstSet(sc.RunAsUser, psc.RunAsUser), firstSet(sc.RunAsGroup, psc.RunAsGroup)
	args := []string{"--user", fmt.Sprintf("%d:%d", deref(user), deref(group))}
	if psc.FSGroup != nil {
		args = append(args, "--group-add", fmt.Sprint(*psc.FSGroup))
	}
	if isTrue(sc.ReadOnlyRootFilesystem) {
		args = append(args, "--read-only")
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		args = append(args, "--security-opt", "no-new-privileges")
	}
	if sc.Capabilities != nil {
		for _, cp := range sc.Capabilities.Drop {
			args = append(args, "--cap-drop", string(cp))
		}
		for _, cp := range sc.Capabilities.Add {
			args = append(args, "--cap-add", string(cp))
		}
	}
	return args
}

func deref(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

// envArgs are the container's environment, as podEnv provides it.
func envArgs(t *testing.T, c *corev1.Container, secret *corev1.Secret) []string {
	t.Helper()
	var args []string
	for name := range podEnv(t, c, secret) {
		args = append(args, "-e", name+"="+os.Getenv(name))
	}
	return args
}

// volumeArgs writes each mounted volume into a directory of its own as the
// kubelet would (each file owned by root and, with an fsGroup, by that
// group, with the volume's defaultMode) and mounts it read-only.
func volumeArgs(t *testing.T, pod *corev1.PodSpec, c *corev1.Container, o *objects, secret *corev1.Secret) []string {
	t.Helper()
	var args []string
	for _, m := range c.VolumeMounts {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		mode, gid := volumeMode(pod, m.Name), 0
		if pod.SecurityContext.FSGroup != nil {
			gid = int(*pod.SecurityContext.FSGroup)
		}
		for name, data := range volumeFiles(t, pod, m.Name, o, secret) {
			path := filepath.Join(dir, name)
			writeFile(t, path, data)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, 0, gid); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "-v", dir+":"+m.MountPath+":ro")
	}
	return args
}

// volumeMode is the mode of a volume's files: its defaultMode, else the
// kubelet's 0644.
func volumeMode(pod *corev1.PodSpec, name string) os.FileMode {
	for _, v := range pod.Volumes {
		var mode *int32
		switch {
		case v.Name != name:
			continue
		case v.Secret != nil:
			mode = v.Secret.DefaultMode
		case v.ConfigMap != nil:
			mode = v.ConfigMap.DefaultMode
		}
		if mode != nil {
			return os.FileMode(*mode)
		}
	}
	return 0o644
}

// soa asks the pod for example.org's SOA over proto.
func soa(proto string) error {
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeSOA)
	r, _, err := (&dns.Client{Net: proto, Timeout: time.Second}).Exchange(m, "127.0.0.1:53")
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return fmt.Errorf("rcode %s, %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return nil
}

// get fetches url with token as bearer (none when empty) and returns the
// status code and body.
func get(url, token string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(body)
}

// checkStatusToken checks that the status API refuses a request without
// the token and serves one with it.
func checkStatusToken(t *testing.T, token string) {
	t.Helper()
	const url = "http://127.0.0.1:9155/api/v1/status"
	if code, _ := get(url, ""); code != http.StatusUnauthorized {
		t.Errorf("GET %s without the token: %d, want 401", url, code)
	}
	if code, body := get(url, strings.TrimSpace(token)); code != http.StatusOK || !strings.Contains(body, "www.example.org") {
		t.Errorf("GET %s with the Secret's token: %d %.200s, want 200 and the pools", url, code, body)
	}
}
