package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/trafficext/trafficext/xds/fetch"
)

const publishUsage = `usage: trafficext publish [flags] MODULE.wasm REGISTRY/REPOSITORY:TAG

Packages a Wasm module as an image (default: an OCI image whose layer holds plugin.wasm, the
layout Istio and trafficext pull) and pushes it, e.g.
  trafficext publish out/basic-auth.wasm 127.0.0.1:5000/trafficext/basic-auth:0.0.1
It prints the manifest digest: the value of spec.wasm.sha256 that pins this image.`

// cmdPublish pushes a module into a registry (used by make run for the basic-auth example).
func cmdPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("publish", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprintln(stderr, publishUsage); fset.PrintDefaults() }
	layout := fset.String("layout", string(fetch.LayoutOCIImage), "image layout: oci-image, docker-image or wasm-artifact")
	user := fset.String("username", os.Getenv("TRAFFICEXT_REGISTRY_USERNAME"), "registry user (default $TRAFFICEXT_REGISTRY_USERNAME)")
	password := fset.String("password", os.Getenv("TRAFFICEXT_REGISTRY_PASSWORD"), "registry password (default $TRAFFICEXT_REGISTRY_PASSWORD)")
	caFile := fset.String("ca", "", "PEM file of CAs to trust for an https registry")
	wait := fset.Duration("wait", 0, "keep trying this long while the registry is not reachable")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 2 {
		fset.Usage()
		return errors.New("publish needs a module file and an image reference")
	}
	module, err := os.ReadFile(fset.Arg(0))
	if err != nil {
		return err
	}
	img, err := fetch.Image(module, fetch.Layout(*layout))
	if err != nil {
		return err
	}
	opts := fetch.PushOptions{Username: *user, Password: *password}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return err
		}
		opts.RootCAs = x509.NewCertPool()
		if !opts.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", *caFile)
		}
	}
	deadline := time.Now().Add(*wait)
	for {
		digest, err := fetch.Push(ctx, fset.Arg(1), img, opts)
		if err == nil {
			fmt.Fprintf(stdout, "pushed %s (%s, %d bytes): digest %s\n", fset.Arg(1), *layout, len(module), digest)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}
