//go:build conformance

// Package specs is the conformance catalogue: Ginkgo specs that prove trafficext's behaviour
// through real proxies. Each spec is labelled with the proxy modes it covers (gateway,
// sidecar, waypoint) and its area (lua, wasm, ordering, targeting, failure, update; plus
// validation and examples); specs that only make sense on this machine carry local-only. The
// driver is chosen with -driver: local (default) or kind.
//
//	go test -tags conformance ./conformance/specs/ -args -ginkgo.label-filter='waypoint && lua'
package specs

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/conformance/driver/kind"
	"github.com/trafficext/trafficext/conformance/driver/local"
	"github.com/trafficext/trafficext/xds/translate"
)

var (
	driverName  = flag.String("driver", "local", "conformance driver: local or kind")
	kubeContext = flag.String("kube-context", "kind-trafficext", "kind driver: kubectl context")
	binding     = flag.String("binding", string(translate.DynamicModules), "local driver: the filter hosting trafficext: dynamic-modules, or golang (trafficext_golang.so: Envoy's own golang filter when the Envoy has it, else the golang host module)")
)

const panicHeader = driver.PanicHeader

var env driver.Env

func TestConformance(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "trafficext conformance")
}

var _ = BeforeSuite(func() {
	var d driver.Driver
	timeout := 90 * time.Second
	switch *driverName {
	case "local":
		ld := local.Driver{Log: GinkgoWriter, Binding: translate.Binding(*binding)}
		if ld.Binding == translate.Golang {
			var err error
			ld.GolangLibrary, ld.GolangHost, err = golangBinding()
			Expect(err).NotTo(HaveOccurred())
		}
		d = ld
	case "kind":
		d = kind.Driver{Context: *kubeContext, Log: GinkgoWriter}
		timeout = 10 * time.Minute
		within, liveUpdate = 60*time.Second, 10*time.Second
	default:
		Fail(fmt.Sprintf("unknown driver %q (want local or kind)", *driverName))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var err error
	env, err = d.Start(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { env.Close() })
})

var _ = AfterEach(func() {
	Expect(env.Reset()).To(Succeed())
	if CurrentSpecReport().Failed() {
		for _, p := range []driver.Proxy{env.Gateway(), env.Sidecar(), env.OtherSidecar(), env.Waypoint()} {
			fmt.Fprintf(os.Stderr, "--- %s log (tail) ---\n%s\n", p.Name(), p.Log())
		}
	}
})

// localOnly skips a spec unless the driver runs on this machine.
func localOnly() {
	if *driverName != "local" {
		Skip("needs the local driver")
	}
}
