package engine_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

var hex40 = regexp.MustCompile(`^[0-9a-f]{40}$`)

// TestServerCommands covers PING, QUIT, HELLO, INFO, the generic request
// pipeline (unknown commands, arity, case) and commands that are not
// implemented yet (commands.md 1.4, 4.1, 5.1-5.4, 6).
func TestServerCommands(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	// Sequential subtests first: they read node-wide counters.
	t.Run("InfoCounters", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		num := func(section, key string) int64 {
			t.Helper()
			v, ok := c.Info(section)[key]
			if !ok {
				t.Fatalf("INFO %s: no field %s", section, key)
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %s:%s is not an integer", section, key, v)
			}
			return n
		}
		jobs, queues := num("jobs", "registered_jobs"), num("queues", "registered_queues")
		a := c.AddJob("sv-info-1", "x")
		c.AddJob("sv-info-1", "y")
		c.AddJob("sv-info-2", "z", "DELAY", "100")
		if got := num("jobs", "registered_jobs"); got != jobs+3 {
			t.Errorf("registered_jobs after 3 ADDJOB: got %d; want %d", got, jobs+3)
		}
		if got := num("queues", "registered_queues"); got != queues+2 {
			t.Errorf("registered_queues after ADDJOB to 2 new queues: got %d; want %d", got, queues+2)
		}
		c.Expect(":1", "ACKJOB", a)
		if got := num("default", "registered_jobs"); got != jobs+2 {
			t.Errorf("registered_jobs after ACKJOB: got %d; want %d", got, jobs+2)
		}
		clients := num("clients", "connected_clients")
		var extra []*testclient.Conn
		for i := 0; i < 3; i++ {
			e := testclient.Dial(t, srv.Addr)
			e.Expect("+PONG", "PING")
			extra = append(extra, e)
		}
		if got := num("clients", "connected_clients"); got != clients+3 {
			t.Errorf("connected_clients with 3 more connections: got %d; want %d", got, clients+3)
		}
		for _, e := range extra {
			e.Close()
		}
		testclient.Eventually(t, 3*time.Second, "connected_clients to drop back", func() bool {
			return num("clients", "connected_clients") == clients
		})
		// blocked_clients counts clients blocked in GETJOB.
		blocked := num("clients", "blocked_clients")
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "FROM", "sv-info-block")
		waitBlocked(t, c, "sv-info-block", 1)
		if got := num("clients", "blocked_clients"); got != blocked+1 {
			t.Errorf("blocked_clients with one blocked GETJOB: got %d; want %d", got, blocked+1)
		}
		c.AddJob("sv-info-block", "x")
		b.Read()
		testclient.Eventually(t, 3*time.Second, "blocked_clients to drop back", func() bool {
			return num("clients", "blocked_clients") == blocked
		})
	})

	t.Run("Ping", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect("+PONG", "PING")
		c.Expect(`"hello world"`, "PING", "hello world")
		c.Expect(`""`, "PING", "")
		c.Expect(errArity("ping"), "PING", "a", "b")
		c.Expect("+PONG", "ping")
		c.Expect("+PONG", "PiNg")
		// Inline form, with the quoting rules of Redis (sdssplitargs).
		for _, tc := range []struct{ line, want string }{
			{"PING", "+PONG"},
			{"ping inline", `"inline"`},
			{"  PING   spaced  ", `"spaced"`},
			{`PING "a b"`, `"a b"`},
			{`PING 'c d'`, `"c d"`},
			{`PING "\x41\n"`, `"A\n"`},
			{`PING ""`, `""`},
			{"PING\tx", `"x"`},
		} {
			c.Write([]byte(tc.line + "\r\n"))
			if got := c.Read().String(); got != tc.want {
				t.Errorf("inline %q: got %s; want %s", tc.line, got, tc.want)
			}
		}
		// A bare LF ends an inline line too.
		c.Write([]byte("PING lf\n"))
		if got := c.Read().String(); got != `"lf"` {
			t.Errorf("inline PING ending in LF: got %s; want \"lf\"", got)
		}
	})

	t.Run("Quit", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"QUIT"}, {"quit", "a", "b"}} {
			c := testclient.Dial(t, srv.Addr)
			var w []byte
			w = resp.AppendCommandStrings(w, args...)
			w = resp.AppendCommandStrings(w, "PING") // never executed
			c.Write(w)
			if got := c.Read().String(); got != "+OK" {
				t.Fatalf("%v: got %s; want +OK", args, got)
			}
			if rest := c.ExpectClosed(5*time.Second, strings.Join(args, " ")); len(rest) != 0 {
				t.Errorf("%v: got %q after +OK; want the connection closed", args, rest)
			}
		}
	})

	t.Run("QuitAfterPending", func(t *testing.T) {
		t.Parallel()
		// Replies of requests before QUIT are all written, in order.
		c := testclient.Dial(t, srv.Addr)
		var w []byte
		w = resp.AppendCommandStrings(w, "ADDJOB", "sv-quit", "x", "0")
		w = resp.AppendCommandStrings(w, "QLEN", "sv-quit")
		w = resp.AppendCommandStrings(w, "QUIT")
		w = resp.AppendCommandStrings(w, "ADDJOB", "sv-quit", "never", "0")
		c.Write(w)
		if r := c.Read(); r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
			t.Fatalf("ADDJOB before QUIT: got %s", r)
		}
		if got := c.Read().String(); got != ":1" {
			t.Fatalf("QLEN before QUIT: got %s; want :1", got)
		}
		if got := c.Read().String(); got != "+OK" {
			t.Fatalf("QUIT: got %s; want +OK", got)
		}
		c.ExpectClosed(5*time.Second, "QUIT after pending requests")
		d := testclient.Dial(t, srv.Addr)
		d.Expect(":1", "QLEN", "sv-quit") // the ADDJOB after QUIT never ran
	})

	t.Run("UnknownCommand", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect("-ERR unknown command 'FOO'", "FOO")
		c.Expect("-ERR unknown command 'fOo'", "fOo", "bar", "baz")
		long := strings.Repeat("x", 100)
		c.Expect("-ERR unknown command '"+long+"'", long)
		c.Expect("-ERR unknown command 'a b'", "a b")
		// CR/LF in formatted messages become spaces.
		c.Expect("-ERR unknown command 'x  y'", "x\r\ny")
		c.Expect("-ERR unknown command 'SET'", "SET", "k", "v")
		c.Expect("-ERR unknown command 'MULTI'", "MULTI")
		c.Expect("+PONG", "PING")
	})

	t.Run("Arity", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"auth", []string{"AUTH"}},
			// AUTH <tenant> <password> is the tenants' two-argument form
			// (issue 6), so only a bare AUTH is an arity error.
			{"monitor", []string{"MONITOR", "x"}},
			{"debug", []string{"DEBUG"}},
			{"config", []string{"CONFIG"}},
			{"cluster", []string{"CLUSTER"}},
			{"client", []string{"CLIENT"}},
			{"slowlog", []string{"SLOWLOG"}},
			{"time", []string{"TIME", "x"}},
			{"latency", []string{"LATENCY"}},
			{"hello", []string{"HELLO", "3"}},
			{"addjob", []string{"ADDJOB"}},
			{"addjob", []string{"ADDJOB", "q", "body"}},
			{"getjob", []string{"GETJOB"}},
			{"show", []string{"SHOW"}},
			{"show", []string{"SHOW", "a", "b"}},
			{"loadjob", []string{"LOADJOB"}},
			{"loadjob", []string{"LOADJOB", "a", "b"}},
			{"bgrewriteaof", []string{"BGREWRITEAOF", "x"}},
			{"qlen", []string{"QLEN"}},
			{"qlen", []string{"qLeN", "a", "b"}},
			{"qpeek", []string{"QPEEK", "q"}},
			{"qstat", []string{"QSTAT"}},
			{"working", []string{"WORKING"}},
			{"pause", []string{"PAUSE", "q"}},
			{"ping", []string{"PING", "a", "b"}},
		} {
			c.Expect(errArity(tc.name), tc.args...)
		}
		// Arity -1 commands take no argument at all.
		for _, cmd := range []string{"ACKJOB", "FASTACK", "DELJOB", "ENQUEUE", "NACK", "DEQUEUE"} {
			c.Expect(":0", cmd)
		}
		c.Expect("+PONG", "PING")
	})

	t.Run("Hello", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		r := c.Do("HELLO")
		if r.Kind != resp.KindArray || len(r.Elems) != 3 {
			t.Fatalf("HELLO: got %s; want [:1 \"<id>\" [...]]", r)
		}
		id := string(r.Elems[1].Str)
		if !hex40.MatchString(id) {
			t.Fatalf("HELLO node ID %q: want 40 lowercase hex characters", id)
		}
		want := `[:1 "` + id + `" ["` + id + `" "" "` + strconv.Itoa(srv.Port) + `" "1"]]`
		if got := r.String(); got != want {
			t.Errorf("HELLO: got %s; want %s", got, want)
		}
		c.Expect(want, "hello")
		c.Expect(errArity("hello"), "HELLO", "3")
	})

	t.Run("Info", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		r := c.Do("INFO")
		if r.Kind != resp.KindBulk || r.IsNull() {
			t.Fatalf("INFO: got %s; want a bulk string", r)
		}
		text := string(r.Str)
		if !strings.HasPrefix(text, "# Server\r\n") {
			t.Errorf("INFO: got %.40q...; want it to start with # Server", text)
		}
		pos := 0
		for _, sec := range []string{"# Server", "# Clients", "# Memory", "# Jobs", "# Queues", "# Persistence", "# Stats", "# CPU"} {
			i := strings.Index(text, "\r\n"+sec+"\r\n")
			if sec == "# Server" {
				i = 0
			}
			if i < pos {
				t.Errorf("INFO: section %q missing or out of order", sec)
				continue
			}
			pos = i
		}
		if strings.Contains(text, "# Commandstats") {
			t.Errorf("INFO (default): contains # Commandstats; want it only with INFO all/commandstats")
		}
		f := testclient.ParseInfo(text)
		for _, k := range []string{"disque_version", "process_id", "run_id", "tcp_port", "uptime_in_seconds", "hz",
			"connected_clients", "blocked_clients", "used_memory", "used_memory_human", "registered_jobs",
			"registered_queues", "loading", "aof_enabled", "aof_state", "total_connections_received",
			"total_commands_processed", "used_cpu_sys", "used_cpu_user"} {
			if _, ok := f[k]; !ok {
				t.Errorf("INFO: no field %s", k)
			}
		}
		if f["tcp_port"] != strconv.Itoa(srv.Port) {
			t.Errorf("INFO tcp_port: got %s; want %d", f["tcp_port"], srv.Port)
		}
		if f["process_id"] != strconv.Itoa(srv.Pid()) {
			t.Errorf("INFO process_id: got %s; want %d", f["process_id"], srv.Pid())
		}
		if !hex40.MatchString(f["run_id"]) {
			t.Errorf("INFO run_id: got %q; want 40 hex characters", f["run_id"])
		}
		if f["aof_state"] != "off" {
			t.Errorf("INFO aof_state: got %q; want off", f["aof_state"])
		}
		for _, k := range []string{"connected_clients", "used_memory", "registered_jobs", "registered_queues"} {
			if n, err := strconv.ParseInt(f[k], 10, 64); err != nil || n < 0 {
				t.Errorf("INFO %s: got %q; want a non-negative integer", k, f[k])
			}
		}
		if n, _ := strconv.Atoi(f["connected_clients"]); n < 1 {
			t.Errorf("INFO connected_clients: got %d; want >= 1", n)
		}
		// One section.
		jobs := c.Str("INFO", "jobs")
		if !regexp.MustCompile(`^# Jobs\r\nregistered_jobs:\d+\r\n$`).MatchString(jobs) {
			t.Errorf("INFO jobs: got %q; want \"# Jobs\\r\\nregistered_jobs:<n>\\r\\n\"", jobs)
		}
		if got := c.Str("INFO", "JoBs"); !strings.HasPrefix(got, "# Jobs\r\n") {
			t.Errorf("INFO JoBs: got %q; want the jobs section", got)
		}
		if got := c.Str("INFO", "queues"); !strings.HasPrefix(got, "# Queues\r\nregistered_queues:") {
			t.Errorf("INFO queues: got %q", got)
		}
		c.Expect(`""`, "INFO", "nosuchsection")
		c.Expect(errSyntax, "INFO", "jobs", "queues")
		c.Expect("+PONG", "PING")
		all := c.Str("INFO", "all")
		if !strings.Contains(all, "# Commandstats\r\n") || !strings.Contains(all, "cmdstat_ping:calls=") {
			t.Errorf("INFO all: no # Commandstats section with cmdstat_ping")
		}
		if got := c.Str("INFO", "commandstats"); !strings.HasPrefix(got, "# Commandstats\r\n") {
			t.Errorf("INFO commandstats: got %.60q", got)
		}
	})

	t.Run("LoadJob", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect(errLoadJob, "LOADJOB", "anything")
		c.Expect(errLoadJob, "loadjob", "")
	})

	t.Run("AuthWithoutPassword", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect(errNoPassSet, "AUTH", "x")
		c.Expect("+PONG", "PING")
	})

	t.Run("CaseInsensitive", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		id := c.Str("aDdJoB", "sv-case", "b", "0", "tTl", "100", "ReTrY", "5", "aSyNc")
		c.Expect(":1", "qlen", "sv-case")
		c.Expect(`[["sv-case" "`+id+`" "b"]]`, "getJOB", "noHANG", "From", "sv-case")
		c.Expect(":1", "AckJob", id)
		c.Expect("+none", "pause", "sv-case", "NoNe")
	})

	t.Run("CommandTable", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		c.Expect(`[["addjob" :-4 [+write +denyoom +fast] :0 :0 :0]]`, "COMMAND", "INFO", "addjob")
		c.Expect(`[["getjob" :-2 [+write +fast] :0 :0 :0] (nil)]`, "COMMAND", "INFO", "GETJOB", "nosuch")
		c.Expect(":32", "COMMAND", "COUNT")
		r := c.Do("TIME")
		if r.Kind != resp.KindArray || len(r.Elems) != 2 || r.Elems[0].Kind != resp.KindBulk || r.Elems[1].Kind != resp.KindBulk {
			t.Fatalf("TIME: got %s; want two bulk strings", r)
		}
		if s, _ := strconv.ParseInt(string(r.Elems[0].Str), 10, 64); s < time.Now().Unix()-5 || s > time.Now().Unix()+5 {
			t.Errorf("TIME: got %s; want about now", r)
		}
	})

	t.Run("NotImplementedOrReal", func(t *testing.T) {
		t.Parallel()
		// A command of the spec answers either its real reply or an
		// explicit "not implemented" error, never a fake success.
		c := testclient.Dial(t, srv.Addr)
		node := nodeID(t, c)
		bulkHas := func(sub string) func(resp.Reply) bool {
			return func(r resp.Reply) bool { return r.Kind == resp.KindBulk && strings.Contains(string(r.Str), sub) }
		}
		isKind := func(k resp.Kind) func(resp.Reply) bool {
			return func(r resp.Reply) bool { return r.Kind == k && !r.IsNull() }
		}
		for _, tc := range []struct {
			args  []string
			valid func(resp.Reply) bool
		}{
			{[]string{"CLUSTER", "NODES"}, bulkHas(node + " ")},
			{[]string{"CLUSTER", "MYID"}, func(r resp.Reply) bool { return r.String() == `"`+node+`"` }},
			{[]string{"CLUSTER", "INFO"}, bulkHas("cluster_state:ok")},
			{[]string{"CLUSTER", "LEAVING"}, func(r resp.Reply) bool { return r.String() == "+no" }},
			{[]string{"CLIENT", "LIST"}, bulkHas("addr=")},
			{[]string{"CLIENT", "GETNAME"}, func(r resp.Reply) bool { return r.Kind == resp.KindBulk }},
			{[]string{"SLOWLOG", "LEN"}, isKind(resp.KindInt)},
			{[]string{"SLOWLOG", "GET"}, isKind(resp.KindArray)},
			{[]string{"LATENCY", "LATEST"}, isKind(resp.KindArray)},
			{[]string{"BGREWRITEAOF"}, func(r resp.Reply) bool {
				return r.String() == "+Background append only file rewriting started"
			}},
			{[]string{"QSCAN", "BUSYLOOP"}, func(r resp.Reply) bool {
				return r.Kind == resp.KindArray && len(r.Elems) == 2 && r.Elems[0].String() == `"0"`
			}},
			{[]string{"JSCAN", "BUSYLOOP"}, func(r resp.Reply) bool {
				return r.Kind == resp.KindArray && len(r.Elems) == 2 && r.Elems[0].String() == `"0"`
			}},
			{[]string{"CONFIG", "GET", "maxclients"}, func(r resp.Reply) bool {
				return r.Kind == resp.KindArray && len(r.Elems) == 2 && r.Elems[0].String() == `"maxclients"`
			}},
		} {
			r := c.Do(tc.args...)
			what := strings.Join(tc.args, " ")
			if r.Kind == resp.KindError {
				if !strings.HasPrefix(string(r.Str), "ERR ") || !strings.Contains(string(r.Str), "not implemented") {
					t.Errorf("%s: got %s; want the real reply or -ERR ... not implemented ...", what, r)
				}
				continue
			}
			if !tc.valid(r) {
				t.Errorf("%s: got %s; want the spec's reply or an explicit not-implemented error", what, r)
			}
		}
		// MONITOR on its own connection (it turns the connection into a
		// monitor).
		m := testclient.Dial(t, srv.Addr)
		if r := m.Do("MONITOR"); r.String() != "+OK" &&
			!(r.Kind == resp.KindError && strings.Contains(string(r.Str), "not implemented")) {
			t.Errorf("MONITOR: got %s; want +OK or -ERR ... not implemented ...", r)
		}
		c.Expect("+PONG", "PING")
	})
}

// TestAuth covers requirepass and AUTH (commands.md 1.4 step 4, 5.3). The
// harness waits for PING to answer +PONG, so the password is set with
// CONFIG SET once the server runs.
func TestAuth(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)
	admin := testclient.Dial(t, srv.Addr)
	admin.Expect(errNoPassSet, "AUTH", "secret")
	admin.Expect("+OK", "CONFIG", "SET", "requirepass", "secret")

	c := testclient.Dial(t, srv.Addr)
	for _, args := range [][]string{{"PING"}, {"PING", "a", "b"}, {"ADDJOB", "q", "b", "0"}, {"GETJOB", "FROM", "q"},
		{"HELLO"}, {"INFO"}, {"QLEN", "q"}, {"SHOW", "bad"}} {
		c.Expect(errNoAuth, args...)
	}
	// Lookup and arity come before authentication.
	c.Expect("-ERR unknown command 'FOO'", "FOO")
	c.Expect(errArity("qlen"), "QLEN")
	c.Expect(errArity("auth"), "AUTH")
	c.Expect(errInvalidPass, "AUTH", "wrong")
	c.Expect(errNoAuth, "PING")
	c.Expect("+OK", "AUTH", "secret")
	c.Expect("+PONG", "PING")
	id := c.AddJob("auth-q", "x")
	// A failed AUTH makes the connection unauthenticated again.
	c.Expect(errInvalidPass, "AUTH", "secreT")
	c.Expect(errNoAuth, "SHOW", id)
	c.Expect("+OK", "AUTH", "secret")
	c.Expect(":1", "QLEN", "auth-q")

	// QUIT works before authentication.
	q := testclient.Dial(t, srv.Addr)
	q.Expect("+OK", "QUIT")
	q.ExpectClosed(5*time.Second, "QUIT before AUTH")

	// Removing the password.
	admin.Expect("+OK", "CONFIG", "SET", "requirepass", "")
	d := testclient.Dial(t, srv.Addr)
	d.Expect("+PONG", "PING")
	d.Expect(errNoPassSet, "AUTH", "secret")
}

// TestIdleTimeout: the timeout directive closes idle clients but never
// blocked ones (commands.md 2.2).
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2, "--timeout", "1")
	idle := testclient.Dial(t, srv.Addr)
	idle.Expect("+PONG", "PING")
	blocked := testclient.Dial(t, srv.Addr)
	blocked.Send("GETJOB", "FROM", "idle-q")
	start := time.Now()
	idle.ExpectClosed(5*time.Second, "an idle client with timeout 1")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("idle client closed after %v; want about 1-2 s", d)
	}
	time.Sleep(time.Until(start.Add(2500 * time.Millisecond)))
	c := testclient.Dial(t, srv.Addr)
	id := c.AddJob("idle-q", "x")
	if got, want := blocked.Read().String(), `[["idle-q" "`+id+`" "x"]]`; got != want {
		t.Fatalf("client blocked for 2.5 s with timeout 1: got %s; want %s", got, want)
	}
}
