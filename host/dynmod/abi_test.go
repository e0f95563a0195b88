package dynmod

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
)

// envoyModuleDir is github.com/envoyproxy/envoy@v1.36.2 in the module cache.
func envoyModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/envoyproxy/envoy").Output()
	if err != nil {
		t.Fatalf("locating github.com/envoyproxy/envoy: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatal("github.com/envoyproxy/envoy is not in the module cache (go mod download)")
	}
	return dir
}

func TestABIVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(envoyModuleDir(t), "source/extensions/dynamic_modules/abi_version.h"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`kAbiVersion\s*=\s*"([0-9a-f]{64})"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("kAbiVersion not found in abi_version.h")
	}
	if got := string(m[1]); got != abiVersion {
		t.Fatalf("abiVersion = %s, abi_version.h says %s", abiVersion, got)
	}
}

func TestAttributeIDsMatchABI(t *testing.T) {
	f, err := os.Open(filepath.Join(envoyModuleDir(t), "source/extensions/dynamic_modules/abi.h"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// The attribute enum lists "// <name>" comments, each followed by its enumerator.
	var names []string
	var pending string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "// ") {
			pending = strings.TrimPrefix(line, "// ")
			continue
		}
		if strings.HasPrefix(line, "envoy_dynamic_module_type_attribute_id_") {
			names = append(names, pending)
		}
		pending = ""
	}
	if len(names) != len(attributeIDs) {
		t.Fatalf("abi.h has %d attributes, attributeIDs %d", len(names), len(attributeIDs))
	}
	for i, n := range names {
		if id, ok := attributeIDs[n]; !ok || id != i {
			t.Errorf("attribute %q: abi.h id %d, attributeIDs %d (present %v)", n, i, id, ok)
		}
	}
}

func TestStatusMapping(t *testing.T) {
	// Envoy's enums: headers Continue=0, StopIteration=1; body Continue=0,
	// StopIterationAndBuffer=1, StopIterationNoBuffer=3.
	cases := []struct {
		st              int
		headers, bodyst int
	}{{0, 0, 0}, {1, 1, 3}, {2, 1, 1}, {3, 1, 3}}
	for _, c := range cases {
		st := statusOf(c.st)
		if got := int(headersStatus(st)); got != c.headers {
			t.Errorf("headersStatus(%v) = %d, want %d", st, got, c.headers)
		}
		if got := int(bodyStatus(st)); got != c.bodyst {
			t.Errorf("bodyStatus(%v) = %d, want %d", st, got, c.bodyst)
		}
	}
}

func statusOf(i int) core.Status { return core.Status(i) }

func TestAttributeTypesMatchEnvoy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(envoyModuleDir(t), "source/extensions/filters/http/dynamic_modules/abi_impl.cc"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	byEnum := map[string]string{} // enumerator suffix → attribute name
	{
		f, err := os.ReadFile(filepath.Join(envoyModuleDir(t), "source/extensions/dynamic_modules/abi.h"))
		if err != nil {
			t.Fatal(err)
		}
		var pending string
		for _, line := range strings.Split(string(f), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "// ") {
				pending = strings.TrimPrefix(line, "// ")
				continue
			}
			if rest, ok := strings.CutPrefix(line, "envoy_dynamic_module_type_attribute_id_"); ok {
				byEnum[strings.TrimSuffix(rest, ",")] = pending
			}
			pending = ""
		}
	}
	served := func(fn string) map[string]bool {
		start := strings.Index(src, "bool "+fn+"(")
		if start < 0 {
			t.Fatalf("%s not found in abi_impl.cc", fn)
		}
		body := src[start:]
		if end := strings.Index(body[1:], "\nbool "); end > 0 {
			body = body[:end]
		}
		out := map[string]bool{}
		for _, m := range regexp.MustCompile(`case envoy_dynamic_module_type_attribute_id_(\w+):`).FindAllStringSubmatch(body, -1) {
			out[byEnum[m[1]]] = true
		}
		return out
	}
	want := map[string]attributeType{}
	for n := range served("envoy_dynamic_module_callback_http_filter_get_attribute_string") {
		want[n] = attrString
	}
	for n := range served("envoy_dynamic_module_callback_http_filter_get_attribute_int") {
		want[n] = attrInt
	}
	if len(want) != len(attributeTypes) {
		t.Errorf("Envoy serves %d attributes, attributeTypes has %d", len(want), len(attributeTypes))
	}
	for n, ty := range want {
		if attributeTypes[n] != ty {
			t.Errorf("attribute %q: Envoy serves it as type %d, attributeTypes says %d", n, ty, attributeTypes[n])
		}
	}
}
