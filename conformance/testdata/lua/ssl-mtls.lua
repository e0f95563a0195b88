--[[
description: "the SSL connection object over mTLS (client certificate with SPIFFE and DNS SANs)"
listeners: [tls]
differences:
  - {id: LUA-D20, aspects: ["upstream.header:x-ciphersuiteid", "upstream.header:x-ciphersuitestring", "upstream.header:x-dnssanspeercertificate", "upstream.header:x-expirationpeercertificate", "upstream.header:x-issuerpeercertificate", "upstream.header:x-oidslocalcertificate", "upstream.header:x-oidspeercertificate", "upstream.header:x-peercertificatevalidated", "upstream.header:x-serialnumberpeercertificate", "upstream.header:x-sessionid", "upstream.header:x-urlencodedpemencodedpeercertificate", "upstream.header:x-urlencodedpemencodedpeercertificatechain", "upstream.header:x-validfrompeercertificate"]}
]]
local function s(v) if v == nil then return "nil" end return tostring(v) end
local function list(t)
  if type(t) ~= "table" then return type(t) .. ":" .. s(t) end
  local out = {}
  for i, v in ipairs(t) do out[#out + 1] = tostring(v) end
  return "[" .. table.concat(out, ",") .. "]"
end
local methods = {
  "peerCertificatePresented", "peerCertificateValidated", "uriSanLocalCertificate",
  "sha256PeerCertificateDigest", "serialNumberPeerCertificate", "issuerPeerCertificate",
  "subjectPeerCertificate", "uriSanPeerCertificate", "subjectLocalCertificate",
  "dnsSansPeerCertificate", "dnsSansLocalCertificate", "oidsPeerCertificate",
  "oidsLocalCertificate", "validFromPeerCertificate", "expirationPeerCertificate",
  "ciphersuiteId", "ciphersuiteString", "tlsVersion", "urlEncodedPemEncodedPeerCertificate",
  "urlEncodedPemEncodedPeerCertificateChain",
}
local function dump(ssl, add, prefix)
  for _, m in ipairs(methods) do
    local ok, v = pcall(function() return ssl[m](ssl) end)
    if not ok then v = "error" elseif type(v) == "table" then v = list(v) else v = type(v) .. ":" .. s(v) end
    add(prefix .. m, v)
  end
  local ok, sid = pcall(function() return ssl:sessionId() end)
  add(prefix .. "sessionId", ok and type(sid) .. ":" .. tostring(#sid > 0) or "error")
  local ok2, p = pcall(function() return ssl:parsedSubjectPeerCertificate() end)
  if ok2 and p ~= nil then
    add(prefix .. "parsed", s(p:commonName()) .. "|" .. list(p:organizationName()))
  else
    add(prefix .. "parsed", ok2 and "nil" or "error")
  end
end
function envoy_on_request(h)
  local hs = h:headers()
  local ssl = h:streamInfo():downstreamSslConnection()
  hs:add("x-ssl-present", tostring(ssl ~= nil) .. "," .. tostring(h:connection():ssl() ~= nil))
  hs:add("x-sni", "[" .. h:streamInfo():requestedServerName() .. "]")
  if ssl then dump(ssl, function(k, v) hs:add("x-" .. k:lower(), v) end, "") end
end
function envoy_on_response(h)
  local hs = h:headers()
  local ssl = h:connection():ssl()
  hs:add("x-resp-ssl-present", tostring(ssl ~= nil))
  if ssl then
    hs:add("x-resp-tls", s(ssl:tlsVersion()) .. "," .. s(ssl:peerCertificatePresented()) .. "," .. s(ssl:subjectPeerCertificate()))
    hs:add("x-resp-uri-san", list(ssl:uriSanPeerCertificate()))
  end
end
