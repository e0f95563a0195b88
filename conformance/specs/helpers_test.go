//go:build conformance

package specs

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

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
}

// do sends one request on a fresh connection.
func do(p driver.Proxy, method, path string, headers map[string]string) response {
	req, err := http.NewRequest(method, p.URL()+path, nil)
	Expect(err).NotTo(HaveOccurred())
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := p.Client().Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	return readResponse(resp)
}

func readResponse(resp *http.Response) response {
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
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
func get(p driver.Proxy, path string, headers map[string]string) response {
	return do(p, http.MethodGet, path, headers)
}

// luaExtension renders a TrafficExtension in istio-system selecting the ingress gateway.
func luaExtension(name, phase string, priority *int, annotations map[string]string, code string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: extensions.istio.io/v1alpha1\nkind: TrafficExtension\nmetadata:\n  name: %s\n  namespace: istio-system\n", name)
	if len(annotations) > 0 {
		b.WriteString("  annotations:\n")
		for k, v := range annotations {
			fmt.Fprintf(&b, "    %s: %q\n", k, v)
		}
	}
	b.WriteString("spec:\n  selector:\n    matchLabels:\n      istio: ingressgateway\n")
	if phase != "" {
		fmt.Fprintf(&b, "  phase: %s\n", phase)
	}
	if priority != nil {
		fmt.Fprintf(&b, "  priority: %d\n", *priority)
	}
	b.WriteString("  lua:\n    inlineCode: |\n")
	for _, line := range strings.Split(strings.TrimRight(code, "\n"), "\n") {
		b.WriteString("      " + line + "\n")
	}
	return []byte(b.String())
}

func ptr(i int) *int { return &i }

// appendScript appends digit to header h on the response (and to the request header of the
// same name seen by the workload).
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

// keepAlive is one HTTP/1.1 connection held open across requests.
type keepAlive struct {
	conn net.Conn
	rd   *bufio.Reader
	host string
}

func dialKeepAlive(p driver.Proxy) *keepAlive {
	u, err := url.Parse(p.URL())
	Expect(err).NotTo(HaveOccurred())
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
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
