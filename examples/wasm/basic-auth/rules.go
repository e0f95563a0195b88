package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DefaultRealm is the realm of the WWW-Authenticate challenge when the config names none.
const DefaultRealm = "istio"

// Config is the plugin configuration, the shape of Istio's basic-auth Wasm extension:
//
//	{"basic_auth_rules": [{"prefix": "/productpage", "request_methods": ["GET", "POST"],
//	                       "credentials": ["ok:test", "YWRtaW4zOmFkbWluMw=="]}],
//	 "realm": "istio"}
type Config struct {
	Rules []Rule `json:"basic_auth_rules"`
	Realm string `json:"realm"`
	// VersionHeader, when set, names a response header carrying the plugin's version (set at
	// build time with -ldflags "-X main.version=..."), so that a test or a demo can tell which
	// module serves.
	VersionHeader string `json:"version_header"`
}

// Rule protects the requests whose :path matches (exactly one of Prefix, Exact, Suffix) and
// whose method is listed.
type Rule struct {
	Prefix      *string  `json:"prefix"`
	Exact       *string  `json:"exact"`
	Suffix      *string  `json:"suffix"`
	Methods     []string `json:"request_methods"`
	Credentials []string `json:"credentials"`
}

// policy is the checked configuration: rules by method, credentials base64-encoded.
type policy struct {
	realm         string
	versionHeader string
	byVerb        map[string][]rule
}

type matchKind int

const (
	matchPrefix matchKind = iota
	matchExact
	matchSuffix
)

type rule struct {
	kind    matchKind
	path    string
	encoded map[string]bool // base64("user:pass")
}

// parseConfig checks the configuration as Istio's plugin does: each rule has exactly one of
// prefix/exact/suffix, at least one method and one credential; a credential holding ':' is
// "user:password" (encoded here), otherwise it must already be base64.
func parseConfig(data []byte) (*policy, error) {
	p := &policy{realm: DefaultRealm, byVerb: map[string][]rule{}}
	if len(data) == 0 {
		return p, nil
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("plugin configuration is not valid JSON: %w", err)
	}
	if c.Realm != "" {
		p.realm = c.Realm
	}
	p.versionHeader = c.VersionHeader
	for i, r := range c.Rules {
		var ru rule
		n := 0
		for kind, v := range map[matchKind]*string{matchPrefix: r.Prefix, matchExact: r.Exact, matchSuffix: r.Suffix} {
			if v != nil {
				n++
				ru.kind, ru.path = kind, *v
			}
		}
		if n != 1 || ru.path == "" {
			return nil, fmt.Errorf("basic_auth_rules[%d]: exactly one of prefix, exact and suffix must be set", i)
		}
		if len(r.Methods) == 0 {
			return nil, fmt.Errorf("basic_auth_rules[%d]: request_methods must list at least one method", i)
		}
		ru.encoded = map[string]bool{}
		for _, cred := range r.Credentials {
			switch {
			case strings.Contains(cred, ":"):
				ru.encoded[base64.StdEncoding.EncodeToString([]byte(cred))] = true
			case decodes(cred):
				ru.encoded[cred] = true
			default:
				return nil, fmt.Errorf("basic_auth_rules[%d]: credential %q is neither user:password nor base64", i, cred)
			}
		}
		if len(ru.encoded) == 0 {
			return nil, errors.New("basic_auth_rules[" + fmt.Sprint(i) + "]: credentials must list at least one credential")
		}
		for _, m := range r.Methods {
			p.byVerb[m] = append(p.byVerb[m], ru)
		}
	}
	return p, nil
}

func decodes(s string) bool {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	return err == nil && len(b) > 0
}

// Denial messages (the bodies Istio's plugin answers with).
const (
	msgNoCredentials = "Request denied by Basic Auth check. No Basic Authentication information found."
	msgInvalid       = "Request denied by Basic Auth check. Invalid username and/or password"
)

// check returns "" when the request may pass, or the denial message. The path is the whole
// :path (query included), as Istio's plugin compares it.
func (p *policy) check(method, path, authorization string) string {
	for _, r := range p.byVerb[method] {
		if !r.matches(path) {
			continue
		}
		cred, ok := strings.CutPrefix(authorization, "Basic ")
		if !ok {
			return msgNoCredentials
		}
		if !r.encoded[cred] {
			return msgInvalid
		}
	}
	return ""
}

func (r rule) matches(path string) bool {
	switch r.kind {
	case matchExact:
		return path == r.path
	case matchSuffix:
		return strings.HasSuffix(path, r.path)
	}
	return strings.HasPrefix(path, r.path)
}
