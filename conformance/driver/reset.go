package driver

import (
	"fmt"
	"strings"
	"time"

	"github.com/trafficext/trafficext/xds/model"
)

// AdminGetter reads a proxy's admin endpoint; Busy adds a driver-specific reason to wait
// (a draining listener, say) and may be nil.
type AdminGetter struct {
	Name  string
	Admin func(path string) (string, error)
	Busy  func() bool
}

// WaitNoExtensions polls the proxies every interval until no listener of any names an
// extension (after a reset every chain is back to the bare one), or fails after timeout
// naming the proxy that still runs one.
func WaitNoExtensions(proxies []AdminGetter, timeout, interval time.Duration) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(interval) {
		busy := ""
		for _, p := range proxies {
			dump, err := p.Admin("/config_dump?resource=dynamic_listeners")
			if err != nil || strings.Contains(dump, model.ResourceNamePrefix) || (p.Busy != nil && p.Busy()) {
				busy = p.Name
				break
			}
		}
		if busy == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("reset: proxy %s still runs extensions", busy)
		}
	}
}
