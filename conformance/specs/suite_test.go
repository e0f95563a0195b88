//go:build conformance

// Package specs is the conformance catalogue: Ginkgo specs that prove trafficext's behaviour
// through real proxies. Each spec is labelled with the proxy mode it covers (gateway, sidecar,
// waypoint) and its area (lua, ordering, update, failure, validation, examples). The driver is
// chosen with -driver (only "local" exists today).
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
	"github.com/trafficext/trafficext/conformance/driver/local"
)

var driverName = flag.String("driver", "local", "conformance driver: local")

var env driver.Env

func TestConformance(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "trafficext conformance")
}

var _ = BeforeSuite(func() {
	var d driver.Driver
	switch *driverName {
	case "local":
		d = local.Driver{Log: GinkgoWriter}
	default:
		Fail(fmt.Sprintf("unknown driver %q", *driverName))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	env, err = d.Start(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { env.Close() })
})

var _ = AfterEach(func() {
	Expect(env.Reset()).To(Succeed())
	if CurrentSpecReport().Failed() {
		fmt.Fprintf(os.Stderr, "--- gateway log (tail) ---\n%s\n", env.Gateway().Log())
	}
})
