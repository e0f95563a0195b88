package lua

import (
	"net"
	"strconv"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// Envoy attribute names the stream-info and SSL objects read through core.Stream.Attribute.
const (
	attrProtocol      = "request.protocol"
	attrLocalAddress  = "destination.address"
	attrRemoteAddress = "source.address"
	attrSNI           = "connection.requested_server_name"
	attrRouteName     = "xds.route_name"
	attrTLSVersion    = "connection.tls_version"
)

// attrString returns an attribute as a string ("" when absent).
func (d *direction) attrString(name string) string {
	v, ok := d.f.s.Attribute(name)
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func attrMethod(name string) glua.LGFunction {
	return func(L *glua.LState) int {
		d := ownerOf(L)
		L.Push(glua.LString(d.attrString(name)))
		return 1
	}
}

// isTLS reports whether the downstream connection is TLS.
func (d *direction) isTLS() bool { return d.attrString(attrTLSVersion) != "" }

func (d *direction) sslValue() glua.LValue {
	if !d.isTLS() {
		return glua.LNil
	}
	return d.object(&d.uds.ssl, d, d.vm.mt.ssl)
}

func (v *vm) streamInfoClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"protocol":                      attrMethod(attrProtocol),
		"downstreamLocalAddress":        attrMethod(attrLocalAddress),
		"downstreamDirectLocalAddress":  attrMethod(attrLocalAddress),
		"downstreamRemoteAddress":       attrMethod(attrRemoteAddress),
		"downstreamDirectRemoteAddress": attrMethod(attrRemoteAddress),
		"requestedServerName":           attrMethod(attrSNI),
		"routeName":                     attrMethod(attrRouteName),
		"virtualClusterName": func(L *glua.LState) int {
			ownerOf(L)
			L.Push(glua.LString(""))
			return 1
		},
		"dynamicMetadata": objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.dm, d, d.vm.mt.dynMeta) }),
		"filterState":     objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.fs, d, d.vm.mt.filterState) }),
		"dynamicTypedMetadata": func(L *glua.LState) int {
			ownerOf(L)
			L.CheckString(2)
			// Typed metadata does not cross the host interface.
			return 0
		},
		"downstreamSslConnection": func(L *glua.LState) int {
			d := ownerOf(L)
			L.Push(d.sslValue())
			return 1
		},
	}, nil)
}

func (v *vm) connectionClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"ssl": func(L *glua.LState) int {
			d := ownerOf(L)
			L.Push(d.sslValue())
			return 1
		},
	}, nil)
}

// sslClass is the SSL connection object, backed by Envoy's connection.* attributes. Values the
// attributes do not carry are "" (strings), 0 (times) or empty tables, as Envoy returns for
// absent values.
func (v *vm) sslClass() *glua.LTable {
	str := func(attr string) glua.LGFunction {
		if attr == "" {
			return func(L *glua.LState) int { ownerOf(L); L.Push(glua.LString("")); return 1 }
		}
		return attrMethod(attr)
	}
	list := func(attr string) glua.LGFunction {
		return func(L *glua.LState) int {
			d := ownerOf(L)
			t := L.NewTable()
			if attr != "" {
				if s := d.attrString(attr); s != "" {
					t.Append(glua.LString(s))
				}
			}
			L.Push(t)
			return 1
		}
	}
	zero := func(L *glua.LState) int { ownerOf(L); L.Push(glua.LNumber(0)); return 1 }
	return v.class(map[string]glua.LGFunction{
		"peerCertificatePresented": func(L *glua.LState) int {
			d := ownerOf(L)
			L.Push(glua.LBool(d.attrString("connection.subject_peer_certificate") != ""))
			return 1
		},
		"peerCertificateValidated": func(L *glua.LState) int {
			d := ownerOf(L)
			L.Push(glua.LBool(d.attrString("connection.mtls") == "true"))
			return 1
		},
		"tlsVersion":                               str(attrTLSVersion),
		"sha256PeerCertificateDigest":              str("connection.sha256_peer_certificate_digest"),
		"subjectPeerCertificate":                   str("connection.subject_peer_certificate"),
		"subjectLocalCertificate":                  str("connection.subject_local_certificate"),
		"uriSanLocalCertificate":                   list("connection.uri_san_local_certificate"),
		"uriSanPeerCertificate":                    list("connection.uri_san_peer_certificate"),
		"dnsSansPeerCertificate":                   list("connection.dns_san_peer_certificate"),
		"dnsSansLocalCertificate":                  list("connection.dns_san_local_certificate"),
		"serialNumberPeerCertificate":              str(""),
		"issuerPeerCertificate":                    str(""),
		"sessionId":                                str(""),
		"ciphersuiteString":                        str(""),
		"urlEncodedPemEncodedPeerCertificate":      str(""),
		"urlEncodedPemEncodedPeerCertificateChain": str(""),
		"ciphersuiteId": func(L *glua.LState) int {
			ownerOf(L)
			L.Push(glua.LString("0xffff"))
			return 1
		},
		"parsedSubjectPeerCertificate": func(L *glua.LState) int {
			d := ownerOf(L)
			subject := d.attrString("connection.subject_peer_certificate")
			if subject == "" {
				L.Push(glua.LNil)
				return 1
			}
			cn, orgs := parseSubject(subject)
			obj := L.CreateTable(0, 2)
			obj.RawSetString("commonName", L.NewFunction(func(L *glua.LState) int {
				L.Push(glua.LString(cn))
				return 1
			}))
			obj.RawSetString("organizationName", L.NewFunction(func(L *glua.LState) int {
				t := L.CreateTable(len(orgs), 0)
				for _, o := range orgs {
					t.Append(glua.LString(o))
				}
				L.Push(t)
				return 1
			}))
			L.Push(obj)
			return 1
		},
		"oidsPeerCertificate":       list(""),
		"oidsLocalCertificate":      list(""),
		"validFromPeerCertificate":  zero,
		"expirationPeerCertificate": zero,
	}, nil)
}

// isIPAuthority reports whether host is an IP address, optionally with a port.
func isIPAuthority(host string) bool {
	if net.ParseIP(host) != nil {
		return true
	}
	h, _, err := net.SplitHostPort(host)
	return err == nil && net.ParseIP(h) != nil
}

// connStreamInfoClass is connectionStreamInfo(): the host exposes no connection-level
// metadata, so its dynamicMetadata() is always empty.
func (v *vm) connStreamInfoClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"dynamicMetadata": objectMethod(func(d *direction) *glua.LUserData { return d.object(&d.uds.connDM, d, d.vm.mt.connDM) }),
		"dynamicTypedMetadata": func(L *glua.LState) int {
			ownerOf(L)
			L.CheckString(2)
			return 0
		},
	}, nil)
}

func (v *vm) connDynMetaClass() *glua.LTable {
	return v.class(map[string]glua.LGFunction{
		"get": func(L *glua.LState) int {
			ownerOf(L)
			L.CheckString(2)
			return 0
		},
	}, map[string]glua.LGFunction{
		"__pairs": func(L *glua.LState) int {
			ownerOf(L)
			L.Push(L.NewFunction(func(*glua.LState) int { return 0 }))
			return 1
		},
	})
}

// parseSubject reads the common name and the organization names of an RFC 2253 subject
// ("CN=client,O=org"), honouring backslash escapes.
func parseSubject(subject string) (cn string, orgs []string) {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(subject); i++ {
		switch c := subject[i]; {
		case c == '\\' && i+1 < len(subject):
			i++
			cur.WriteByte(subject[i])
		case c == ',' || c == '+':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "CN":
			if cn == "" {
				cn = v
			}
		case "O":
			orgs = append(orgs, v)
		}
	}
	return cn, orgs
}
