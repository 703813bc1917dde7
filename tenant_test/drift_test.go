package tenant_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
	"disq/tenant"
)

// pipeline writes cmds in one write and reads one reply each; unlike
// testclient's it returns errors, so it may run in goroutines.
func pipeline(c *testclient.Conn, cmds [][]string) ([]resp.Reply, error) {
	var b []byte
	for _, a := range cmds {
		b = resp.AppendCommandStrings(b, a...)
	}
	_ = c.Raw().SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Raw().Write(b); err != nil {
		return nil, err
	}
	out := make([]resp.Reply, len(cmds))
	for i := range cmds {
		r, err := c.ReadTimeout(20 * time.Second)
		if err != nil {
			return nil, fmt.Errorf("reply %d of %d: %w", i, len(cmds), err)
		}
		out[i] = r
	}
	return out, nil
}

// mixStats counts what a mixed workload saw.
type mixStats struct {
	ops, added, quota, rateLimited, delivered, counted atomic.Int64
}

// mixedWorker sends ops commands in pipelined batches of depth: ADDJOB
// (random queue and body size, some with TTL 1 to expire, some with RETRY 1
// to be requeued), GETJOB NOHANG, and ACKJOB, FASTACK, DELJOB, NACK,
// ENQUEUE, DEQUEUE on IDs it has seen. Replies other than the expected
// ones are errors. ok lists the error prefixes that are allowed.
func mixedWorker(c *testclient.Conn, seed uint64, ops, depth, queues int, st *mixStats, ok []string) error {
	rng := rand.New(rand.NewPCG(seed, 7))
	var known []string // IDs seen (added or delivered), most recent last
	pick := func() string {
		i := len(known) - 1 - rng.IntN(min(len(known), 64))
		return known[i]
	}
	body := func() string { return strings.Repeat("x", rng.IntN(65)) }
	queue := func() string { return "mq-" + strconv.Itoa(rng.IntN(queues)) }
	sent := 0
	for sent < ops {
		n := min(depth, ops-sent)
		cmds := make([][]string, 0, n)
		for len(cmds) < n {
			p := rng.IntN(100)
			switch {
			case p < 40 || len(known) == 0:
				args := []string{"ADDJOB", queue(), body(), "0"}
				switch q := rng.IntN(10); {
				case q == 0:
					args = append(args, "TTL", "1")
				case q == 1:
					args = append(args, "RETRY", "1")
				}
				cmds = append(cmds, args)
			case p < 65:
				cmds = append(cmds, []string{"GETJOB", "NOHANG", "COUNT", strconv.Itoa(1 + rng.IntN(4)), "FROM", queue(), queue()})
			case p < 77:
				cmds = append(cmds, []string{"ACKJOB", pick()})
			case p < 84:
				cmds = append(cmds, []string{"FASTACK", pick()})
			case p < 90:
				cmds = append(cmds, []string{"DELJOB", pick(), pick()})
			case p < 96:
				cmds = append(cmds, []string{"NACK", pick()})
			case p < 98:
				cmds = append(cmds, []string{"ENQUEUE", pick()})
			default:
				cmds = append(cmds, []string{"DEQUEUE", pick()})
			}
		}
		rs, err := pipeline(c, cmds)
		if err != nil {
			return err
		}
		sent += n
		st.ops.Add(int64(n))
		for i, r := range rs {
			switch {
			case r.Kind == resp.KindSimple && testclient.IsJobID(string(r.Str)):
				st.added.Add(1)
				known = append(known, string(r.Str))
			case r.Kind == resp.KindError:
				s := string(r.Str)
				switch {
				case strings.HasPrefix(s, "QUOTA "):
					st.quota.Add(1)
				case strings.HasPrefix(s, "RATELIMIT "):
					st.rateLimited.Add(1)
				default:
					allowed := false
					for _, p := range ok {
						allowed = allowed || strings.HasPrefix(s, p)
					}
					if !allowed {
						return fmt.Errorf("%s: -%s", strings.Join(cmds[i], " "), s)
					}
				}
			case r.Kind == resp.KindArray && cmds[i][0] == "GETJOB":
				for _, e := range r.Elems {
					st.delivered.Add(1)
					known = append(known, string(e.Elems[1].Str))
				}
			case r.Kind == resp.KindInt:
				st.counted.Add(r.Int)
			default:
				return fmt.Errorf("%s: unexpected reply %s", strings.Join(cmds[i], " "), r)
			}
		}
		if len(known) > 4096 {
			known = append(known[:0], known[len(known)-1024:]...)
		}
	}
	return nil
}

// heldByScan returns the jobs JSCAN shows to c and the sum of their body
// lengths.
func heldByScan(t testing.TB, c *testclient.Conn) (ids []string, bytes int64) {
	t.Helper()
	r := c.Do("JSCAN", "BUSYLOOP", "COUNT", "1000", "REPLY", "ALL")
	if r.Kind != resp.KindArray || len(r.Elems) != 2 {
		t.Fatalf("JSCAN REPLY ALL: %s", r)
	}
	for _, it := range r.Elems[1].Elems {
		ids = append(ids, string(testclient.Field(it, "id").Str))
		bytes += int64(len(testclient.Field(it, "body").Str))
	}
	return ids, bytes
}

// drain deletes every job the connection's tenant holds.
func drain(t testing.TB, c *testclient.Conn) {
	t.Helper()
	for i := 0; i < 100; i++ {
		ids := scanAll(t, c, "JSCAN")
		if len(ids) == 0 {
			return
		}
		for len(ids) > 0 {
			n := min(len(ids), 500)
			c.Do(append([]string{"DELJOB"}, ids[:n]...)...)
			ids = ids[n:]
		}
	}
	t.Fatal("jobs keep appearing")
}

// TestNoDrift: 100,000 mixed operations from 8 connections of one tenant
// (ADDJOB with some expiring and some requeued, GETJOB, ACKJOB, FASTACK,
// DELJOB, NACK, ENQUEUE, DEQUEUE), against limits that refuse some of
// them; once quiet, the usage equals what JSCAN and QSCAN show, and after
// everything is deleted it is exactly 0 jobs and 0 bytes, with the queues
// still existing counted.
func TestNoDrift(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	const (
		total   = 100_000
		workers = 8
		depth   = 32
		queues  = 12
	)
	e.putTenant("alpha", "pa", limits{"max_jobs": 2000, "max_bytes": 50000, "max_queues": 10})
	e.putTenant("beta", "pb", nil)
	// beta holds jobs of its own in the same queue names: they must not
	// be counted to alpha, and must be left alone.
	b := e.dial("beta", "pb")
	for i := 0; i < 20; i++ {
		addJob(t, b, "mq-"+strconv.Itoa(i%queues), "beta")
	}

	var st mixStats
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		c := e.dial("alpha", "pa")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := mixedWorker(c, uint64(w+1), total/workers, depth, queues, &st, nil); err != nil {
				t.Errorf("worker %d: %v", w, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d ops in %v: %d added, %d QUOTA, %d delivered, %d counted by ID commands",
		st.ops.Load(), time.Since(start).Round(time.Millisecond), st.added.Load(), st.quota.Load(), st.delivered.Load(), st.counted.Load())
	if t.Failed() {
		return
	}
	if st.ops.Load() != total || st.quota.Load() == 0 || st.added.Load() < total/10 {
		t.Errorf("workload: %d ops, %d added, %d refused; want %d ops, some of each", st.ops.Load(), st.added.Load(), st.quota.Load(), total)
	}

	// Quiet: wait out the TTL-1 jobs, then usage must equal what is held.
	a := e.dial("alpha", "pa")
	time.Sleep(2500 * time.Millisecond)
	ids, bytes := heldByScan(t, a)
	u := e.usage("alpha")
	qs := scanAll(t, a, "QSCAN")
	t.Logf("quiet: JSCAN %d jobs %d bytes, QSCAN %d queues; usage %d jobs %d bytes %d queues; expired %d",
		len(ids), bytes, len(qs), u.Jobs, u.Bytes, u.Queues, u.Events["expired"])
	if u.Jobs != int64(len(ids)) || u.Bytes != bytes || u.Queues != int64(len(qs)) {
		t.Errorf("usage drifted: %d jobs, %d bytes, %d queues; held: %d jobs, %d bytes, %d queues",
			u.Jobs, u.Bytes, u.Queues, len(ids), bytes, len(qs))
	}
	if u.Events["expired"] == 0 {
		t.Errorf("no job expired: the workload should include some")
	}
	if u.Jobs > 2000 || u.Bytes > 50000 {
		t.Errorf("usage above the limits: %+v", u)
	}

	drain(t, a)
	u = e.waitUsage("alpha", 5*time.Second, "0 jobs and 0 bytes", jobsBytes(0, 0))
	qs = scanAll(t, a, "QSCAN")
	if u.Queues != int64(len(qs)) {
		t.Errorf("queues in usage %d; QSCAN shows %d", u.Queues, len(qs))
	}
	if info := a.Info("queues"); info["registered_queues"] != strconv.Itoa(len(qs)) {
		t.Errorf("INFO registered_queues %s; QSCAN shows %d", info["registered_queues"], len(qs))
	}
	m := e.metrics()
	if m[`disq_tenant_jobs_held{tenant="alpha"}`] != 0 || m[`disq_tenant_bytes_held{tenant="alpha"}`] != 0 {
		t.Errorf("metrics after the drain: jobs %v, bytes %v; want 0, 0",
			m[`disq_tenant_jobs_held{tenant="alpha"}`], m[`disq_tenant_bytes_held{tenant="alpha"}`])
	}
	var betaLen int64
	for i := 0; i < queues; i++ {
		betaLen += b.Int("QLEN", "mq-"+strconv.Itoa(i))
	}
	if ub := e.usage("beta"); betaLen != 20 || ub.Jobs != 20 || ub.Bytes != 80 {
		t.Errorf("beta after alpha's workload: QLEN total %d, usage %d jobs %d bytes; want 20, 20, 80", betaLen, ub.Jobs, ub.Bytes)
	}
	// Everything flushed: queues back to 0 too.
	e.dial("", "").Expect("+OK", "DEBUG", "FLUSHALL")
	e.waitUsage("alpha", 5*time.Second, "nothing at all", func(u tenant.Usage) bool {
		return u.Jobs == 0 && u.Bytes == 0 && u.Queues == 0
	})
	if u := e.usage("beta"); u.Jobs != 0 || u.Bytes != 0 || u.Events["added"] != 20 || u.Events["acked"] != 0 {
		t.Errorf("beta usage: %+v", u)
	}
}
