package tenant

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/promtext"
)

// fakeBackend is the engine side of the admin API in tests.
type fakeBackend struct {
	mu     sync.Mutex
	pause  map[string]string // tenant\x00queue -> state
	purged map[string]int64
	calls  []string
	fail   error
}

func newFakeBackend() *fakeBackend {
	return &fakeBackend{pause: map[string]string{}, purged: map[string]int64{}}
}

func (b *fakeBackend) PauseQueue(tenant, queue, state string, bcast bool) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("pause %s %q %s %v", tenant, queue, state, bcast))
	if b.fail != nil {
		return "", b.fail
	}
	k := tenant + "\x00" + queue
	if state != "state" {
		b.pause[k] = state
	}
	if s, ok := b.pause[k]; ok {
		return s, nil
	}
	return "none", nil
}

func (b *fakeBackend) PurgeQueue(tenant, queue string) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("purge %s %q", tenant, queue))
	if b.fail != nil {
		return 0, b.fail
	}
	b.purged[tenant+"\x00"+queue] += 7
	return 7, nil
}

func (b *fakeBackend) TenantUsage(tenant string) map[string]int64 {
	return map[string]int64{"queued": 3, "active": 1}
}

func (b *fakeBackend) WriteMetrics(w io.Writer) {
	_, _ = io.WriteString(w, "disq_fake_engine_commands_total{cmd=\"addjob\"} 12\n")
}

type adminEnv struct {
	reg   *Registry
	be    *fakeBackend
	h     http.Handler
	token string
}

func newAdminEnv(t *testing.T, token string) *adminEnv {
	t.Helper()
	r, _ := newReg(t)
	be := newFakeBackend()
	return &adminEnv{reg: r, be: be, token: token, h: NewAdminHandler(r, be, func() string { return token }, nil)}
}

type resp struct {
	status int
	hdr    http.Header
	body   []byte
}

func (e *adminEnv) do(t *testing.T, method, target, body string, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.RemoteAddr = "127.0.0.1:40000"
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return resp{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// decode decodes a JSON answer strictly.
func decode[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("content type %q", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	return v
}

// wantAPIError checks an error answer: status, JSON shape and code.
func wantAPIError(t *testing.T, r resp, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	e := decode[ErrorBody](t, r)
	if e.Error.Code != code || e.Error.Message == "" {
		t.Fatalf("error %+v, want code %s", e.Error, code)
	}
}

func TestAdminRoutes(t *testing.T) {
	e := newAdminEnv(t, "")
	// healthz
	r := e.do(t, "GET", "/healthz", "")
	if h := decode[Health](t, r); r.status != 200 || h.Status != "ok" || h.Tenants != 1 {
		t.Fatalf("healthz %d %s", r.status, r.body)
	}
	// create
	r = e.do(t, "PUT", "/v1/tenants/acme", `{"password":"s3cret","limits":{"max_jobs":10,"produce_rate":100}}`, "Content-Type", "application/json")
	if r.status != 201 || r.hdr.Get("Location") != "/v1/tenants/acme" {
		t.Fatalf("create %d %s", r.status, r.body)
	}
	v := decode[TenantView](t, r)
	if v.Name != "acme" || v.Version != 1 || !v.HasPassword || v.Limits.Get(MaxJobs) != 10 || v.Index != 1 {
		t.Fatalf("create view %+v", v)
	}
	if bytes.Contains(r.body, []byte("sha256")) || bytes.Contains(r.body, []byte("s3cret")) {
		t.Fatalf("secret in the answer: %s", r.body)
	}
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	// replace: password optional, limits replaced whole
	r = e.do(t, "PUT", "/v1/tenants/acme", `{"limits":{"max_queues":5}}`)
	v = decode[TenantView](t, r)
	if r.status != 200 || v.Version != 2 || v.Limits.IsSet(MaxJobs) || v.Limits.Get(MaxQueues) != 5 {
		t.Fatalf("replace %d %s", r.status, r.body)
	}
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("s3cret")); err != nil {
		t.Fatal("password lost on replace")
	}
	// replace with a password only: the limits are kept
	r = e.do(t, "PUT", "/v1/tenants/acme", `{"password":"s3cret"}`)
	if v = decode[TenantView](t, r); r.status != 200 || v.Version != 3 || v.Limits.Get(MaxQueues) != 5 {
		t.Fatalf("replace password only: %d %s", r.status, r.body)
	}
	// default: limits only
	r = e.do(t, "PUT", "/v1/tenants/default", `{"limits":{"max_connections":100}}`)
	if r.status != 200 || e.reg.Default().Limits().Get(MaxConnections) != 100 {
		t.Fatalf("limit default %d %s", r.status, r.body)
	}
	// get, list
	tn := e.reg.ByName("acme")
	noErr(t, tn.AdmitProduce(e.reg.Now(), 1, 9, 9, 0))
	r = e.do(t, "GET", "/v1/tenants/acme", "")
	v = decode[TenantView](t, r)
	if r.status != 200 || v.Usage == nil || v.Usage.Jobs != 1 || v.Usage.Bytes != 9 || v.Usage.Node["queued"] != 3 {
		t.Fatalf("get %d %s", r.status, r.body)
	}
	r = e.do(t, "GET", "/v1/tenants", "")
	l := decode[TenantList](t, r)
	if r.status != 200 || len(l.Tenants) != 2 || l.Tenants[0].Name != "acme" || l.Tenants[1].Name != "default" {
		t.Fatalf("list %s", r.body)
	}
	// limits
	r = e.do(t, "GET", "/v1/tenants/acme/limits", "")
	if r.status != 200 || string(bytes.TrimSpace(r.body)) != `{"max_queues":5}` {
		t.Fatalf("get limits %d %s", r.status, r.body)
	}
	r = e.do(t, "PUT", "/v1/tenants/acme/limits", `{"max_jobs": 3, "produce_burst": 2}`)
	if r.status != 200 || string(bytes.TrimSpace(r.body)) != `{"max_jobs":3,"produce_burst":2}` || tn.Version() != 4 {
		t.Fatalf("put limits %d %s", r.status, r.body)
	}
	// usage
	r = e.do(t, "GET", "/v1/tenants/acme/usage", "")
	u := decode[Usage](t, r)
	if r.status != 200 || u.Tenant != "acme" || u.Jobs != 1 || u.Node["active"] != 1 || len(u.QuotaRejections) != len(refusingLimits) {
		t.Fatalf("usage %s", r.body)
	}
	// credentials: given, then generated
	r = e.do(t, "POST", "/v1/tenants/acme/credentials", `{"password":"n3w"}`)
	c := decode[CredentialsResponse](t, r)
	if r.status != 200 || c.Password != "" || c.Version != 5 {
		t.Fatalf("rotate %d %s", r.status, r.body)
	}
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("n3w")); err != nil {
		t.Fatal("rotated password refused")
	}
	r = e.do(t, "POST", "/v1/tenants/acme/credentials", "")
	c = decode[CredentialsResponse](t, r)
	if r.status != 200 || len(c.Password) < 20 {
		t.Fatalf("generated %d %s", r.status, r.body)
	}
	if _, err := e.reg.Authenticate([]byte("acme"), []byte(c.Password)); err != nil {
		t.Fatal("generated password refused")
	}
	// queue routes, percent-encoded names with '/' and spaces
	for _, tc := range []struct{ path, queue string }{
		{"a%2Fb%20c", "a/b c"}, {"plain", "plain"}, {"%E2%9C%93%25", "✓%"}, {"..", ".."},
	} {
		r = e.do(t, "POST", "/v1/tenants/acme/queues/"+tc.path+"/pause", `{"state":"in"}`)
		qs := decode[QueueState](t, r)
		if r.status != 200 || qs.Queue != tc.queue || qs.State != "in" || qs.Tenant != "acme" {
			t.Fatalf("pause %s: %d %s", tc.path, r.status, r.body)
		}
		r = e.do(t, "POST", "/v1/tenants/acme/queues/"+tc.path+"/pause", `{"state":"out","bcast":true}`)
		if qs = decode[QueueState](t, r); qs.State != "all" {
			t.Fatalf("pause out after in: %s", r.body)
		}
		r = e.do(t, "POST", "/v1/tenants/acme/queues/"+tc.path+"/resume", `{"state":"in"}`)
		if qs = decode[QueueState](t, r); qs.State != "out" {
			t.Fatalf("resume in: %s", r.body)
		}
		r = e.do(t, "POST", "/v1/tenants/acme/queues/"+tc.path+"/resume", "")
		if qs = decode[QueueState](t, r); qs.State != "none" {
			t.Fatalf("resume all: %s", r.body)
		}
		r = e.do(t, "POST", "/v1/tenants/acme/queues/"+tc.path+"/pause", "")
		if qs = decode[QueueState](t, r); qs.State != "all" {
			t.Fatalf("pause all: %s", r.body)
		}
		r = e.do(t, "POST", "/v1/tenants/acme/queues/"+tc.path+"/purge", "")
		pr := decode[PurgeResult](t, r)
		if r.status != 200 || pr.Queue != tc.queue || pr.Removed != 7 {
			t.Fatalf("purge %s: %s", tc.path, r.body)
		}
		if e.be.purged["acme\x00"+tc.queue] != 7 {
			t.Fatalf("backend purged %v", e.be.purged)
		}
	}
	if !slices.Contains(e.be.calls, `pause acme "a/b c" all true`) {
		t.Fatalf("bcast not passed: %q", e.be.calls)
	}
	// metrics
	r = e.do(t, "GET", "/metrics", "")
	if r.status != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics %d", r.status)
	}
	// delete
	r = e.do(t, "DELETE", "/v1/tenants/acme", "")
	if r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete %d %s", r.status, r.body)
	}
	wantAPIError(t, e.do(t, "GET", "/v1/tenants/acme", ""), 404, CodeNotFound)
	wantAPIError(t, e.do(t, "DELETE", "/v1/tenants/acme", ""), 404, CodeNotFound)
}

func TestAdminBadInput(t *testing.T) {
	e := newAdminEnv(t, "")
	mustPut(t, e.reg, "acme", lim(MaxJobs, 10))
	big := `{"password":"` + strings.Repeat("x", MaxAdminBody) + `"}`
	cases := []struct {
		method, path, body string
		hdr                []string
		status             int
		code               string
	}{
		{"PUT", "/v1/tenants/acme", `{"limits":`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `not json`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"limits":{}} {}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"limits":{}, "extra":1}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"limits":{"max_jobz":1}}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"limits":{"max_jobs":-1}}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"limits":{"max_jobs":1.5}}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"limits":{"max_jobs":"1"}}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"password":5}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", `{"password":""}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", ``, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme", big, nil, 413, CodePayloadTooLarge},
		{"PUT", "/v1/tenants/acme", `{}`, []string{"Content-Type", "text/plain"}, 415, CodeUnsupportedMedia},
		{"PUT", "/v1/tenants/newone", `{"limits":{}}`, nil, 400, CodeBadRequest}, // password required on create
		{"PUT", "/v1/tenants/Acme", `{"password":"x"}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/a%20b", `{"password":"x"}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/" + strings.Repeat("a", 65), `{"password":"x"}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/default", `{"password":"x"}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme/limits", `{"max_jobs":-5}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme/limits", `{"nope":1}`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme/limits", `null`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme/limits", `[]`, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme/limits", ``, nil, 400, CodeBadRequest},
		{"PUT", "/v1/tenants/acme/limits", `{"max_jobs":1}` + strings.Repeat(" ", MaxAdminBody), nil, 413, CodePayloadTooLarge},
		{"PUT", "/v1/tenants/nobody/limits", `{}`, nil, 404, CodeNotFound},
		{"GET", "/v1/tenants/nobody", ``, nil, 404, CodeNotFound},
		{"GET", "/v1/tenants/BAD", ``, nil, 400, CodeBadRequest},
		{"GET", "/v1/tenants/nobody/limits", ``, nil, 404, CodeNotFound},
		{"GET", "/v1/tenants/nobody/usage", ``, nil, 404, CodeNotFound},
		{"DELETE", "/v1/tenants/default", ``, nil, 409, CodeConflict},
		{"DELETE", "/v1/tenants/nobody", ``, nil, 404, CodeNotFound},
		{"DELETE", "/v1/tenants/B_A_D", ``, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/default/credentials", ``, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/nobody/credentials", ``, nil, 404, CodeNotFound},
		{"POST", "/v1/tenants/acme/credentials", `{"password":""}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/credentials", `{"pass":"x"}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/credentials", `{"password":"` + strings.Repeat("p", 513) + `"}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/queues/q/pause", `{"state":"none"}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/queues/q/pause", `{"state":"sideways"}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/queues/q/resume", `{"stat":"in"}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/queues/q/purge", `{"x":1}`, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/acme/queues//purge", ``, nil, 400, CodeBadRequest},
		{"POST", "/v1/tenants/nobody/queues/q/purge", ``, nil, 404, CodeNotFound},
		{"POST", "/v1/tenants/nobody/queues/q/pause", ``, nil, 404, CodeNotFound},
		{"POST", "/v1/tenants/acme", ``, nil, 405, CodeMethodNotAllowed},
		{"GET", "/v1/tenants/acme/queues/q/purge", ``, nil, 405, CodeMethodNotAllowed},
		{"DELETE", "/v1/tenants", ``, nil, 405, CodeMethodNotAllowed},
		{"POST", "/healthz", ``, nil, 405, CodeMethodNotAllowed},
		{"PUT", "/metrics", ``, nil, 405, CodeMethodNotAllowed},
		{"GET", "/v1/nothing", ``, nil, 404, CodeNotFound},
		{"GET", "/v1/tenants/acme/limits/max_jobs", ``, nil, 404, CodeNotFound},
		{"GET", "/", ``, nil, 404, CodeNotFound},
	}
	for _, c := range cases {
		before := e.reg.Export()
		beforeCalls := len(e.be.calls)
		r := e.do(t, c.method, c.path, c.body, c.hdr...)
		t.Run(c.method+" "+truncate(c.path, 40)+" "+truncate(c.body, 30), func(t *testing.T) {
			wantAPIError(t, r, c.status, c.code)
			if c.status == 405 && r.hdr.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
			if !reflect.DeepEqual(before, e.reg.Export()) {
				t.Fatal("a refused request changed the tenants")
			}
			if len(e.be.calls) != beforeCalls {
				t.Fatalf("a refused request reached the backend: %q", e.be.calls[beforeCalls:])
			}
		})
	}
	// Backend errors map to their statuses.
	e.be.fail = fmt.Errorf("queue gone: %w", ErrNotFound)
	wantAPIError(t, e.do(t, "POST", "/v1/tenants/acme/queues/q/purge", ""), 404, CodeNotFound)
	e.be.fail = fmt.Errorf("shutting down: %w", ErrUnavailable)
	wantAPIError(t, e.do(t, "POST", "/v1/tenants/acme/queues/q/pause", ""), 503, CodeUnavailable)
	e.be.fail = fmt.Errorf("boom")
	wantAPIError(t, e.do(t, "POST", "/v1/tenants/acme/queues/q/resume", `{"state":"in"}`), 500, CodeInternal)
}

// concretePath fills a route pattern with sample values.
func concretePath(p string) string {
	return strings.NewReplacer("{name}", "acme", "{queue}", "q%2F1").Replace(p)
}

func TestAdminTokenRequired(t *testing.T) {
	e := newAdminEnv(t, "t0ken")
	mustPut(t, e.reg, "acme", Limits{})
	for _, rt := range adminRoutes {
		path := concretePath(rt.pattern)
		body := ""
		if rt.method == "PUT" {
			body = `{"limits":{}}`
		}
		for _, auth := range []string{"", "Bearer wrong", "Basic dDBrZW4=", "Bearer", "t0ken"} {
			r := e.do(t, rt.method, path, body, "Authorization", auth)
			if rt.pattern == "/healthz" {
				if r.status != 200 {
					t.Fatalf("healthz with %q: %d", auth, r.status)
				}
				continue
			}
			wantAPIError(t, r, 401, CodeUnauthorized)
			if r.hdr.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		}
		r := e.do(t, rt.method, path, body) // the right token
		if r.status == 401 || r.status == 403 || r.status >= 500 {
			t.Fatalf("%s %s with the token: %d %s", rt.method, path, r.status, r.body)
		}
		if rt.method == "DELETE" {
			mustPut(t, e.reg, "acme", Limits{})
		}
	}
	// Unknown routes do not reveal themselves without the token.
	wantAPIError(t, e.do(t, "GET", "/v1/secret", "", "Authorization", ""), 401, CodeUnauthorized)
	// "bearer" is case-insensitive; the token is read live.
	if r := e.do(t, "GET", "/v1/tenants", "", "Authorization", "bearer t0ken"); r.status != 200 {
		t.Fatal(r.status)
	}
	// A non-loopback peer is fine when a token is set.
	req := httptest.NewRequest("GET", "/v1/tenants", nil)
	req.RemoteAddr = "203.0.113.9:5000"
	req.Header.Set("Authorization", "Bearer t0ken")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("remote with token: %d", rec.Code)
	}
}

func TestAdminLoopbackOnlyWithoutToken(t *testing.T) {
	e := newAdminEnv(t, "")
	for _, rt := range append(adminRoutes, &route{method: "GET", pattern: "/nope"}) {
		for _, remote := range []string{"203.0.113.9:5000", "[2001:db8::1]:80", "10.0.0.1:1"} {
			req := httptest.NewRequest(rt.method, concretePath(rt.pattern), nil)
			req.RemoteAddr = remote
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			wantAPIError(t, resp{rec.Code, rec.Header(), rec.Body.Bytes()}, 403, CodeForbidden)
		}
	}
	for _, remote := range []string{"127.0.0.1:1", "[::1]:2", "127.9.9.9:3"} {
		req := httptest.NewRequest("GET", "/v1/tenants", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("%s: %d", remote, rec.Code)
		}
	}
}

func TestAdminMetricsParse(t *testing.T) {
	e := newAdminEnv(t, "")
	scrape := func() map[string]float64 {
		t.Helper()
		r := e.do(t, "GET", "/metrics", "")
		if r.status != 200 {
			t.Fatal(r.status)
		}
		m, err := promtext.Parse(string(r.body))
		if err != nil {
			t.Fatalf("metrics do not parse: %v", err)
		}
		return m
	}
	m := scrape()
	if m[`disq_tenants{}`] != 1 || m[`disq_tenant_jobs_held{tenant="default"}`] != 0 {
		t.Fatalf("default series missing")
	}
	if _, ok := m[`disq_fake_engine_commands_total{cmd="addjob"}`]; !ok {
		t.Fatal("backend series missing")
	}
	if !hasPrefix(m, "go_") || !hasPrefix(m, "process_") {
		t.Fatal("process metrics missing")
	}
	if hasLabel(m, `tenant="acme"`) {
		t.Fatal("acme before creation")
	}
	if r := e.do(t, "PUT", "/v1/tenants/acme", `{"password":"x","limits":{"max_jobs":1}}`); r.status != 201 {
		t.Fatal(r.status)
	}
	tn := e.reg.ByName("acme")
	noErr(t, tn.AdmitProduce(e.reg.Now(), 1, 42, 42, 0))
	wantErr(t, tn.AdmitProduce(e.reg.Now(), 1, 1, 1, 0), "QUOTA max_jobs 1/1")
	tn.Count(EventAdded, 1)
	tn.Count(EventDelivered, 3)
	noErr(t, tn.AdmitConnection())
	e.reg.SetQueueStats(func(dst []QueueStat) []QueueStat {
		return append(dst,
			QueueStat{Tenant: tn.Index(), Queue: "q \"1\"\n\\x", Depth: 5, InFlight: 2, OldestAge: 1500 * time.Millisecond, Redeliveries: 4},
			QueueStat{Tenant: 0, Queue: "jobs", Depth: 1},
			QueueStat{Tenant: 999, Queue: "ghost", Depth: 100}, // unknown tenant: skipped
			QueueStat{Tenant: tn.Index(), Queue: "bad\xffutf8", Depth: 1})
	})
	m = scrape()
	want := map[string]float64{
		`disq_tenants{}`:                                                            2,
		`disq_tenant_jobs_held{tenant="acme"}`:                                      1,
		`disq_tenant_bytes_held{tenant="acme"}`:                                     42,
		`disq_tenant_connections{tenant="acme"}`:                                    1,
		`disq_tenant_jobs_added_total{tenant="acme"}`:                               1,
		`disq_tenant_jobs_delivered_total{tenant="acme"}`:                           3,
		`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="acme"}`:        1,
		`disq_tenant_quota_rejections_total{limit="max_connections",tenant="acme"}`: 0,
		`disq_tenant_limit{limit="max_jobs",tenant="acme"}`:                         1,
		`disq_tenant_limit{limit="max_bytes",tenant="acme"}`:                        -1,
		`disq_tenant_rate_limited_total{limit="produce_rate",tenant="acme"}`:        0,
		`disq_tenant_consume_throttled_total{limit="consume_rate",tenant="acme"}`:   0,
		`disq_queue_depth{queue="q \"1\"\n\\x",tenant="acme"}`:                      5,
		`disq_queue_inflight{queue="q \"1\"\n\\x",tenant="acme"}`:                   2,
		`disq_queue_oldest_age_seconds{queue="q \"1\"\n\\x",tenant="acme"}`:         1.5,
		`disq_queue_redeliveries_total{queue="q \"1\"\n\\x",tenant="acme"}`:         4,
		`disq_queue_depth{queue="jobs",tenant="default"}`:                           1,
		"disq_queue_depth{queue=\"bad\uFFFDutf8\",tenant=\"acme\"}":                 1,
		`disq_queue_series_omitted{}`:                                               0,
	}
	for k, v := range want {
		got, ok := m[k]
		if !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if hasLabel(m, `queue="ghost"`) {
		t.Error("queue of an unknown tenant exported")
	}
	// Deleting the tenant removes every series of it.
	if r := e.do(t, "DELETE", "/v1/tenants/acme", ""); r.status != 204 {
		t.Fatal(r.status)
	}
	m = scrape()
	if hasLabel(m, `tenant="acme"`) {
		t.Fatal("acme series survive its deletion")
	}
	if m[`disq_tenants{}`] != 1 {
		t.Fatal("tenant count")
	}
	// Re-creating registers them again (no duplicate-registration panic).
	mustPut(t, e.reg, "acme", Limits{})
	if m = scrape(); !hasLabel(m, `tenant="acme"`) {
		t.Fatal("acme series not back")
	}
}

func hasPrefix(m map[string]float64, p string) bool {
	for k := range m {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

func hasLabel(m map[string]float64, l string) bool {
	for k := range m {
		if strings.Contains(k, l) {
			return true
		}
	}
	return false
}

func TestQueueSeriesCap(t *testing.T) {
	r, err := New(Options{MaxQueueSeries: 3})
	noErr(t, err)
	depth := map[string]int64{"a": 1, "b": 50, "c": 10, "d": 30, "e": 2}
	var mu sync.Mutex
	r.SetQueueStats(func(dst []QueueStat) []QueueStat {
		mu.Lock()
		defer mu.Unlock()
		for q, d := range depth {
			dst = append(dst, QueueStat{Queue: q, Depth: d})
		}
		return dst
	})
	scrape := func() []string {
		var b bytes.Buffer
		r.WritePrometheus(&b)
		m, err := promtext.Parse(b.String())
		noErr(t, err)
		var qs []string
		for k := range m {
			if strings.HasPrefix(k, "disq_queue_depth{") {
				qs = append(qs, k[len(`disq_queue_depth{queue="`):][:1])
			}
		}
		slices.Sort(qs)
		if m[`disq_queue_series_omitted{}`] != float64(len(depth)-len(qs)) {
			t.Fatalf("omitted = %v", m[`disq_queue_series_omitted{}`])
		}
		return qs
	}
	if got := scrape(); !reflect.DeepEqual(got, []string{"b", "c", "d"}) {
		t.Fatalf("first choice %v, want the deepest", got)
	}
	// Sticky: a deeper queue does not evict one that has series.
	mu.Lock()
	depth["a"] = 1000
	mu.Unlock()
	if got := scrape(); !reflect.DeepEqual(got, []string{"b", "c", "d"}) {
		t.Fatalf("not sticky: %v", got)
	}
	// A queue that disappears frees its place.
	mu.Lock()
	delete(depth, "c")
	mu.Unlock()
	if got := scrape(); !reflect.DeepEqual(got, []string{"a", "b", "d"}) {
		t.Fatalf("after removal %v", got)
	}
	off, err := New(Options{MaxQueueSeries: -1})
	noErr(t, err)
	off.SetQueueStats(func(dst []QueueStat) []QueueStat { return append(dst, QueueStat{Queue: "x"}) })
	var b bytes.Buffer
	off.WritePrometheus(&b)
	if strings.Contains(b.String(), "disq_queue_") {
		t.Fatal("per-queue series not disabled")
	}
}

// Every route of the router is in openapi.json and vice versa, each with
// its error answers described.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
			Responses map[string]json.RawMessage `json:"responses"`
		} `json:"components"`
	}
	noErr(t, json.Unmarshal(OpenAPI(), &doc))
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatal(doc.OpenAPI)
	}
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true}
	inDoc := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			if !methods[m] {
				continue
			}
			inDoc[strings.ToUpper(m)+" "+p] = true
			var o struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			noErr(t, json.Unmarshal(op, &o))
			if p != "/healthz" {
				if _, ok := o.Responses["401"]; !ok {
					t.Errorf("%s %s: no 401 described", m, p)
				}
			}
			if _, ok := o.Responses["405"]; !ok {
				t.Errorf("%s %s: no 405 described", m, p)
			}
		}
	}
	inMux := map[string]bool{}
	for _, rt := range adminRoutes {
		inMux[rt.method+" "+rt.pattern] = true
	}
	for k := range inMux {
		if !inDoc[k] {
			t.Errorf("route %s missing from openapi.json", k)
		}
	}
	for k := range inDoc {
		if !inMux[k] {
			t.Errorf("openapi.json describes %s, which the router does not serve", k)
		}
	}
	// The Limits schema lists exactly the limits.
	props := doc.Components.Schemas["Limits"].Properties
	if len(props) != int(NumLimits) {
		t.Errorf("Limits schema has %d properties, want %d", len(props), NumLimits)
	}
	for l := range NumLimits {
		if _, ok := props[l.String()]; !ok {
			t.Errorf("Limits schema lacks %s", l)
		}
	}
	// Every error code the handler uses is in the Error schema's enum.
	raw, _ := json.Marshal(doc.Components.Schemas)
	for _, c := range []string{CodeBadRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeMethodNotAllowed,
		CodeConflict, CodePayloadTooLarge, CodeUnsupportedMedia, CodeInternal, CodeUnavailable} {
		if !bytes.Contains(OpenAPI(), []byte(`"`+c+`"`)) {
			t.Errorf("error code %s not in openapi.json", c)
		}
	}
	_ = raw
}

// freePort returns a 127.0.0.1 port below 55535 that is free (not port 0:
// decision 11).
func freePort(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(35000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

func TestListenAdmin(t *testing.T) {
	var logs bytes.Buffer
	var lmu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		lmu.Lock()
		defer lmu.Unlock()
		return logs.Write(p)
	}), nil))
	r, _ := newReg(t)
	h := NewAdminHandler(r, newFakeBackend(), nil, logger)
	srv, err := ListenAdmin("127.0.0.1", 0, nil, h, logger)
	if srv != nil || err != nil {
		t.Fatal("port 0 must disable the API")
	}
	port := freePort(t)
	srv, err = ListenAdmin("127.0.0.1", port, nil, h, logger)
	noErr(t, err)
	defer srv.Close()
	lmu.Lock()
	if !strings.Contains(logs.String(), "loopback clients only") {
		t.Fatalf("no loopback warning in the log: %s", logs.String())
	}
	lmu.Unlock()
	res, err := http.Get("http://" + srv.Addr + "/healthz")
	noErr(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"ok"`) {
		t.Fatalf("healthz over TCP: %d %s", res.StatusCode, body)
	}
	// A taken port fails loudly.
	if _, err := ListenAdmin("127.0.0.1", port, nil, h, logger); err == nil {
		t.Fatal("second listener on a taken port")
	}
	// With a token, 401 over TCP too.
	tok := func() string { return "tk" }
	port2 := freePort(t)
	srv2, err := ListenAdmin("127.0.0.1", port2, tok, NewAdminHandler(r, nil, tok, logger), logger)
	noErr(t, err)
	defer srv2.Close()
	res, err = http.Get("http://" + srv2.Addr + "/v1/tenants")
	noErr(t, err)
	res.Body.Close()
	if res.StatusCode != 401 {
		t.Fatalf("no token over TCP: %d", res.StatusCode)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// Admin changes over HTTP while the hot path runs (for -race).
func TestAdminConcurrentWithLoad(t *testing.T) {
	e := newAdminEnv(t, "")
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	mustPut(t, e.reg, "acme", lim(MaxJobs, 100))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if tn := e.reg.ByName("acme"); tn != nil && tn.AdmitProduce(e.reg.Now(), 1, 1, 1, 0) == nil {
					tn.Count(EventAdded, 1)
					tn.ReleaseJobs(1, 1)
				}
				runtime.Gosched()
			}
		})
	}
	client := srv.Client()
	for i := range 20 {
		var req *http.Request
		switch i % 4 {
		case 0:
			req, _ = http.NewRequest("PUT", srv.URL+"/v1/tenants/acme/limits", strings.NewReader(`{"max_jobs":`+strconv.Itoa(i)+`}`))
		case 1:
			req, _ = http.NewRequest("GET", srv.URL+"/metrics", nil)
		case 2:
			req, _ = http.NewRequest("DELETE", srv.URL+"/v1/tenants/acme", nil)
		case 3:
			req, _ = http.NewRequest("PUT", srv.URL+"/v1/tenants/acme", strings.NewReader(`{"password":"p"}`))
		}
		res, err := client.Do(req)
		noErr(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %s: %d %s", req.Method, req.URL, res.StatusCode, body)
		}
		if i%4 == 1 {
			if _, err := promtext.Parse(string(body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
