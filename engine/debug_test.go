package engine_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/proc"
	"disq/internal/testclient"
	"disq/netpoll/resp"
)

func errDebugSub(sub string) string {
	return "-ERR Unknown DEBUG subcommand or wrong number of arguments for '" + sub + "'"
}

// TestDebug covers DEBUG FLUSHALL / SLEEP / ERROR / RESTART / STRUCTSIZE /
// LOADAOF and the unknown-subcommand error, plus BGREWRITEAOF and LOADJOB
// before persistence exists (commands.md 5.7, 5.14, 2.12). The server is its
// own: FLUSHALL and RESTART wipe it.
func TestDebug(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--event-loops", "2")

	t.Run("Errors", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct {
			want string
			args []string
		}{
			{errDebugSub("FOO"), []string{"DEBUG", "FOO"}},
			{errDebugSub("nosuch"), []string{"debug", "nosuch", "a", "b"}},
			{errDebugSub("FLUSHALL"), []string{"DEBUG", "FLUSHALL", "x"}},
			{errDebugSub("SLEEP"), []string{"DEBUG", "SLEEP"}},
			{errDebugSub("error"), []string{"DEBUG", "error"}},
			{errDebugSub(""), []string{"DEBUG", ""}},
			{errArity("debug"), []string{"DEBUG"}},
			{errNotInteger, []string{"DEBUG", "RESTART", "abc"}},
			{errNotInteger, []string{"DEBUG", "CRASH-AND-RECOVER", "1.5"}},
			{errLoadJob, []string{"LOADJOB", "anything"}},
			{errArity("loadjob"), []string{"LOADJOB"}},
			{errArity("bgrewriteaof"), []string{"BGREWRITEAOF", "now"}},
		} {
			c.Expect(tc.want, tc.args...)
		}
		c.Expect("+PONG", "PING")
	})

	t.Run("Error", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		c.Expect("-FOO bar", "DEBUG", "ERROR", "FOO bar")
		c.Expect("-ERR custom message", "DEBUG", "error", "ERR custom message")
		c.Expect("-a  b", "DEBUG", "ERROR", "a\r\nb") // CR/LF become spaces
		c.Expect("-x", "DEBUG", "ERROR", "x")
		c.Expect("+PONG", "PING")
	})

	t.Run("StructsizeLoadaofBgrewriteaof", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		if r := c.Do("DEBUG", "STRUCTSIZE"); r.Kind != resp.KindBulk || len(r.Str) == 0 {
			t.Errorf("DEBUG STRUCTSIZE: got %s; want a bulk string", r)
		}
		// Until persistence exists: BGREWRITEAOF either starts a rewrite or
		// says it is not implemented, never a fake success elsewhere.
		r := c.DoS("BGREWRITEAOF")
		if r != "+Background append only file rewriting started" &&
			!(strings.HasPrefix(r, "-ERR ") && strings.Contains(r, "not implemented")) {
			t.Errorf("BGREWRITEAOF: got %s; want +Background append only file rewriting started or -ERR ... not implemented ...", r)
		}
		// DEBUG LOADAOF is one of the spec's subcommands: +OK, a bare -ERR,
		// or an explicit not-implemented error; not "unknown subcommand".
		r = c.DoS("DEBUG", "LOADAOF")
		if r != "+OK" && r != "-ERR" && !strings.Contains(r, "not implemented") {
			t.Errorf("DEBUG LOADAOF: got %s; want +OK, -ERR, or -ERR ... not implemented ...", r)
		}
		c.Expect("+PONG", "PING")
	})

	t.Run("Sleep", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		start := time.Now()
		c.Expect("+OK", "DEBUG", "SLEEP", "0.2")
		if d := time.Since(start); d < 190*time.Millisecond {
			t.Errorf("DEBUG SLEEP 0.2 answered after %v; want >= 200 ms", d)
		}
		start = time.Now()
		c.Expect("+OK", "DEBUG", "SLEEP", "0")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("DEBUG SLEEP 0 answered after %v", d)
		}
		// The whole server sleeps: clients on every event loop wait.
		var others []*testclient.Conn
		for i := 0; i < 6; i++ {
			o := testclient.Dial(t, srv.Addr)
			o.Expect("+PONG", "PING")
			others = append(others, o)
		}
		c.Send("DEBUG", "SLEEP", "0.5")
		time.Sleep(100 * time.Millisecond)
		sent := time.Now()
		var wg sync.WaitGroup
		waits := make([]time.Duration, len(others))
		errs := make([]error, len(others))
		for i, o := range others {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o.Raw().SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := o.Raw().Write([]byte("PING\r\n")); err != nil {
					errs[i] = err
					return
				}
				_, err := o.ReadTimeout(5 * time.Second)
				waits[i], errs[i] = time.Since(sent), err
			}()
		}
		wg.Wait()
		if got := c.Read().String(); got != "+OK" {
			t.Fatalf("DEBUG SLEEP 0.5: got %s", got)
		}
		for i := range others {
			if errs[i] != nil {
				t.Fatalf("PING during DEBUG SLEEP: %v", errs[i])
			}
			if waits[i] < 250*time.Millisecond {
				t.Errorf("client %d: PING sent 100 ms into DEBUG SLEEP 0.5 answered after %v; want it to wait for the end of the sleep (the whole server blocks)", i, waits[i])
			}
		}
	})

	t.Run("FlushAll", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		a := c.AddJob("dbg-a", "x")
		c.AddJob("dbg-a", "y")
		active := c.AddJob("dbg-b", "z")
		c.GetJobs("FROM", "dbg-b")
		delayed := c.AddJob("dbg-c", "d", "DELAY", "3600")
		c.Expect("+all", "PAUSE", "dbg-paused", "all")
		blocked := testclient.Dial(t, srv.Addr)
		blocked.Send("GETJOB", "FROM", "dbg-block")
		waitBlocked(t, c, "dbg-block", 1)
		blocked2 := testclient.Dial(t, srv.Addr)
		blocked2.Send("GETJOB", "TIMEOUT", "60000", "FROM", "dbg-block", "dbg-a-other")
		waitBlocked(t, c, "dbg-block", 2)
		if n := infoInt(t, c, "jobs", "registered_jobs"); n < 4 {
			t.Fatalf("registered_jobs before FLUSHALL: got %d; want >= 4", n)
		}

		c.Expect("+OK", "DEBUG", "FLUSHALL")
		for _, b := range []*testclient.Conn{blocked, blocked2} {
			if got := b.Read().String(); got != "(nil array)" {
				t.Errorf("GETJOB blocked during DEBUG FLUSHALL: got %s; want (nil array)", got)
			}
		}
		for _, id := range []string{a, active, delayed} {
			c.Expect("(nil)", "SHOW", id)
		}
		for _, q := range []string{"dbg-a", "dbg-b", "dbg-c", "dbg-paused", "dbg-block"} {
			c.Expect(":0", "QLEN", q)
			c.Expect("(nil array)", "QSTAT", q) // queues and pause states are gone
		}
		testclient.Eventually(t, 3*time.Second, "registered_jobs and registered_queues at 0 after FLUSHALL", func() bool {
			return infoInt(t, c, "jobs", "registered_jobs") == 0 && infoInt(t, c, "queues", "registered_queues") == 0
		})
		_, items := scanPage(t, c.Do("JSCAN", "BUSYLOOP"), "JSCAN BUSYLOOP after FLUSHALL")
		if len(items) != 0 {
			t.Errorf("JSCAN after FLUSHALL: got %s; want no job", strs(items))
		}
		// The node works as if freshly started; ADDJOB on the formerly
		// paused queue works.
		id := c.AddJob("dbg-paused", "again")
		c.Expect(`[["dbg-paused" "`+id+`" "again"]]`, "GETJOB", "NOHANG", "FROM", "dbg-paused")
		c.Expect("+OK", "debug", "flushall")
		c.Expect("(nil)", "SHOW", id)
	})

	t.Run("Restart", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		id := c.AddJob("dbg-restart", "x")
		info := c.Info("server")
		c.Send("DEBUG", "RESTART")
		c.ExpectClosed(10*time.Second, "DEBUG RESTART")
		var d *testclient.Conn
		testclient.Eventually(t, 20*time.Second, "the server to answer again after DEBUG RESTART", func() bool {
			if !proc.Up(srv.Addr) {
				return false
			}
			d = testclient.Dial(t, srv.Addr)
			return d.Info("server")["run_id"] != info["run_id"]
		})
		after := d.Info("server")
		if after["process_id"] != info["process_id"] {
			t.Errorf("process_id after DEBUG RESTART: got %s; want %s (the process re-executes itself)", after["process_id"], info["process_id"])
		}
		if after["tcp_port"] != info["tcp_port"] {
			t.Errorf("tcp_port after DEBUG RESTART: got %s; want %s", after["tcp_port"], info["tcp_port"])
		}
		// No persistence (AOF off): the jobs are gone.
		d.Expect("(nil)", "SHOW", id)
		d.Expect(":0", "QLEN", "dbg-restart")
		// With a delay.
		runID := after["run_id"]
		start := time.Now()
		d.Send("DEBUG", "RESTART", "300")
		d.ExpectClosed(10*time.Second, "DEBUG RESTART 300")
		testclient.Eventually(t, 20*time.Second, "the server to answer again after DEBUG RESTART 300", func() bool {
			if !proc.Up(srv.Addr) {
				return false
			}
			return testclient.Dial(t, srv.Addr).Info("server")["run_id"] != runID
		})
		if el := time.Since(start); el < 250*time.Millisecond {
			t.Errorf("DEBUG RESTART 300: back after %v; want the restart after about 300 ms", el)
		}
		testclient.Dial(t, srv.Addr).Expect("+PONG", "PING")
	})
}

// TestShutdown covers SHUTDOWN (commands.md 5.6): arguments, no reply, the
// process exits.
func TestShutdown(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)
	c := testclient.Dial(t, srv.Addr)
	for _, args := range [][]string{{"SHUTDOWN", "NOSAVE"}, {"SHUTDOWN", "SAVE"}, {"shutdown", "nosave"},
		{"SHUTDOWN", "REWRITE-AOF", "x"}, {"SHUTDOWN", "a", "b"}, {"SHUTDOWN", ""}} {
		c.Expect(errSyntax, args...)
	}
	c.Expect("+PONG", "PING")
	other := testclient.Dial(t, srv.Addr)
	other.Expect("+PONG", "PING")
	c.AddJob("sd-q", "x")

	c.Send("SHUTDOWN")
	if rest := c.ExpectClosed(10*time.Second, "SHUTDOWN"); len(rest) != 0 {
		t.Errorf("SHUTDOWN: got %q before the connection closed; want no reply", rest)
	}
	testclient.Eventually(t, 10*time.Second, "the server process to exit after SHUTDOWN", srv.Exited)
	other.ExpectClosed(5*time.Second, "another client when the server shuts down")
	if proc.Up(srv.Addr) {
		t.Errorf("server still answers PING after SHUTDOWN")
	}
}
