package bench

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"disq/internal/proc"
	"disq/internal/testserver"
)

// Integration tests: each workload runs for about a second against a real
// disq-server (and, when redis-server is installed, against Redis).

func itConfig(addr string, w Workload) Config {
	c := DefaultConfig()
	c.Workload = w
	c.Nodes = []string{addr}
	c.Clients, c.Pipeline = 8, 4
	c.Duration = time.Second
	c.StallTimeout = 30 * time.Second
	return c
}

func info(t *testing.T, addr string) map[string]string {
	t.Helper()
	c, err := Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func qlen(t *testing.T, addr, cmd, q string) int64 {
	t.Helper()
	c, err := Dial(addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := c.Int(cmd, q)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Failed() {
		t.Fatalf("run failed: %d errors %v %v, aborted %q", res.Errors, res.ErrorsByKind, res.ErrorSamples, res.Aborted)
	}
	if res.Jobs == 0 || res.OpsPerSec <= 0 {
		t.Fatalf("nothing completed: %+v", res)
	}
	return res
}

func delta(before, after map[string]string, key string) int64 {
	return InfoInt(after, key) - InfoInt(before, key)
}

func TestIntegrationProduce(t *testing.T) {
	srv := testserver.Start(t, "--shards", "2")
	cfg := itConfig(srv.Addr, Produce)
	cfg.Queues = 4
	before := info(t, srv.Addr)
	res := mustRun(t, cfg)
	after := info(t, srv.Addr)
	if got := delta(before, after, "jobs_created"); got != res.Jobs || res.Produced != res.Jobs {
		t.Fatalf("jobs_created grew by %d; the run produced %d (jobs %d)", got, res.Produced, res.Jobs)
	}
	if p := res.ByCommand["ADDJOB"]; p.Count != res.Jobs || res.Latency.Count != res.Jobs || res.Latency.P50 <= 0 {
		t.Fatalf("latency: %+v / %+v", p, res.Latency)
	}
	if res.Leftover != res.Jobs {
		t.Fatalf("cleanup removed %d jobs, want %d", res.Leftover, res.Jobs)
	}
	for _, q := range cfg.QueueNames() {
		if n := qlen(t, srv.Addr, "QLEN", q); n != 0 {
			t.Fatalf("QLEN %s = %d after cleanup", q, n)
		}
	}
}

func TestIntegrationConsume(t *testing.T) {
	srv := testserver.Start(t, "--shards", "2")
	for _, fast := range []bool{false, true} {
		cfg := itConfig(srv.Addr, Consume)
		cfg.Duration, cfg.Jobs, cfg.FastAck, cfg.Cleanup = 0, 3000, fast, false
		before := info(t, srv.Addr)
		res := mustRun(t, cfg)
		after := info(t, srv.Addr)
		if res.Jobs != 3000 || res.Delivered != 3000 || res.Acked != 3000 {
			t.Fatalf("fastack=%v: jobs %d delivered %d acked %d, want 3000", fast, res.Jobs, res.Delivered, res.Acked)
		}
		op := "ACKJOB"
		if fast {
			op = "FASTACK"
		}
		if res.ByCommand[op].Count != 3000 || res.ByCommand["GETJOB"].Count != 3000 {
			t.Fatalf("commands: %+v", res.ByCommand)
		}
		if n := qlen(t, srv.Addr, "QLEN", cfg.Queue); n != 0 {
			t.Fatalf("QLEN = %d", n)
		}
		if !fast {
			if d := delta(before, after, "jobs_acked"); d != 3000 {
				t.Fatalf("jobs_acked grew by %d", d)
			}
		}
		if after["registered_jobs"] != before["registered_jobs"] {
			t.Fatalf("registered_jobs %s -> %s", before["registered_jobs"], after["registered_jobs"])
		}
	}
}

// The cycle contract: every job produced is consumed and acknowledged
// once, the totals match the server's INFO counters, the queues end empty.
func TestIntegrationCycle(t *testing.T) {
	srv := testserver.Start(t, "--shards", "2")
	for _, tc := range []struct {
		name   string
		queues int
		jobs   int64 // 0: --duration 1s
		rate   float64
	}{{"duration", 1, 0, 0}, {"queues", 4, 0, 0}, {"jobs", 1, 5000, 0}, {"rate", 2, 0, 3000}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := itConfig(srv.Addr, Cycle)
			cfg.Queues, cfg.Rate, cfg.Cleanup = tc.queues, tc.rate, false
			if tc.jobs > 0 {
				cfg.Duration, cfg.Jobs = 0, tc.jobs
			}
			before := info(t, srv.Addr)
			res := mustRun(t, cfg)
			after := info(t, srv.Addr)
			if res.Produced != res.Jobs || res.Delivered != res.Jobs || res.Acked != res.Jobs {
				t.Fatalf("produced %d delivered %d acked %d jobs %d", res.Produced, res.Delivered, res.Acked, res.Jobs)
			}
			if tc.jobs > 0 && res.Jobs != tc.jobs {
				t.Fatalf("jobs %d, want %d", res.Jobs, tc.jobs)
			}
			if d := delta(before, after, "jobs_created"); d != res.Produced {
				t.Fatalf("jobs_created grew by %d, produced %d", d, res.Produced)
			}
			if d := delta(before, after, "jobs_acked"); d != res.Acked {
				t.Fatalf("jobs_acked grew by %d, acked %d", d, res.Acked)
			}
			if d := delta(before, after, "jobs_requeued"); d != 0 {
				t.Fatalf("%d jobs requeued", d)
			}
			for _, q := range cfg.QueueNames() {
				if n := qlen(t, srv.Addr, "QLEN", q); n != 0 {
					t.Fatalf("QLEN %s = %d", q, n)
				}
			}
			if after["registered_jobs"] != before["registered_jobs"] {
				t.Fatalf("registered_jobs %s -> %s", before["registered_jobs"], after["registered_jobs"])
			}
			if tc.rate > 0 && res.Jobs != int64(tc.rate) {
				t.Fatalf("open loop at %v/s for 1 s produced %d jobs", tc.rate, res.Jobs)
			}
		})
	}
}

func TestIntegrationE2E(t *testing.T) {
	srv := testserver.Start(t, "--shards", "2")
	for _, rate := range []float64{0, 2000} {
		cfg := itConfig(srv.Addr, E2E)
		cfg.Rate, cfg.Cleanup = rate, false
		res := mustRun(t, cfg)
		if res.Acked != res.Jobs || res.Produced != res.Jobs {
			t.Fatalf("rate %v: produced %d acked %d jobs %d", rate, res.Produced, res.Acked, res.Jobs)
		}
		// Each job is recorded exactly once, whichever of the ADDJOB reply
		// and the delivery is read first.
		if res.Untracked != 0 || res.Latency.Count != res.Jobs || res.E2EFromSend == nil || res.E2EFromSend.Count != res.Jobs {
			t.Fatalf("rate %v: e2e counts %d / %+v for %d jobs (untracked %d)", rate, res.Latency.Count, res.E2EFromSend, res.Jobs, res.Untracked)
		}
		if res.LatencyOf != "ADDJOB reply to delivery" || res.E2EFromSend.P50 < res.Latency.P50 {
			t.Fatalf("rate %v: from send p50 %v < from reply p50 %v", rate, res.E2EFromSend.P50, res.Latency.P50)
		}
		if n := qlen(t, srv.Addr, "QLEN", cfg.Queue); n != 0 {
			t.Fatalf("QLEN = %d", n)
		}
	}
}

func TestIntegrationMixed(t *testing.T) {
	srv := testserver.Start(t, "--shards", "2")
	cfg := itConfig(srv.Addr, Mixed)
	cfg.Mix = []MixEntry{{"addjob", 3}, {"getjob", 2}, {"qlen", 1}, {"ping", 1}}
	res := mustRun(t, cfg)
	for _, op := range []string{"ADDJOB", "GETJOB", "QLEN", "PING"} {
		if res.ByCommand[op].Count == 0 {
			t.Errorf("no %s in %v", op, res.ByCommand)
		}
	}
	if res.ByCommand["ACKJOB"].Count != res.Delivered || res.Acked != res.Delivered {
		t.Fatalf("delivered %d, acked %d, ACKJOB %d", res.Delivered, res.Acked, res.ByCommand["ACKJOB"].Count)
	}
	var picked int64
	for _, op := range []string{"ADDJOB", "GETJOB", "QLEN", "PING"} {
		picked += res.ByCommand[op].Count
	}
	if picked != res.Jobs {
		t.Fatalf("jobs %d, mixed commands %d", res.Jobs, picked)
	}
}

// An open-loop run sends at the requested rate.
func TestIntegrationRate(t *testing.T) {
	srv := testserver.Start(t)
	cfg := itConfig(srv.Addr, Produce)
	cfg.Rate = 2000
	res := mustRun(t, cfg)
	// Sends intended in [0, 1 s) at 2000/s: exactly 2000, late or not.
	if res.Jobs != 2000 {
		t.Fatalf("2000/s for 1 s: %d jobs", res.Jobs)
	}
}

// Errors are counted by kind and make the run fail.
func TestIntegrationErrors(t *testing.T) {
	srv := testserver.Start(t)
	cfg := itConfig(srv.Addr, Produce)
	cfg.Duration, cfg.Jobs, cfg.Replicate = 0, 200, 3 // a single node cannot replicate
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Failed() || res.ErrorsByKind["NOREPL"] != 200 || res.Jobs != 0 {
		t.Fatalf("errors %v, jobs %d", res.ErrorsByKind, res.Jobs)
	}
}

func TestIntegrationAuthAndNodes(t *testing.T) {
	// testserver waits for +PONG, which a server with a password never
	// sends: start these two with the compare's helper.
	start := func() *Server {
		s, err := StartDisq(context.Background(), testserver.Binary(t), t.TempDir(), "", []string{"--requirepass", "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
		return s
	}
	a, b := start(), start()
	cfg := itConfig(a.Addr, Produce)
	cfg.Nodes = []string{a.Addr, b.Addr}
	cfg.Duration, cfg.Jobs, cfg.Pass, cfg.Cleanup = 0, 4000, "s3cret", false
	res := mustRun(t, cfg)
	var total int64
	for _, s := range []*Server{a, b} {
		c, err := DialAuth(s.Addr, "", "s3cret", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Info()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		n := InfoInt(m, "jobs_created")
		if n == 0 {
			t.Fatalf("node %s got no jobs", s.Addr)
		}
		total += n
	}
	if total != res.Jobs || res.Jobs != 4000 {
		t.Fatalf("nodes created %d jobs, run produced %d", total, res.Jobs)
	}
	cfg.Pass = "wrong"
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}

// startRedis starts redis-server for a test, or skips it.
func startRedis(t *testing.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	s, err := StartRedis(context.Background(), bin, t.TempDir(), "256mb", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestIntegrationRedis(t *testing.T) {
	srv := startRedis(t)
	cfg := itConfig(srv.Addr, Produce)
	cfg.Target = Redis
	res := mustRun(t, cfg)
	if res.ByCommand["LPUSH"].Count != res.Jobs {
		t.Fatalf("LPUSH count %d for %d jobs", res.ByCommand["LPUSH"].Count, res.Jobs)
	}
	for _, pat := range []Pattern{RPop, BRPop, LMove} {
		for _, w := range []Workload{Consume, Cycle, E2E, Mixed} {
			t.Run(string(pat)+"/"+string(w), func(t *testing.T) {
				cfg := itConfig(srv.Addr, w)
				cfg.Target, cfg.Pattern, cfg.Cleanup = Redis, pat, false
				cfg.Duration, cfg.Jobs = 0, 3000
				if err := flush(srv.Addr, Redis); err != nil {
					t.Fatal(err)
				}
				if w == E2E {
					cfg.Duration, cfg.Rate = time.Second, 2000
				}
				res := mustRun(t, cfg)
				if w != Mixed {
					if w != E2E && res.Jobs != 3000 {
						t.Fatalf("jobs %d", res.Jobs)
					}
					if res.Delivered != res.Jobs || (pat == LMove && res.Acked != res.Jobs) {
						t.Fatalf("jobs %d delivered %d acked %d", res.Jobs, res.Delivered, res.Acked)
					}
					if w != Consume && res.Produced != res.Jobs {
						t.Fatalf("produced %d, jobs %d", res.Produced, res.Jobs)
					}
				}
				if w == E2E && (res.Untracked != 0 || res.Latency.Count != res.Jobs) {
					t.Fatalf("e2e recorded %d of %d (untracked %d)", res.Latency.Count, res.Jobs, res.Untracked)
				}
				if w != Mixed {
					for _, k := range []string{cfg.Queue, processingList(cfg.Queue)} {
						if n := qlen(t, srv.Addr, "LLEN", k); n != 0 {
							t.Fatalf("LLEN %s = %d", k, n)
						}
					}
				}
			})
		}
	}
}

func TestIntegrationCompare(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	rb, err := exec.LookPath("redis-benchmark")
	if err != nil {
		rb = ""
	}
	cc := DefaultCompareConfig()
	cc.DisqServer = testserver.Binary(t)
	cc.RedisBenchmark = rb
	cc.Dir = t.TempDir()
	cc.Rounds, cc.Clients, cc.Jobs, cc.E2EJobs, cc.E2ERate, cc.CheckJobs, cc.CheckRuns = 2, 8, 2000, 1000, 2000, 20000, 1
	cc.Workloads, cc.Pipelines, cc.Sizes = []Workload{Produce, Cycle, E2E}, []int{4}, []int{20}
	cc.Patterns = []Pattern{BRPop, LMove}
	cc.DisqArgs = []string{"--shards", "2"}
	rep, err := Compare(context.Background(), cc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() {
		t.Fatalf("failures: %v", rep.Failures)
	}
	if len(rep.Rows) != 5 { // produce + 2 patterns x (cycle, e2e)
		t.Fatalf("%d rows: %+v", len(rep.Rows), rep.Rows)
	}
	for _, row := range rep.Rows {
		if row.Disq.Runs != 2 || row.Redis.Runs != 2 || row.Ratio <= 0 {
			t.Fatalf("row %+v", row)
		}
	}
	if rb != "" && (rep.Check == nil || len(rep.Check.RedisBenchmark) != 2*cc.CheckRuns || rep.Check.Ratio <= 0) {
		t.Fatalf("client check %+v", rep.Check)
	}
	// Every server it started is stopped.
	for _, addr := range []string{rep.DisqAddr, rep.RedisAddr} {
		if proc.Up(addr) {
			t.Fatalf("%s still answers after Compare", addr)
		}
	}
}

// Cancelling a compare stops its servers too.
func TestIntegrationCompareCancel(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	cc := DefaultCompareConfig()
	cc.DisqServer = testserver.Binary(t)
	cc.RedisBenchmark = ""
	cc.Dir = t.TempDir()
	cc.Rounds, cc.Clients, cc.Jobs = 50, 4, 1000000
	cc.Workloads, cc.Pipelines, cc.Sizes = []Workload{Produce}, []int{1}, []int{20}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel shortly after both servers are up (Compare logs "started").
	cc.Log = writerFunc(func(p []byte) (int, error) {
		if strings.HasPrefix(string(p), "started") {
			time.AfterFunc(300*time.Millisecond, cancel)
		}
		return len(p), nil
	})
	rep, err := Compare(ctx, cc)
	if err == nil {
		t.Fatal("no error after cancellation")
	}
	if rep == nil || rep.DisqAddr == "" {
		t.Fatalf("no report: %v", err)
	}
	for _, addr := range []string{rep.DisqAddr, rep.RedisAddr} {
		if proc.Up(addr) {
			t.Fatalf("%s still answers after a cancelled Compare", addr)
		}
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
