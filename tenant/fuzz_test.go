package tenant

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzLimitsJSON: any input either is refused or round-trips exactly, and
// never yields a negative limit.
func FuzzLimitsJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"max_jobs":10}`, `{"produce_rate":0,"produce_burst":5}`, `{"max_jobs":-1}`,
		`{"max_jobs":1.5}`, `null`, `{"max_jobs":null}`, `{"x":1}`, `{"max_jobs":4611686018427387903}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var l Limits
		if err := json.Unmarshal([]byte(in), &l); err != nil {
			return
		}
		for id := range NumLimits {
			if v := l.Get(id); v < Unlimited || (l.IsSet(id) && v < 0) {
				t.Fatalf("%s = %d from %q", id, v, in)
			}
		}
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var l2 Limits
		if err := json.Unmarshal(out, &l2); err != nil || !l.Equal(&l2) {
			t.Fatalf("round trip of %q: %s: %v", in, out, err)
		}
	})
}

// FuzzAdminRequest: arbitrary paths and bodies never panic the handler, get
// a JSON error or a 2xx, and refused requests change nothing.
func FuzzAdminRequest(f *testing.F) {
	f.Add("PUT", "/v1/tenants/acme", `{"password":"x","limits":{"max_jobs":1}}`)
	f.Add("POST", "/v1/tenants/acme/queues/a%2Fb/pause", `{"state":"in"}`)
	f.Add("GET", "/v1/tenants/acme/usage", ``)
	f.Add("DELETE", "/v1/tenants/default", ``)
	f.Add("PUT", "/v1/tenants/acme/limits", `{"max_jobs":-1}`)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n?#") || len(method) == 0 ||
			strings.ContainsAny(method, " \t\r\n") {
			return
		}
		r, _ := newReg(t)
		mustPut(t, r, "acme", Limits{})
		h := NewAdminHandler(r, newFakeBackend(), nil, nil)
		req, err := newRequestSafe(method, path, body)
		if err != nil {
			return
		}
		before := r.Export()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("error answer not JSON: %s", rec.Body)
			}
			after := r.Export()
			if len(before) != len(after) {
				t.Fatal("refused request changed the tenants")
			}
			for i := range before {
				if before[i].Version != after[i].Version {
					t.Fatal("refused request changed a tenant")
				}
			}
		}
	})
}
