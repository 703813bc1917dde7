package persist_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
)

// aofFile is the log's name in the server directory (appendfilename default).
const aofFile = "disque.aof"

func aofPath(dir string) string { return filepath.Join(dir, aofFile) }

// load is a set of goroutines adding jobs with pipelined ADDJOBs (and
// optionally fetching and acknowledging them) until stopped or until the
// server goes away under them. It records every job ID whose ADDJOB reply
// arrived: those are the jobs the server acknowledged.
type load struct {
	stop chan struct{}
	wg   sync.WaitGroup
	n    atomic.Int64 // acknowledged ADDJOBs so far

	mu     sync.Mutex
	acked  []string       // IDs of ADDJOB replies that arrived
	errs   map[string]int // error replies by first word
	acks   int            // jobs acknowledged by consumers (ACKJOB)
	ioErrs int            // connections that ended with an I/O error
}

func newLoad() *load { return &load{stop: make(chan struct{}), errs: map[string]int{}} }

// produce starts n producers on addr: each writes `pipeline` ADDJOBs of
// queue at a time, then reads their replies. opts follow the timeout
// argument of ADDJOB.
func (l *load) produce(t *testing.T, addr, queue string, n, pipeline int, opts ...string) {
	t.Helper()
	for p := 0; p < n; p++ {
		c := testclient.Dial(t, addr)
		l.wg.Add(1)
		go func(p int) {
			defer l.wg.Done()
			var ids []string
			errs := map[string]int{}
			ioErr := false
			defer func() {
				l.mu.Lock()
				l.acked = append(l.acked, ids...)
				for k, v := range errs {
					l.errs[k] += v
				}
				if ioErr {
					l.ioErrs++
				}
				l.mu.Unlock()
			}()
			var b []byte
			for seq := 0; ; seq++ {
				select {
				case <-l.stop:
					return
				default:
				}
				b = b[:0]
				for k := 0; k < pipeline; k++ {
					body := fmt.Sprintf("%s-%02d-%09d", queue, p, seq*pipeline+k)
					b = resp.AppendCommandStrings(b, append([]string{"ADDJOB", queue, body, "0"}, opts...)...)
				}
				if err := c.TryWrite(b); err != nil {
					ioErr = true
					return
				}
				for k := 0; k < pipeline; k++ {
					r, err := c.ReadTimeout(20 * time.Second)
					if err != nil {
						ioErr = true
						return
					}
					switch r.Kind {
					case resp.KindSimple:
						ids = append(ids, string(r.Str))
						l.n.Add(1)
					case resp.KindError:
						w, _, _ := strings.Cut(string(r.Str), " ")
						errs[w]++
					}
				}
			}
		}(p)
	}
}

// consume starts n consumers on addr: GETJOB NOHANG COUNT 16 FROM queue,
// then one ACKJOB with every ID received.
func (l *load) consume(t *testing.T, addr, queue string, n int) {
	t.Helper()
	for p := 0; p < n; p++ {
		c := testclient.Dial(t, addr)
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			acks := 0
			defer func() {
				l.mu.Lock()
				l.acks += acks
				l.mu.Unlock()
			}()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				r, err := c.TryDo(20*time.Second, "GETJOB", "NOHANG", "COUNT", "16", "FROM", queue)
				if err != nil {
					return
				}
				if r.Kind != resp.KindArray || r.IsNull() || len(r.Elems) == 0 {
					time.Sleep(time.Millisecond)
					continue
				}
				args := []string{"ACKJOB"}
				for _, e := range r.Elems {
					if len(e.Elems) >= 2 {
						args = append(args, string(e.Elems[1].Str))
					}
				}
				r, err = c.TryDo(20*time.Second, args...)
				if err != nil {
					return
				}
				if r.Kind == resp.KindInt {
					acks += int(r.Int)
				}
			}
		}()
	}
}

// Stop ends the load after the replies of the commands in flight arrived
// (or the connections failed) and returns the acknowledged IDs.
func (l *load) Stop() []string {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acked...)
}

// ackedCount is a running count of acknowledged ADDJOBs.
func (l *load) ackedCount() int { return int(l.n.Load()) }

func (l *load) errorSummary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return "none"
	}
	var parts []string
	for k, v := range l.errs {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// jobSet returns the IDs of the jobs the node holds (JSCAN 0 BUSYLOOP REPLY
// id, plus QUEUE/STATE filters given as extra arguments).
func jobSet(t *testing.T, c *testclient.Conn, filters ...string) map[string]bool {
	t.Helper()
	args := append([]string{"JSCAN", "0", "BUSYLOOP", "REPLY", "id"}, filters...)
	r := c.Do(args...)
	if r.Kind != resp.KindArray || len(r.Elems) != 2 || r.Elems[1].Kind != resp.KindArray {
		t.Fatalf("%s: got %s; want [cursor [ids...]]", strings.Join(args, " "), r)
	}
	if string(r.Elems[0].Str) != "0" {
		t.Fatalf("%s: cursor %q after BUSYLOOP; want 0", strings.Join(args, " "), r.Elems[0].Str)
	}
	m := make(map[string]bool, len(r.Elems[1].Elems))
	for _, e := range r.Elems[1].Elems {
		m[string(e.Str)] = true
	}
	return m
}

// heldJobs is the set a log must reproduce: jobs in state active or queued.
func heldJobs(t *testing.T, c *testclient.Conn) map[string]bool {
	t.Helper()
	return jobSet(t, c, "STATE", "active", "STATE", "queued")
}

// compareSets fails when want and got differ, naming a few differences.
func compareSets(t *testing.T, what string, want, got map[string]bool) {
	t.Helper()
	if d := diffSets(want, got); d != "" {
		t.Fatalf("%s: %s", what, d)
	}
}

// diffSets describes how got differs from want ("" when equal).
func diffSets(want, got map[string]bool) string {
	var missing, extra []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	if len(missing)+len(extra) == 0 {
		return ""
	}
	sort.Strings(missing)
	sort.Strings(extra)
	return fmt.Sprintf("%d jobs before, %d after; %d missing %v; %d extra %v",
		len(want), len(got), len(missing), head(missing, 3), len(extra), head(extra, 3))
}

func head(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// infoInt reads an integer INFO field (failing when absent).
func infoInt(t *testing.T, c *testclient.Conn, field string) int64 {
	t.Helper()
	m := c.Info("persistence")
	v, ok := m[field]
	if !ok {
		t.Fatalf("INFO persistence has no %s field: %v", field, m)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("INFO %s:%s is not an integer", field, v)
	}
	return n
}

// waitInfo waits until INFO persistence reports field:value.
func waitInfo(t *testing.T, c *testclient.Conn, d time.Duration, field, value string) {
	t.Helper()
	var last string
	deadline := time.Now().Add(d)
	for {
		last = c.Info("persistence")[field]
		if last == value {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("INFO %s: %q after %v; want %q", field, last, d, value)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addJobs adds n jobs to queue in pipelined steps of up to 100 commands
// and returns their IDs in order.
func addJobs(t *testing.T, c *testclient.Conn, queue string, n int, opts ...string) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		k := min(100, n-len(ids))
		cmds := make([][]string, k)
		for i := range cmds {
			cmds[i] = append([]string{"ADDJOB", queue, fmt.Sprintf("%s-body-%06d", queue, len(ids)+i), "0"}, opts...)
		}
		for i, r := range c.Pipeline(cmds...) {
			if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
				t.Fatalf("%s: got %s; want a job ID", strings.Join(cmds[i], " "), r)
			}
			ids = append(ids, string(r.Str))
		}
	}
	return ids
}

// ackJobs acknowledges ids with ACKJOB in steps of 100.
func ackJobs(t *testing.T, c *testclient.Conn, ids []string) {
	t.Helper()
	for len(ids) > 0 {
		k := min(100, len(ids))
		r := c.Do(append([]string{"ACKJOB"}, ids[:k]...)...)
		if r.Kind != resp.KindInt {
			t.Fatalf("ACKJOB: got %s; want an integer", r)
		}
		ids = ids[k:]
	}
}

func setOf(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return fi.Size()
}

// writeConfig writes a config file for a server on 127.0.0.1:port working
// in dir, with extra "directive value" lines, and returns its path.
func writeConfig(t *testing.T, dir string, port int, lines ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "# disq persist_test\nport %d\nbind 127.0.0.1\ndir %s\nadmin-port 0\n", port, dir)
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	p := filepath.Join(dir, "disq.conf")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// copyFile copies src to dst (0644).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// show returns SHOW id's reply.
func show(t *testing.T, c *testclient.Conn, id string) resp.Reply {
	t.Helper()
	return c.Do("SHOW", id)
}

// jobState returns the state field of SHOW id ("" for an unknown job).
func jobState(t *testing.T, c *testclient.Conn, id string) string {
	t.Helper()
	r := show(t, c, id)
	if r.IsNull() {
		return ""
	}
	return string(testclient.Field(r, "state").Str)
}

// restart starts srv again on its port and directory after Kill or an exit.
func restart(t *testing.T, srv *testserver.Server) {
	t.Helper()
	if err := srv.Start(); err != nil {
		t.Fatalf("restart the server on %s (dir %s): %v", srv.Addr, srv.Dir, err)
	}
}
