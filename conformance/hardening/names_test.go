//go:build conformance

package hardening

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Names and namespaces Kubernetes refuses are refused by `trafficext validate` and by a running
// control plane (the resource never reaches Envoy; the status names file and field), while the
// valid extensions beside them serve. Every invalid file sets x-bad-name when served.
func TestInvalidNames_Refused(t *testing.T) {
	r := root(t)
	cases := map[string]string{ // file in conformance/testdata/invalid → expected message
		"name-unicode.yaml":      `istio-system/ünïcödé: metadata.name: "ünïcödé": a lowercase RFC 1123 subdomain`,
		"name-path.yaml":         `istio-system/../../etc/passwd: metadata.name: "../../etc/passwd": a lowercase RFC 1123 subdomain`,
		"name-space.yaml":        `istio-system/a b: metadata.name: "a b": a lowercase RFC 1123 subdomain`,
		"name-too-long.yaml":     `metadata.name: "` + strings.Repeat("a", 64) + `"... (300 characters): must be no more than 253 characters`,
		"namespace-invalid.yaml": `Istio_System/victim: metadata.namespace: "Istio_System": a lowercase RFC 1123 label`,
	}
	dir := t.TempDir()
	for file, want := range cases {
		src := filepath.Join(r, "conformance", "testdata", "invalid", file)
		out, err := exec.Command(filepath.Join(r, "out", "trafficext"), "validate", src).CombinedOutput()
		if code := exitCode(err); code != 1 || !strings.Contains(string(out), file+": ") || !strings.Contains(string(out), want) {
			t.Errorf("validate %s: exit %d, output %q; want exit 1 and %q", file, code, out, want)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, file), string(b))
	}
	writeFile(t, filepath.Join(dir, "good.yaml"), luaExtension("good", "x-good", "served"))

	run := startRun(t, freePorts(t), dir)
	run.waitHeader(t, "x-good", "served", 60*time.Second)
	resp, err := get(run.p.listen)
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.Header.Get("x-bad-name"); v != "" {
		t.Errorf("an extension with an invalid name reached Envoy (x-bad-name: %s)", v)
	}
	status := httpBody(t, "http://"+run.p.status+"/status")
	for file := range cases {
		if !strings.Contains(status, file) || !strings.Contains(status, "metadata.") {
			t.Errorf("status does not report %s", file)
		}
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
