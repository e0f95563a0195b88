// Package kube is the Kubernetes source of the control plane: informers on TrafficExtension
// and WasmPlugin (istio.io/client-go) and on image pull Secrets (k8s.io/client-go), behind the
// same source.Source interface as the watched directory.
//
// Every object becomes one source.File of the snapshot, named kubernetes://<resource>/<ns>/<name>
// and hashed by its resourceVersion (or its content when the API server gave none), so
// keep-last-good, validation and status treat a cluster exactly like a directory in which each
// resource has its own file. WasmPlugins are converted as Istio does (source.ConvertWasmPlugin).
//
// What the API server already refuses (structural schema, CEL rules) never reaches the
// informers of a real cluster; the control plane validates again anyway, so a resource written
// before the CRD was upgraded, or served by a fake, is still rejected with a message.
package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"time"

	"google.golang.org/protobuf/proto"
	istioext "istio.io/client-go/pkg/apis/extensions/v1alpha1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/trafficext/trafficext/xds/model"
	"github.com/trafficext/trafficext/xds/source"
)

// DefaultDebounce is how long the informers must stay quiet before a snapshot is emitted.
const DefaultDebounce = 100 * time.Millisecond

// Options configure a Source.
type Options struct {
	// Namespace limits the informers to one namespace; "" watches all.
	Namespace string
	// Resync is the informers' resync period; 0 disables resyncs.
	Resync time.Duration
	// Debounce delays a snapshot until no event arrived for this long; 0 means DefaultDebounce.
	Debounce time.Duration
	// Logger receives informer errors; nil discards them.
	Logger *slog.Logger
}

// Source is the Kubernetes source.
type Source struct {
	istio istioclient.Interface
	kube  kubernetes.Interface
	opts  Options
}

var _ source.Source = (*Source)(nil)

// New returns a source reading through the given clients (real ones, or the fake clientsets
// of istio.io/client-go and k8s.io/client-go in tests).
func New(istio istioclient.Interface, kube kubernetes.Interface, opts Options) *Source {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{istio: istio, kube: kube, opts: opts}
}

// Run starts the informers, emits a snapshot once they are synced and again after every
// change (debounced; a snapshot equal to the previous one is not emitted), until ctx ends.
func (s *Source) Run(ctx context.Context, emit func(source.Snapshot)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	isf := istioinformers.NewSharedInformerFactoryWithOptions(s.istio, s.opts.Resync, istioinformers.WithNamespace(s.opts.Namespace))
	ksf := informers.NewSharedInformerFactoryWithOptions(s.kube, s.opts.Resync, informers.WithNamespace(s.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "type=" + string(corev1.SecretTypeDockerConfigJson) // image pull secrets only
		}))
	te := isf.Extensions().V1alpha1().TrafficExtensions()
	wp := isf.Extensions().V1alpha1().WasmPlugins()
	sec := ksf.Core().V1().Secrets()

	changed := make(chan struct{}, 1)
	notify := func() { source.Notify(changed) }
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, inf := range []cache.SharedIndexInformer{te.Informer(), wp.Informer(), sec.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watching: %w", err)
		}
		if err := inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
			s.opts.Logger.Warn("kubernetes watch", "error", err)
		}); err != nil {
			return fmt.Errorf("watching: %w", err)
		}
	}
	isf.Start(ctx.Done())
	ksf.Start(ctx.Done())
	defer isf.Shutdown()
	defer ksf.Shutdown()
	for typ, ok := range isf.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("syncing %v informer", typ)
		}
	}
	for typ, ok := range ksf.WaitForCacheSync(ctx.Done()) {
		if !ok && ctx.Err() == nil {
			return fmt.Errorf("syncing %v informer", typ)
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	lists := listers{
		te:  func() ([]*istioext.TrafficExtension, error) { return te.Lister().List(labels.Everything()) },
		wp:  func() ([]*istioext.WasmPlugin, error) { return wp.Lister().List(labels.Everything()) },
		sec: func() ([]*corev1.Secret, error) { return sec.Lister().List(labels.Everything()) },
	}
	var last map[string]string
	emitIfChanged := func() {
		snap, err := lists.snapshot()
		if err != nil {
			s.opts.Logger.Error("listing kubernetes resources", "error", err)
			return
		}
		hashes := fileHashes(snap)
		if last != nil && maps.Equal(hashes, last) {
			return
		}
		last = hashes
		emit(snap)
	}
	emitIfChanged()
	source.Debounce(ctx, s.opts.Debounce, changed, emitIfChanged)
	return nil
}

func fileHashes(s source.Snapshot) map[string]string {
	m := make(map[string]string, len(s.Files))
	for _, f := range s.Files {
		m[f.Path] = f.Hash
	}
	return m
}

type listers struct {
	te  func() ([]*istioext.TrafficExtension, error)
	wp  func() ([]*istioext.WasmPlugin, error)
	sec func() ([]*corev1.Secret, error)
}

// snapshot lists the informer caches into a snapshot, one file per object, sorted by path.
func (l listers) snapshot() (source.Snapshot, error) {
	tes, err := l.te()
	if err != nil {
		return source.Snapshot{}, err
	}
	wps, err := l.wp()
	if err != nil {
		return source.Snapshot{}, err
	}
	secs, err := l.sec()
	if err != nil {
		return source.Snapshot{}, err
	}
	var snap source.Snapshot
	for _, o := range tes {
		e := FromTrafficExtension(o)
		snap.Files = append(snap.Files, source.File{Path: e.File, Extensions: []*model.Extension{e}, Hash: e.ResourceVersion})
	}
	for _, o := range wps {
		e := FromWasmPlugin(o)
		snap.Files = append(snap.Files, source.File{Path: e.File, Extensions: []*model.Extension{e}, Hash: e.ResourceVersion})
	}
	for _, o := range secs {
		if o.Type != corev1.SecretTypeDockerConfigJson {
			continue
		}
		sc := FromSecret(o)
		snap.Files = append(snap.Files, source.File{Path: sc.File, Secrets: []source.Secret{sc}, Hash: version(&o.ObjectMeta, o.Data)})
	}
	sort.Slice(snap.Files, func(i, j int) bool { return snap.Files[i].Path < snap.Files[j].Path })
	return snap, nil
}

// Path is the file name the source gives an object: kubernetes://<resource>/<namespace>/<name>.
func Path(resource, namespace, name string) string {
	return "kubernetes://" + resource + "/" + namespace + "/" + name
}

// FromTrafficExtension converts an informer object; the object is not modified or retained.
func FromTrafficExtension(o *istioext.TrafficExtension) *model.Extension {
	e := fromMeta(&o.ObjectMeta, Path("trafficextensions", o.Namespace, o.Name))
	e.Kind = model.Kind
	e.Spec = proto.CloneOf(&o.Spec)
	e.ResourceVersion = version(&o.ObjectMeta, e.Spec)
	return e
}

// FromWasmPlugin converts an informer object into the TrafficExtension Istio makes of it.
func FromWasmPlugin(o *istioext.WasmPlugin) *model.Extension {
	e := fromMeta(&o.ObjectMeta, Path("wasmplugins", o.Namespace, o.Name))
	e.Kind = model.KindWasmPlugin
	e.Key = source.ConvertedKey(o.Namespace, o.Name)
	e.Spec = source.ConvertWasmPlugin(&o.Spec)
	e.ResourceVersion = version(&o.ObjectMeta, &o.Spec)
	return e
}

// FromSecret converts an image pull Secret.
func FromSecret(o *corev1.Secret) source.Secret {
	data := make(map[string][]byte, len(o.Data)+len(o.StringData))
	for k, v := range o.Data {
		data[k] = append([]byte(nil), v...)
	}
	for k, v := range o.StringData {
		data[k] = []byte(v)
	}
	return source.Secret{
		Key:  model.Key{Namespace: o.Namespace, Name: o.Name},
		Type: string(o.Type),
		Data: data,
		File: Path("secrets", o.Namespace, o.Name),
	}
}

func fromMeta(m *metav1.ObjectMeta, path string) *model.Extension {
	return &model.Extension{
		Key:               model.Key{Namespace: m.Namespace, Name: m.Name},
		File:              path,
		CreationTimestamp: m.CreationTimestamp.UTC(),
		Labels:            maps.Clone(m.Labels),
		Annotations:       maps.Clone(m.Annotations),
	}
}

// version is the object's resourceVersion, or a hash of its content when it has none (fake
// clientsets do not set it).
func version(m *metav1.ObjectMeta, content any) string {
	if m.ResourceVersion != "" {
		return m.ResourceVersion
	}
	h := sha256.New()
	enc := json.NewEncoder(h)
	_ = enc.Encode(struct {
		Labels, Annotations map[string]string
		Created             time.Time
		Content             any
	}{m.Labels, m.Annotations, m.CreationTimestamp.UTC(), content})
	return "h" + hex.EncodeToString(h.Sum(nil)[:8])
}
