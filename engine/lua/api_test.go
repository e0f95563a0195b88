package lua

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/trafficext/trafficext/core"
)

func TestBody_Buffered(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  local b = r:body()
  assert(b:length() == 11, "length " .. b:length())
  assert(b:getBytes(0, 5) == "hello")
  assert(b:getBytes(6, 5) == "world")
  assert(b:getBytes(11, 0) == "")
  assert(not pcall(b.getBytes, b, 7, 5))
  assert(b:setBytes("replaced") == 8)
  r:headers():add("x-seen", "1")
end
function envoy_on_response(r)
  local b = r:body()
  r:headers():add("x-resp-len", tostring(b:length()))
end`)
	s := newStream()
	s.ReqBody = &fakeBuffer{}
	s.RespBody = &fakeBuffer{}
	f := p.NewFilter(s)
	defer f.OnDestroy()
	if st := f.OnRequestHeaders(false); st != core.StopIteration {
		t.Fatalf("headers: %v", st)
	}
	s.ReqBody.Append([]byte("hello "))
	if st := f.OnRequestBody(false); st != core.StopAndBuffer {
		t.Fatalf("body chunk: %v", st)
	}
	s.ReqBody.Append([]byte("world"))
	if st := f.OnRequestBody(true); st != core.Continue {
		t.Fatalf("body end: %v", st)
	}
	if string(s.ReqBody.Data) != "replaced" {
		t.Errorf("body = %q", s.ReqBody.Data)
	}
	if v, _ := s.ReqH.Get("content-length"); v != "8" {
		t.Errorf("content-length = %q", v)
	}
	if v, _ := s.ReqH.Get("x-seen"); v != "1" {
		t.Errorf("headers not modifiable after body()")
	}
	// Response with trailers ending the body.
	f.OnResponseHeaders(false)
	s.RespBody.Append([]byte("abc"))
	if st := f.OnResponseBody(false); st != core.StopAndBuffer {
		t.Fatalf("response body: %v", st)
	}
	s.RespT = newHeaders("grpc-status", "0")
	if st := f.OnResponseTrailers(); st != core.Continue {
		t.Fatalf("response trailers: %v", st)
	}
	if v, _ := s.RespH.Get("x-resp-len"); v != "3" {
		t.Errorf("x-resp-len = %q; logs:\n%s", v, s.LogText())
	}
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestBody_NoBody(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  assert(r:body() == nil, "nil without body")
  local b = r:body(true)
  assert(b ~= nil and b:length() == 0, "always_wrap_body")
  assert(r:trailers() == nil)
  assert(not pcall(r.body, r, "yes"), "always_wrap_body must be a boolean")
end`)
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestBodyChunks(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  local n, total = 0, 0
  for chunk in r:bodyChunks() do
    n = n + 1
    total = total + chunk:length()
    r:logInfo("chunk " .. n .. " " .. chunk:getBytes(0, chunk:length()))
  end
  r:logInfo("chunks=" .. n .. " bytes=" .. total)
  local t = r:trailers()
  r:logInfo("trailer=" .. tostring(t and t:get("x-t")))
  t:add("x-added-trailer", "yes")
end`)
	s := newStream()
	s.ReqBody = &fakeBuffer{}
	f := p.NewFilter(s)
	defer f.OnDestroy()
	if st := f.OnRequestHeaders(false); st != core.Continue {
		t.Fatalf("headers: %v", st)
	}
	for _, c := range []string{"ab", "cde"} {
		s.ReqBody.Set([]byte(c))
		if st := f.OnRequestBody(false); st != core.Continue {
			t.Fatalf("chunk: %v", st)
		}
	}
	s.ReqT = newHeaders("x-t", "tv")
	if st := f.OnRequestTrailers(); st != core.Continue {
		t.Fatalf("trailers: %v", st)
	}
	for _, want := range []string{"chunk 1 ab", "chunk 2 cde", "chunks=2 bytes=5", "trailer=tv"} {
		if !s.Logged(want) {
			t.Errorf("missing %q; logs:\n%s", want, s.LogText())
		}
	}
	if v, _ := s.ReqT.Get("x-added-trailer"); v != "yes" {
		t.Errorf("trailer not added")
	}
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
	if p.idle() != 1 {
		t.Errorf("state not returned after the coroutine ended")
	}
}

func TestBody_Errors(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  for c in r:bodyChunks() do break end
  r:body()
end`)
	s := newStream()
	s.ReqBody = &fakeBuffer{Data: []byte("x")}
	f := p.NewFilter(s)
	f.OnRequestHeaders(false)
	f.OnRequestBody(false)
	if errorsCounted(s, h) != 1 || !s.Logged("cannot call body() after body streaming has started") {
		t.Errorf("logs:\n%s", s.LogText())
	}
	f.OnDestroy()
}

func TestYieldInsidePcall(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  local ok, err = pcall(function() return r:body() end)
  r:logInfo("pcall " .. tostring(ok) .. " " .. tostring(err))
end`)
	s := newStream()
	s.ReqBody = &fakeBuffer{Data: []byte("abc")}
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.StopIteration {
		t.Fatalf("headers: %v, logs:\n%s", st, s.LogText())
	}
	if st := f.OnRequestBody(true); st != core.Continue {
		t.Fatalf("body: %v", st)
	}
	if !s.Logged("pcall true userdata") || errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
	f.OnDestroy()
}

func TestForRewrite_Semantics(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  local t = {10, 20, 30}
  local fns, sum = {}, 0
  for i, v in ipairs(t) do
    fns[#fns + 1] = function() return i * v end
    if v == 30 then break end
  end
  for _, f in ipairs(fns) do sum = sum + f() end
  assert(sum == 10 + 40 + 90, "closures capture per-iteration vars: " .. sum)
  local keys = 0
  for k in pairs({a = 1, b = 2}) do keys = keys + 1 end
  assert(keys == 2)
  local n = 0
  for i, v in ipairs(t) do
    for j, w in ipairs(t) do
      if w > v then goto continue end
      n = n + 1
      ::continue::
    end
  end
  assert(n == 6, "nested with goto: " .. n)
  local function gen(max)
    return function(_, c) if c < max then return c + 1 end end, nil, 0
  end
  local last
  for i in gen(4) do local i = i * 2; last = i end
  assert(last == 8)
  local ok, err = pcall(function() for x in nil do end end)
  assert(not ok)
end`)
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestHTTPCall(t *testing.T) {
	const script = `
function envoy_on_request(r)
  local h, b = r:httpCall("authz", {[":method"] = "POST", [":path"] = "/check", [":authority"] = "authz", ["X-Multi"] = {"1", "2"}}, "payload", 500)
  r:headers():add("x-status", h[":status"])
  r:headers():add("x-body", tostring(b))
  r:headers():add("x-dup", type(h["x-d"]))
end`
	t.Run("sync", func(t *testing.T) {
		p, h := load(t, script)
		s := newStream()
		f := p.NewFilter(s)
		defer f.OnDestroy()
		if st := f.OnRequestHeaders(true); st != core.StopIteration {
			t.Fatalf("headers: %v", st)
		}
		if len(s.Callouts) != 1 {
			t.Fatalf("callouts %v", s.Callouts)
		}
		c := s.Callouts[0].Req
		if c.Cluster != "authz" || string(c.Body) != "payload" || c.Timeout.Milliseconds() != 500 {
			t.Errorf("callout %+v", c)
		}
		multi := 0
		for _, hd := range c.Headers {
			if hd.Key == "x-multi" {
				multi++
			}
		}
		if multi != 2 {
			t.Errorf("array header values: %v", c.Headers)
		}
		s.Callouts[0].Done(core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}, {Key: "x-d", Value: "a"}, {Key: "x-d", Value: "b"}}, Body: []byte("ok")})
		if s.ContinuedReq != 1 {
			t.Errorf("request not continued after the callout")
		}
		for k, want := range map[string]string{"x-status": "200", "x-body": "ok", "x-dup": "string"} {
			if v, _ := s.ReqH.Get(k); v != want {
				t.Errorf("%s = %q, want %q; logs:\n%s", k, v, want, s.LogText())
			}
		}
		if errorsCounted(s, h) != 0 {
			t.Errorf("logs:\n%s", s.LogText())
		}
	})
	t.Run("failure", func(t *testing.T) {
		p, _ := load(t, script)
		s := newStream()
		f := p.NewFilter(s)
		defer f.OnDestroy()
		f.OnRequestHeaders(true)
		s.Callouts[0].Done(core.CalloutResponse{Err: errors.New("reset")})
		if v, _ := s.ReqH.Get("x-status"); v != "503" {
			t.Errorf("x-status %q", v)
		}
		if v, _ := s.ReqH.Get("x-body"); v != "upstream failure" {
			t.Errorf("x-body %q", v)
		}
	})
	t.Run("inline completion", func(t *testing.T) {
		p, _ := load(t, script)
		s := newStream()
		s.CalloutInline = &core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "204"}}}
		f := p.NewFilter(s)
		defer f.OnDestroy()
		if st := f.OnRequestHeaders(true); st != core.Continue {
			t.Fatalf("headers: %v", st)
		}
		if v, _ := s.ReqH.Get("x-body"); v != "nil" {
			t.Errorf("x-body %q", v)
		}
	})
	t.Run("options and duplicates", func(t *testing.T) {
		p, h := load(t, `
function envoy_on_request(r)
  local h = r:httpCall("c", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, {timeout_ms = 10, return_duplicate_headers = true, send_xff = false})
  assert(type(h["x-d"]) == "table" and h["x-d"][2] == "b")
  r:httpCall("c", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, "", {asynchronous = true})
  r:httpCall("c", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, "", 0, true)
end`)
		s := newStream()
		f := p.NewFilter(s)
		defer f.OnDestroy()
		f.OnRequestHeaders(true)
		s.Callouts[0].Done(core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "200"}, {Key: "x-d", Value: "a"}, {Key: "x-d", Value: "b"}}})
		if len(s.Callouts) != 3 || errorsCounted(s, h) != 0 {
			t.Errorf("callouts %d; logs:\n%s", len(s.Callouts), s.LogText())
		}
	})
	for _, tc := range []struct{ name, call, want string }{
		{"missing headers", `r:httpCall("c", {[":method"] = "GET"}, nil, 10)`, "http call headers must include ':path', ':method', and ':authority'"},
		{"negative timeout", `r:httpCall("c", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, -1)`, "http call timeout must be >= 0"},
		{"bad async flag", `r:httpCall("c", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, 1, "yes")`, "http call asynchronous flag must be 'true', 'false', or empty"},
		{"bad option", `r:httpCall("c", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, {bogus = 1})`, `"bogus" is not valid key for httpCall() options`},
		{"host error", `r:httpCall("nope", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, 1)`, "http call cluster invalid. Must be configured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, h, a, _ := run(t, "function envoy_on_request(r) "+tc.call+" end", func(s *fakeStream) {
				if tc.name == "host error" {
					s.CalloutErr = errors.New("cluster not found")
				}
			})
			if a != core.Continue || errorsCounted(s, h) != 1 || !s.Logged(tc.want) {
				t.Errorf("status %v; logs:\n%s", a, s.LogText())
			}
		})
	}
}

func TestHTTPCall_ThenRespond(t *testing.T) {
	p, _ := load(t, `
function envoy_on_request(r)
  local h = r:httpCall("authz", {[":method"] = "GET", [":path"] = "/", [":authority"] = "a"}, nil, 100)
  if h[":status"] ~= "200" then r:respond({[":status"] = "403"}, "no") end
end`)
	s := newStream()
	f := p.NewFilter(s)
	f.OnRequestHeaders(true)
	s.Callouts[0].Done(core.CalloutResponse{Headers: []core.Header{{Key: ":status", Value: "401"}}})
	if len(s.Replies) != 1 || s.Replies[0].Status != 403 || s.ContinuedReq != 0 {
		t.Errorf("replies %v continued %d", s.Replies, s.ContinuedReq)
	}
	f.OnDestroy()
	if p.idle() != 1 {
		t.Errorf("idle %d", p.idle())
	}
}

func TestDestroyWhileWaiting(t *testing.T) {
	p, _ := load(t, `function envoy_on_request(r) r:body() end`)
	s := newStream()
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.StopIteration {
		t.Fatal(st)
	}
	if p.idle() != 0 {
		t.Fatal("state should be held by the waiting coroutine")
	}
	f.OnDestroy()
	if p.idle() != 1 {
		t.Errorf("state not released on destroy")
	}
	// The released state still works.
	roundTrip(t, p, newStream())
}

func TestStreamInfoAndMisc(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  local si = r:streamInfo()
  assert(si:protocol() == "HTTP/1.1", "protocol")
  assert(si:downstreamLocalAddress() == "10.0.0.1:80")
  assert(si:downstreamDirectRemoteAddress() == "10.0.0.2:5555")
  assert(si:downstreamRemoteAddress() == "10.0.0.2:5555")
  assert(si:requestedServerName() == "sni.example")
  assert(si:routeName() == "")
  assert(si:filterState():get("fs.key") == "fsval")
  assert(si:filterState():get("absent") == nil)
  assert(r:connection():ssl() == nil)
  assert(si:downstreamSslConnection() == nil)
  assert(r:metadata():get("k") == "route-v")
  assert(r:metadata():get("fb") == nil)
  local n = 0
  for k, v in pairs(r:metadata()) do n = n + 1 end
  assert(n == 1)
  assert(r:route():metadata():get("k") == "route-v")
  assert(r:virtualHost():metadata():get("k") == nil)
  assert(r:filterContext():get("x") == nil)
  assert(r:base64Escape("hello?") == "aGVsbG8/")
  assert(type(r:timestamp()) == "number" and r:timestamp() > 1.6e12)
  assert(#r:timestampString() == 13)
  assert(#r:timestampString(EnvoyTimestampResolution.MICROSECOND) == 16)
  assert(r:timestamp(EnvoyTimestampResolution.MILLISECOND) > 0)
  assert(not pcall(r.timestamp, r, EnvoyTimestampResolution.MICROSECOND))
  assert(not pcall(r.timestampString, r, 7))
  r:clearRouteCache()
  r:setUpstreamOverrideHost("10.0.0.9:8080", true)
  assert(not pcall(r.setUpstreamOverrideHost, r, "example.com"))
end`, func(s *fakeStream) {
		s.Attrs["request.protocol"] = "HTTP/1.1"
		s.Attrs["destination.address"] = "10.0.0.1:80"
		s.Attrs["source.address"] = "10.0.0.2:5555"
		s.Attrs["connection.requested_server_name"] = "sni.example"
		s.FS["fs.key"] = []byte("fsval")
		s.Route.Set(testExt, "k", "route-v")
		s.Route.Set(luaFilterName, "fb", "fallback")
	})
	if errorsCounted(s, h) != 0 || s.RouteCleared != 1 {
		t.Errorf("cleared %d; logs:\n%s", s.RouteCleared, s.LogText())
	}
}

func TestSSL(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  local ssl = r:connection():ssl()
  assert(ssl ~= nil)
  assert(ssl:tlsVersion() == "TLSv1.3")
  assert(ssl:peerCertificatePresented() == true)
  assert(ssl:subjectPeerCertificate() == "CN=client")
  assert(ssl:uriSanPeerCertificate()[1] == "spiffe://td/ns/x/sa/y")
  assert(#ssl:dnsSansPeerCertificate() == 0)
  assert(ssl:ciphersuiteId() == "0xffff")
  assert(ssl:expirationPeerCertificate() == 0)
end`, func(s *fakeStream) {
		s.Attrs["connection.tls_version"] = "TLSv1.3"
		s.Attrs["connection.subject_peer_certificate"] = "CN=client"
		s.Attrs["connection.uri_san_peer_certificate"] = "spiffe://td/ns/x/sa/y"
	})
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestVerifySignature(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	data := "signed data"
	sum := sha256.Sum256([]byte(data))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	p, h := load(t, `
function envoy_on_request(r)
  local hd = r:headers()
  local key = hd:get("x-key")
  local pk = r:importPublicKey(key, #key):get()
  local ok, err = r:verifySignature("sha256", pk, hd:get("x-sig"), #hd:get("x-sig"), "signed data", 11)
  assert(ok == true and err == nil, tostring(err))
  ok, err = r:verifySignature("sha256", pk, hd:get("x-sig"), #hd:get("x-sig"), "other data", 10)
  assert(ok == false and type(err) == "string")
  ok, err = r:verifySignature("md5", pk, "", 0, "", 0)
  assert(ok == false)
  -- As in Envoy, a second import before the next yield returns the first object.
  assert(r:importPublicKey("junk", 4):get() == pk)
  ok, err = pcall(r.verifySignature, r, "sha256", "never imported", "", 0, "", 0)
  assert(not ok and tostring(err):find("invalid public key"), tostring(err))
end`)
	s := newStream()
	s.ReqH.Add("x-key", string(der))
	s.ReqH.Add("x-sig", string(sig))
	roundTrip(t, p, s)
	if errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestTimeoutOverride(t *testing.T) {
	h := &fakeHost{}
	ext := extension(`function envoy_on_request(r) local x = 0 for i = 1, 2e6 do x = x + i end end`)
	ext.Lua.CallTimeoutMillis = 1
	p, err := New(Options{CallTimeout: 10e9}).Load(ext, h)
	if err != nil {
		t.Fatal(err)
	}
	s := newStream()
	roundTrip(t, p.(*plugin), s)
	if timeoutsCounted(s, h) != 1 || !strings.Contains(s.LogText(), "call timeout 1ms") {
		t.Errorf("logs:\n%s", s.LogText())
	}
}

func TestYieldInScriptCoroutine(t *testing.T) {
	p, h := load(t, `
function envoy_on_request(r)
  local co = coroutine.create(function() return r:body() end)
  local ok, err = coroutine.resume(co)
  r:logInfo("inner " .. tostring(ok) .. " " .. tostring(err))
  local si = r:connectionStreamInfo()
  assert(si:dynamicMetadata():get("x") == nil)
  for k in pairs(si:dynamicMetadata()) do error("not empty") end
  assert(r:streamInfo():dynamicTypedMetadata("x") == nil)
end`)
	s := newStream()
	f := p.NewFilter(s)
	if st := f.OnRequestHeaders(false); st != core.Continue {
		t.Fatalf("headers: %v", st)
	}
	if !s.Logged("inner false") || !s.Logged("attempt to yield across a C-call boundary") || errorsCounted(s, h) != 0 {
		t.Errorf("logs:\n%s", s.LogText())
	}
	f.OnDestroy()
	if p.idle() != 1 {
		t.Errorf("idle %d", p.idle())
	}
}

func TestMetamethodRecursionBounded(t *testing.T) {
	s, h, _, _ := run(t, `
function envoy_on_request(r)
  local t = setmetatable({}, {__index = function(t, k) return t[k] end})
  local _ = t.x
end`)
	if errorsCounted(s, h) != 1 || !s.Logged("stack overflow") {
		t.Errorf("logs:\n%s", s.LogText())
	}
}
