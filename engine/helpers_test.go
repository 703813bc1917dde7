package engine_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
	"disq/shard"
)

// TestMain raises the default -parallel: these tests mostly wait on real
// servers and timers.
func TestMain(m *testing.M) { testserver.MainParallel(m, 8) }

// Error lines of commands.md section 6, as the test client prints them.
const (
	errSyntax      = "-ERR syntax error"
	errBadID       = "-BADID Invalid Job ID format."
	errNoJob       = "-NOJOB Job not known in the context of this node."
	errTooLate     = "-TOOLATE Half of job TTL already elapsed, you are no longer allowed to postpone the next delivery."
	errPaused      = "-PAUSED Queue paused in input, try later"
	errMaxLen      = "-MAXLEN Queue is already longer than the specified MAXLEN count"
	errNoRepl      = "-NOREPL Not enough reachable nodes for the requested replication level"
	errReplicate   = "-ERR REPLICATE must be between 1 and 65535"
	errTTL         = "-ERR TTL must be a number > 0"
	errRetry       = "-ERR RETRY time must be a non negative number"
	errDelay       = "-ERR DELAY time must be a non negative number"
	errMaxLenArg   = "-ERR MAXLEN must be a positive number"
	errRetryRepl   = "-ERR With RETRY set to 0 please explicitly set  REPLICATE to 1 (at-most-once delivery)"
	errDelayTTL    = "-ERR The specified DELAY is greater than TTL. Job refused since would never be delivered"
	errTimeoutInt  = "-ERR timeout is not an integer or out of range"
	errTimeoutNeg  = "-ERR timeout is negative"
	errCount       = "-ERR COUNT must be a number greater than zero"
	errNotInteger  = "-ERR value is not an integer or out of range"
	errNoAuth      = "-NOAUTH Authentication required."
	errInvalidPass = "-ERR invalid password"
	errNoPassSet   = "-ERR Client sent AUTH, but no password is set"
	errMaxClients  = "-ERR max number of clients reached"
	errLoadJob     = "-ERR LOADJOB is a special command only processed from AOF"
)

func errArity(name string) string {
	return "-ERR wrong number of arguments for '" + name + "' command"
}

// unknownID is well-formed (passes the spec's validation) but names no job.
const unknownID = "D-00000000-AAAAAAAAAAAAAAAAAAAAAAAA-05a1"

// garbageID passes the spec's validation (length, 'D', dashes) but is not
// hex/base64 at all: the server must treat it as an unknown job.
const garbageID = "D-zzzzzzzz-!!!!!!!!!!!!!!!!!!!!!!!!-zzzz"

// startServer starts a server with an explicit shard count so that shard
// placement of queue names (shardOf) is known.
func startServer(t *testing.T, shards int, directives ...string) *testserver.Server {
	t.Helper()
	args := append([]string{"--shards", strconv.Itoa(shards)}, directives...)
	srv := testserver.Start(t, args...)
	c := testclient.Dial(t, srv.Addr)
	if got := c.Info("server")["shards"]; got != "" && got != strconv.Itoa(shards) {
		t.Fatalf("INFO shards: got %s; want %d", got, shards)
	}
	c.Close()
	return srv
}

// shardOf returns the shard that owns queue on a node with n shards (the
// routing of shared/README.md decision 4, default tenant).
func shardOf(queue string, n int) int { return shard.Of(shard.Slot("default", []byte(queue)), n) }

// idShard returns the shard a job ID routes to on a node with n shards:
// the slot sits in the first two base64 characters of the random part.
func idShard(id string, n int) int {
	const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	slot := strings.IndexByte(b64, id[11])<<6 | strings.IndexByte(b64, id[12])
	return slot % n
}

// sameShard returns k queue names "<prefix>-<i>" that live on one shard.
func sameShard(prefix string, k, shards int) []string {
	var out []string
	want := -1
	for i := 0; len(out) < k; i++ {
		q := prefix + "-" + strconv.Itoa(i)
		s := shardOf(q, shards)
		if want < 0 {
			want = s
		}
		if s == want {
			out = append(out, q)
		}
	}
	return out
}

// diffShards returns k queue names on k different shards (k <= shards).
func diffShards(prefix string, k, shards int) []string {
	var out []string
	used := map[int]bool{}
	for i := 0; len(out) < k; i++ {
		q := prefix + "-" + strconv.Itoa(i)
		if s := shardOf(q, shards); !used[s] {
			used[s] = true
			out = append(out, q)
		}
	}
	return out
}

// showKeys is SHOW's key order (commands.md 2.10).
var showKeys = []string{"id", "queue", "state", "repl", "ttl", "ctime", "delay", "retry", "nacks",
	"additional-deliveries", "nodes-delivered", "nodes-confirmed", "next-requeue-within",
	"next-awake-within", "body"}

// show runs SHOW id and checks the 30-element shape; it returns the reply,
// or a null reply for an unknown job.
func show(t testing.TB, c *testclient.Conn, id string) resp.Reply {
	t.Helper()
	r := c.Do("SHOW", id)
	if r.Kind == resp.KindBulk && r.IsNull() {
		return r
	}
	if r.Kind != resp.KindArray || len(r.Elems) != 30 {
		t.Fatalf("SHOW %s: got %s; want a 30-element array", id, r)
	}
	for i, k := range showKeys {
		if got := r.Elems[2*i]; got.Kind != resp.KindBulk || string(got.Str) != k {
			t.Fatalf("SHOW %s: key %d got %s; want %q", id, i, got, k)
		}
	}
	return r
}

// state returns the job's state from SHOW, or "" for an unknown job.
func state(t testing.TB, c *testclient.Conn, id string) string {
	t.Helper()
	r := show(t, c, id)
	if r.Kind != resp.KindArray {
		return ""
	}
	return string(testclient.Field(r, "state").Str)
}

// showInt returns an integer field of SHOW.
func showInt(t testing.TB, c *testclient.Conn, id, key string) int64 {
	t.Helper()
	r := show(t, c, id)
	if r.Kind != resp.KindArray {
		t.Fatalf("SHOW %s: got %s; want a job", id, r)
	}
	f := testclient.Field(r, key)
	if f.Kind != resp.KindInt {
		t.Fatalf("SHOW %s %s: got %s; want an integer", id, key, f)
	}
	return f.Int
}

// qlen returns QLEN q.
func qlen(c *testclient.Conn, q string) int64 { return c.Int("QLEN", q) }

// qstatInt returns an integer field of QSTAT q.
func qstatInt(t testing.TB, c *testclient.Conn, q, key string) int64 {
	t.Helper()
	r := c.Do("QSTAT", q)
	if r.Kind != resp.KindArray || r.IsNull() {
		t.Fatalf("QSTAT %s: got %s; want the queue's statistics", q, r)
	}
	f := testclient.Field(r, key)
	if f.Kind != resp.KindInt {
		t.Fatalf("QSTAT %s %s: got %s; want an integer", q, key, f)
	}
	return f.Int
}

// waitBlocked waits until QSTAT q reports n blocked clients.
func waitBlocked(t testing.TB, c *testclient.Conn, q string, n int64) {
	t.Helper()
	testclient.Eventually(t, 5*time.Second, fmt.Sprintf("QSTAT %s blocked = %d", q, n), func() bool {
		r := c.Do("QSTAT", q)
		return r.Kind == resp.KindArray && !r.IsNull() && testclient.Field(r, "blocked").Int == n
	})
}

// pollBlocked is waitBlocked that reports a failure with Errorf (the test
// goes on) and gives up after d.
func pollBlocked(t testing.TB, c *testclient.Conn, q string, n int64, d time.Duration) {
	t.Helper()
	var last resp.Reply
	deadline := time.Now().Add(d)
	for {
		last = c.Do("QSTAT", q)
		if last.Kind == resp.KindArray && !last.IsNull() && testclient.Field(last, "blocked").Int == n {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("QSTAT %s after %v: got %s; want blocked %d", q, d, last, n)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jobsString prints jobs as "queue/body" for messages.
func jobsString(js []testclient.Job) string {
	var parts []string
	for _, j := range js {
		parts = append(parts, j.Queue+"/"+j.Body)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// rssMB returns the resident set size of process pid in MiB.
func rssMB(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("cannot read /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb / 1024
		}
	}
	return 0
}

// nodeID returns this node's ID from HELLO.
func nodeID(t testing.TB, c *testclient.Conn) string {
	t.Helper()
	r := c.Do("HELLO")
	if r.Kind != resp.KindArray || len(r.Elems) < 2 || r.Elems[1].Kind != resp.KindBulk {
		t.Fatalf("HELLO: got %s", r)
	}
	return string(r.Elems[1].Str)
}
