package kube_test

import (
	"context"
	"os"
	"testing"
	"time"

	istioext "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istiofake "istio.io/client-go/pkg/clientset/versioned/fake"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/trafficext/trafficext/xds/source"
	"github.com/trafficext/trafficext/xds/source/kube"
	"github.com/trafficext/trafficext/xds/source/sourcetest"
)

// fakeHarness backs the contract with the fake clientsets of istio.io/client-go and
// k8s.io/client-go: in-memory object trackers that serve list and watch like an API server
// (without its validation, defaulting or resourceVersions). They stand in for a cluster here;
// the kind conformance driver runs the same source against a real API server.
type fakeHarness struct {
	istio *istiofake.Clientset
	kube  *k8sfake.Clientset
}

func (h fakeHarness) Apply(t *testing.T, o sourcetest.Object) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch o.Kind {
	case "TrafficExtension":
		obj := &istioext.TrafficExtension{}
		decode(t, o, obj)
		c := h.istio.ExtensionsV1alpha1().TrafficExtensions(o.Namespace)
		if _, err = c.Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
		}
	case "WasmPlugin":
		obj := &istioext.WasmPlugin{}
		decode(t, o, obj)
		c := h.istio.ExtensionsV1alpha1().WasmPlugins(o.Namespace)
		if _, err = c.Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
		}
	case "Secret":
		obj := &corev1.Secret{}
		decode(t, o, obj)
		c := h.kube.CoreV1().Secrets(o.Namespace)
		if _, err = c.Create(ctx, obj, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			_, err = c.Update(ctx, obj, metav1.UpdateOptions{})
		}
	default:
		t.Fatalf("kind %s", o.Kind)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (h fakeHarness) Delete(t *testing.T, o sourcetest.Object) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch o.Kind {
	case "TrafficExtension":
		err = h.istio.ExtensionsV1alpha1().TrafficExtensions(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
	case "WasmPlugin":
		err = h.istio.ExtensionsV1alpha1().WasmPlugins(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
	case "Secret":
		err = h.kube.CoreV1().Secrets(o.Namespace).Delete(ctx, o.Name, metav1.DeleteOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func (h fakeHarness) Source(*testing.T) source.Source {
	return kube.New(h.istio, h.kube, kube.Options{Debounce: 20 * time.Millisecond})
}

func decode(t *testing.T, o sourcetest.Object, into any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(o.YAML), into); err != nil {
		t.Fatalf("%s %s/%s: %v", o.Kind, o.Namespace, o.Name, err)
	}
}

func TestKube_Contract(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		return fakeHarness{istio: istiofake.NewSimpleClientset(), kube: k8sfake.NewClientset()}
	})
}

func TestKube_OnlyPullSecrets(t *testing.T) {
	kc := k8sfake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "a"}, Type: corev1.SecretTypeTLS},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pull", Namespace: "a"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{".dockerconfigjson": []byte("{}")}},
	)
	src := kube.New(istiofake.NewSimpleClientset(), kc, kube.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan source.Snapshot, 1)
	go src.Run(ctx, func(s source.Snapshot) {
		select {
		case got <- s:
		default:
		}
	})
	select {
	case s := <-got:
		if len(s.Files) != 1 || s.Files[0].Path != "kubernetes://secrets/a/pull" || len(s.Files[0].Secrets) != 1 {
			t.Fatalf("files = %+v", s.Files)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot")
	}
}

// TestMain turns off client-go's streaming list (WatchListClient): istio.io/client-go's fake
// clientset sends no initial-events bookmark, so informers on it would never sync. A real API
// server supports both.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}
