package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"istio.io/api/extensions/v1alpha1"

	"github.com/trafficext/trafficext/xds/model"
)

// Decode reads the TrafficExtension resources of one file's content. name is used in messages.
//
// A YAML (or JSON) syntax error fails the whole file: err names the file and, when the parser
// gives one, the line, and no resources are returned. Otherwise each TrafficExtension document
// yields one Extension (possibly with DecodeErrors), and every other document a note.
func Decode(name string, data []byte) (exts []*model.Extension, notes []string, err error) {
	docs, err := splitDocuments(name, data)
	if err != nil {
		return nil, nil, err
	}
	for i, d := range docs {
		ext, note, err := decodeDocument(name, i+1, d)
		if err != nil {
			return nil, nil, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		if ext != nil {
			exts = append(exts, ext)
		}
	}
	return exts, notes, nil
}

type document struct {
	line  int
	value map[string]any
}

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unmarshalLine = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// yamlError turns a YAML parser error into a positioned error for the file.
func yamlError(file string, err error) *model.Error {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &model.Error{File: file, Line: n, Msg: m[2]}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "unmarshal errors:"); ok {
		// "unmarshal errors:\n  line 4: ...\n  line 7: ...": position at the first.
		lines := strings.Split(strings.TrimSpace(rest), "\n")
		if m := unmarshalLine.FindStringSubmatch(strings.TrimSpace(lines[0])); m != nil {
			n, _ := strconv.Atoi(m[1])
			for i := range lines {
				lines[i] = strings.TrimSpace(lines[i])
			}
			lines[0] = m[2]
			return &model.Error{File: file, Line: n, Msg: strings.Join(lines, "; ")}
		}
	}
	msg = strings.ReplaceAll(msg, "\n", " ")
	msg = strings.Join(strings.Fields(msg), " ")
	return &model.Error{File: file, Msg: msg}
}

// splitDocuments parses every document of the stream; the first syntax error fails the file.
func splitDocuments(file string, data []byte) ([]document, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []document
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			e := yamlError(file, err)
			e.Key = guessKey(data, e.Line)
			return nil, e
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue // empty document
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, yamlError(file, err)
		}
		root := n.Content[0]
		m, ok := jsonValue(v).(map[string]any)
		if !ok {
			return nil, &model.Error{File: file, Line: root.Line, Msg: "document is not a mapping"}
		}
		docs = append(docs, document{line: root.Line, value: m})
	}
}

// jsonValue converts what the YAML decoder produced to the values encoding/json produces.
func jsonValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonValue(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = jsonValue(e)
		}
		return t
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	default:
		return v
	}
}

func decodeDocument(file string, index int, d document) (*model.Extension, string, error) {
	apiVersion, _ := d.value["apiVersion"].(string)
	kind, _ := d.value["kind"].(string)
	where := fmt.Sprintf("%s: line %d", file, d.line)
	if isSecret(apiVersion, kind) {
		return nil, "", nil // read by decodeSecrets (image pull secrets)
	}
	if kind != model.Kind && kind != model.KindWasmPlugin {
		if kind == "" {
			kind = "(none)"
		}
		return nil, fmt.Sprintf("%s: document %d: skipping kind %s", where, index, kind), nil
	}
	if apiVersion != model.APIVersion {
		return nil, fmt.Sprintf("%s: document %d: skipping %s of apiVersion %q (want %s)", where, index, kind, apiVersion, model.APIVersion), nil
	}
	meta, _ := d.value["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return nil, "", &model.Error{File: file, Line: d.line, Field: "metadata.name", Msg: "required"}
	}
	ns, _ := meta["namespace"].(string)
	if ns == "" {
		ns = model.DefaultNamespace
	}
	ext := &model.Extension{
		Key:             model.Key{Namespace: ns, Name: name},
		File:            file,
		Line:            d.line,
		ResourceVersion: contentHash(d.value),
	}
	decodeMetadata(ext, meta)
	if kind == model.KindWasmPlugin {
		decodeWasmPlugin(ext, d.value["spec"]) // wasmplugin.go
		return ext, "", nil
	}
	ext.Spec = decodeSpec(ext, d.value["spec"])
	return ext, "", nil
}

func decodeMetadata(ext *model.Extension, meta map[string]any) {
	if ts, ok := meta["creationTimestamp"]; ok && ts != nil {
		s, _ := ts.(string)
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf("metadata.creationTimestamp", 0, fmt.Sprintf("%q is not an RFC 3339 time", fmt.Sprint(ts))))
		}
		ext.CreationTimestamp = t
	}
	ext.Labels = stringMap(ext, "metadata.labels", meta["labels"])
	ext.Annotations = stringMap(ext, "metadata.annotations", meta["annotations"])
}

func stringMap(ext *model.Extension, field string, v any) map[string]string {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf(field, 0, "must be a map of strings"))
		return nil
	}
	out := make(map[string]string, len(m))
	for k, e := range m {
		s, ok := e.(string)
		if !ok {
			ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf(field+"["+k+"]", 0, "must be a string"))
			continue
		}
		out[k] = s
	}
	return out
}

// decodeSpec checks the spec against the TrafficExtension schema, reporting every problem with
// its field path, and decodes it when there is none.
func decodeSpec(ext *model.Extension, v any) *v1alpha1.TrafficExtension {
	if v == nil {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf("spec", 0, "required"))
		return nil
	}
	spec := &v1alpha1.TrafficExtension{}
	var errs []fieldError
	checkMessage(spec.ProtoReflect().Descriptor(), v, "spec", &errs)
	if m, ok := v.(map[string]any); ok && m["wasm"] != nil && m["lua"] != nil {
		errs = append(errs, fieldError{"spec", "exactly one of wasm or lua must be set"})
	}
	for _, e := range errs {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf(e.field, 0, e.msg))
	}
	if len(errs) > 0 {
		return nil
	}
	b, err := json.Marshal(v)
	if err == nil {
		err = protojson.Unmarshal(b, spec)
	}
	if err != nil {
		ext.DecodeErrors = append(ext.DecodeErrors, ext.Errorf("spec", 0, err.Error()))
		return nil
	}
	return spec
}

// contentHash is a short stable hash of a decoded document (encoding/json sorts map keys).
func contentHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	metaLine      = regexp.MustCompile(`^metadata:\s*$`)
	metaNameLine  = regexp.MustCompile(`^\s+name:\s*["']?([a-z0-9][-a-z0-9.]*)["']?\s*(#.*)?$`)
	metaNSLine    = regexp.MustCompile(`^\s+namespace:\s*["']?([a-z0-9][-a-z0-9]*)["']?\s*(#.*)?$`)
	topLevelField = regexp.MustCompile(`^\S`)
)

// guessKey finds, for a file that does not parse, the metadata name and namespace of the
// document holding line (1-based; 0 means the last document), by reading lines, so that the
// error can still name the resource. It returns the zero Key when it cannot tell.
func guessKey(data []byte, line int) model.Key {
	lines := strings.Split(string(data), "\n")
	if line <= 0 || line > len(lines) {
		line = len(lines)
	}
	start := 0
	for i := line - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "---") {
			start = i + 1
			break
		}
	}
	var k model.Key
	inMeta := false
	for _, l := range lines[start:] {
		if strings.HasPrefix(l, "---") {
			break
		}
		switch {
		case metaLine.MatchString(l):
			inMeta = true
		case topLevelField.MatchString(l):
			inMeta = false
		case inMeta:
			if m := metaNameLine.FindStringSubmatch(l); m != nil && k.Name == "" {
				k.Name = m[1]
			} else if m := metaNSLine.FindStringSubmatch(l); m != nil && k.Namespace == "" {
				k.Namespace = m[1]
			}
		}
	}
	if k.Name == "" {
		return model.Key{}
	}
	if k.Namespace == "" {
		k.Namespace = model.DefaultNamespace
	}
	return k
}
