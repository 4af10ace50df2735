package health

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Check describes how to probe a pool's targets.
type Check struct {
	// URL selects the probe by its scheme: tcp://HOST:PORT,
	// http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH. Probes always
	// connect to the target's address; HOST is the HTTP Host header and the
	// TLS server name.
	URL string
	// CAFile is a PEM file of CA certificates that HTTPS checks trust instead
	// of the system roots.
	CAFile string
	// Timeout bounds every network operation of one probe.
	Timeout time.Duration
}

// Schemes lists the supported check URL forms, for error messages.
const Schemes = "tcp://HOST:PORT, http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH"

// NewProber validates c and builds its Prober. Errors say what to write instead.
func (c Check) NewProber() (Prober, error) {
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return nil, fmt.Errorf("check '%s' is not a URL: write %s", c.URL, Schemes)
	}
	if u.User != nil {
		return nil, fmt.Errorf("check '%s' has credentials in the URL: they are not supported, remove them", c.URL)
	}
	port, err := portOf(u)
	if err != nil {
		return nil, fmt.Errorf("check '%s': %v", c.URL, err)
	}
	switch u.Scheme {
	case "tcp":
		if c.CAFile != "" {
			return nil, errors.New("'ca' only applies to https checks: remove it or use an https:// check")
		}
		if port == 0 {
			return nil, fmt.Errorf("check '%s' has no port: write tcp://HOST:PORT, e.g. tcp://www.example.org:443", c.URL)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("check '%s': a tcp check takes no path or query: write tcp://HOST:PORT", c.URL)
		}
		return newTCPProber(port, c.Timeout), nil
	case "http", "https":
		if u.Hostname() == "" {
			return nil, fmt.Errorf("check '%s' has no host: write the name the service answers to, e.g. %s://www.example.org/health", c.URL, u.Scheme)
		}
		if c.CAFile != "" && u.Scheme != "https" {
			return nil, errors.New("'ca' only applies to https checks: remove it or use an https:// check")
		}
		if port == 0 {
			port = 80
			if u.Scheme == "https" {
				port = 443
			}
		}
		roots, err := loadRoots(c.CAFile)
		if err != nil {
			return nil, err
		}
		return newHTTPProber(u, port, c.Timeout, roots), nil
	}
	return nil, fmt.Errorf("check scheme '%s' is not supported: write %s", u.Scheme, Schemes)
}

func portOf(u *url.URL) (uint16, error) {
	p := u.Port()
	if p == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port '%s' is not a number from 1 to 65535", p)
	}
	return uint16(n), nil
}

func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read ca file: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca file '%s' holds no PEM certificate: give a file with one or more '-----BEGIN CERTIFICATE-----' blocks", file)
	}
	return pool, nil
}
