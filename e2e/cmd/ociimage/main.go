// Command ociimage writes the container image of CoreDNS with failover as
// an OCI archive, from a static CoreDNS binary, without a container
// runtime or a registry: make image runs it (see the README's
// Installation).
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/failover-dns/failover/e2e/ociimage"
)

func main() {
	var o ociimage.Options
	flag.StringVar(&o.Binary, "binary", "", "a static CoreDNS binary for linux (CGO_ENABLED=0)")
	flag.StringVar(&o.Out, "out", "coredns-failover.oci.tar", "the OCI archive to write")
	flag.StringVar(&o.Name, "name", "coredns-failover:latest", "the image's name and tag")
	flag.StringVar(&o.Version, "version", "devel", "the image's version label")
	epoch := flag.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "the image's creation time, in seconds since 1970 (default: SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	if o.Binary == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: ociimage -binary COREDNS [-out FILE] [-name NAME:TAG] [-version V] [-created SECONDS]")
		os.Exit(2)
	}
	if *epoch != "" {
		s, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ociimage: -created %q is not a number of seconds since 1970: write e.g. -created 1763800000\n", *epoch)
			os.Exit(2)
		}
		o.Created = time.Unix(s, 0).UTC()
	} else {
		o.Created = time.Unix(0, 0).UTC()
	}
	digest, err := ociimage.Build(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s (%s)\n", o.Out, o.Name, digest)
}
