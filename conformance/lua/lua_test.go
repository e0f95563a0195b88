//go:build conformance

package lua_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	conf "github.com/trafficext/trafficext/conformance/lua"
)

const scriptDir = "../testdata/lua"

// scripts is read when the spec tree is built, so that every script is its own spec.
var scripts = func() []*conf.Script {
	s, err := conf.LoadScripts(scriptDir)
	if err != nil {
		panic(err)
	}
	// CONF_LUA_ONLY (a regexp on script ids) narrows the batch while debugging.
	if only := os.Getenv("CONF_LUA_ONLY"); only != "" {
		re := regexp.MustCompile(only)
		var kept []*conf.Script
		for _, x := range s {
			if re.MatchString(x.ID) {
				kept = append(kept, x)
			}
		}
		s = kept
	}
	return s
}()

func TestLuaDifferential(t *testing.T) {
	RegisterFailHandler(Fail)
	sc, rc := GinkgoConfiguration()
	if rc.JUnitReport != "" {
		// Keep the catalogue's report: this package writes its own next to it.
		rc.JUnitReport = strings.TrimSuffix(rc.JUnitReport, ".xml") + "-lua.xml"
	}
	RunSpecs(t, "trafficext Lua differential suite", sc, rc)
}

var result *conf.Result

var _ = Describe("Lua engine vs Envoy's native Lua filter", Label("lua", "differential"), Ordered, ContinueOnFailure, func() {
	BeforeAll(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		b, err := conf.StartBatch(ctx, scripts, nil)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(b.Close)
		result, err = b.Run(6)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Envoy.Alive()).To(BeTrue(), "Envoy died:\n%s", b.Envoy.Log())
		cases := 0
		for range result.Cases {
			cases++
		}
		fmt.Fprintf(GinkgoWriter, "%d scripts, %d listeners, %d request pairs in %v\n", len(scripts), len(b.Listeners), cases, result.Elapsed)
	})

	It("has at least 60 scripts", func() {
		Expect(len(scripts)).To(BeNumerically(">=", 60))
	})

	for _, s := range scripts {
		It(s.ID, func() {
			skip := s.Skips()
			if os.Getenv("CONF_LUA_NOSKIP") != "" {
				skip = map[string]string{} // show what the documented differences hide
			}
			var problems []string
			for _, c := range result.Cases {
				if c.Script != s {
					continue
				}
				for _, d := range conf.Compare(c.Native, c.Ours, skip) {
					problems = append(problems, c.Name()+": "+d)
				}
			}
			if _, ok := skip["errors"]; !ok && result.NativeErrors[s.ID] != result.OursErrors[s.ID] {
				problems = append(problems, fmt.Sprintf("script errors: native %d, ours %d", result.NativeErrors[s.ID], result.OursErrors[s.ID]))
			}
			if cause, ok := golangDifferences[s.ID]; ok && os.Getenv("CONF_LUA_BINDING") == "golang" {
				// A known golang-binding difference: it must still be there (else drop it).
				if len(problems) == 0 {
					Fail(s.ID + " is identical under the golang binding: remove it from golangDifferences")
				}
				fmt.Fprintf(GinkgoWriter, "%s: %d known golang-binding differences (%s)\n", s.ID, len(problems), cause)
				return
			}
			if len(problems) > 0 {
				Fail(fmt.Sprintf("%s (%s): %d differences:\n  %s\n--- envoy log (tail) ---\n%s", s.ID, s.Spec.Description,
					len(problems), strings.Join(problems, "\n  "), tail(result.Log, 40)))
			}
		})
	}

	It("documents every difference a script declares", func() {
		doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "lua-compatibility.md"))
		Expect(err).NotTo(HaveOccurred())
		for _, s := range scripts {
			for _, d := range s.Spec.Differences {
				Expect(string(doc)).To(ContainSubstring("### "+d.ID+" "), "%s declares %s", s.ID, d.ID)
			}
		}
	})

	It("covers every method of the issue on both paths where Envoy allows it", func() {
		missing := coverage(scripts)
		Expect(missing).To(BeEmpty())
	})
})

// golangDifferences are the scripts that differ from native Lua under CONF_LUA_BINDING=golang
// (docs/golang-host.md lists them with the dynamic module's status); any other difference fails.
var golangDifferences = map[string]string{
	"headers-pairs":          "header iteration order of the golang API",
	"metadata-route":         "no route metadata in the golang API",
	"route-vhost-metadata":   "no route or virtual-host metadata in the golang API",
	"ssl-mtls":               "no SSL connection object in the golang API",
	"httpcall-async":         "callout gateway hop: x-forwarded-* headers; a fire-and-forget call still connecting when the stream ends is cancelled",
	"httpcall-errors":        "callout gateway: an unknown cluster is not refused at the call",
	"httpcall-options":       "callout gateway hop: x-forwarded-proto added",
	"httpcall-report":        "callout gateway hop: x-forwarded-* headers",
	"httpcall-response-path": "callout gateway hop: x-forwarded-* headers, no content-length: 0 on an empty body",
	"httpcall-sync":          "callout gateway hop: x-forwarded-* headers",
	"httpcall-then-respond":  "callout gateway hop: x-forwarded-* headers",
	"httpcall-timeout":       "callout gateway hop: x-forwarded-* headers",
	"pcall-httpcall":         "callout gateway hop: x-forwarded-* headers",
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// methods are the stream-handle, header, buffer and helper methods the issue lists.
var methods = []string{
	"headers", "body", "bodyChunks", "trailers", "metadata", "streamInfo", "protocol",
	"downstreamLocalAddress", "downstreamDirectRemoteAddress", "downstreamRemoteAddress",
	"requestedServerName", "routeName", "dynamicMetadata", "downstreamSslConnection", "filterState",
	"connection", "ssl", "httpCall", "respond", "clearRouteCache",
	"logTrace", "logDebug", "logInfo", "logWarn", "logErr", "logCritical",
	"timestamp", "timestampString", "base64Escape", "verifySignature", "importPublicKey",
	"add", "get", "getAtIndex", "getNumValues", "remove", "replace", "setHttp1ReasonPhrase",
	"pairs", "length", "getBytes", "setBytes",
}

var hookRe = regexp.MustCompile(`(?m)^function envoy_on_(request|response)\b`)

// coverage lists the methods no script calls in a request hook or in a response hook.
func coverage(scripts []*conf.Script) []string {
	seen := map[string]map[string]bool{"request": {}, "response": {}}
	for _, s := range scripts {
		src := s.Source
		locs := hookRe.FindAllStringSubmatchIndex(src, -1)
		for i, loc := range locs {
			end := len(src)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			body := src[loc[0]:end]
			dir := src[loc[2]:loc[3]]
			for _, m := range methods {
				pat := ":" + m + "("
				if m == "pairs" {
					pat = "pairs("
				}
				if strings.Contains(body, pat) {
					seen[dir][m] = true
				}
			}
		}
	}
	var missing []string
	for _, dir := range []string{"request", "response"} {
		for _, m := range methods {
			if !seen[dir][m] {
				missing = append(missing, dir+": "+m)
			}
		}
	}
	sort.Strings(missing)
	return missing
}
