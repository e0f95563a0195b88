//go:build conformance

package specs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/internal/echo"
)

// response is what a client saw, plus what the echo workload received when reached.
type response struct {
	Status  int
	Header  http.Header
	Body    string
	Echo    *echo.Report
	Reached bool
	Err     error
}

// do sends one request on a fresh connection. A transport error (a proxy closing a
// connection while its listener is replaced) is a response with Status 0 and Err set, so that
// Eventually retries it and a plain assertion on Status reports it.
func do(t driver.Target, method, path string, headers map[string]string) response {
	req, err := http.NewRequest(method, t.URL()+path, nil)
	Expect(err).NotTo(HaveOccurred())
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := t.Client().Do(req)
	if err != nil {
		return response{Err: err, Body: err.Error(), Header: http.Header{}}
	}
	defer resp.Body.Close()
	return readResponse(resp)
}

func readResponse(resp *http.Response) response {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{Status: resp.StatusCode, Header: resp.Header, Err: err, Body: err.Error()}
	}
	r := response{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	if strings.HasPrefix(resp.Header.Get("content-type"), "application/json") {
		var rep echo.Report
		if json.Unmarshal(b, &rep) == nil && rep.Server != "" {
			r.Echo, r.Reached = &rep, true
		}
	}
	return r
}

// get is do with GET.
func get(t driver.Target, path string, headers map[string]string) response {
	return do(t, http.MethodGet, path, headers)
}

// noHeaders is "no extra request headers" for Eventually(...).WithArguments.
var noHeaders map[string]string

// echoed is the value of a request header as the workload received it ("<not reached>" when
// the request did not reach it).
func echoed(t driver.Target, h string, headers map[string]string) string {
	r := get(t, "/", headers)
	if !r.Reached {
		return fmt.Sprintf("<not reached: %d>", r.Status)
	}
	return r.Echo.Header(h)
}

// ext is one TrafficExtension to render.
type ext struct {
	name, ns    string
	phase       string
	priority    *int
	annotations map[string]string
	// attach is the YAML of spec.selector / spec.targetRefs / spec.match (two-space indented).
	attach string
	lua    string
	// wasm is the YAML under spec.wasm (four-space indented).
	wasm string
}

func (x ext) withPhase(p string) ext  { x.phase = p; return x }
func (x ext) withPriority(p int) ext  { x.priority = &p; return x }
func (x ext) withLua(code string) ext { x.lua = code; return x }
func (x ext) failOpen() ext {
	x.annotations = map[string]string{"trafficext.io/fail-strategy": "FAIL_OPEN"}
	return x
}
func (x ext) withWasm(yaml string) ext { x.wasm = yaml; x.lua = ""; return x }
func (x ext) panicValue() map[string]string {
	return map[string]string{panicHeader: x.ns + "." + x.name}
}

func (x ext) yaml() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata:\n  name: %s\n  namespace: %s\n", x.name, x.ns)
	if len(x.annotations) > 0 {
		b.WriteString("  annotations:\n")
		keys := make([]string, 0, len(x.annotations))
		for k := range x.annotations {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "    %s: %q\n", k, x.annotations[k])
		}
	}
	b.WriteString("spec:\n")
	if x.attach != "" {
		b.WriteString(strings.TrimRight(x.attach, "\n") + "\n")
	}
	if x.phase != "" {
		fmt.Fprintf(&b, "  phase: %s\n", x.phase)
	}
	if x.priority != nil {
		fmt.Fprintf(&b, "  priority: %d\n", *x.priority)
	}
	if x.wasm != "" {
		b.WriteString("  wasm:\n" + strings.TrimRight(x.wasm, "\n") + "\n")
		return []byte(b.String())
	}
	b.WriteString("  lua:\n    inlineCode: |\n")
	for _, line := range strings.Split(strings.TrimRight(x.lua, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	return []byte(b.String())
}

// docs joins extensions into one multi-document file.
func docs(xs ...ext) []byte {
	parts := make([][]byte, len(xs))
	for i, x := range xs {
		parts[i] = x.yaml()
	}
	return bytes.Join(parts, []byte("---\n"))
}

// apply applies extensions as one file.
func apply(file string, xs ...ext) {
	GinkgoHelper()
	Expect(env.Apply(file, docs(xs...))).To(Succeed())
}

// Attachment YAML fragments.
func selectorYAML(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("  selector:\n    matchLabels:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "      %s: %q\n", k, labels[k])
	}
	return b.String()
}

func targetRefYAML(group, kind, name string) string {
	if group == "" {
		return fmt.Sprintf("  targetRefs:\n  - kind: %s\n    name: %s\n", kind, name)
	}
	return fmt.Sprintf("  targetRefs:\n  - group: %s\n    kind: %s\n    name: %s\n", group, kind, name)
}

const gatewayGroup = "gateway.networking.k8s.io"

// matchYAML renders spec.match with one selector of mode and ports.
func matchYAML(mode string, ports ...uint32) string {
	s := "  match:\n  - mode: " + mode + "\n"
	if len(ports) > 0 {
		s += "    ports:\n"
		for _, p := range ports {
			s += fmt.Sprintf("    - number: %d\n", p)
		}
	}
	return s
}

// mode is one proxy shape a spec runs against: how an extension attaches to that proxy, and
// where requests go.
type mode struct {
	name string
	ns   string
	// attach makes an extension reach this proxy's request path (for the sidecar: its inbound
	// listener, match mode SERVER).
	attach string
	target func() driver.Target
	proxy  func() driver.Proxy
}

func (m mode) ext(name string) ext { return ext{name: name, ns: m.ns, attach: m.attach} }

var (
	gatewayMode = mode{
		name: "gateway", ns: driver.RootNamespace,
		attach: selectorYAML(map[string]string{"istio": "ingressgateway"}),
		target: func() driver.Target { return env.Gateway() },
		proxy:  func() driver.Proxy { return env.Gateway() },
	}
	sidecarMode = mode{
		name: "sidecar", ns: driver.AppNamespace,
		attach: selectorYAML(map[string]string{"app": "echo"}) + matchYAML("SERVER"),
		target: func() driver.Target { return env.Sidecar() },
		proxy:  func() driver.Proxy { return env.Sidecar() },
	}
	waypointMode = mode{
		name: "waypoint", ns: driver.AppNamespace,
		attach: targetRefYAML(gatewayGroup, "Gateway", driver.WaypointName),
		target: func() driver.Target { return env.Waypoint().Service(driver.ServiceA) },
		proxy:  func() driver.Proxy { return env.Waypoint() },
	}
	allModes = []mode{gatewayMode, sidecarMode, waypointMode}
)

// eachMode declares body once per proxy mode, each in a container labelled with the mode.
func eachMode(body func(m mode)) {
	for _, m := range allModes {
		Context("on the "+m.name, Label(m.name), func() { body(m) })
	}
}

// within is the wait for configuration to reach the proxies; liveUpdate bounds how long a code
// change takes to show on a live connection. The kind driver raises both (its control plane
// learns of resources through the API server).
var (
	within     = 10 * time.Second
	liveUpdate = 2 * time.Second
)

// appendScript appends digit to header h on the request (as the workload sees it) and on the
// response (as the client sees it).
func appendScript(h, digit string) string {
	return fmt.Sprintf(`function envoy_on_request(handle)
  local v = handle:headers():get(%[1]q) or ""
  handle:headers():replace(%[1]q, v .. %[2]q)
end
function envoy_on_response(handle)
  local v = handle:headers():get(%[1]q) or ""
  handle:headers():replace(%[1]q, v .. %[2]q)
end
`, h, digit)
}

// requestHeaderScript sets a request header.
func requestHeaderScript(h, v string) string {
	return fmt.Sprintf("function envoy_on_request(handle)\n  handle:headers():replace(%q, %q)\nend\n", h, v)
}

// responseHeaderScript sets a response header.
func responseHeaderScript(h, v string) string {
	return fmt.Sprintf("function envoy_on_response(handle)\n  handle:headers():replace(%q, %q)\nend\n", h, v)
}

// keepAlive is one HTTP/1.1 connection held open across requests.
type keepAlive struct {
	conn net.Conn
	rd   *bufio.Reader
	host string
}

func dialKeepAlive(t driver.Target) *keepAlive {
	u, err := url.Parse(t.URL())
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := t.Dial(ctx)
	Expect(err).NotTo(HaveOccurred())
	return &keepAlive{conn: c, rd: bufio.NewReader(c), host: u.Host}
}

func (k *keepAlive) get(path string, headers map[string]string) response {
	req, err := http.NewRequest(http.MethodGet, "http://"+k.host+path, nil)
	Expect(err).NotTo(HaveOccurred())
	for h, v := range headers {
		req.Header.Set(h, v)
	}
	Expect(k.conn.SetDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
	Expect(req.Write(k.conn)).To(Succeed())
	resp, err := http.ReadResponse(k.rd, req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.Close).To(BeFalse(), "the proxy closed the keep-alive connection")
	return readResponse(resp)
}

func (k *keepAlive) close() { k.conn.Close() }

// inChain reports whether the proxy's listeners reference the extension's filter (Envoy may
// keep an ECDS config it no longer uses in other sections of the dump).
func inChain(p driver.Proxy, ns, name string) bool {
	_, anywhere, _ := chainState(p, ns, name)
	return anywhere
}

// serves reports whether extension ns/name is in the chain that serves new connections: in an
// active listener, with no listener update still warming (until its ECDS resources load, a
// warming update leaves the previous chain serving).
func serves(p driver.Proxy, ns, name string) bool {
	active, _, warming := chainState(p, ns, name)
	return active && !warming
}

// chainState reads the proxy's listeners: whether ns/name is in an active (or static)
// listener, in any listener at all (warming ones included), and whether an update is warming.
func chainState(p driver.Proxy, ns, name string) (active, anywhere, warming bool) {
	dump, err := p.ConfigDump()
	Expect(err).NotTo(HaveOccurred())
	var d struct {
		Configs []json.RawMessage `json:"configs"`
	}
	Expect(json.Unmarshal([]byte(dump), &d)).To(Succeed())
	want := `"extensions.istio.io/trafficextension/` + ns + "." + name + `"`
	for _, c := range d.Configs {
		if !strings.Contains(string(c), "ListenersConfigDump") {
			continue
		}
		var l struct {
			Static []struct {
				Listener json.RawMessage `json:"listener"`
			} `json:"static_listeners"`
			Dynamic []struct {
				Active  json.RawMessage `json:"active_state"`
				Warming json.RawMessage `json:"warming_state"`
			} `json:"dynamic_listeners"`
		}
		Expect(json.Unmarshal(c, &l)).To(Succeed())
		for _, s := range l.Static {
			active = active || strings.Contains(string(s.Listener), want)
		}
		for _, dl := range l.Dynamic {
			active = active || strings.Contains(string(dl.Active), want)
			warming = warming || len(dl.Warming) > 0
			anywhere = anywhere || strings.Contains(string(dl.Warming), want)
		}
		anywhere = anywhere || active
	}
	return active, anywhere, warming
}
