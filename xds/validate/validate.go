// Package validate checks TrafficExtension resources the way Istio's CRD schema, CEL rules and
// admission webhook do (istio.io/api v1.31.1, pkg/config/validation ValidateTrafficExtension),
// plus what trafficext itself needs: the Lua source must compile and the fail-strategy
// annotation must be known.
//
// Every problem is a *model.Error naming the file, the resource (namespace/name) and the field,
// for example
//
//	examples/bad.yaml: default/parity: spec.lua.inlineCode: line 3: near 'if': syntax error
//
// Warnings (Error.Warning) do not make a resource invalid.
package validate

import (
	"strings"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/translate"
)

// DefaultRootNamespace is Istio's default config root namespace.
const DefaultRootNamespace = "istio-system"

// Options tune the rules that depend on the mesh.
type Options struct {
	// RootNamespace is the config root namespace; "" means DefaultRootNamespace.
	RootNamespace string
	// Binding is the filter that hosts trafficext in the proxies: with translate.Golang, what
	// the contrib golang filter cannot host is refused (binding.go); "" means dynamic modules.
	Binding translate.Binding
}

func (o Options) rootNamespace() string {
	if o.RootNamespace == "" {
		return DefaultRootNamespace
	}
	return o.RootNamespace
}

// Extension returns the problems of one resource: its decode errors, then the spec rules.
// The resource is valid when none of them is an error (see HasErrors).
func Extension(e *model.Extension, opts Options) []*model.Error {
	c := &checker{ext: e, opts: opts}
	c.errs = append(c.errs, e.DecodeErrors...)
	c.metadata() // metadata.go
	if e.Spec == nil {
		if len(c.errs) == 0 {
			c.errorf("spec", "required")
		}
		return c.errs
	}
	c.body()
	c.selector()
	c.targetRefs()
	c.match()
	c.annotations()
	return c.errs
}

// HasErrors reports whether any problem is an error rather than a warning.
func HasErrors(problems []*model.Error) bool {
	for _, p := range problems {
		if !p.Warning {
			return true
		}
	}
	return false
}

// Split separates errors from warnings.
func Split(problems []*model.Error) (errs, warnings []*model.Error) {
	for _, p := range problems {
		if p.Warning {
			warnings = append(warnings, p)
		} else {
			errs = append(errs, p)
		}
	}
	return errs, warnings
}

type checker struct {
	ext  *model.Extension
	opts Options
	errs []*model.Error
}

func (c *checker) errorf(field, msg string) {
	c.errs = append(c.errs, c.ext.Errorf(c.field(field), 0, msg))
}

func (c *checker) errorAt(field string, line int, msg string) {
	c.errs = append(c.errs, c.ext.Errorf(c.field(field), line, msg))
}

// field names a field as the user wrote it: a WasmPlugin has its Wasm fields directly under
// spec (spec.url, not spec.wasm.url).
func (c *checker) field(f string) string {
	if c.ext.Kind == model.KindWasmPlugin {
		if rest, ok := strings.CutPrefix(f, "spec.wasm."); ok {
			return "spec." + rest
		}
	}
	return f
}

func (c *checker) warnf(field, msg string) {
	e := c.ext.Errorf(c.field(field), 0, msg)
	e.Warning = true
	c.errs = append(c.errs, e)
}

func (c *checker) body() {
	s := c.ext.Spec
	switch {
	case s.GetWasm() == nil && s.GetLua() == nil:
		c.errorf("spec", "exactly one of wasm or lua must be set")
	case s.GetLua() != nil:
		c.lua(s.GetLua().GetInlineCode())
	default:
		c.wasm(s.GetWasm())
	}
}
