package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trafficext/trafficext/xds/server"
)

// cmdStatus prints the status of a running control plane:
//
//	trafficext status [--address 127.0.0.1:18001] [--json]
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("status", flag.ContinueOnError)
	fset.SetOutput(stderr)
	addr := fset.String("address", server.DefaultStatusAddress, "status endpoint of the control plane (host:port)")
	asJSON := fset.Bool("json", false, "print the raw JSON report")
	if err := fset.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rep, err := server.FetchReport(ctx, *addr)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(stdout, rep)
	return nil
}

func printReport(w io.Writer, rep server.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXTENSION\tKIND\tSTATE\tPROXIES\tMODULE")
	for _, e := range rep.Extensions {
		module := "-"
		switch {
		case e.Module == nil:
		case e.Module.Deny != "":
			module = "unavailable: answers " + e.Module.Deny
		case e.Module.SHA256 != "":
			module = "sha256:" + e.Module.SHA256
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", e.Name, e.Kind, e.State, len(e.Proxies), module)
	}
	tw.Flush()
	for _, e := range rep.Extensions {
		if len(e.Errors)+len(e.Warnings)+len(e.Proxies) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%s):\n", e.Name, e.Origin)
		for _, m := range e.Errors {
			fmt.Fprintf(w, "  error:   %s\n", m)
		}
		for _, m := range e.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", m)
		}
		if len(e.Proxies) > 0 {
			fmt.Fprintf(w, "  proxies: %s\n", strings.Join(e.Proxies, ", "))
		}
	}
	if len(rep.Problems) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintf(w, "\nproxies: %d connected\n", len(rep.Proxies))
	for _, p := range rep.Proxies {
		fmt.Fprintf(w, "  %s (%s, %s): %d extension(s)\n", p.ID, p.Mode, p.Namespace, len(p.Chain))
	}
	if len(rep.NACKs) == 0 {
		fmt.Fprintln(w, "NACKs: none")
		return
	}
	fmt.Fprintln(w, "NACKs (rejected by Envoy, previous version still in use):")
	for _, n := range rep.NACKs {
		fmt.Fprintf(w, "  %s %s version %s at %s: %s\n", n.Node, n.TypeURL, n.Version, n.Time.Format(time.RFC3339), n.Message)
	}
}
