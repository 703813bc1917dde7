package engine_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

const (
	errOOM       = "-OOM command not allowed when used memory > 'maxmemory'."
	errNoReplOOM = "-NOREPL Not enough reachable nodes for the requested replication level, since I'm unable to hold a copy of the message for the following reason: I'm out of memory"
)

// fill adds jobs with 1 KiB bodies to q, 100 per pipeline and slowly
// enough (the server samples its memory every 100 ms) that the 75% level
// is seen before the 95% one, until a pipeline sees an ADDJOB refused or
// max jobs were added; it returns the number added and the first refusal
// ("" if none).
func fill(t testing.TB, c *testclient.Conn, q string, max int) (int, string) {
	t.Helper()
	body := strings.Repeat("m", 1024)
	added, refusal := 0, ""
	for added < max && refusal == "" {
		var cmds [][]string
		if added > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		for k := 0; k < 100 && added+k < max; k++ {
			cmds = append(cmds, []string{"ADDJOB", q, body, "0"})
		}
		for _, r := range c.Pipeline(cmds...) {
			switch {
			case r.Kind == resp.KindSimple:
				added++
			case refusal == "":
				refusal = r.String()
			}
		}
	}
	return added, refusal
}

// TestMemoryLevels covers maxmemory (semantics.md 12, 4.4; commands.md 1.4
// step 5): above 75% a lone node's ADDJOB answers -NOREPL (out of memory);
// above 95% ADDJOB, NACK and ENQUEUE answer -OOM, delivered at-most-once
// jobs are evicted (policy acks) and empty idle queues go after 2 s; DEBUG
// FLUSHALL gives the memory back.
func TestMemoryLevels(t *testing.T) {
	t.Parallel()
	const maxmem = 10 << 20
	srv := startServer(t, 2, "--maxmemory", "10mb")
	used := func(c *testclient.Conn) int64 { return infoInt(t, c, "memory", "used_memory") }
	// The fill queue and the at-most-once jobs live on different shards:
	// eviction samples records at random per shard.
	qs := diffShards("mem", 2, 2)
	fillQ, otherQ := qs[0], qs[1]

	t.Run("NoReplAbove75", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// Used memory includes garbage not collected yet: fill until the
		// refusal still holds 300 ms later (two samples).
		total, stable := 0, false
		for round := 0; round < 10 && !stable; round++ {
			n, refusal := fill(t, c, fillQ, 40000)
			total += n
			if refusal == "" {
				t.Fatalf("ADDJOB of %d 1 KiB jobs with maxmemory 10mb: never refused (used_memory %d)", total, used(c))
			}
			if refusal != errNoReplOOM {
				t.Fatalf("ADDJOB above 75%% of maxmemory: got %s; want %s", refusal, errNoReplOOM)
			}
			time.Sleep(300 * time.Millisecond)
			r := c.DoS("ADDJOB", otherQ, "x", "0")
			stable = r == errNoReplOOM
			if !stable {
				c.Expect(":1", "DELJOB", r[1:])
			}
		}
		if !stable {
			t.Fatalf("ADDJOB refusals above 75%% never held for 300 ms (%d jobs, used_memory %d)", total, used(c))
		}
		u := used(c)
		t.Logf("refused after %d jobs, used_memory %d (%.0f%% of maxmemory)", total, u, float64(u)*100/maxmem)
		if total < 2500 {
			t.Errorf("ADDJOB refused after only %d 1 KiB jobs with maxmemory 10mb (used_memory %d)", total, u)
		}
		if u*100 < maxmem*70 {
			t.Errorf("INFO used_memory when ADDJOB is refused: %d; want about 75%% of %d or more", u, maxmem)
		}
		if h := c.Info("memory")["used_memory_human"]; !regexp.MustCompile(`^\d+\.\d\dM$`).MatchString(h) {
			t.Errorf("INFO used_memory_human: got %q; want <n>.<nn>M", h)
		}
		// Every ADDJOB form is refused; other commands run.
		for _, opts := range [][]string{nil, {"REPLICATE", "1"}, {"ASYNC"}, {"RETRY", "0", "REPLICATE", "1"}} {
			c.Expect(errNoReplOOM, append([]string{"ADDJOB", otherQ, "x", "0"}, opts...)...)
		}
		c.Expect(":"+strconv.Itoa(total), "QLEN", fillQ)
		if js := c.GetJobs("NOHANG", "FROM", fillQ); len(js) != 1 {
			t.Errorf("GETJOB above 75%%: got %s; want a job", jobsString(js))
		} else {
			c.Expect(":1", "NACK", js[0].ID) // NACK is refused only above 95%
		}
	})

	t.Run("FlushAllFrees", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		c.Expect("+OK", "DEBUG", "FLUSHALL")
		testclient.Eventually(t, 10*time.Second, "ADDJOB to work again after DEBUG FLUSHALL", func() bool {
			return strings.HasPrefix(c.DoS("ADDJOB", otherQ, "x", "0"), "+D-")
		})
		if u := used(c); u*100 > maxmem*75 {
			t.Errorf("used_memory after DEBUG FLUSHALL: %d; want below 75%% of %d", u, maxmem)
		}
		c.Expect("+OK", "DEBUG", "FLUSHALL")
	})

	t.Run("OOMAbove95", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// Fill to about half of the limit, then lower maxmemory below the
		// memory in use: level 2.
		const filled = 4000
		if n, refusal := fill(t, c, fillQ, filled); refusal != "" {
			t.Fatalf("ADDJOB after %d jobs: %s; want %d jobs below 75%% of 10mb", n, refusal, filled)
		}
		queuedID := c.AddJob(fillQ, "queued")
		js := c.GetJobs("NOHANG", "COUNT", "2", "FROM", fillQ)
		if len(js) != 2 {
			t.Fatalf("GETJOB COUNT 2: got %s", jobsString(js))
		}
		nackable := js[0].ID
		// On the other shard: an at-most-once job already delivered
		// (evictable above 95%) and an at-least-once active one (never
		// evicted).
		amo := c.AddJob(otherQ, "amo", "RETRY", "0", "REPLICATE", "1")
		alo := c.AddJob(otherQ, "alo")
		if got := c.GetJobs("NOHANG", "COUNT", "2", "FROM", otherQ); len(got) != 2 {
			t.Fatalf("GETJOB COUNT 2 FROM %s: got %s", otherQ, jobsString(got))
		}
		// Queues: 40 empty ones (evictable after 2 s idle at this level), a
		// paused one, one with a blocked client, the non-empty fill queue.
		var empties []string
		for i := 0; i < 40; i++ {
			q := fmt.Sprintf("mem-empty-%d", i)
			c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", q)
			empties = append(empties, q)
		}
		c.Expect("+in", "PAUSE", "mem-paused", "in")
		b := testclient.Dial(t, srv.Addr)
		b.Send("GETJOB", "FROM", "mem-blocked")
		waitBlocked(t, c, "mem-blocked", 1)
		queuesBefore := infoInt(t, c, "queues", "registered_queues")
		evictedBefore := infoInt(t, c, "stats", "jobs_evicted")

		u := used(c)
		limit := u * 7 / 10
		c.Expect("+OK", "CONFIG", "SET", "maxmemory", strconv.FormatInt(limit, 10))
		defer c.Expect("+OK", "CONFIG", "SET", "maxmemory", "10mb")
		t.Logf("used_memory %d, maxmemory set to %d", u, limit)

		testclient.Eventually(t, 5*time.Second, "ADDJOB to be refused with -OOM above 95% of maxmemory", func() bool {
			return c.DoS("ADDJOB", otherQ, "x", "0") == errOOM
		})
		start := time.Now()
		for _, args := range [][]string{
			{"ADDJOB", otherQ, "x", "0"}, {"ADDJOB", "mem-new", "x", "0", "ASYNC"},
			{"NACK", nackable}, {"ENQUEUE", nackable}, {"NACK"}, {"ENQUEUE"}, {"nack", unknownID},
		} {
			c.Expect(errOOM, args...)
		}
		// Lookup and arity come before the memory check.
		c.Expect(errArity("addjob"), "ADDJOB", "q")
		// Other commands still run.
		c.Expect("+PONG", "PING")
		c.Expect(":"+strconv.Itoa(filled+1-2), "QLEN", fillQ)
		if st := state(t, c, queuedID); st != "queued" {
			t.Errorf("SHOW %s above 95%%: state %q; want queued", queuedID, st)
		}
		c.Expect(":1", "DEQUEUE", queuedID) // not denyoom
		c.Expect(":"+strconv.Itoa(filled+1-3), "QLEN", fillQ)

		// Delivered at-most-once jobs are evicted; nothing else is.
		testclient.Eventually(t, 5*time.Second, "the delivered at-most-once job to be evicted above 95%", func() bool {
			return show(t, c, amo).IsNull()
		})
		if st := state(t, c, alo); st != "active" {
			t.Errorf("at-least-once active job above 95%%: state %q; want active (never evicted)", st)
		}
		if n := infoInt(t, c, "stats", "jobs_evicted"); n <= evictedBefore {
			t.Errorf("jobs_evicted: got %d; want > %d", n, evictedBefore)
		}

		// Empty idle queues go after 2 s; paused, blocked-on and non-empty
		// ones stay.
		if time.Since(start) > 15*time.Second {
			t.Skip("the node is too slow to check queue eviction within 15 s")
		}
		testclient.Eventually(t, 8*time.Second, "the empty queues to be evicted (2 s idle above 95%)", func() bool {
			for _, q := range empties {
				if !c.Do("QSTAT", q).IsNull() {
					return false
				}
			}
			return true
		})
		for _, q := range []string{"mem-paused", "mem-blocked", fillQ} {
			if c.Do("QSTAT", q).IsNull() {
				t.Errorf("QSTAT %s above 95%%: queue evicted; want it kept (paused, blocked client, or jobs)", q)
			}
		}
		if n := infoInt(t, c, "queues", "registered_queues"); n > queuesBefore-int64(len(empties)) {
			t.Errorf("registered_queues after eviction: got %d; want <= %d", n, queuesBefore-int64(len(empties)))
		}
		b.Close()
	})

	t.Run("NoEvictionPolicy", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// With maxmemory-policy noeviction nothing is evicted, ADDJOB is
		// still refused with -OOM.
		testclient.Eventually(t, 5*time.Second, "ADDJOB to work with maxmemory back at 10mb", func() bool {
			return strings.HasPrefix(c.DoS("ADDJOB", otherQ, "x", "0"), "+D-")
		})
		// The shards see the memory level of the engine's last tick (every
		// 100 ms): let it settle below 95% before creating an evictable job.
		time.Sleep(300 * time.Millisecond)
		amo := c.AddJob(otherQ, "amo2", "RETRY", "0", "REPLICATE", "1")
		for {
			js := c.GetJobs("NOHANG", "FROM", otherQ)
			if len(js) == 0 || js[0].ID == amo {
				break
			}
		}
		if st := state(t, c, amo); st != "active" {
			t.Fatalf("at-most-once job after GETJOB: state %q; want active", st)
		}
		c.Expect("+OK", "CONFIG", "SET", "maxmemory-policy", "noeviction")
		defer c.Expect("+OK", "CONFIG", "SET", "maxmemory-policy", "acks")
		c.Expect("+OK", "CONFIG", "SET", "maxmemory", strconv.FormatInt(used(c)*7/10, 10))
		defer c.Expect("+OK", "CONFIG", "SET", "maxmemory", "10mb")
		testclient.Eventually(t, 5*time.Second, "ADDJOB to be refused with -OOM (noeviction)", func() bool {
			return c.DoS("ADDJOB", otherQ, "x", "0") == errOOM
		})
		time.Sleep(time.Second)
		if st := state(t, c, amo); st != "active" {
			t.Errorf("delivered at-most-once job with maxmemory-policy noeviction above 95%%: state %q; want active (not evicted); jobs_evicted %d", st, infoInt(t, c, "stats", "jobs_evicted"))
		}
	})

	t.Run("Recover", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		c.Expect("+OK", "DEBUG", "FLUSHALL")
		c.Expect("+OK", "CONFIG", "SET", "maxmemory", "10mb")
		testclient.Eventually(t, 10*time.Second, "ADDJOB to work after FLUSHALL", func() bool {
			return strings.HasPrefix(c.DoS("ADDJOB", otherQ, "x", "0"), "+D-")
		})
		c.Expect("+PONG", "PING")
	})
}
