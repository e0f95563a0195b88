package kube

import (
	"fmt"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// NewInCluster returns a source for the cluster the process runs in (its service account).
func NewInCluster(opts Options) (*Source, error) {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("kubernetes in-cluster config: %w", err)
	}
	return NewForConfig(cfg, opts)
}

// NewForConfig returns a source for the cluster a client config points at.
func NewForConfig(cfg *rest.Config, opts Options) (*Source, error) {
	ic, err := istioclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("istio client: %w", err)
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return New(ic, kc, opts), nil
}
