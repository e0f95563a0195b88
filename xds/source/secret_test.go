package source

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecrets(t *testing.T) {
	cfg := `{"auths":{"registry.example:5000":{"auth":"dTpw"}}}`
	in := `apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: apps}
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: ` + base64.StdEncoding.EncodeToString([]byte(cfg)) + `
---
apiVersion: v1
kind: Secret
metadata: {name: plain}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '{"auths":{}}'
---
apiVersion: v1
kind: Secret
metadata: {name: opaque, namespace: apps}
type: Opaque
stringData: {a: b}
---
apiVersion: v1
kind: Secret
metadata: {name: broken, namespace: apps}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: "not base64!"}
`
	p := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(p, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	snap := LoadFiles([]string{p})
	if b, ok := snap.DockerConfig("apps", "creds"); !ok || string(b) != cfg {
		t.Errorf("apps/creds = %q %v", b, ok)
	}
	if b, ok := snap.DockerConfig("default", "plain"); !ok || string(b) != `{"auths":{}}` {
		t.Errorf("default/plain = %q %v", b, ok)
	}
	for _, k := range [][2]string{{"apps", "opaque"}, {"apps", "broken"}, {"default", "creds"}} {
		if _, ok := snap.DockerConfig(k[0], k[1]); ok {
			t.Errorf("%s/%s found", k[0], k[1])
		}
	}
	notes := strings.Join(snap.Files[0].Notes, "\n")
	if !strings.Contains(notes, "apps/opaque") || !strings.Contains(notes, "apps/broken") || strings.Contains(notes, "skipping kind Secret") {
		t.Errorf("notes = %s", notes)
	}
}
