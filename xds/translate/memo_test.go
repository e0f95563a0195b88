package translate_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/trafficext/trafficext/xds/proxyid"
	"github.com/trafficext/trafficext/xds/translate"
)

// A Memo hands proxies of one round the same ECDS resources — equal to what translating
// without it builds — except where the callout gateway address differs per proxy.
func TestMemo_SharesResourcesWithinARound(t *testing.T) {
	exts := load(t, "priority.yaml")
	a := proxyid.Identity{ID: "gw-a", Mode: proxyid.Gateway, Namespace: "istio-system", Labels: map[string]string{"istio": "ingressgateway"}}
	b := a
	b.ID = "gw-b"
	for _, tt := range []struct {
		gateway string
		shared  bool
	}{
		{"", true},
		{translate.PerProxyCalloutGateway, false},
	} {
		t.Run("gateway="+tt.gateway, func(t *testing.T) {
			memo := translate.NewMemo()
			opts := translate.Options{CalloutGateway: tt.gateway, Memo: memo}
			ra, err := translate.Proxy(a, exts, opts)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := translate.Proxy(b, exts, opts)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := translate.Proxy(b, exts, translate.Options{CalloutGateway: tt.gateway})
			if err != nil {
				t.Fatal(err)
			}
			if len(ra.ExtensionConfigs) == 0 || len(rb.ExtensionConfigs) != len(ra.ExtensionConfigs) || len(plain.ExtensionConfigs) != len(rb.ExtensionConfigs) {
				t.Fatalf("configs: %d, %d, %d", len(ra.ExtensionConfigs), len(rb.ExtensionConfigs), len(plain.ExtensionConfigs))
			}
			for i := range rb.ExtensionConfigs {
				if !proto.Equal(rb.ExtensionConfigs[i], plain.ExtensionConfigs[i]) {
					t.Errorf("config %d differs from the translation without a memo", i)
				}
				if same := ra.ExtensionConfigs[i] == rb.ExtensionConfigs[i]; same != tt.shared {
					t.Errorf("config %d (%s): shared %v, want %v", i, rb.ExtensionConfigs[i].GetName(), same, tt.shared)
				}
			}
		})
	}
}
