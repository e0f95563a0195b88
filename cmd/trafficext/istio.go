package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds"
	"github.com/trafficext/trafficext/xds/istio"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/translate"
)

// cmdIstio runs the Istio-mode subcommands:
//
//	trafficext istio render [flags] FILE|DIR...   EnvoyFilters inserting our ECDS filters
func cmdIstio(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "render" {
		return errors.New("usage: trafficext istio render [flags] FILE|DIR")
	}
	fset := flag.NewFlagSet("istio render", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var opts istio.Options
	var binding, authn, authz string
	fset.StringVar(&opts.XDSAddress, "xds-address", istio.DefaultXDSAddress, "address proxies reach the trafficext control plane at")
	fset.StringVar(&opts.Cluster, "cluster", istio.DefaultCluster, "name of the cluster added for it")
	fset.StringVar(&opts.RootNamespace, "root-namespace", "istio-system", "mesh config root namespace")
	fset.StringVar(&binding, "binding", string(translate.DynamicModules), "filter binding the control plane serves (dynamic-modules or golang)")
	fset.StringVar(&opts.Istio, "istio", "", "Istio line of the proxies (1.28, 1.29, 1.30: golang binding only; 1.31: both); checks the binding and names the library the proxies need")
	fset.StringVar(&opts.GolangLibraryPath, "golang-library-path", translate.DefaultGolangLibraryPath, "with --binding golang: the library path inside the proxies (as trafficext xds --golang-library-path)")
	fset.StringVar(&authn, "authn-anchor", istio.AnchorAUTHN, "filter AUTHN extensions are inserted before")
	fset.StringVar(&authz, "authz-anchor", istio.AnchorAUTHZ, "filter AUTHZ extensions are inserted before")
	fset.StringVar(&opts.CalloutGateway, "callout-gateway", translate.IstioCalloutGateway, "address the rendered callout gateway listener binds ("+translate.NoCalloutGateway+": none); give `trafficext xds` the same --callout-gateway")
	if err := fset.Parse(args[1:]); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return errors.New("usage: trafficext istio render [flags] FILE|DIR")
	}
	opts.Binding = translate.Binding(binding)
	opts.Anchors = map[v1alpha1.TrafficExtension_ExecutionPhase]string{
		v1alpha1.TrafficExtension_AUTHN: authn, v1alpha1.TrafficExtension_AUTHZ: authz,
	}
	rep := xds.CheckFiles(fset.Args(), xds.CheckOptions{RootNamespace: opts.RootNamespace, Binding: opts.Binding})
	for _, e := range rep.Errors {
		fmt.Fprintln(stderr, e)
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d problem(s): fix them before rendering", len(rep.Errors))
	}
	out, err := istio.Render(source.LoadFiles(expandPaths(fset.Args())).Extensions(), opts)
	if err != nil {
		return err
	}
	for _, n := range out.Notes {
		fmt.Fprintln(stderr, "note:", n)
	}
	for _, w := range out.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	y, err := out.YAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(y)
	return err
}

// expandPaths replaces each directory by its config files, as the control plane reads them.
func expandPaths(paths []string) []string {
	var out []string
	for _, p := range paths {
		snap, err := source.LoadDir(p)
		if err != nil {
			out = append(out, p)
			continue
		}
		for _, f := range snap.Files {
			out = append(out, f.Path)
		}
	}
	return out
}
