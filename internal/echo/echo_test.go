package echo

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestEcho(t *testing.T) {
	s, err := Start("127.0.0.1:0", "e1")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req, _ := http.NewRequest("POST", "http://"+s.Addr()+"/p?q=1", strings.NewReader("hello"))
	req.Header.Set("X-A", "1")
	req.Header.Add("x-echo-header", "x-b: 2")
	req.Header.Set("x-echo-status", "201")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r Report
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 201 || resp.Header.Get("x-b") != "2" {
		t.Errorf("status %d x-b %q", resp.StatusCode, resp.Header.Get("x-b"))
	}
	if r.Method != "POST" || r.Path != "/p?q=1" || r.Body != "hello" || r.Header("x-a") != "1" || r.Server != "e1" || !r.Has("X-A") {
		t.Errorf("report %+v", r)
	}

	req, _ = http.NewRequest("GET", "http://"+s.Addr()+"/", nil)
	req.Header.Set("x-echo-body", "plain")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "plain" {
		t.Errorf("body %q", b)
	}
}
