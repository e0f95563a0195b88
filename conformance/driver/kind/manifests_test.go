package kind

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	// Ginkgo is imported for its flags only: `make conformance` passes -ginkgo.* to every test
	// binary under conformance/, this one included.
	_ "github.com/onsi/ginkgo/v2"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/bootstrap/internal_listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	yaml3 "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/trafficext/trafficext/conformance/driver"
	"github.com/trafficext/trafficext/internal/envoyproc"
	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// doc is one manifest document.
type doc struct {
	file string
	raw  []byte
	obj  map[string]any
}

func (d doc) str(path ...string) string {
	var v any = d.obj
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

func (d doc) String() string {
	return fmt.Sprintf("%s: %s %s/%s", d.file, d.str("kind"), d.str("metadata", "namespace"), d.str("metadata", "name"))
}

func root(t *testing.T) string {
	t.Helper()
	r, err := envoyproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func versions(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), "kind", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.ContainsAny(v, " \"'$") {
			t.Fatalf("versions.env: %q is not KEY=value", l)
		}
		out[k] = v
	}
	return out
}

// splitYAML parses every document of a file.
func splitYAML(t *testing.T, file string, data []byte) []doc {
	t.Helper()
	dec := yaml3.NewDecoder(bytes.NewReader(data))
	var out []doc
	for {
		var n yaml3.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		raw, err := yaml3.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if obj == nil {
			continue
		}
		out = append(out, doc{file: file, raw: raw, obj: obj})
	}
}

func manifests(t *testing.T) []doc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root(t), "kind", "manifests", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var out []doc
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, splitYAML(t, filepath.Base(f), b)...)
	}
	return out
}

var namespaces = []string{SystemNamespace, driver.RootNamespace, driver.AppNamespace, driver.OtherNamespace}

// TestManifests_Schema parses every document into its Kubernetes type (unknown fields are
// errors) and checks kinds, API versions, names and namespaces.
func TestManifests_Schema(t *testing.T) {
	kinds := map[string]struct {
		namespaced bool
		into       func() any
	}{
		"v1/Namespace":       {false, func() any { return &corev1.Namespace{} }},
		"v1/ServiceAccount":  {true, func() any { return &corev1.ServiceAccount{} }},
		"v1/ConfigMap":       {true, func() any { return &corev1.ConfigMap{} }},
		"v1/Service":         {true, func() any { return &corev1.Service{} }},
		"apps/v1/Deployment": {true, func() any { return &appsv1.Deployment{} }},
		"rbac.authorization.k8s.io/v1/ClusterRole":         {false, func() any { return &rbacv1.ClusterRole{} }},
		"rbac.authorization.k8s.io/v1/ClusterRoleBinding":  {false, func() any { return &rbacv1.ClusterRoleBinding{} }},
		"apiextensions.k8s.io/v1/CustomResourceDefinition": {false, nil},
	}
	seen := map[string]bool{}
	for _, d := range manifests(t) {
		gvk := d.str("apiVersion") + "/" + d.str("kind")
		k, ok := kinds[gvk]
		if !ok {
			t.Errorf("%s: unexpected apiVersion/kind %s", d, gvk)
			continue
		}
		name, ns := d.str("metadata", "name"), d.str("metadata", "namespace")
		if name == "" {
			t.Errorf("%s: metadata.name is required", d)
		}
		switch {
		case k.namespaced && !slices.Contains(namespaces, ns):
			t.Errorf("%s: namespace %q is not one of %v", d, ns, namespaces)
		case !k.namespaced && ns != "":
			t.Errorf("%s: cluster-scoped %s has a namespace", d, gvk)
		}
		key := gvk + " " + ns + "/" + name
		if seen[key] {
			t.Errorf("%s: defined twice", d)
		}
		seen[key] = true
		if k.into != nil {
			if err := yaml.UnmarshalStrict(d.raw, k.into()); err != nil {
				t.Errorf("%s: %v", d, err)
			}
		}
	}
}

// TestManifests_CRD checks that the CRD is Istio's TrafficExtension CRD of istio.io/api@v1.31.1.
func TestManifests_CRD(t *testing.T) {
	got, err := os.ReadFile(filepath.Join(root(t), "kind", "manifests", "10-trafficextension-crd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	if err != nil {
		t.Skipf("locating istio.io/api: %v", err)
	}
	all, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml"))
	if err != nil {
		t.Skipf("istio.io/api CRDs: %v", err)
	}
	var want []byte
	for _, d := range splitYAML(t, "gen", all) {
		if d.str("metadata", "name") == "trafficextensions.extensions.istio.io" {
			want = d.raw
		}
	}
	docs := splitYAML(t, "crd", got)
	var wantObj map[string]any
	if err := yaml.Unmarshal(want, &wantObj); err != nil || wantObj == nil {
		t.Fatalf("istio.io/api has no TrafficExtension CRD: %v", err)
	}
	if len(docs) != 1 || !reflect.DeepEqual(docs[0].obj, wantObj) {
		t.Fatalf("10-trafficextension-crd.yaml differs from the TrafficExtension CRD of istio.io/api (%d documents)", len(docs))
	}
	d := docs[0]
	if d.str("spec", "group") != "extensions.istio.io" || d.str("spec", "names", "kind") != "TrafficExtension" || d.str("spec", "scope") != "Namespaced" {
		t.Errorf("CRD names: %v", d.obj["spec"])
	}
	if !strings.Contains(string(d.raw), "name: v1alpha1") {
		t.Error("CRD does not serve v1alpha1")
	}
}

// TestManifests_Workloads checks the wiring: images are the pinned ones, selectors select the
// pods, services reach declared container ports, volumes name existing config maps and the
// secret the deploy step creates.
func TestManifests_Workloads(t *testing.T) {
	v := versions(t)
	images := []string{v["PROXY_IMAGE"], v["XDS_IMAGE"], v["ECHO_IMAGE"], v["KUBECTL_IMAGE"]}
	deploys := map[string]*appsv1.Deployment{}
	configMaps := map[string]bool{}
	var services []*corev1.Service
	for _, d := range manifests(t) {
		switch d.str("kind") {
		case "Deployment":
			var dep appsv1.Deployment
			if err := yaml.Unmarshal(d.raw, &dep); err != nil {
				t.Fatal(err)
			}
			deploys[dep.Namespace+"/"+dep.Name] = &dep
		case "ConfigMap":
			configMaps[d.str("metadata", "namespace")+"/"+d.str("metadata", "name")] = true
		case "Service":
			var s corev1.Service
			if err := yaml.Unmarshal(d.raw, &s); err != nil {
				t.Fatal(err)
			}
			services = append(services, &s)
		}
	}
	for _, w := range []string{SystemNamespace + "/" + ControlPlane, driver.RootNamespace + "/" + GatewayDeployment,
		driver.AppNamespace + "/" + SidecarDeployment, driver.OtherNamespace + "/" + SidecarDeployment,
		driver.AppNamespace + "/" + WaypointDeployment, driver.AppNamespace + "/" + driver.ServiceA, driver.AppNamespace + "/" + driver.ServiceB} {
		if deploys[w] == nil {
			t.Errorf("the kind driver waits for deployment %s, which no manifest defines", w)
		}
	}
	for key, dep := range deploys {
		labels := dep.Spec.Template.Labels
		for k, val := range dep.Spec.Selector.MatchLabels {
			if labels[k] != val {
				t.Errorf("deployment %s: selector %s=%s does not select its pods", key, k, val)
			}
		}
		for _, c := range dep.Spec.Template.Spec.Containers {
			if !slices.Contains(images, c.Image) {
				t.Errorf("deployment %s container %s: image %s is not pinned in versions.env (%v)", key, c.Name, c.Image, images)
			}
		}
		for _, vol := range dep.Spec.Template.Spec.Volumes {
			if cm := vol.ConfigMap; cm != nil && !configMaps[dep.Namespace+"/"+cm.Name] {
				t.Errorf("deployment %s: config map %s is not defined", key, cm.Name)
			}
			if s := vol.Secret; s != nil && s.SecretName != "waypoint-tls" {
				t.Errorf("deployment %s: secret %s is not created by the deploy step", key, s.SecretName)
			}
		}
	}
	for _, s := range services {
		var backing *appsv1.Deployment
		for _, dep := range deploys {
			if dep.Namespace != s.Namespace {
				continue
			}
			ok := len(s.Spec.Selector) > 0
			for k, val := range s.Spec.Selector {
				ok = ok && dep.Spec.Template.Labels[k] == val
			}
			if ok {
				backing = dep
			}
		}
		if backing == nil {
			t.Errorf("service %s/%s selects no deployment", s.Namespace, s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			found := false
			for _, c := range backing.Spec.Template.Spec.Containers {
				for _, cp := range c.Ports {
					found = found || cp.ContainerPort == p.TargetPort.IntVal
				}
			}
			if !found {
				t.Errorf("service %s/%s port %d: target port %d is no container port of %s", s.Namespace, s.Name, p.Port, p.TargetPort.IntVal, backing.Name)
			}
			if p.NodePort != 0 && p.NodePort != GatewayNodePort {
				t.Errorf("service %s/%s: node port %d, the driver uses %d", s.Namespace, s.Name, p.NodePort, GatewayNodePort)
			}
		}
	}
}

// TestManifests_Bootstraps parses every proxy bootstrap as an Envoy Bootstrap (and validates
// it), reads the proxy identity from its node metadata, and translates it: the shapes the
// control plane will build for the cluster's proxies.
func TestManifests_Bootstraps(t *testing.T) {
	modes := map[proxyid.Mode]int{}
	for _, d := range manifests(t) {
		if d.str("kind") != "ConfigMap" {
			continue
		}
		text := d.str("data", "envoy.yaml")
		if text == "" {
			t.Errorf("%s: no data envoy.yaml", d)
			continue
		}
		j, err := yaml.YAMLToJSON([]byte(text))
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		var b bootstrapv3.Bootstrap
		if err := protojson.Unmarshal(j, &b); err != nil {
			t.Errorf("%s: not an Envoy bootstrap: %v", d, err)
			continue
		}
		if err := b.ValidateAll(); err != nil {
			t.Errorf("%s: %v", d, err)
		}
		id, err := proxyid.FromNode(b.GetNode())
		if err != nil {
			t.Errorf("%s: %v", d, err)
			continue
		}
		modes[id.Mode]++
		if id.Namespace != d.str("metadata", "namespace") {
			t.Errorf("%s: proxy announces namespace %s", d, id.Namespace)
		}
		res, err := translate.Proxy(id, nil, translate.Options{})
		if err != nil {
			t.Errorf("%s: translating: %v", d, err)
			continue
		}
		var names []string
		for _, l := range res.Listeners {
			names = append(names, l.GetName())
		}
		want := map[proxyid.Mode][]string{
			proxyid.Gateway:  {"gateway"},
			proxyid.Sidecar:  {fmt.Sprintf("inbound|%d", TargetPort), fmt.Sprintf("outbound|%d", driver.SidecarServicePort)},
			proxyid.Waypoint: {translate.HBONEListenerName, "waypoint|apps/echo-a", "waypoint|apps/echo-b"},
		}[id.Mode]
		if !slices.Equal(names, want) {
			t.Errorf("%s: listeners %v, want %v", d, names, want)
		}
		if id.Mode == proxyid.Waypoint {
			if len(b.GetBootstrapExtensions()) == 0 {
				t.Errorf("%s: a waypoint needs the internal listener bootstrap extension", d)
			}
			if !strings.HasPrefix(id.TLSCert, "/etc/trafficext/tls/") {
				t.Errorf("%s: TLS files %s are not where the secret is mounted", d, id.TLSCert)
			}
		}
	}
	if modes[proxyid.Gateway] != 1 || modes[proxyid.Sidecar] != 2 || modes[proxyid.Waypoint] != 1 {
		t.Errorf("proxies by mode = %v, want 1 gateway, 2 sidecars, 1 waypoint", modes)
	}
}

// TestConformanceKind_DryRun runs `make conformance-kind DRY_RUN=1` and checks the command
// sequence: cluster, images, Istio, every manifest, the catalogue, teardown.
func TestConformanceKind_DryRun(t *testing.T) {
	r := root(t)
	var cmd *exec.Cmd
	if _, err := exec.LookPath("make"); err == nil {
		cmd = exec.Command("make", "-s", "--no-print-directory", "conformance-kind", "DRY_RUN=1")
	} else {
		cmd = exec.Command("bash", "kind/conformance-kind.sh", "all")
	}
	cmd.Env = append(os.Environ(), "DRY_RUN=1", "ISTIO=1", "LOCAL_IMAGES=0")
	cmd.Dir = r
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	v := versions(t)
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "+ ") {
			lines = append(lines, strings.TrimPrefix(l, "+ "))
		} else if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "conformance-kind: ") {
			t.Errorf("dry run printed a line that is not a command: %q", l)
		}
	}
	files, _ := filepath.Glob(filepath.Join(r, "kind", "manifests", "*.yaml"))
	want := []string{
		"kind create cluster --name " + v["KIND_CLUSTER"] + " --image " + v["KIND_NODE_IMAGE"],
		"bash kind/images/build.sh",
		"kind load docker-image --name " + v["KIND_CLUSTER"] + " " + v["PROXY_IMAGE"] + " " + v["XDS_IMAGE"] + " " + v["ECHO_IMAGE"],
		"istioctl install -y --context " + v["KUBE_CONTEXT"] + " --set profile=" + v["ISTIO_PROFILE"],
	}
	for _, f := range files {
		want = append(want, "apply ", "kind/manifests/"+filepath.Base(f))
		if strings.HasPrefix(filepath.Base(f), "10-") {
			// The waypoint's secret exists before the proxies.
			want = append(want, "go run ./conformance/cmd/testpki", "create secret generic waypoint-tls")
		}
	}
	want = append(want, "rollout status deploy/trafficext-waypoint",
		"go test", "-driver=kind", "kind delete cluster --name "+v["KIND_CLUSTER"])
	at := 0
	for _, w := range want {
		i := slices.IndexFunc(lines[at:], func(l string) bool { return strings.Contains(l, w) })
		if i < 0 {
			t.Fatalf("dry run: no command containing %q after line %d:\n%s", w, at, strings.Join(lines, "\n"))
		}
		at += i
	}
	// Every image target the image script builds exists in the Dockerfile.
	df, err := os.ReadFile(filepath.Join(r, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile(filepath.Join(r, "kind", "images", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`\b([a-z]+):"\$[A-Z_]+_IMAGE"`).FindAllSubmatch(script, -1)
	if len(targets) < 4 {
		t.Fatalf("kind/images/build.sh names %d image targets, want proxy, xds, echo and registry", len(targets))
	}
	for _, m := range targets {
		if !regexp.MustCompile(`(?m)^FROM \S+ AS ` + regexp.QuoteMeta(string(m[1])) + `$`).Match(df) {
			t.Errorf("Dockerfile has no stage %q", m[1])
		}
	}
}

// TestClusterConfig checks kind/cluster.yaml maps the gateway's NodePort.
func TestClusterConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "kind", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Kind, APIVersion, Name string
		Nodes                  []struct {
			Role              string
			ExtraPortMappings []struct {
				ContainerPort, HostPort int
				ListenAddress           string
			} `json:"extraPortMappings"`
		}
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" || c.Name != versions(t)["KIND_CLUSTER"] {
		t.Errorf("cluster.yaml: %s %s %s", c.Kind, c.APIVersion, c.Name)
	}
	ok := false
	for _, n := range c.Nodes {
		for _, m := range n.ExtraPortMappings {
			ok = ok || (m.ContainerPort == GatewayNodePort && m.HostPort == GatewayNodePort)
		}
	}
	if !ok {
		t.Errorf("cluster.yaml does not map port %d", GatewayNodePort)
	}
}
