package contract

import "github.com/trafficext/trafficext/extconfig"

// NamePrefix is the filter name prefix of the contract's extensions (namespace "contract").
const NamePrefix = "extensions.istio.io/trafficextension/contract."

// PanicHeader is the request header the fault-injection cases use.
const PanicHeader = "x-trafficext-panic"

// lua returns a Lua extension named NamePrefix+name.
func lua(name string, fail extconfig.FailStrategy, code string) extconfig.Extension {
	return extconfig.Extension{
		Schema:       extconfig.SchemaVersion,
		Name:         NamePrefix + name,
		Generation:   "contract",
		FailStrategy: fail,
		Lua:          &extconfig.Lua{InlineCode: code},
	}
}

// parityLua classifies the x-number request header as odd, even or absent: it tells the
// upstream in x-parity, remembers it in dynamic metadata and, on the response, reads the
// metadata back into the x-parity response header.
const parityLua = `
function envoy_on_request(request_handle)
  local n = request_handle:headers():get("x-number")
  local parity = "absent"
  if n ~= nil then
    if tonumber(n) % 2 == 0 then parity = "even" else parity = "odd" end
  end
  request_handle:logInfo("parity " .. parity)
  request_handle:headers():add("x-parity", parity)
  request_handle:streamInfo():dynamicMetadata():set("trafficext.contract", "parity", parity)
end

function envoy_on_response(response_handle)
  local md = response_handle:streamInfo():dynamicMetadata():get("trafficext.contract")
  local parity = "missing"
  if md ~= nil and md["parity"] ~= nil then parity = md["parity"] end
  response_handle:headers():replace("x-parity", parity)
end
`

// orderLua appends digit to x-request-order on the request and to x-response-order on the
// response, so that the chain order shows in both directions.
func orderLua(digit string) string {
	return `
function envoy_on_request(request_handle)
  local h = request_handle:headers()
  h:replace("x-request-order", (h:get("x-request-order") or "") .. "` + digit + `")
end

function envoy_on_response(response_handle)
  local h = response_handle:headers()
  h:replace("x-response-order", (h:get("x-response-order") or "") .. "` + digit + `")
end
`
}

// markerLua adds x-<name>-ran to the request, to show whether the script ran.
func markerLua(name string) string {
	return `
function envoy_on_request(request_handle)
  request_handle:headers():add("x-` + name + `-ran", "yes")
end
`
}

// Cases returns the contract's cases. Each call returns fresh values.
func Cases() []Case {
	parity := lua("parity", extconfig.FailClose, parityLua)
	return []Case{
		{
			Name:       "parity_odd",
			Extensions: []extconfig.Extension{parity},
			Request:    Request{Headers: []Header{{"x-number", "7"}}},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders: map[string]string{"x-parity": "odd"},
				ResponseHeaders: map[string]string{"x-parity": "odd"},
			},
		},
		{
			Name:       "parity_even",
			Extensions: []extconfig.Extension{parity},
			Request:    Request{Headers: []Header{{"x-number", "10"}}},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders: map[string]string{"x-parity": "even"},
				ResponseHeaders: map[string]string{"x-parity": "even"},
			},
		},
		{
			Name:       "parity_absent",
			Extensions: []extconfig.Extension{parity},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders: map[string]string{"x-parity": "absent"},
				ResponseHeaders: map[string]string{"x-parity": "absent"},
			},
		},
		{
			Name: "request_header_add",
			Extensions: []extconfig.Extension{lua("add", extconfig.FailClose, `
function envoy_on_request(request_handle)
  request_handle:logInfo("adding x-added")
  request_handle:headers():add("x-added", "yes")
end
`)},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders:       map[string]string{"x-added": "yes"},
				AbsentResponseHeaders: []string{"x-added"},
			},
		},
		{
			Name: "request_header_remove",
			Extensions: []extconfig.Extension{lua("remove", extconfig.FailClose, `
function envoy_on_request(request_handle)
  request_handle:headers():remove("x-secret")
end
`)},
			Request: Request{Headers: []Header{{"x-secret", "s3cr3t"}, {"x-keep", "kept"}}},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders:       map[string]string{"x-keep": "kept"},
				AbsentUpstreamHeaders: []string{"x-secret"},
			},
		},
		{
			Name: "response_header_replace",
			Extensions: []extconfig.Extension{lua("replace", extconfig.FailClose, `
function envoy_on_response(response_handle)
  response_handle:headers():replace("x-upstream", "replaced")
end
`)},
			Upstream: Upstream{Headers: []Header{{"x-upstream", "original"}}, Body: "hello from upstream"},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				ResponseHeaders: map[string]string{"x-upstream": "replaced"},
				BodyContains:    "hello from upstream",
			},
		},
		{
			Name: "respond_403",
			Extensions: []extconfig.Extension{lua("respond", extconfig.FailClose, `
function envoy_on_request(request_handle)
  request_handle:respond({[":status"] = "403", ["x-denied-by"] = "lua"}, "denied by lua")
end
`)},
			Expect: Expect{
				Status: 403, UpstreamReached: false,
				ResponseHeaders: map[string]string{"x-denied-by": "lua"},
				BodyContains:    "denied by lua",
			},
		},
		{
			Name: "chain_order",
			Extensions: []extconfig.Extension{
				lua("first", extconfig.FailClose, orderLua("1")),
				lua("second", extconfig.FailClose, orderLua("2")),
			},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders: map[string]string{"x-request-order": "12"},
				ResponseHeaders: map[string]string{"x-response-order": "21"},
			},
		},
		{
			Name: "lua_error_fails_open",
			Extensions: []extconfig.Extension{lua("error", extconfig.FailClose, `
function envoy_on_request(request_handle)
  local missing = nil
  missing.field = 1
end
`)},
			Expect: Expect{Status: 200, UpstreamReached: true},
		},
		{
			Name:        "panic_fail_close",
			Extensions:  []extconfig.Extension{lua("panic-close", extconfig.FailClose, markerLua("panic-close"))},
			PanicHeader: PanicHeader,
			Request:     Request{Headers: []Header{{PanicHeader, "contract.panic-close"}}},
			Expect:      Expect{Status: 500, UpstreamReached: false},
		},
		{
			Name:        "panic_fail_open",
			Extensions:  []extconfig.Extension{lua("panic-open", extconfig.FailOpen, markerLua("panic-open"))},
			PanicHeader: PanicHeader,
			Request:     Request{Headers: []Header{{PanicHeader, "contract.panic-open"}}},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				AbsentUpstreamHeaders: []string{"x-panic-open-ran"},
			},
		},
		{
			Name:        "panic_other_extension_untouched",
			Extensions:  []extconfig.Extension{lua("bystander", extconfig.FailClose, markerLua("bystander"))},
			PanicHeader: PanicHeader,
			Request:     Request{Headers: []Header{{PanicHeader, "contract.someone-else"}}},
			Expect: Expect{
				Status: 200, UpstreamReached: true,
				UpstreamHeaders: map[string]string{"x-bystander-ran": "yes"},
			},
		},
		{
			Name: "deny_slot",
			Extensions: []extconfig.Extension{{
				Schema: extconfig.SchemaVersion,
				Name:   NamePrefix + "deny",
				Deny:   &extconfig.Deny{Status: 403, Body: "extension unavailable", Reason: "module fetch failed"},
			}},
			Expect: Expect{Status: 403, UpstreamReached: false, BodyContains: "extension unavailable"},
		},
	}
}
