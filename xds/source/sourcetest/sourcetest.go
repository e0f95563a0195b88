// Package sourcetest is the contract every source.Source implementation passes: the directory
// source (package source) and the Kubernetes source (package kube, against client-go's fake
// clientsets). Run drives a Harness through creation, update, deletion, WasmPlugin conversion,
// image pull Secrets and invalid resources, and checks what the source emits.
package sourcetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/validate"
)

// Object is one resource, as a single YAML document.
type Object struct {
	// Kind is TrafficExtension, WasmPlugin or Secret; Namespace and Name identify it.
	Kind, Namespace, Name string
	YAML                  string
}

// Harness adapts one source implementation to the contract.
type Harness interface {
	// Apply creates or replaces an object in the backing store (a directory, an API server).
	Apply(t *testing.T, o Object)
	// Delete removes it.
	Delete(t *testing.T, o Object)
	// Source returns a source reading the backing store.
	Source(t *testing.T) source.Source
}

// Timeout bounds the wait for each expected snapshot.
var Timeout = 10 * time.Second

const luaV1 = "function envoy_on_request(h) h:headers():add('x-v', '1') end"

// Objects used by the contract.
var (
	Lua = Object{Kind: "TrafficExtension", Namespace: "apps", Name: "lua", YAML: `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata:
  name: lua
  namespace: apps
  creationTimestamp: "2026-01-02T03:04:05Z"
  labels: {team: edge}
  annotations: {trafficext.io/fail-strategy: FAIL_OPEN}
spec:
  phase: AUTHZ
  priority: 10
  selector: {matchLabels: {app: web}}
  match: [{mode: SERVER, ports: [{number: 8080}]}]
  lua: {inlineCode: "` + luaV1 + `"}
`}
	Wasm = Object{Kind: "TrafficExtension", Namespace: "istio-system", Name: "wasm", YAML: `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: wasm, namespace: istio-system, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  phase: AUTHN
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: ingressgateway}]
  wasm:
    url: oci://registry.example/filters/openid:1.0
    imagePullSecret: pull
    pluginConfig: {issuer: "https://issuer.example", audiences: [a, b]}
    failStrategy: FAIL_OPEN
    vmConfig: {env: [{name: POD_NAME, valueFrom: HOST}, {name: TRUST_DOMAIN, value: cluster.local}]}
`}
	Plugin = Object{Kind: "WasmPlugin", Namespace: "apps", Name: "legacy", YAML: `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: legacy, namespace: apps, creationTimestamp: "2025-12-31T00:00:00Z"}
spec:
  targetRef: {kind: Gateway, group: gateway.networking.k8s.io, name: web}
  url: file:///opt/filters/legacy.wasm
  phase: STATS
  priority: 3
  match: [{mode: CLIENT}]
`}
	Pull = Object{Kind: "Secret", Namespace: "istio-system", Name: "pull", YAML: `apiVersion: v1
kind: Secret
metadata: {name: pull, namespace: istio-system}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: eyJhdXRocyI6e319}
`}
	// Invalid passes the structural schema but breaks a CEL rule (selector with targetRefs).
	Invalid = Object{Kind: "TrafficExtension", Namespace: "apps", Name: "invalid", YAML: `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: invalid, namespace: apps, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {matchLabels: {app: web}}
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: web}]
  lua: {inlineCode: "x = 1"}
`}
)

// Run runs the contract against a fresh harness from newHarness for each case.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	t.Run("initial snapshot holds existing objects", func(t *testing.T) {
		h := newHarness(t)
		h.Apply(t, Lua)
		h.Apply(t, Wasm)
		w := start(t, h)
		snap := w.until(t, "both extensions", func(s source.Snapshot) bool { return len(s.Extensions()) == 2 })
		checkLua(t, find(t, snap, "apps/lua"))
		checkWasm(t, find(t, snap, "istio-system/wasm"))
	})
	t.Run("create, update and delete are seen", func(t *testing.T) {
		h := newHarness(t)
		w := start(t, h)
		w.until(t, "empty snapshot", func(s source.Snapshot) bool { return len(s.Extensions()) == 0 })
		h.Apply(t, Lua)
		snap := w.until(t, "creation", func(s source.Snapshot) bool { return has(s, "apps/lua") })
		v1 := find(t, snap, "apps/lua").ResourceVersion
		h.Apply(t, Object{Kind: Lua.Kind, Namespace: Lua.Namespace, Name: Lua.Name, YAML: strings.Replace(Lua.YAML, "'1'", "'2'", 1)})
		snap = w.until(t, "update", func(s source.Snapshot) bool {
			e := get(s, "apps/lua")
			return e != nil && strings.Contains(e.Spec.GetLua().GetInlineCode(), "'2'")
		})
		if v2 := find(t, snap, "apps/lua").ResourceVersion; v2 == v1 || v2 == "" {
			t.Errorf("resource version %q after update, was %q", v2, v1)
		}
		h.Delete(t, Lua)
		w.until(t, "deletion", func(s source.Snapshot) bool { return !has(s, "apps/lua") })
	})
	t.Run("WasmPlugin is converted as Istio does", func(t *testing.T) {
		h := newHarness(t)
		h.Apply(t, Plugin)
		w := start(t, h)
		snap := w.until(t, "converted plugin", func(s source.Snapshot) bool { return has(s, "apps/legacy~istio-translated-wasmplugin") })
		e := find(t, snap, "apps/legacy~istio-translated-wasmplugin")
		s := e.Spec
		if e.Kind != model.KindWasmPlugin || s.GetWasm().GetUrl() != "file:///opt/filters/legacy.wasm" || s.GetPhase().String() != "STATS" ||
			s.GetPriority().GetValue() != 3 || len(s.GetTargetRefs()) != 1 || s.GetTargetRefs()[0].GetName() != "web" ||
			len(s.GetMatch()) != 1 || s.GetMatch()[0].GetMode().String() != "CLIENT" {
			t.Errorf("converted = kind %q spec %v", e.Kind, s)
		}
		if !e.CreationTimestamp.Equal(time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("creationTimestamp = %v", e.CreationTimestamp)
		}
		if probs := validate.Extension(e, validate.Options{}); validate.HasErrors(probs) {
			t.Errorf("converted plugin invalid: %v", probs)
		}
	})
	t.Run("image pull secrets are read", func(t *testing.T) {
		h := newHarness(t)
		h.Apply(t, Pull)
		h.Apply(t, Wasm)
		w := start(t, h)
		snap := w.until(t, "secret", func(s source.Snapshot) bool { return secret(s, "istio-system/pull") != nil })
		sc := secret(snap, "istio-system/pull")
		if sc.Type != "kubernetes.io/dockerconfigjson" || string(sc.Data[".dockerconfigjson"]) != `{"auths":{}}` {
			t.Errorf("secret = %+v", sc)
		}
		h.Delete(t, Pull)
		w.until(t, "secret deleted", func(s source.Snapshot) bool { return secret(s, "istio-system/pull") == nil })
	})
	t.Run("an invalid resource is handed over and rejected, the others stay valid", func(t *testing.T) {
		h := newHarness(t)
		h.Apply(t, Invalid)
		h.Apply(t, Lua)
		w := start(t, h)
		snap := w.until(t, "both", func(s source.Snapshot) bool { return len(s.Extensions()) == 2 })
		bad, _ := validate.Split(validate.Extension(find(t, snap, "apps/invalid"), validate.Options{}))
		if len(bad) != 1 || !strings.Contains(bad[0].Error(), "apps/invalid: spec: only one of targetRefs or selector can be set") {
			t.Errorf("invalid resource problems = %v", bad)
		}
		if p := validate.Extension(find(t, snap, "apps/lua"), validate.Options{}); validate.HasErrors(p) {
			t.Errorf("valid resource problems = %v", p)
		}
	})
	t.Run("Run returns nil when the context ends", func(t *testing.T) {
		h := newHarness(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		emitted := make(chan struct{}, 1)
		go func() {
			done <- h.Source(t).Run(ctx, func(source.Snapshot) {
				select {
				case emitted <- struct{}{}:
				default:
				}
			})
		}()
		select {
		case <-emitted:
		case <-time.After(Timeout):
			t.Fatal("no first snapshot")
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
		case <-time.After(Timeout):
			t.Fatal("Run did not return")
		}
	})
}

func checkLua(t *testing.T, e *model.Extension) {
	t.Helper()
	s := e.Spec
	if s.GetPhase().String() != "AUTHZ" || s.GetPriority().GetValue() != 10 || s.GetSelector().GetMatchLabels()["app"] != "web" ||
		len(s.GetMatch()) != 1 || s.GetMatch()[0].GetMode().String() != "SERVER" || s.GetMatch()[0].GetPorts()[0].GetNumber() != 8080 ||
		s.GetLua().GetInlineCode() != luaV1 {
		t.Errorf("lua spec = %v", s)
	}
	if e.Labels["team"] != "edge" || e.Annotations[model.AnnotationFailStrategy] != "FAIL_OPEN" {
		t.Errorf("metadata = %v %v", e.Labels, e.Annotations)
	}
	if !e.CreationTimestamp.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || e.ResourceVersion == "" || e.File == "" {
		t.Errorf("origin = %v %q %q", e.CreationTimestamp, e.ResourceVersion, e.File)
	}
	if e.Kind == model.KindWasmPlugin || len(e.DecodeErrors) != 0 {
		t.Errorf("kind %q errors %v", e.Kind, e.DecodeErrors)
	}
}

func checkWasm(t *testing.T, e *model.Extension) {
	t.Helper()
	w := e.Spec.GetWasm()
	pc := w.GetPluginConfig().AsMap()
	if w.GetUrl() != "oci://registry.example/filters/openid:1.0" || w.GetImagePullSecret() != "pull" || w.GetFailStrategy().String() != "FAIL_OPEN" ||
		pc["issuer"] != "https://issuer.example" || len(w.GetVmConfig().GetEnv()) != 2 || w.GetVmConfig().GetEnv()[0].GetValueFrom().String() != "HOST" ||
		len(e.Spec.GetTargetRefs()) != 1 || e.Spec.GetPhase().String() != "AUTHN" {
		t.Errorf("wasm spec = %v", e.Spec)
	}
}

func has(s source.Snapshot, key string) bool { return get(s, key) != nil }

func get(s source.Snapshot, key string) *model.Extension {
	for _, e := range s.Extensions() {
		if e.Key.String() == key {
			return e
		}
	}
	return nil
}

func find(t *testing.T, s source.Snapshot, key string) *model.Extension {
	t.Helper()
	e := get(s, key)
	if e == nil {
		t.Fatalf("no %s in snapshot", key)
	}
	return e
}

func secret(s source.Snapshot, key string) *source.Secret {
	for _, f := range s.Files {
		for i := range f.Secrets {
			if f.Secrets[i].Key.String() == key {
				return &f.Secrets[i]
			}
		}
	}
	return nil
}

// watcher collects the snapshots a running source emits.
type watcher struct {
	mu    sync.Mutex
	snaps []source.Snapshot
	ch    chan struct{}
}

func start(t *testing.T, h Harness) *watcher {
	t.Helper()
	w := &watcher{ch: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	src := h.Source(t)
	go func() {
		done <- src.Run(ctx, func(s source.Snapshot) {
			w.mu.Lock()
			w.snaps = append(w.snaps, s)
			w.mu.Unlock()
			select {
			case w.ch <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return w
}

// until waits for the latest snapshot to satisfy ok.
func (w *watcher) until(t *testing.T, what string, ok func(source.Snapshot) bool) source.Snapshot {
	t.Helper()
	deadline := time.After(Timeout)
	for {
		w.mu.Lock()
		var last *source.Snapshot
		if n := len(w.snaps); n > 0 {
			last = &w.snaps[n-1]
		}
		w.mu.Unlock()
		if last != nil && ok(*last) {
			return *last
		}
		select {
		case <-w.ch:
		case <-deadline:
			t.Fatalf("no snapshot with %s within %s", what, Timeout)
		}
	}
}
