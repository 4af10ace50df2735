package etcdtest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/failover-dns/failover/internal/testpki"
)

// TLS is the server's certificate and the CA clients verify it against,
// as PEM files (the form a Corefile names them in).
type TLS struct {
	CertFile, KeyFile string // the server's certificate, for 127.0.0.1 and localhost
	CAFile            string // the CA that signed it (and, with ClientCertAuth, client certificates)
	// ClientCertAuth makes the server ask clients for a certificate
	// signed by CAFile.
	ClientCertAuth bool
	// ClientCertFile and ClientKeyFile are a client certificate signed by
	// the CA, which the server's own clients present (see ClientConfig).
	ClientCertFile, ClientKeyFile string
}

// NewTLS makes a CA for the test (testpki), a server certificate for
// 127.0.0.1 and localhost, and a client certificate; the files live in the
// test's temporary directories. clientAuth sets ClientCertAuth.
func NewTLS(t testing.TB, clientAuth bool) *TLS {
	t.Helper()
	ca := testpki.NewCA(t)
	cert, key := testpki.Files(t, ca.Server(t, "127.0.0.1", "localhost"))
	client := ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), x509.ExtKeyUsageClientAuth, "failover")
	clientCert, clientKey := testpki.Files(t, client)
	return &TLS{CertFile: cert, KeyFile: key, CAFile: ca.File, ClientCertAuth: clientAuth,
		ClientCertFile: clientCert, ClientKeyFile: clientKey}
}

// ClientConfig is a client's TLS configuration: it verifies the server
// against CAFile and presents the client certificate if there is one.
func (t *TLS) ClientConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + t.CAFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if t.ClientCertFile != "" {
		c, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}
