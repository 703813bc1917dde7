package tenant_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/promtext"
	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
	"disq/tenant"
)

// TestMain raises the default -parallel: these tests mostly wait on real
// servers and timers.
func TestMain(m *testing.M) { testserver.MainParallel(m, 6) }

// Error lines as the test client prints them.
const (
	errWrongPass = "-WRONGPASS invalid username-password pair or user is disabled."
	errNoAuth    = "-NOAUTH Authentication required."
	errNoJob     = "-NOJOB Job not known in the context of this node."
	errPaused    = "-PAUSED Queue paused in input, try later"
)

// env is one disq-server with its admin API on a port of its own.
type env struct {
	t        testing.TB
	srv      *testserver.Server
	adminURL string
	token    string // sent as the bearer token when set
	hc       *http.Client
}

// startEnv starts a server with the admin API on a free port and extra
// directives.
func startEnv(t testing.TB, directives ...string) *env {
	t.Helper()
	return startEnvIn(t, t.TempDir(), directives...)
}

func startEnvIn(t testing.TB, dir string, directives ...string) *env {
	t.Helper()
	port := adminPort(t)
	args := append([]string{"--admin-port", strconv.Itoa(port)}, directives...)
	srv := testserver.StartIn(t, dir, args...)
	e := &env{t: t, srv: srv, adminURL: "http://127.0.0.1:" + strconv.Itoa(port),
		hc: &http.Client{Timeout: 20 * time.Second}}
	for i, a := range directives {
		if a == "--admin-token" && i+1 < len(directives) {
			e.token = directives[i+1]
		}
	}
	// A panic in the server fails the test that started it. (Races are
	// checked by TestConcurrentAdminUnderLoad, see checkRaces.)
	t.Cleanup(func() { checkLog(t, srv.Log(), "panic:", "fatal error:") })
	// The admin listener starts after the RESP one: wait for it.
	testclient.Eventually(t, 10*time.Second, "admin API /healthz", func() bool {
		r, err := e.hc.Get(e.adminURL + "/healthz")
		if err != nil {
			return false
		}
		_ = r.Body.Close()
		return r.StatusCode == 200
	})
	return e
}

// checkLog fails the test if the server log has one of the markers,
// showing what follows it.
func checkLog(t testing.TB, l string, markers ...string) {
	t.Helper()
	for _, bad := range markers {
		if i := strings.Index(l, bad); i >= 0 {
			t.Errorf("server log has %q:\n%s", bad, l[i:min(len(l), i+4000)])
		}
	}
}

var (
	adminPortsMu sync.Mutex
	adminPorts   = map[int]bool{}
)

// adminPort returns a free port for an admin API, above the ephemeral
// range (32768-60999 on Linux) and above the ports testserver gives
// servers and their buses (20000-55000), so that a server starting in
// parallel or an outgoing connection does not take it meanwhile; never
// the same one twice in a test process.
func adminPort(t testing.TB) int {
	t.Helper()
	adminPortsMu.Lock()
	defer adminPortsMu.Unlock()
	for i := 0; i < 500; i++ {
		p := 61000 + rand.IntN(4500)
		if adminPorts[p] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = l.Close()
		adminPorts[p] = true
		return p
	}
	t.Fatal("no free admin port")
	return 0
}

// request sends an admin API request; body is nil (no body), a string or
// []byte (sent as is) or any other value (sent as JSON). It returns the
// status, the body and the response headers.
func (e *env) request(method, path string, body any, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.adminURL+"/", rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.URL.Opaque = path // sent as is: bad escapes reach the server
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return res.StatusCode, data, res.Header
}

// api sends a request and fails unless the status is want.
func (e *env) api(want int, method, path string, body any) []byte {
	e.t.Helper()
	st, data, _ := e.request(method, path, body)
	if st != want {
		e.t.Fatalf("%s %s: status %d %s; want %d", method, path, st, bytes.TrimSpace(data), want)
	}
	return data
}

// apiErr sends a request and fails unless the status is want and the body
// is a JSON error with code.
func (e *env) apiErr(want int, code, method, path string, body any, hdr ...string) {
	e.t.Helper()
	st, data, h := e.request(method, path, body, hdr...)
	if st != want {
		e.t.Fatalf("%s %s: status %d %s; want %d", method, path, st, bytes.TrimSpace(data), want)
	}
	checkErrorBody(e.t, method+" "+path, data, h, code)
}

func checkErrorBody(t testing.TB, what string, data []byte, h http.Header, code string) {
	t.Helper()
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q; want application/json", what, ct)
	}
	var eb tenant.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("%s: error body %s: %v", what, data, err)
	}
	if eb.Error.Code != code || eb.Error.Message == "" {
		t.Fatalf("%s: error body %s; want code %q and a message", what, bytes.TrimSpace(data), code)
	}
}

// limits is a limits document for the API.
type limits map[string]int64

// putTenant creates (or replaces) a tenant with a password and limits.
func (e *env) putTenant(name, password string, lim limits) {
	e.t.Helper()
	body := map[string]any{"password": password}
	if lim != nil {
		body["limits"] = lim
	}
	st, data, _ := e.request("PUT", "/v1/tenants/"+name, body)
	if st != 201 && st != 200 {
		e.t.Fatalf("PUT /v1/tenants/%s: %d %s", name, st, data)
	}
}

// setLimits replaces a tenant's limits whole.
func (e *env) setLimits(name string, lim limits) {
	e.t.Helper()
	if lim == nil {
		lim = limits{}
	}
	e.api(200, "PUT", "/v1/tenants/"+name+"/limits", lim)
}

// usage reads GET /v1/tenants/{name}/usage.
func (e *env) usage(name string) tenant.Usage {
	e.t.Helper()
	var u tenant.Usage
	if err := json.Unmarshal(e.api(200, "GET", "/v1/tenants/"+name+"/usage", nil), &u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// waitUsage waits until f holds for the tenant's usage.
func (e *env) waitUsage(name string, d time.Duration, what string, f func(u tenant.Usage) bool) tenant.Usage {
	e.t.Helper()
	var u tenant.Usage
	deadline := time.Now().Add(d)
	for {
		u = e.usage(name)
		if f(u) {
			return u
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("tenant %s: timed out after %v waiting for %s; usage %+v", name, d, what, u)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metrics scrapes /metrics and parses it strictly.
func (e *env) metrics() map[string]float64 {
	e.t.Helper()
	st, data, h := e.request("GET", "/metrics", nil)
	if st != 200 {
		e.t.Fatalf("GET /metrics: %d %s", st, data)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		e.t.Errorf("GET /metrics: Content-Type %q; want text/plain", ct)
	}
	m, err := promtext.Parse(string(data))
	if err != nil {
		e.t.Fatalf("GET /metrics does not parse: %v", err)
	}
	return m
}

// dial connects; with a user it sends AUTH user pass and expects +OK.
func (e *env) dial(user, pass string) *testclient.Conn {
	e.t.Helper()
	c := testclient.Dial(e.t, e.srv.Addr)
	if user != "" {
		c.Expect("+OK", "AUTH", user, pass)
	}
	return c
}

// addJob sends ADDJOB and returns the job ID, failing on anything else.
func addJob(t testing.TB, c *testclient.Conn, queue, body string, opts ...string) string {
	t.Helper()
	args := append([]string{"ADDJOB", queue, body, "0"}, opts...)
	r := c.Do(args...)
	if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
		t.Fatalf("%s: got %s; want a job ID", strings.Join(args, " "), r)
	}
	return string(r.Str)
}

// showState returns the state field of SHOW id, or "" for a null reply.
func showState(t testing.TB, c *testclient.Conn, id string) string {
	t.Helper()
	r := c.Do("SHOW", id)
	if r.IsNull() {
		return ""
	}
	if r.Kind != resp.KindArray {
		t.Fatalf("SHOW %s: got %s", id, r)
	}
	return string(testclient.Field(r, "state").Str)
}

// scanAll runs QSCAN or JSCAN BUSYLOOP (with extra options) and returns
// the items (queue names, or job IDs).
func scanAll(t testing.TB, c *testclient.Conn, cmd string, opts ...string) []string {
	t.Helper()
	args := append([]string{cmd, "BUSYLOOP", "COUNT", "1000"}, opts...)
	r := c.Do(args...)
	if r.Kind != resp.KindArray || len(r.Elems) != 2 || string(r.Elems[0].Str) != "0" {
		t.Fatalf("%s: got %s; want [\"0\" [...]]", strings.Join(args, " "), r)
	}
	var out []string
	for _, it := range r.Elems[1].Elems {
		out = append(out, string(it.Str))
	}
	return out
}

var (
	buildMu   sync.Mutex
	buildDir  string
	buildDone = map[string]string{}
)

// buildTool builds one of the module's commands (e.g. "disq-admin") once
// per test process and returns the binary's path.
func buildTool(t testing.TB, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildDone[name]; ok {
		return p
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "disq-tenant-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	p := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", p, "disq/cmd/"+name)
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	buildDone[name] = p
	return p
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// decodeJSON decodes data into v, failing on an error.
func decodeJSON(t testing.TB, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}
