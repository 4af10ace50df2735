package ociimage

import (
	"encoding/pem"
	"fmt"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// caRootsPEM is the Mozilla NSS trust store, as Go's x509roots module
// carries it, in PEM: the image's CA roots come from a pinned module
// (go.sum), not from whatever the build machine has installed, so that
// make image works, and gives the same image, on any machine. Roots that
// NSS trusts only for certificates issued before a date are left out:
// a PEM file cannot say so, and a verifier that trusted them fully would
// accept what NSS refuses.
func caRootsPEM() ([]byte, error) {
	var out []byte
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate})...)
		n++
	}
	if n < 50 {
		return nil, fmt.Errorf("the CA bundle holds %d unconstrained roots: expected over 100", n)
	}
	return out, nil
}
