package tenant_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/tenant"
)

// TestAdminTenantsCRUD: PUT creates (201, Location) and replaces (200),
// GET one and the list, DELETE (204), with bad input refused (400, 404,
// 409, 413, 415) and changing nothing.
func TestAdminTenantsCRUD(t *testing.T) {
	t.Parallel()
	e := startEnv(t)

	var list tenant.TenantList
	decodeJSON(t, e.api(200, "GET", "/v1/tenants", nil), &list)
	if len(list.Tenants) != 1 || list.Tenants[0].Name != "default" || list.Tenants[0].Usage == nil {
		t.Fatalf("GET /v1/tenants on a fresh server: %+v; want only default, with usage", list)
	}

	// Create.
	st, data, h := e.request("PUT", "/v1/tenants/alpha", map[string]any{"password": "pa", "limits": limits{"max_jobs": 5}})
	if st != 201 || h.Get("Location") != "/v1/tenants/alpha" {
		t.Fatalf("create: %d %s Location %q; want 201 /v1/tenants/alpha", st, data, h.Get("Location"))
	}
	var v tenant.TenantView
	decodeJSON(t, data, &v)
	if v.Name != "alpha" || !v.HasPassword || v.Limits.Get(tenant.MaxJobs) != 5 || v.Version != 1 || v.Index == 0 {
		t.Errorf("created view: %+v", v)
	}
	if bytes.Contains(data, []byte("pa\"")) || bytes.Contains(data, []byte("hash")) {
		t.Errorf("the answer shows the password: %s", data)
	}
	e.dial("alpha", "pa").Expect("+PONG", "PING")

	// Replace: limits whole, password kept when absent.
	st, data, _ = e.request("PUT", "/v1/tenants/alpha", map[string]any{"limits": limits{"max_queues": 3}})
	if st != 200 {
		t.Fatalf("replace: %d %s", st, data)
	}
	decodeJSON(t, data, &v)
	if v.Version != 2 || v.Limits.IsSet(tenant.MaxJobs) || v.Limits.Get(tenant.MaxQueues) != 3 {
		t.Errorf("replaced view: %+v; want version 2, only max_queues 3", v)
	}
	e.dial("alpha", "pa").Expect("+PONG", "PING")
	// Replace with a password only: limits kept.
	e.api(200, "PUT", "/v1/tenants/alpha", map[string]any{"password": "pa2"})
	decodeJSON(t, e.api(200, "GET", "/v1/tenants/alpha", nil), &v)
	if v.Version != 3 || v.Limits.Get(tenant.MaxQueues) != 3 || v.Usage == nil || v.Usage.Node == nil {
		t.Errorf("after a password change: %+v; want version 3, max_queues 3, usage with node figures", v)
	}
	e.dial("", "").Expect(errWrongPass, "AUTH", "alpha", "pa")
	e.dial("alpha", "pa2").Expect("+PONG", "PING")

	// Bad input: nothing changes.
	for _, tc := range []struct {
		status int
		code   string
		method string
		path   string
		body   any
		hdr    []string
	}{
		{400, "bad_request", "PUT", "/v1/tenants/newt", map[string]any{"limits": limits{}}, nil}, // no password on create
		{400, "bad_request", "PUT", "/v1/tenants/Alpha", map[string]any{"password": "x"}, nil},
		{400, "bad_request", "PUT", "/v1/tenants/" + strings.Repeat("a", 65), map[string]any{"password": "x"}, nil},
		{400, "bad_request", "PUT", "/v1/tenants/a.b", map[string]any{"password": "x"}, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"password": "x"`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"password": "x", "colour": 1}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"password": "x"} {}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"password": ""}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", map[string]any{"password": strings.Repeat("p", 513)}, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"limits": {"max_jobs": -1}}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"limits": {"max_jobs": 1.5}}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"limits": {"max_jobs": "5"}}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `{"limits": {"max_cats": 5}}`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", ``, nil},
		{400, "bad_request", "PUT", "/v1/tenants/alpha", `[]`, nil},
		{400, "bad_request", "PUT", "/v1/tenants/default", map[string]any{"password": "x"}, nil},
		{415, "unsupported_media_type", "PUT", "/v1/tenants/alpha", `{"password": "x"}`, []string{"Content-Type", "text/plain"}},
		{413, "payload_too_large", "PUT", "/v1/tenants/alpha", `{"password": "` + strings.Repeat("x", 70<<10) + `"}`, nil},
		{404, "not_found", "GET", "/v1/tenants/nosuch", nil, nil},
		{400, "bad_request", "GET", "/v1/tenants/NoSuch", nil, nil},
		{404, "not_found", "DELETE", "/v1/tenants/nosuch", nil, nil},
		{400, "bad_request", "DELETE", "/v1/tenants/No", nil, nil},
		{409, "conflict", "DELETE", "/v1/tenants/default", nil, nil},
		{405, "method_not_allowed", "POST", "/v1/tenants", nil, nil},
		{405, "method_not_allowed", "PATCH", "/v1/tenants/alpha", `{}`, nil},
		{405, "method_not_allowed", "DELETE", "/v1/tenants/alpha/usage", nil, nil},
		{405, "method_not_allowed", "GET", "/v1/tenants/alpha/credentials", nil, nil},
		{405, "method_not_allowed", "GET", "/v1/tenants/alpha/queues/q/pause", nil, nil},
		{405, "method_not_allowed", "POST", "/healthz", nil, nil},
		{404, "not_found", "GET", "/v1/nothing", nil, nil},
		{404, "not_found", "GET", "/v1/tenants/alpha/nothing", nil, nil},
		{404, "not_found", "GET", "/", nil, nil},
	} {
		e.apiErr(tc.status, tc.code, tc.method, tc.path, tc.body, tc.hdr...)
	}
	// A bad escape is refused by net/http itself (400, plain text).
	if st, _, _ := e.request("GET", "/v1/tenants/%zz", nil); st != 400 {
		t.Errorf("GET /v1/tenants/%%zz: %d; want 400", st)
	}
	_, _, h = e.request("POST", "/v1/tenants", nil)
	if h.Get("Allow") != "GET" {
		t.Errorf("405 Allow header: %q; want GET", h.Get("Allow"))
	}
	decodeJSON(t, e.api(200, "GET", "/v1/tenants/alpha", nil), &v)
	if v.Version != 3 || v.Limits.Get(tenant.MaxQueues) != 3 || len(v.Limits.Set()) != 1 {
		t.Errorf("after refused requests: %+v; want version 3 unchanged", v)
	}
	e.dial("alpha", "pa2").Expect("+PONG", "PING")
	e.api(404, "GET", "/v1/tenants/newt", nil)

	// List, sorted or not: default and alpha, with usage.
	e.putTenant("beta", "pb", nil)
	decodeJSON(t, e.api(200, "GET", "/v1/tenants", nil), &list)
	names := []string{}
	for _, x := range list.Tenants {
		names = append(names, x.Name)
		if x.Usage == nil {
			t.Errorf("list: %s has no usage", x.Name)
		}
	}
	if !sameSet(names, []string{"default", "alpha", "beta"}) {
		t.Errorf("list: %v", names)
	}
	var h2 tenant.Health
	decodeJSON(t, e.api(200, "GET", "/healthz", nil), &h2)
	if h2.Status != "ok" || h2.Tenants != 3 {
		t.Errorf("healthz: %+v; want ok, 3 tenants", h2)
	}

	// Delete.
	if st, data, _ := e.request("DELETE", "/v1/tenants/beta", nil); st != 204 || len(data) != 0 {
		t.Errorf("DELETE: %d %q; want 204 and no body", st, data)
	}
	e.api(404, "GET", "/v1/tenants/beta", nil)
	e.api(404, "DELETE", "/v1/tenants/beta", nil)
	e.dial("", "").Expect(errWrongPass, "AUTH", "beta", "pb")
	// And created again, from scratch.
	e.api(201, "PUT", "/v1/tenants/beta", map[string]any{"password": "pb2"})
	e.dial("beta", "pb2").Expect("+PONG", "PING")
}

// TestAdminLimitsUsageCredentials: the limits, usage and credentials
// routes, on a tenant and on default, with bad input.
func TestAdminLimitsUsageCredentials(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", nil)

	if got := strings.TrimSpace(string(e.api(200, "GET", "/v1/tenants/alpha/limits", nil))); got != "{}" {
		t.Errorf("GET limits of a tenant without limits: %s; want {}", got)
	}
	all := limits{"max_jobs": 1, "max_bytes": 2, "max_queues": 3, "max_body_bytes": 4, "max_replicate": 5,
		"produce_rate": 6, "produce_burst": 7, "produce_bytes_rate": 8, "consume_rate": 9,
		"max_connections": 10, "max_blocked_clients": 11}
	var got limits
	decodeJSON(t, e.api(200, "PUT", "/v1/tenants/alpha/limits", all), &got)
	if len(got) != len(all) {
		t.Errorf("PUT limits answered %v; want %v", got, all)
	}
	decodeJSON(t, e.api(200, "GET", "/v1/tenants/alpha/limits", nil), &got)
	for k, v := range all {
		if got[k] != v {
			t.Errorf("limit %s: %d; want %d", k, got[k], v)
		}
	}
	m := e.metrics()
	for k, v := range all {
		if m[`disq_tenant_limit{limit="`+k+`",tenant="alpha"}`] != float64(v) {
			t.Errorf("metric disq_tenant_limit %s: %v; want %d", k, m[`disq_tenant_limit{limit="`+k+`",tenant="alpha"}`], v)
		}
	}
	for _, bad := range []string{`{"max_jobs": -1}`, `{"max_jobs": 1e3}`, `{"max_jobs": true}`, `{"nope": 1}`, `null`, `[]`, `{"max_jobs": 1} x`, ``} {
		e.apiErr(400, "bad_request", "PUT", "/v1/tenants/alpha/limits", bad)
	}
	e.apiErr(404, "not_found", "PUT", "/v1/tenants/nosuch/limits", `{}`)
	e.apiErr(404, "not_found", "GET", "/v1/tenants/nosuch/limits", nil)
	e.apiErr(400, "bad_request", "GET", "/v1/tenants/Bad/limits", nil)
	decodeJSON(t, e.api(200, "GET", "/v1/tenants/alpha/limits", nil), &got)
	if len(got) != len(all) {
		t.Errorf("limits after refused PUTs: %v", got)
	}
	// {} removes every limit.
	e.setLimits("alpha", limits{})
	if s := strings.TrimSpace(string(e.api(200, "GET", "/v1/tenants/alpha/limits", nil))); s != "{}" {
		t.Errorf("after PUT {}: %s", s)
	}

	// The default tenant takes limits (and they apply to it).
	e.setLimits("default", limits{"max_jobs": 1})
	d := e.dial("", "")
	addJob(t, d, "q", "x")
	d.Expect("-QUOTA max_jobs 1/1", "ADDJOB", "q", "x", "0")
	e.setLimits("default", limits{})
	addJob(t, d, "q", "x")

	// Usage.
	a := e.dial("alpha", "pa")
	addJob(t, a, "q", "hello")
	addJob(t, a, "q2", "hi")
	a.GetJobs("NOHANG", "FROM", "q2")
	u := e.usage("alpha")
	if u.Tenant != "alpha" || u.Jobs != 2 || u.Bytes != 7 || u.Queues != 2 || u.Connections != 1 ||
		u.Events["added"] != 2 || u.Events["delivered"] != 1 ||
		u.Node["jobs_queued"] != 1 || u.Node["jobs_active"] != 1 {
		t.Errorf("usage: %+v", u)
	}
	e.apiErr(404, "not_found", "GET", "/v1/tenants/nosuch/usage", nil)
	e.apiErr(400, "bad_request", "GET", "/v1/tenants/-%20/usage", nil)

	// Credentials: generated, then given.
	var cr tenant.CredentialsResponse
	decodeJSON(t, e.api(200, "POST", "/v1/tenants/alpha/credentials", nil), &cr)
	if cr.Tenant != "alpha" || len(cr.Password) < 16 || cr.Version == 0 {
		t.Fatalf("generated credentials: %+v", cr)
	}
	e.dial("", "").Expect(errWrongPass, "AUTH", "alpha", "pa")
	e.dial("alpha", cr.Password).Expect("+PONG", "PING")
	var cr2 tenant.CredentialsResponse
	decodeJSON(t, e.api(200, "POST", "/v1/tenants/alpha/credentials", `{}`), &cr2)
	if cr2.Password == "" || cr2.Password == cr.Password || cr2.Version != cr.Version+1 {
		t.Errorf("second generated credentials: %+v after %+v", cr2, cr)
	}
	body := e.api(200, "POST", "/v1/tenants/alpha/credentials", map[string]string{"password": "given-pw"})
	var cr3 tenant.CredentialsResponse
	decodeJSON(t, body, &cr3)
	if cr3.Password != "" || bytes.Contains(body, []byte("given-pw")) {
		t.Errorf("credentials with a given password echo it: %s", body)
	}
	e.dial("", "").Expect(errWrongPass, "AUTH", "alpha", cr2.Password)
	e.dial("alpha", "given-pw").Expect("+PONG", "PING")
	// The connection authenticated before the rotations stays in alpha.
	a.Expect(":1", "QLEN", "q")
	for _, tc := range []struct {
		status     int
		code, path string
		body       any
	}{
		{400, "bad_request", "/v1/tenants/default/credentials", nil},
		{404, "not_found", "/v1/tenants/nosuch/credentials", nil},
		{400, "bad_request", "/v1/tenants/alpha/credentials", `{"password": ""}`},
		{400, "bad_request", "/v1/tenants/alpha/credentials", `{"pass": "x"}`},
		{400, "bad_request", "/v1/tenants/alpha/credentials", `{"password": 5}`},
		{400, "bad_request", "/v1/tenants/alpha/credentials", `{`},
	} {
		e.apiErr(tc.status, tc.code, "POST", tc.path, tc.body)
	}
	e.dial("alpha", "given-pw").Expect("+PONG", "PING")
}

// TestAdminQueues: pause, resume and purge a tenant's queue through the
// API, as the tenant's PAUSE and QLEN see it, leaving other tenants'
// same-named queues alone.
func TestAdminQueues(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", nil)
	e.putTenant("beta", "pb", nil)
	a := e.dial("alpha", "pa")
	b := e.dial("beta", "pb")
	for i := 0; i < 3; i++ {
		addJob(t, a, "q", "x")
	}
	addJob(t, b, "q", "x")

	// Purge: alpha's queued jobs in q go; beta's same-named queue stays.
	a.Expect(":3", "QLEN", "q")
	var pr tenant.PurgeResult
	decodeJSON(t, e.api(200, "POST", "/v1/tenants/alpha/queues/q/purge", nil), &pr)
	if pr.Tenant != "alpha" || pr.Queue != "q" || pr.Removed != 3 {
		t.Errorf("purge: %+v; want 3 removed", pr)
	}
	a.Expect(":0", "QLEN", "q")
	b.Expect(":1", "QLEN", "q")
	e.waitUsage("alpha", 5*time.Second, "0 jobs after the purge", func(u tenant.Usage) bool { return u.Jobs == 0 })
	decodeJSON(t, e.api(200, "POST", "/v1/tenants/alpha/queues/nosuch/purge", `{}`), &pr)
	if pr.Removed != 0 {
		t.Errorf("purge of a missing queue: %+v", pr)
	}
	for i := 0; i < 3; i++ {
		addJob(t, a, "q", "x")
	}

	queueState := func(data []byte, want string) {
		t.Helper()
		var qs tenant.QueueState
		decodeJSON(t, data, &qs)
		if qs.Tenant != "alpha" || qs.State != want {
			t.Errorf("answer %s; want alpha's state %q", data, want)
		}
	}
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/q/pause", nil), "all")
	a.Expect("+all", "PAUSE", "q", "state")
	a.Expect(errPaused, "ADDJOB", "q", "x", "0")
	a.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", "q")
	b.Expect("+none", "PAUSE", "q", "state")
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/q/resume", `{"state": "out"}`), "in")
	a.Expect("+in", "PAUSE", "q", "state")
	if len(a.GetJobs("NOHANG", "FROM", "q")) != 1 {
		t.Errorf("GETJOB after resuming out: no job")
	}
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/q/resume", nil), "none")
	a.Expect("+none", "PAUSE", "q", "state")
	addJob(t, a, "q", "x")
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/q/pause", map[string]any{"state": "out"}), "out")
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/q/pause", map[string]any{"state": "in", "bcast": true}), "all")
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/q/resume", map[string]any{"state": "all"}), "none")
	// A queue that does not exist yet can be paused (as PAUSE does).
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/fresh/pause", map[string]any{"state": "in"}), "in")
	a.Expect(errPaused, "ADDJOB", "fresh", "x", "0")
	// Queue names are percent-decoded; "%2F" stays in the name.
	queueState(e.api(200, "POST", "/v1/tenants/alpha/queues/a%2Fb%20c/pause", nil), "all")
	a.Expect("+all", "PAUSE", "a/b c", "state")

	for _, tc := range []struct {
		status     int
		code, path string
		body       any
	}{
		{404, "not_found", "/v1/tenants/nosuch/queues/q/pause", nil},
		{404, "not_found", "/v1/tenants/nosuch/queues/q/resume", nil},
		{404, "not_found", "/v1/tenants/nosuch/queues/q/purge", nil},
		{400, "bad_request", "/v1/tenants/Bad/queues/q/pause", nil},
		{400, "bad_request", "/v1/tenants/alpha/queues/q/pause", `{"state": "sideways"}`},
		{400, "bad_request", "/v1/tenants/alpha/queues/q/pause", `{"state": "none"}`},
		{400, "bad_request", "/v1/tenants/alpha/queues/q/resume", `{"state": 1}`},
		{400, "bad_request", "/v1/tenants/alpha/queues/q/pause", `{"stat": "in"}`},
		{400, "bad_request", "/v1/tenants/alpha/queues/q/purge", `{"all": true}`},
		{400, "bad_request", "/v1/tenants/alpha/queues//pause", nil},
		{404, "not_found", "/v1/tenants/alpha/queues/q/stop", nil},
	} {
		e.apiErr(tc.status, tc.code, "POST", tc.path, tc.body)
	}
	a.Expect("+none", "PAUSE", "q", "state")
	b.Expect(":1", "QLEN", "q")
}

// TestAdminToken: with admin-token set every route but /healthz answers
// 401 without the bearer token (or with a wrong one), and works with it.
func TestAdminToken(t *testing.T) {
	t.Parallel()
	e := startEnv(t, "--admin-token", "s3cret-token")
	e.putTenant("alpha", "pa", nil)
	routes := []struct{ method, path, body string }{
		{"GET", "/metrics", ""},
		{"GET", "/v1/tenants", ""},
		{"GET", "/v1/tenants/alpha", ""},
		{"PUT", "/v1/tenants/alpha", `{"password": "pa"}`},
		{"DELETE", "/v1/tenants/alpha", ""},
		{"GET", "/v1/tenants/alpha/limits", ""},
		{"PUT", "/v1/tenants/alpha/limits", `{}`},
		{"GET", "/v1/tenants/alpha/usage", ""},
		{"POST", "/v1/tenants/alpha/credentials", `{"password": "pa"}`},
		{"POST", "/v1/tenants/alpha/queues/q/pause", ""},
		{"POST", "/v1/tenants/alpha/queues/q/resume", ""},
		{"POST", "/v1/tenants/alpha/queues/q/purge", ""},
		// Unknown routes and methods too: nothing is told without the token.
		{"GET", "/v1/nothing", ""},
		{"PATCH", "/v1/tenants/alpha", ""},
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer s3cret-tokenx", "Basic s3cret-token", "s3cret-token"} {
		for _, r := range routes {
			var body any
			if r.body != "" {
				body = r.body
			}
			hdr := []string{"Authorization", auth}
			st, data, h := e.request(r.method, r.path, body, hdr...)
			if st != 401 {
				t.Errorf("%s %s with Authorization %q: %d; want 401", r.method, r.path, auth, st)
				continue
			}
			checkErrorBody(t, r.method+" "+r.path, data, h, "unauthorized")
			if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s: WWW-Authenticate %q", r.method, r.path, h.Get("WWW-Authenticate"))
			}
		}
		if st, _, _ := e.request("GET", "/healthz", nil, "Authorization", auth); st != 200 {
			t.Errorf("/healthz with Authorization %q: %d; want 200", auth, st)
		}
	}
	// Nothing changed: alpha is there with its password.
	e.dial("alpha", "pa").Expect("+PONG", "PING")
	// With the token (any case of "Bearer"), every route answers. The
	// queue routes go last (see TestAdminQueues).
	withToken := func(r struct{ method, path, body string }) {
		t.Helper()
		var body any
		if r.body != "" {
			body = r.body
		}
		st, data, _ := e.request(r.method, r.path, body, "Authorization", "bearer s3cret-token")
		if st/100 != 2 {
			t.Errorf("%s %s with the token: %d %s", r.method, r.path, st, data)
		}
	}
	for _, r := range routes[:len(routes)-2] {
		if strings.Contains(r.path, "/queues/") {
			continue
		}
		withToken(r)
		if r.method == "DELETE" {
			e.putTenant("alpha", "pa", nil)
		}
	}
	// CONFIG SET admin-token applies at once; CONFIG GET never shows it.
	d := e.dial("", "")
	d.Expect("+OK", "CONFIG", "SET", "admin-token", "other")
	if st, _, _ := e.request("GET", "/v1/tenants", nil); st != 401 {
		t.Errorf("old token after CONFIG SET admin-token: %d; want 401", st)
	}
	if st, _, _ := e.request("GET", "/v1/tenants", nil, "Authorization", "Bearer other"); st != 200 {
		t.Errorf("new token after CONFIG SET admin-token: %d; want 200", st)
	}
	if r := d.Do("CONFIG", "GET", "*"); strings.Contains(r.String(), "other") {
		t.Errorf("CONFIG GET * shows the admin token: %s", r)
	}
	d.Expect("+OK", "CONFIG", "SET", "admin-token", "s3cret-token")
	for _, r := range routes {
		if strings.Contains(r.path, "/queues/") {
			withToken(r)
		}
	}
}

// TestAdminMetrics: /metrics parses strictly; a tenant's series appear
// when it is created (with the values its activity gives them) and are
// gone once it is deleted.
func TestAdminMetrics(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	const lb = `{tenant="gamma"}`
	m := e.metrics()
	for k := range m {
		if strings.Contains(k, `tenant="gamma"`) {
			t.Fatalf("series of gamma before it exists: %s", k)
		}
	}
	if m["disq_tenants{}"] != 1 {
		t.Errorf("disq_tenants: %v; want 1", m["disq_tenants{}"])
	}
	e.putTenant("gamma", "pg", limits{"max_jobs": 3})
	m = e.metrics()
	for _, name := range []string{"disq_tenant_jobs_held", "disq_tenant_bytes_held", "disq_tenant_queues",
		"disq_tenant_connections", "disq_tenant_blocked_clients", "disq_tenant_jobs_added_total",
		"disq_tenant_jobs_delivered_total", "disq_tenant_jobs_acked_total", "disq_tenant_jobs_nacked_total",
		"disq_tenant_jobs_requeued_total", "disq_tenant_jobs_expired_total"} {
		if v, ok := m[name+lb]; !ok || v != 0 {
			t.Errorf("%s%s: %v, present %v; want 0", name, lb, v, ok)
		}
	}
	if m[`disq_tenant_limit{limit="max_jobs",tenant="gamma"}`] != 3 || m[`disq_tenant_limit{limit="max_bytes",tenant="gamma"}`] != -1 {
		t.Errorf("disq_tenant_limit of gamma: max_jobs %v, max_bytes %v; want 3, -1",
			m[`disq_tenant_limit{limit="max_jobs",tenant="gamma"}`], m[`disq_tenant_limit{limit="max_bytes",tenant="gamma"}`])
	}
	if m["disq_tenants{}"] != 2 {
		t.Errorf("disq_tenants: %v; want 2", m["disq_tenants{}"])
	}
	for k := range m {
		if !strings.HasPrefix(k, "disq_") && !strings.HasPrefix(k, "go_") && !strings.HasPrefix(k, "process_") {
			t.Errorf("series without the disq_ prefix: %s", k)
		}
	}

	g := e.dial("gamma", "pg")
	id := addJob(t, g, "mq", "hello")
	addJob(t, g, "mq", "hello")
	g.GetJobs("NOHANG", "FROM", "mq")
	g.Expect(":1", "NACK", id)
	addJob(t, g, "mq", "x")
	g.Expect("-QUOTA max_jobs 3/3", "ADDJOB", "mq", "x", "0")
	m = e.metrics()
	for k, want := range map[string]float64{
		"disq_tenant_jobs_held" + lb:                                          3,
		"disq_tenant_bytes_held" + lb:                                         11,
		"disq_tenant_queues" + lb:                                             1,
		"disq_tenant_connections" + lb:                                        1,
		"disq_tenant_jobs_added_total" + lb:                                   3,
		"disq_tenant_jobs_delivered_total" + lb:                               1,
		"disq_tenant_jobs_nacked_total" + lb:                                  1,
		`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="gamma"}`: 1,
		`disq_queue_depth{queue="mq",tenant="gamma"}`:                         3,
		`disq_queue_inflight{queue="mq",tenant="gamma"}`:                      0,
	} {
		if v, ok := m[k]; !ok || v != want {
			t.Errorf("%s: %v (present %v); want %v", k, v, ok, want)
		}
	}

	e.api(204, "DELETE", "/v1/tenants/gamma", nil)
	testclient.Eventually(t, 5*time.Second, "gamma's series gone after its deletion", func() bool {
		for k := range e.metrics() {
			if strings.Contains(k, `tenant="gamma"`) {
				return false
			}
		}
		return true
	})
	if m := e.metrics(); m["disq_tenants{}"] != 1 {
		t.Errorf("disq_tenants after the deletion: %v; want 1", m["disq_tenants{}"])
	}
}
