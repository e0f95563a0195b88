// Package kubeapi puts the real Kubernetes apiserver of the kind path in front of the control
// plane: the project's invalid resources (conformance/testdata/invalid) applied with kubectl
// are refused by the CRD's schema and CEL rules with Istio's messages, or accepted by the
// apiserver and then refused visibly by the control plane (its log names resource and field),
// and in both cases the gateway keeps serving the previous version; an edit applied with
// kubectl reaches a live keep-alive connection through the gateway without a listener change.
// It runs in `make conformance-kind` (-kube-context); without a cluster it skips.
package kubeapi
