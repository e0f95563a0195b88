package xds

import (
	"context"
	"errors"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/server"
)

// Report is the status of every resource the source holds (accepted, rejected or served from
// its last valid version, and why), the connected proxies each one reaches, the Wasm module
// each serves, and the NACKs not yet followed by an ACK. `trafficext status` prints it.
func (c *ControlPlane) Report() server.Report {
	st := c.Status()
	proxies, payloads := c.srv.Proxies()
	r := server.Report{Generated: time.Now().UTC(), Proxies: proxies, NACKs: st.NACKs}
	byKey := map[model.Key]*server.ExtensionReport{}
	get := func(k model.Key) *server.ExtensionReport {
		e := byKey[k]
		if e == nil {
			e = &server.ExtensionReport{Name: k.String(), ResourceName: k.ResourceName(), Kind: model.Kind, Proxies: []string{}}
			if strings.HasSuffix(k.Name, model.WasmPluginSuffix) {
				e.Kind = model.KindWasmPlugin
			}
			byKey[k] = e
		}
		return e
	}
	for _, e := range c.srv.Extensions() {
		x := get(e.Key)
		x.State, x.Origin = server.StateAccepted, e.File
		p, ok := payloads[e.ResourceName()]
		if !ok && e.Spec.GetWasm() != nil {
			p = c.srv.ExtensionPayload(e)
		}
		x.Module = server.Module(p)
	}
	for _, k := range st.Stale {
		get(k).State = server.StateStale
	}
	for _, k := range st.Rejected {
		get(k).State = server.StateRejected
	}
	for _, p := range st.Problems {
		var me *model.Error
		if !errors.As(p, &me) || me.Key == (model.Key{}) {
			r.Problems = append(r.Problems, p.Error())
			continue
		}
		x := get(me.Key)
		if x.Origin == "" {
			x.Origin = me.File
		}
		if me.Warning {
			x.Warnings = append(x.Warnings, p.Error())
			continue
		}
		x.Errors = append(x.Errors, p.Error())
		if x.State == "" {
			x.State = server.StateRejected
		}
	}
	byResource := make(map[string]*server.ExtensionReport, len(byKey))
	for _, x := range byKey {
		byResource[x.ResourceName] = x
	}
	for _, p := range proxies {
		for _, name := range p.Chain {
			// A sidecar's chain names an extension once per listener it is on.
			if x := byResource[name]; x != nil && !slices.Contains(x.Proxies, p.ID) {
				x.Proxies = append(x.Proxies, p.ID)
			}
		}
	}
	for _, x := range byKey {
		sort.Strings(x.Proxies)
		r.Extensions = append(r.Extensions, *x)
	}
	sort.Slice(r.Extensions, func(i, j int) bool { return r.Extensions[i].Name < r.Extensions[j].Name })
	return r
}

// serveStatus serves Report over HTTP on Options.StatusAddress until ctx ends; a status
// address that cannot be bound is logged, not fatal.
func (c *ControlPlane) serveStatus(ctx context.Context) {
	addr := c.opts.StatusAddress
	if addr == "" || addr == "off" {
		return
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		c.log.Warn("status endpoint disabled", "address", addr, "error", err)
		return
	}
	c.log.Info("status endpoint listening", "url", "http://"+lis.Addr().String()+server.StatusPath)
	if err := server.ServeStatus(ctx, lis, c.Report); err != nil {
		c.log.Warn("status endpoint stopped", "error", err)
	}
}
