//go:build conformance

package specs

import (
	"fmt"

	"github.com/trafficext/trafficext/internal/envoyproc"
)

// golangBinding is what -binding golang runs: the golang-filter library and whether it needs
// the golang host module, i.e. whether the Envoy under test lacks the contrib golang filter.
func golangBinding() (lib string, host bool, err error) {
	bin, err := envoyproc.FindBinary()
	if err != nil {
		return "", false, err
	}
	contrib, err := envoyproc.HasGolangFilter(bin)
	if err != nil {
		return "", false, err
	}
	if lib, err = envoyproc.GolangLibrary(); err != nil {
		return "", false, fmt.Errorf("-binding golang: %w", err)
	}
	if !contrib {
		if _, err := envoyproc.GolangHostModule(); err != nil {
			return "", false, fmt.Errorf("-binding golang: %s has no golang filter: %w", bin, err)
		}
	}
	return lib, !contrib, nil
}
