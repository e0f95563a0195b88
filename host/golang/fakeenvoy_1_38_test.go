//go:build envoy_1_38 || envoy_1_39

package golang

import "github.com/envoyproxy/envoy/contrib/golang/common/go/api"

// StreamInfo methods the golang API has from Envoy 1.38 on (make golang-filter passes the
// line's tag); the binding does not use them, but the fake must still implement the interface.

func (i fakeStreamInfo) DrainConnectionUponCompletion()             {}
func (i fakeStreamInfo) DownstreamSslConnection() api.SslConnection { return nil }
