package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"disq/tenant"
)

type fakeBackend struct {
	mu    sync.Mutex
	state map[string]string
}

func (b *fakeBackend) PauseQueue(t, q, state string, bcast bool) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if state != "state" {
		b.state[t+"/"+q] = state
	}
	if s, ok := b.state[t+"/"+q]; ok {
		return s, nil
	}
	return "none", nil
}
func (b *fakeBackend) PurgeQueue(t, q string) (int64, error) { return int64(len(q)), nil }
func (b *fakeBackend) TenantUsage(string) map[string]int64   { return map[string]int64{"queued": 2} }
func (b *fakeBackend) WriteMetrics(w io.Writer)              { io.WriteString(w, "disq_fake 1\n") }

type env struct {
	reg *tenant.Registry
	srv *httptest.Server
	be  *fakeBackend
}

func newEnv(t *testing.T, token string) *env {
	t.Helper()
	reg, err := tenant.New(tenant.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be := &fakeBackend{state: map[string]string{}}
	srv := httptest.NewServer(tenant.NewAdminHandler(reg, be, func() string { return token }, nil))
	t.Cleanup(srv.Close)
	return &env{reg, srv, be}
}

// cmd runs disq-admin against the env and returns exit code, stdout, stderr.
func (e *env) cmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"DISQ_ADMIN_ADDR": e.srv.URL}
	code := run(args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func (e *env) ok(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := e.cmd(t, args...)
	if code != 0 {
		t.Fatalf("disq-admin %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func contains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Fatalf("output lacks %q:\n%s", sub, s)
		}
	}
}

func TestCLITenants(t *testing.T) {
	e := newEnv(t, "")
	out := e.ok(t, "tenants", "create", "acme", "--password", "s3cret", "--limit", "max_jobs=10", "--limit", "produce_rate=1_000")
	contains(t, out, "name:", "acme", "max_jobs=10 produce_rate=1000", "password:", "set")
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	code, _, errs := e.cmd(t, "tenants", "create", "acme", "--password", "x")
	if code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("create twice: %d %s", code, errs)
	}
	out = e.ok(t, "tenants", "list")
	contains(t, out, "NAME", "acme", "default", "max_jobs=10")
	out = e.ok(t, "--json", "tenants", "list")
	var l tenant.TenantList
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Tenants) != 2 {
		t.Fatalf("json list: %v %s", err, out)
	}
	out = e.ok(t, "tenants", "get", "acme")
	contains(t, out, "version:", "jobs held:")
	out = e.ok(t, "--json", "tenants", "get", "acme")
	var v tenant.TenantView
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Usage.Node["queued"] != 2 {
		t.Fatalf("json get: %v %s", err, out)
	}
	// put replaces the limits whole and keeps the password
	e.ok(t, "tenants", "put", "acme", "--limit", "max_queues=3")
	if l := e.reg.ByName("acme").Limits(); l.IsSet(tenant.MaxJobs) || l.Get(tenant.MaxQueues) != 3 {
		t.Fatalf("put: %v", l.Set())
	}
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("s3cret")); err != nil {
		t.Fatal("password lost")
	}
	// put without --limit keeps the limits
	e.ok(t, "tenants", "put", "acme", "--password", "other")
	if l := e.reg.ByName("acme").Limits(); l.Get(tenant.MaxQueues) != 3 {
		t.Fatalf("put without --limit: %v", l.Set())
	}
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("other")); err != nil {
		t.Fatal("password not replaced")
	}
	out = e.ok(t, "tenants", "delete", "acme")
	contains(t, out, "deleted tenant acme")
	code, _, errs = e.cmd(t, "tenants", "get", "acme")
	if code != 1 || !strings.Contains(errs, `no tenant "acme" (not_found, HTTP 404)`) {
		t.Fatalf("get deleted: %d %q", code, errs)
	}
	code, _, errs = e.cmd(t, "tenants", "delete", "default")
	if code != 1 || !strings.Contains(errs, "conflict, HTTP 409") {
		t.Fatalf("delete default: %d %q", code, errs)
	}
	code, _, errs = e.cmd(t, "tenants", "create", "Bad", "--password", "x")
	if code != 1 || !strings.Contains(errs, "bad_request, HTTP 400") {
		t.Fatalf("bad name: %d %q", code, errs)
	}
}

func TestCLILimitsUsageCredentials(t *testing.T) {
	e := newEnv(t, "")
	e.ok(t, "tenants", "create", "acme", "--password", "pw", "--limit", "max_jobs=10")
	out := e.ok(t, "limits", "get", "acme")
	contains(t, out, "LIMIT", "max_jobs", "10", "max_bytes", "unlimited")
	out = e.ok(t, "limits", "set", "acme", "produce_rate=50", "max_bytes=1000")
	contains(t, out, "produce_burst", "50 (default")
	l := e.reg.ByName("acme").Limits()
	if l.IsSet(tenant.MaxJobs) || l.Get(tenant.ProduceRate) != 50 || l.Get(tenant.MaxBytes) != 1000 {
		t.Fatalf("set: %v", l.Set())
	}
	e.ok(t, "limits", "update", "acme", "max_jobs=5", "max_bytes=unlimited")
	l = e.reg.ByName("acme").Limits()
	if l.Get(tenant.MaxJobs) != 5 || l.IsSet(tenant.MaxBytes) || l.Get(tenant.ProduceRate) != 50 {
		t.Fatalf("update: %v", l.Set())
	}
	out = e.ok(t, "--json", "limits", "get", "acme")
	if strings.TrimSpace(out) != "{\n  \"max_jobs\": 5,\n  \"produce_rate\": 50\n}" {
		t.Fatalf("json limits: %q", out)
	}
	for _, bad := range [][]string{{"limits", "set", "acme", "max_jobs=-1"}, {"limits", "set", "acme", "nope=1"},
		{"limits", "set", "acme", "max_jobs"}, {"limits", "update", "acme"}, {"limits", "set", "acme", "max_jobs=unlimited"}} {
		if code, _, _ := e.cmd(t, bad...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", bad, code)
		}
	}
	tn := e.reg.ByName("acme")
	if err := tn.AdmitProduce(e.reg.Now(), 1, 7, 7, 0); err != nil {
		t.Fatal(err)
	}
	out = e.ok(t, "usage", "acme")
	contains(t, out, "jobs held:", "bytes held:", "quota rejections max_jobs:", "node queued:")
	out = e.ok(t, "--json", "usage", "acme")
	var u tenant.Usage
	if err := json.Unmarshal([]byte(out), &u); err != nil || u.Jobs != 1 || u.Bytes != 7 {
		t.Fatalf("json usage %v %s", err, out)
	}
	out = e.ok(t, "credentials", "rotate", "acme", "--password", "n3w")
	contains(t, out, "rotated the password of tenant acme")
	if _, err := e.reg.Authenticate([]byte("acme"), []byte("n3w")); err != nil {
		t.Fatal(err)
	}
	out = e.ok(t, "credentials", "rotate", "acme")
	i := strings.Index(out, "password: ")
	if i < 0 {
		t.Fatalf("no generated password: %s", out)
	}
	pw := strings.Fields(out[i+len("password: "):])[0]
	if _, err := e.reg.Authenticate([]byte("acme"), []byte(pw)); err != nil {
		t.Fatal("generated password does not authenticate")
	}
	code, _, errs := e.cmd(t, "credentials", "rotate", "default")
	if code != 1 || !strings.Contains(errs, "requirepass") {
		t.Fatalf("rotate default: %d %s", code, errs)
	}
}

func TestCLIQueueHealthMetrics(t *testing.T) {
	e := newEnv(t, "")
	e.ok(t, "tenants", "create", "acme", "--password", "pw")
	out := e.ok(t, "queue", "pause", "acme", "a/b c", "--state", "in")
	contains(t, out, `queue "a/b c": pause state in`)
	out = e.ok(t, "queue", "pause", "acme", "a/b c", "--state", "out", "--bcast")
	contains(t, out, "pause state all")
	out = e.ok(t, "queue", "resume", "acme", "a/b c")
	contains(t, out, "pause state none")
	out = e.ok(t, "queue", "purge", "acme", "a/b c")
	contains(t, out, "5 jobs removed")
	// A queue name that looks like a flag, after "--".
	out = e.ok(t, "queue", "purge", "acme", "--", "-x")
	contains(t, out, `queue "-x": 2 jobs removed`)
	out = e.ok(t, "--json", "queue", "purge", "acme", "q")
	var pr tenant.PurgeResult
	if err := json.Unmarshal([]byte(out), &pr); err != nil || pr.Removed != 1 {
		t.Fatalf("json purge: %s", out)
	}
	if code, _, _ := e.cmd(t, "queue", "pause", "acme", "q", "--state", "sideways"); code != 2 {
		t.Fatal("bad state accepted")
	}
	code, _, errs := e.cmd(t, "queue", "pause", "nobody", "q")
	if code != 1 || !strings.Contains(errs, "HTTP 404") {
		t.Fatalf("%d %s", code, errs)
	}
	contains(t, e.ok(t, "health"), "ok (2 tenants)")
	contains(t, e.ok(t, "metrics"), `disq_tenant_jobs_held{tenant="acme"}`, "disq_fake 1", "go_")
}

func TestCLIToken(t *testing.T) {
	e := newEnv(t, "sekret")
	code, _, errs := e.cmd(t, "tenants", "list")
	if code != 1 || !strings.Contains(errs, "unauthorized, HTTP 401") {
		t.Fatalf("no token: %d %s", code, errs)
	}
	e.ok(t, "health") // no token needed
	e.ok(t, "--token", "sekret", "tenants", "list")
	var out, errb bytes.Buffer
	env := map[string]string{"DISQ_ADMIN_ADDR": strings.TrimPrefix(e.srv.URL, "http://"), "DISQ_ADMIN_TOKEN": "sekret"}
	if code := run([]string{"tenants", "list"}, &out, &errb, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("token from the environment, address without scheme: %d %s", code, errb.String())
	}
}

func TestCLIHelpAndUsage(t *testing.T) {
	e := newEnv(t, "")
	for _, args := range [][]string{{"--help"}, {"help"}, {"tenants", "--help"}, {"tenants", "create", "--help"},
		{"limits", "set", "-h"}, {"queue", "pause", "--help"}, {"health", "--help"}, {"usage", "--help"}, {"credentials", "help"}} {
		code, out, errs := e.cmd(t, args...)
		if code != 0 || !strings.Contains(out+errs, "disq-admin") {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	_, _, errs := e.cmd(t, "tenants", "create", "--help")
	contains(t, errs, "Usage: disq-admin tenants create NAME", "-password", "-limit")
	for _, args := range [][]string{{}, {"bogus"}, {"tenants"}, {"tenants", "frob"}, {"tenants", "get"},
		{"tenants", "get", "a", "b"}, {"tenants", "create", "x"}, {"queue", "pause", "acme"}, {"--nope"}, {"tenants", "list", "--nope"}} {
		if code, _, _ := e.cmd(t, args...); code != 2 {
			t.Fatalf("%v: exit %d, want 2", args, code)
		}
	}
	// Unreachable server: exit 1 with the error.
	var out, errb bytes.Buffer
	code := run([]string{"--addr", "http://127.0.0.1:1", "--timeout", "2s", "health"}, &out, &errb, func(string) string { return "" })
	if code != 1 || errb.Len() == 0 {
		t.Fatalf("unreachable: %d %s", code, errb.String())
	}
	_ = fmt.Sprint()
}
