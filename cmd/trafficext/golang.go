package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/trafficext/trafficext/internal/envoyproc"
)

// golangRun prepares `run --binding golang` for the Envoy it will start: an Envoy with the
// contrib golang filter loads the library itself; any other Envoy gets the golang host
// dynamic module (libgolanghost.so) running the same library. Unless --golang-library-path is
// given, the library is the one make built for that Envoy (envoyproc.GolangLibraryFor).
func (c *cpFlags) golangRun(fset *flag.FlagSet, log *slog.Logger) error {
	bin, err := envoyproc.FindBinary()
	if err != nil {
		return err
	}
	contrib, err := envoyproc.HasGolangFilter(bin)
	if err != nil {
		return err
	}
	explicit := false
	fset.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "golang-library-path" })
	if !explicit {
		// Envoy's own golang filter needs the library of its line; the host implements one.
		line := envoyproc.GolangHostLine
		if contrib {
			if line, err = envoyproc.EnvoyLine(bin); err != nil {
				return err
			}
		}
		if c.golangLibrary, err = envoyproc.GolangLibraryFor(line); err != nil {
			return fmt.Errorf("--binding golang: %w", err)
		}
	}
	if _, err := os.Stat(c.golangLibrary); err != nil {
		return fmt.Errorf("--binding golang: the golang-filter library: %w", err)
	}
	if contrib {
		log.Info("Envoy has the contrib golang filter: it loads the library itself", "envoy", bin, "library", c.golangLibrary)
		return nil
	}
	if _, err := envoyproc.GolangHostModule(); err != nil {
		return fmt.Errorf("--binding golang: %s has no golang filter: %w", bin, err)
	}
	c.golangHost = true
	log.Info("Envoy has no golang filter: the golang host module runs the library", "envoy", bin, "library", c.golangLibrary)
	return nil
}
