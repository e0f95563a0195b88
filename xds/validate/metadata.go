package validate

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/trafficext/trafficext/xds/model"
)

// metadata checks the name and namespace as the Kubernetes API server does: a name is a
// DNS-1123 subdomain (at most 253 characters), a namespace a DNS-1123 label (at most 63). Both
// end up in Envoy filter, ECDS and stat names, and a cluster would never hold such a resource.
func (c *checker) metadata() {
	name := c.ext.Name
	if c.ext.Kind == model.KindWasmPlugin {
		name = strings.TrimSuffix(name, model.WasmPluginSuffix) // the suffix is ours, not the user's
	}
	if name != "" { // an absent name is a decode error
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			c.errorf("metadata.name", fmt.Sprintf("%s: %s", quoteShort(name), strings.Join(msgs, "; ")))
		}
	}
	if msgs := validation.IsDNS1123Label(c.ext.Namespace); len(msgs) > 0 {
		c.errorf("metadata.namespace", fmt.Sprintf("%s: %s", quoteShort(c.ext.Namespace), strings.Join(msgs, "; ")))
	}
}

// quoteShort quotes s, cut to 64 characters so that a 300-character name does not fill the line.
func quoteShort(s string) string {
	if r := []rune(s); len(r) > 64 {
		return fmt.Sprintf("%q... (%d characters)", string(r[:64]), len(r))
	}
	return fmt.Sprintf("%q", s)
}
