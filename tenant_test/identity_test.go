package tenant_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/tenant"
)

// TestAuthNoRequirepass: without requirepass a connection starts in the
// default tenant (no AUTH needed); AUTH <tenant> <password> moves it; a
// wrong pair answers WRONGPASS and leaves it where it was.
func TestAuthNoRequirepass(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", nil)
	e.putTenant("beta", "pb", nil)

	d := e.dial("", "")
	d.Expect("+PONG", "PING")
	addJob(t, d, "q", "default-job")

	c := e.dial("", "")
	c.Expect(":1", "QLEN", "q") // default tenant: sees default's queue
	c.Expect("+OK", "AUTH", "alpha", "pa")
	c.Expect(":0", "QLEN", "q") // alpha's namespace
	addJob(t, c, "q", "alpha-job")
	addJob(t, c, "q", "alpha-job")
	c.Expect(":2", "QLEN", "q")

	// Wrong pairs: the connection stays alpha's.
	for _, pair := range [][2]string{{"alpha", "wrong"}, {"beta", "pa"}, {"nosuch", "pa"}, {"alpha", ""}} {
		c.Expect(errWrongPass, "AUTH", pair[0], pair[1])
		c.Expect(":2", "QLEN", "q")
	}
	if u := e.usage("alpha"); u.Connections != 1 {
		t.Errorf("alpha connections after wrong pairs: %d; want 1", u.Connections)
	}
	// Password comparison is exact (case, length).
	c.Expect(errWrongPass, "AUTH", "beta", "PB")
	c.Expect(errWrongPass, "AUTH", "beta", "pbx")
	c.Expect(errWrongPass, "AUTH", "BETA", "pb")
	c.Expect(":2", "QLEN", "q")

	// Switching tenants moves the connection count.
	c.Expect("+OK", "AUTH", "beta", "pb")
	c.Expect(":0", "QLEN", "q")
	if a, b := e.usage("alpha"), e.usage("beta"); a.Connections != 0 || b.Connections != 1 {
		t.Errorf("after alpha -> beta: alpha %d, beta %d connections; want 0, 1", a.Connections, b.Connections)
	}
	// AUTH again as the same tenant: still one connection.
	c.Expect("+OK", "AUTH", "beta", "pb")
	if b := e.usage("beta"); b.Connections != 1 {
		t.Errorf("beta connections after a repeated AUTH: %d; want 1", b.Connections)
	}
	// AUTH default <anything> selects default (it has no password).
	c.Expect("+OK", "AUTH", "default", "whatever")
	c.Expect(":1", "QLEN", "q")
	if b := e.usage("beta"); b.Connections != 0 {
		t.Errorf("beta connections after AUTH default: %d; want 0", b.Connections)
	}

	// Disque's one-argument AUTH without requirepass, and arity.
	c.Expect("-ERR Client sent AUTH, but no password is set", "AUTH", "x")
	c.Expect("-ERR wrong number of arguments for 'auth' command", "AUTH")
	c.Expect("-ERR syntax error", "AUTH", "a", "b", "c")
	c.Expect(":1", "QLEN", "q")

	// Closing a connection gives its place back.
	c2 := e.dial("alpha", "pa")
	e.waitUsage("alpha", 5*time.Second, "1 connection", func(u tenant.Usage) bool { return u.Connections == 1 })
	c2.Close()
	e.waitUsage("alpha", 5*time.Second, "0 connections", func(u tenant.Usage) bool { return u.Connections == 0 })
}

// TestAuthRequirepass: with requirepass, commands before AUTH get -NOAUTH;
// AUTH <requirepass> and AUTH default <requirepass> select default; a
// tenant's own pair authenticates too; wrong pairs change nothing.
func TestAuthRequirepass(t *testing.T) {
	t.Parallel()
	// The harness checks the server with an unauthenticated PING, so
	// requirepass is set live (CONFIG SET), as an operator may.
	e := startEnv(t)
	e.putTenant("alpha", "pa", nil)
	e.dial("", "").Expect("+OK", "CONFIG", "SET", "requirepass", "rp-secret")

	c := e.dial("", "")
	c.Expect(errNoAuth, "PING")
	c.Expect(errNoAuth, "ADDJOB", "q", "x", "0")
	c.Expect(errNoAuth, "QLEN", "q")
	c.Expect(errWrongPass, "AUTH", "default", "wrong")
	c.Expect(errNoAuth, "PING")
	c.Expect(errWrongPass, "AUTH", "alpha", "rp-secret")
	c.Expect(errNoAuth, "PING")
	c.Expect("-ERR invalid password", "AUTH", "wrong")
	c.Expect(errNoAuth, "PING")
	c.Expect("+OK", "AUTH", "rp-secret")
	c.Expect("+PONG", "PING")
	addJob(t, c, "q", "default-job")

	d := e.dial("", "")
	d.Expect("+OK", "AUTH", "default", "rp-secret")
	d.Expect(":1", "QLEN", "q")

	a := e.dial("", "")
	a.Expect("+OK", "AUTH", "alpha", "pa")
	a.Expect("+PONG", "PING")
	a.Expect(":0", "QLEN", "q")
	// A wrong pair leaves the connection authenticated, in alpha.
	a.Expect(errWrongPass, "AUTH", "alpha", "nope")
	a.Expect(errWrongPass, "AUTH", "default", "nope")
	a.Expect("+PONG", "PING")
	a.Expect(":0", "QLEN", "q")
	// From alpha back to default with the requirepass pair.
	a.Expect("+OK", "AUTH", "default", "rp-secret")
	a.Expect(":1", "QLEN", "q")
}

// TestMaxConnections: max_connections refuses at AUTH with -QUOTA and the
// connection stays where it was; a closed connection gives its place back;
// a live change applies to the next AUTH.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", limits{"max_connections": 2})
	addJob(t, e.dial("", ""), "q", "default-job")

	c1 := e.dial("alpha", "pa")
	c2 := e.dial("alpha", "pa")
	c3 := e.dial("", "")
	c3.Expect("-QUOTA max_connections 2/2", "AUTH", "alpha", "pa")
	c3.Expect(":1", "QLEN", "q") // still default
	c3.Expect("-QUOTA max_connections 2/2", "AUTH", "alpha", "pa")
	if u := e.usage("alpha"); u.Connections != 2 || u.QuotaRejections["max_connections"] != 2 {
		t.Errorf("alpha usage: connections %d, max_connections rejections %d; want 2, 2", u.Connections, u.QuotaRejections["max_connections"])
	}
	// Re-AUTH of a connection already in alpha is not a new connection.
	c1.Expect("+OK", "AUTH", "alpha", "pa")
	c2.Close()
	e.waitUsage("alpha", 5*time.Second, "1 connection", func(u tenant.Usage) bool { return u.Connections == 1 })
	c3.Expect("+OK", "AUTH", "alpha", "pa")
	c3.Expect(":0", "QLEN", "q")
	// Leaving alpha for default frees a place too.
	c3.Expect("+OK", "AUTH", "default", "")
	c4 := e.dial("alpha", "pa")
	// Lowered live below the current count: the next AUTH is refused.
	e.setLimits("alpha", limits{"max_connections": 1})
	e.dial("", "").Expect("-QUOTA max_connections 2/1", "AUTH", "alpha", "pa")
	e.setLimits("alpha", limits{"max_connections": 0})
	e.dial("", "").Expect("-QUOTA max_connections 2/0", "AUTH", "alpha", "pa")
	e.setLimits("alpha", limits{})
	e.dial("alpha", "pa").Expect(":0", "QLEN", "q")
	c4.Expect("+PONG", "PING")
}

// TestRedisCLIUserPass: redis-cli --user --pass sends AUTH <user> <pass>.
func TestRedisCLIUserPass(t *testing.T) {
	t.Parallel()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not on PATH")
	}
	e := startEnv(t)
	e.putTenant("alpha", "pa", nil)
	run := func(auth []string, args ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		full := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(e.srv.Port), "--no-auth-warning"}, auth...)
		cmd := exec.CommandContext(ctx, cli, append(full, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		return out.String(), errb.String()
	}
	as := []string{"--user", "alpha", "--pass", "pa"}
	id, _ := run(as, "ADDJOB", "cliq", "hello", "0")
	id = strings.TrimSpace(id)
	if !testclient.IsJobID(id) {
		t.Fatalf("redis-cli --user alpha ADDJOB: %q; want a job ID", id)
	}
	if out, _ := run(as, "QLEN", "cliq"); out != "1\n" {
		t.Errorf("redis-cli --user alpha QLEN: %q; want 1", out)
	}
	if out, _ := run(nil, "QLEN", "cliq"); out != "0\n" {
		t.Errorf("redis-cli (default) QLEN: %q; want 0", out)
	}
	if out, _ := run(nil, "SHOW", id); out != "\n" {
		t.Errorf("redis-cli (default) SHOW alpha's job: %q; want nil", out)
	}
	out, errs := run([]string{"--user", "alpha", "--pass", "bad"}, "QLEN", "cliq")
	if !strings.Contains(out+errs, "WRONGPASS invalid username-password pair or user is disabled.") {
		t.Errorf("redis-cli with a wrong password: stdout %q stderr %q; want the WRONGPASS line", out, errs)
	}
	if out, _ := run(as, "GETJOB", "FROM", "cliq"); out != "cliq\n"+id+"\nhello\n" {
		t.Errorf("redis-cli --user alpha GETJOB: %q", out)
	}
	if out, _ := run(as, "ACKJOB", id); out != "1\n" {
		t.Errorf("redis-cli --user alpha ACKJOB: %q; want 1", out)
	}
}

// TestPasswordsNotDisclosed: the tenants' passwords do not appear in
// MONITOR, SLOWLOG, the admin API answers or the tenants-file (stored
// hashed).
func TestPasswordsNotDisclosed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := startEnvIn(t, dir, "--tenants-file", "tenants.json", "--slowlog-log-slower-than", "0")
	const pw = "Pw-9f3b7c1e-never-shown"
	e.putTenant("alpha", pw, nil)

	for _, path := range []string{"/v1/tenants", "/v1/tenants/alpha"} {
		if body := e.api(200, "GET", path, nil); bytes.Contains(body, []byte(pw)) || bytes.Contains(body, []byte("hash")) {
			t.Errorf("GET %s shows the password or its hash: %s", path, body)
		}
	}
	file := readFile(t, dir+"/tenants.json")
	if strings.Contains(file, pw) {
		t.Errorf("tenants-file holds the plaintext password:\n%s", file)
	}
	if !strings.Contains(file, `"password_hash": "sha256$`) {
		t.Errorf("tenants-file has no salted hash:\n%s", file)
	}

	mon := e.dial("", "")
	mon.Expect("+OK", "MONITOR")
	a := e.dial("alpha", pw)
	a.Expect("+PONG", "PING")
	d := e.dial("", "")
	d.Expect("-ERR Client sent AUTH, but no password is set", "AUTH", pw)
	d.Expect("+PONG", "PING")
	var seen bytes.Buffer
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && strings.Count(seen.String(), "PING") < 2 {
		r, err := mon.ReadTimeout(time.Until(deadline))
		if err != nil {
			break
		}
		seen.WriteString(r.String() + "\n")
	}
	if strings.Count(seen.String(), "PING") < 2 {
		t.Fatalf("MONITOR did not show the PINGs: %s", seen.String())
	}
	if strings.Contains(seen.String(), pw) {
		t.Errorf("MONITOR shows a password:\n%s", seen.String())
	}

	r := e.dial("", "").Do("SLOWLOG", "GET", "100")
	if strings.Contains(r.String(), pw) {
		t.Errorf("SLOWLOG GET shows a password: %s", r)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
