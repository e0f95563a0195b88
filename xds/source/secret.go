package source

import (
	"encoding/base64"
	"fmt"

	"github.com/trafficext/trafficext/xds/model"
)

// Secret types and keys the control plane reads.
const (
	// SecretTypeDockerConfigJSON is the type of image pull secrets.
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	// DockerConfigJSONKey is the data key holding the docker config JSON.
	DockerConfigJSONKey = ".dockerconfigjson"
)

// Secret is a Kubernetes Secret (apiVersion v1) found beside the extensions. Only image pull
// secrets are used (spec.wasm.imagePullSecret names one in the extension's namespace).
type Secret struct {
	model.Key
	Type string
	// Data holds data (decoded from base64) merged with stringData, as the API server does.
	Data map[string][]byte
	File string
	Line int
}

// isSecret reports whether a document is a core v1 Secret (read by decodeSecrets, so the
// TrafficExtension decoder does not note it as skipped).
func isSecret(apiVersion, kind string) bool { return apiVersion == "v1" && kind == "Secret" }

// decodeSecrets returns the Secrets of a file's content, and notes for malformed ones.
func decodeSecrets(file string, data []byte) ([]Secret, []string) {
	docs, err := splitDocuments(file, data)
	if err != nil {
		return nil, nil
	}
	var out []Secret
	var notes []string
	for _, d := range docs {
		apiVersion, _ := d.value["apiVersion"].(string)
		kind, _ := d.value["kind"].(string)
		if !isSecret(apiVersion, kind) {
			continue
		}
		meta, _ := d.value["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		if ns == "" {
			ns = model.DefaultNamespace
		}
		where := fmt.Sprintf("%s: line %d: Secret %s/%s", file, d.line, ns, name)
		if name == "" {
			notes = append(notes, fmt.Sprintf("%s: line %d: Secret without metadata.name skipped", file, d.line))
			continue
		}
		s := Secret{Key: model.Key{Namespace: ns, Name: name}, Data: map[string][]byte{}, File: file, Line: d.line}
		s.Type, _ = d.value["type"].(string)
		bad := false
		if m, ok := d.value["data"].(map[string]any); ok {
			for k, v := range m {
				str, _ := v.(string)
				b, err := base64.StdEncoding.DecodeString(str)
				if err != nil {
					notes = append(notes, fmt.Sprintf("%s: data[%s] is not base64; Secret skipped", where, k))
					bad = true
					break
				}
				s.Data[k] = b
			}
		}
		if m, ok := d.value["stringData"].(map[string]any); ok {
			for k, v := range m {
				str, _ := v.(string)
				s.Data[k] = []byte(str)
			}
		}
		switch {
		case bad:
		case s.Type != SecretTypeDockerConfigJSON:
			notes = append(notes, fmt.Sprintf("%s: skipping Secret of type %q (only %s Secrets are read, as image pull secrets)", where, s.Type, SecretTypeDockerConfigJSON))
		default:
			out = append(out, s)
		}
	}
	return out, notes
}

// Secrets returns the Secrets of every readable file, in file order.
func (s Snapshot) Secrets() []Secret {
	var out []Secret
	for _, f := range s.Files {
		out = append(out, f.Secrets...)
	}
	return out
}

// DockerConfig returns the docker config JSON of the kubernetes.io/dockerconfigjson Secret
// namespace/name (the first definition when several files define it), and whether there is
// one.
func (s Snapshot) DockerConfig(namespace, name string) ([]byte, bool) {
	for _, sec := range s.Secrets() {
		if sec.Namespace != namespace || sec.Name != name {
			continue
		}
		b, ok := sec.Data[DockerConfigJSONKey]
		return b, ok
	}
	return nil, false
}
