package main

import (
	"encoding/base64"
	"testing"
)

const istioExample = `{"basic_auth_rules":[{"prefix":"/productpage","request_methods":["GET","POST"],
  "credentials":["ok:test","YWRtaW4zOmFkbWluMw=="]},
  {"exact":"/api/v1","request_methods":["DELETE"],"credentials":["root:root"]},
  {"suffix":".secret","request_methods":["GET"],"credentials":["s:s"]}]}`

func basic(userPass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
}

func TestCheck(t *testing.T) {
	p, err := parseConfig([]byte(istioExample))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		method, path, auth, want string
	}{
		{"GET", "/productpage", "", msgNoCredentials},
		{"GET", "/productpage?u=1", "Bearer x", msgNoCredentials},
		{"GET", "/productpage", basic("ok:test"), ""},
		{"GET", "/productpage/x", basic("admin3:admin3"), ""},
		{"GET", "/productpage", basic("ok:wrong"), msgInvalid},
		{"POST", "/productpage", "", msgNoCredentials},
		{"PUT", "/productpage", "", ""}, // method not in the rule
		{"GET", "/other", "", ""},       // path not in any rule
		{"DELETE", "/api/v1", "", msgNoCredentials},
		{"DELETE", "/api/v1/x", "", ""},
		{"GET", "/a/b.secret", basic("s:s"), ""},
		{"GET", "/a/b.secret", basic("ok:test"), msgInvalid},
	}
	for _, c := range cases {
		if got := p.check(c.method, c.path, c.auth); got != c.want {
			t.Errorf("%s %s %q = %q, want %q", c.method, c.path, c.auth, got, c.want)
		}
	}
	if p.realm != "istio" {
		t.Errorf("realm = %q", p.realm)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, bad := range []string{
		`{`,
		`{"basic_auth_rules":[{"request_methods":["GET"],"credentials":["a:b"]}]}`,
		`{"basic_auth_rules":[{"prefix":"/","exact":"/","request_methods":["GET"],"credentials":["a:b"]}]}`,
		`{"basic_auth_rules":[{"prefix":"/","credentials":["a:b"]}]}`,
		`{"basic_auth_rules":[{"prefix":"/","request_methods":["GET"]}]}`,
		`{"basic_auth_rules":[{"prefix":"/","request_methods":["GET"],"credentials":["%%%"]}]}`,
	} {
		if _, err := parseConfig([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
	if p, err := parseConfig(nil); err != nil || len(p.byVerb) != 0 {
		t.Errorf("empty config: %v", err)
	}
}
