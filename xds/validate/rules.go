package validate

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds/model"
)

// Limits from the CRD schema.
const (
	maxTargetRefs   = 16
	maxMatchLabels  = 4096
	maxLabelValue   = 63
	maxEnvVars      = 256
	maxEnvName      = 256
	maxEnvValue     = 2048
	maxPullSecret   = 253
	maxPluginName   = 256
	maxRefName      = 253
	maxRefGroup     = 253
	maxRefKind      = 63
	waypointClass   = "istio-waypoint"
	gatewayAPIGroup = "gateway.networking.k8s.io"
	istioNetGroup   = "networking.istio.io"
)

var (
	sha256Pattern = regexp.MustCompile(`^[a-f0-9]{64}$`)
	groupPattern  = regexp.MustCompile(`^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	kindPattern   = regexp.MustCompile(`^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`)
)

func (c *checker) selector() {
	s := c.ext.Spec
	if s.GetSelector() != nil && len(s.GetTargetRefs()) > 0 {
		c.errorf("spec", "only one of targetRefs or selector can be set")
	}
	sel := s.GetSelector()
	if sel == nil {
		return
	}
	labels := sel.GetMatchLabels()
	if len(labels) == 0 {
		c.warnf("spec.selector", "no labels: it selects every workload in the namespace")
		return
	}
	if len(labels) > maxMatchLabels {
		c.errorf("spec.selector.matchLabels", fmt.Sprintf("%d entries exceed the limit of %d", len(labels), maxMatchLabels))
	}
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		field := "spec.selector.matchLabels[" + k + "]"
		switch {
		case k == "":
			c.errorf("spec.selector.matchLabels", "key must not be empty")
		case strings.Contains(k, "*"):
			c.errorf(field, "wildcard not allowed in label key match")
		}
		if strings.Contains(v, "*") {
			c.errorf(field, "wildcard not allowed in label value match")
		}
		if len(v) > maxLabelValue {
			c.errorf(field, fmt.Sprintf("value is %d characters long, the limit is %d", len(v), maxLabelValue))
		}
	}
}

func (c *checker) targetRefs() {
	refs := c.ext.Spec.GetTargetRefs()
	if len(refs) > maxTargetRefs {
		c.errorf("spec.targetRefs", fmt.Sprintf("%d entries exceed the limit of %d", len(refs), maxTargetRefs))
	}
	for i, r := range refs {
		field := fmt.Sprintf("spec.targetRefs[%d]", i)
		if r.GetName() == "" {
			c.errorf(field+".name", "required")
		} else if len(r.GetName()) > maxRefName {
			c.errorf(field+".name", fmt.Sprintf("longer than %d characters", maxRefName))
		}
		if r.GetNamespace() != "" {
			c.errorf(field+".namespace", "cross namespace referencing is not currently supported")
		}
		if len(r.GetGroup()) > maxRefGroup || !groupPattern.MatchString(r.GetGroup()) {
			c.errorf(field+".group", fmt.Sprintf("%q is not a valid API group", r.GetGroup()))
		}
		switch {
		case r.GetKind() == "":
			c.errorf(field+".kind", "required")
			continue
		case len(r.GetKind()) > maxRefKind || !kindPattern.MatchString(r.GetKind()):
			c.errorf(field+".kind", fmt.Sprintf("%q is not a valid kind", r.GetKind()))
			continue
		}
		c.targetKind(field, r.GetGroup(), r.GetKind(), r.GetName())
	}
}

// CanonicalGroup maps the empty group to "core", as Istio does.
func CanonicalGroup(g string) string {
	if g == "" {
		return "core"
	}
	return g
}

func (c *checker) targetKind(field, group, kind, name string) {
	switch g := CanonicalGroup(group); {
	case kind == "Service" && g == "core", kind == "ServiceEntry" && g == istioNetGroup,
		kind == "Gateway" && g == gatewayAPIGroup:
	case kind == "GatewayClass" && g == gatewayAPIGroup:
		if c.ext.Namespace != c.opts.rootNamespace() {
			// Istio admits it (neither the CRD nor the webhook checks) but never attaches it.
			c.warnf(field, fmt.Sprintf("GatewayClass targets apply only from the root namespace %q: this one selects no proxy", c.opts.rootNamespace()))
		} else if name != "" && name != waypointClass {
			c.warnf(field+".name", fmt.Sprintf("only GatewayClass %q is attached to; %q selects no proxy", waypointClass, name))
		}
	default:
		c.errorf(field, fmt.Sprintf("unsupported target %s in group %q (want Gateway or GatewayClass in %s, Service in core, ServiceEntry in %s)",
			kind, group, gatewayAPIGroup, istioNetGroup))
	}
}

func (c *checker) match() {
	for i, m := range c.ext.Spec.GetMatch() {
		field := fmt.Sprintf("spec.match[%d]", i)
		if m == nil {
			c.errorf(field, "must not be null")
			continue
		}
		seen := map[uint32]bool{}
		for j, p := range m.GetPorts() {
			pf := fmt.Sprintf("%s.ports[%d].number", field, j)
			n := p.GetNumber()
			switch {
			case n < 1 || n > 65535:
				c.errorf(pf, fmt.Sprintf("%d is out of range 1..65535", n))
			case seen[n]:
				c.errorf(pf, fmt.Sprintf("duplicate port %d", n))
			}
			seen[n] = true
		}
	}
}

func (c *checker) annotations() {
	v, ok := c.ext.Annotations[model.AnnotationFailStrategy]
	if !ok {
		return
	}
	field := "metadata.annotations[" + model.AnnotationFailStrategy + "]"
	if c.ext.Spec.GetWasm() != nil {
		c.warnf(field, "ignored for Wasm extensions: use spec.wasm.failStrategy")
		return
	}
	switch v {
	case "FAIL_CLOSE", "FAIL_OPEN":
	default:
		c.errorf(field, fmt.Sprintf("unknown value %q (want FAIL_CLOSE or FAIL_OPEN)", v))
	}
}

func (c *checker) wasm(w *v1alpha1.WasmConfig) {
	c.wasmURL(w.GetUrl(), w.GetSha256())
	if s := w.GetSha256(); s != "" && !sha256Pattern.MatchString(s) {
		c.errorf("spec.wasm.sha256", fmt.Sprintf("%q must be 64 lower-case hex characters", s))
	}
	if len(w.GetImagePullSecret()) > maxPullSecret {
		c.errorf("spec.wasm.imagePullSecret", fmt.Sprintf("longer than %d characters", maxPullSecret))
	}
	if len(w.GetPluginName()) > maxPluginName {
		c.errorf("spec.wasm.pluginName", fmt.Sprintf("longer than %d characters", maxPluginName))
	}
	if w.GetVerificationKey() != "" {
		c.warnf("spec.wasm.verificationKey", "not implemented: the module signature is not verified")
	}
	c.env(w.GetVmConfig().GetEnv())
}

func (c *checker) wasmURL(raw, sha string) {
	const field = "spec.wasm.url"
	if raw == "" {
		c.errorf(field, "required")
		return
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		if u, err = url.ParseRequestURI("http://" + raw); err != nil {
			c.errorf(field, fmt.Sprintf("%q is not a valid URL", raw))
			return
		}
	}
	switch u.Scheme {
	case "", "http", "https", "file", "oci":
	default:
		c.errorf(field, "url must have schema one of [http, https, file, oci]")
		return
	}
	if i := strings.LastIndex(raw, "@sha256:"); i >= 0 && sha != "" {
		if digest := raw[i+len("@sha256:"):]; digest != sha {
			c.errorf("spec.wasm.sha256", fmt.Sprintf("%q does not match the digest %q in the url", sha, digest))
		}
	}
}

func (c *checker) env(env []*v1alpha1.EnvVar) {
	if len(env) > maxEnvVars {
		c.errorf("spec.wasm.vmConfig.env", fmt.Sprintf("%d entries exceed the limit of %d", len(env), maxEnvVars))
	}
	seen := map[string]bool{}
	for i, e := range env {
		field := fmt.Sprintf("spec.wasm.vmConfig.env[%d]", i)
		switch n := e.GetName(); {
		case n == "":
			c.errorf(field+".name", "required")
		case len(n) > maxEnvName:
			c.errorf(field+".name", fmt.Sprintf("longer than %d characters", maxEnvName))
		case seen[n]:
			c.errorf(field+".name", fmt.Sprintf("duplicate name %q", n))
		}
		seen[e.GetName()] = true
		if e.GetValueFrom() == v1alpha1.EnvValueSource_HOST && e.GetValue() != "" {
			c.errorf(field+".value", "value may only be set when valueFrom is INLINE")
		}
		if len(e.GetValue()) > maxEnvValue {
			c.errorf(field+".value", fmt.Sprintf("longer than %d characters", maxEnvValue))
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
