package health

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
)

// tlsConfig builds a client TLS configuration from a check's TLS options:
// ca FILE, client_cert CERT KEY, server_name NAME, insecure, tls_min 1.2|1.3.
// Certificates are verified against serverName (the check URL's host unless
// server_name says otherwise) unless 'insecure' is given. It also returns a
// digest of the files read, so that a check whose files changed is a new check.
func tlsConfig(o *options, serverName, root string) (*tls.Config, string, error) {
	cfg := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	digest := sha256.New()
	read := func(opt Option, file string) ([]byte, error) {
		if !filepath.IsAbs(file) && root != "" {
			file = filepath.Join(root, file)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, o.errf(opt, "cannot read %s file: %v", opt.Name, err)
		}
		digest.Write(data)
		return data, nil
	}

	if opt, ok, err := o.one("ca"); err != nil {
		return nil, "", err
	} else if ok {
		if len(opt.Args) != 1 {
			return nil, "", o.errf(opt, "ca takes one file name: write 'ca FILE' with FILE a PEM bundle of CA certificates")
		}
		pem, err := read(opt, opt.Args[0])
		if err != nil {
			return nil, "", err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, "", o.errf(opt, "ca file '%s' holds no PEM certificate: give a file with one or more '-----BEGIN CERTIFICATE-----' blocks", opt.Args[0])
		}
	}
	if opt, ok, err := o.one("client_cert"); err != nil {
		return nil, "", err
	} else if ok {
		if len(opt.Args) != 2 {
			return nil, "", o.errf(opt, "client_cert takes two file names: write 'client_cert CERT_FILE KEY_FILE' (PEM)")
		}
		certPEM, err := read(opt, opt.Args[0])
		if err != nil {
			return nil, "", err
		}
		keyPEM, err := read(opt, opt.Args[1])
		if err != nil {
			return nil, "", err
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, "", o.errf(opt, "client_cert: %v: give a PEM certificate and its private key", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	name, ok, err := o.str("server_name", "server_name NAME")
	if err != nil {
		return nil, "", err
	}
	if ok {
		cfg.ServerName = name
	}
	if cfg.InsecureSkipVerify, err = o.flag("insecure"); err != nil {
		return nil, "", err
	}
	if opt, ok, err := o.one("tls_min"); err != nil {
		return nil, "", err
	} else if ok {
		versions := map[string]uint16{"1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}
		if len(opt.Args) != 1 || versions[opt.Args[0]] == 0 {
			return nil, "", o.errf(opt, "tls_min takes 1.2 or 1.3: write e.g. 'tls_min 1.3'")
		}
		cfg.MinVersion = versions[opt.Args[0]]
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		return nil, "", &LineError{Msg: "a TLS check needs a name to verify: give the URL a host name or add 'server_name NAME'"}
	}
	return cfg, fmt.Sprintf("%x", digest.Sum(nil)), nil
}
