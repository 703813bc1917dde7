package tenant_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"disq/netpoll/resp"
)

// TestThroughputTenants is a measurement, not a test (nothing is
// asserted): ADDJOB throughput with one tenant against many tenants, each
// with its own limits (high enough never to throttle), on one server,
// interleaved rounds, medians and ratios. It runs only with
// DISQ_TENANT_BENCH=1 and without -race:
//
//	DISQ_TENANT_BENCH=1 go test -run TestThroughputTenants -v -timeout 30m ./tenant_test/
//
// DISQ_TENANT_BENCH_ROUNDS (default 5) and DISQ_TENANT_BENCH_SECONDS
// (default 3) set the rounds and the measured seconds per run. The load
// comes from an in-process generator (closed loop, P ADDJOBs written per
// batch per connection, 20-byte bodies as disq-bench's default, 0.5 s of
// warm-up not counted); every configuration also runs disq-bench produce
// once per round as a cross-check of the generator.
func TestThroughputTenants(t *testing.T) {
	if os.Getenv("DISQ_TENANT_BENCH") != "1" {
		t.Skip("a measurement: set DISQ_TENANT_BENCH=1 to run it")
	}
	if raceBuild {
		t.Skip("a measurement: run it without -race")
	}
	rounds := envInt("DISQ_TENANT_BENCH_ROUNDS", 5)
	secs := envInt("DISQ_TENANT_BENCH_SECONDS", 3)
	const tenants = 100
	e := startEnv(t, "--maxmemory", "4gb", "--event-loops", "0") // 0: the default, not the tests' 2
	for i := 0; i < tenants; i++ {
		// Each its own limits, far above what a run reaches.
		e.putTenant(tname(i), "pw-"+tname(i), limits{
			"max_jobs": 1_000_000_000 + int64(i), "max_bytes": 1 << 40, "max_queues": 100_000 + int64(i),
			"max_body_bytes": 1<<20 + int64(i), "max_replicate": 3, "produce_rate": 1_000_000_000 + int64(i),
			"produce_bytes_rate": 1 << 40, "consume_rate": 1_000_000_000, "max_connections": 10_000,
			"max_blocked_clients": 10_000,
		})
	}
	bench := buildTool(t, "disq-bench")
	def := e.dial("", "")

	type cfg struct {
		name    string
		conns   int
		tenants int // connection i authenticates as tenant i % tenants
		queues  int // >1: each pipeline spread over them; <0: connection i on queue i mod -queues
	}
	cfgs := []cfg{
		{"c50 P16 1 queue, 1 tenant", 50, 1, 1},
		{"c50 P16 1 queue, 50 tenants", 50, 50, 1},
		{"c100 P16 1 queue, 1 tenant", 100, 1, 1},
		{"c100 P16 1 queue, 100 tenants", 100, 100, 1},
		// The same queue layout as the line above (100 queues, one per
		// connection pair) with a single tenant: what the tenants cost.
		{"c100 P16 100 queues, 1 tenant", 100, 1, -100},
		{"c100 P16 8 queues, 1 tenant", 100, 1, 8},
		{"c100 P16 8 queues, 100 tenants", 100, 100, 8},
	}
	results := map[string][]float64{}
	benchRes := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		order := slices.Clone(cfgs)
		// Interleave: rotate the order every round, reverse every other.
		k := r % len(order)
		order = append(order[k:], order[:k]...)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			def.Expect("+OK", "DEBUG", "FLUSHALL")
			time.Sleep(300 * time.Millisecond)
			users := make([]string, c.conns)
			for i := range users {
				users[i] = tname(i % c.tenants)
			}
			jps, errs := produceLoad(t, e.srv.Addr, users, 16, c.queues, time.Duration(secs)*time.Second)
			if errs > 0 {
				t.Errorf("%s: %d error replies", c.name, errs)
			}
			results[c.name] = append(results[c.name], jps)
			t.Logf("round %d %-32s %9.0f jobs/s", r+1, c.name, jps)
		}
		// disq-bench cross-check, single tenant and (several processes) 50 tenants.
		for _, n := range []int{1, 10} {
			def.Expect("+OK", "DEBUG", "FLUSHALL")
			time.Sleep(300 * time.Millisecond)
			jps := runDisqBench(t, bench, e.srv.Port, n, 50/n, secs)
			name := fmt.Sprintf("disq-bench -c 50 -P 16, %d tenant(s)", n)
			benchRes[name] = append(benchRes[name], jps)
			t.Logf("round %d %-32s %9.0f jobs/s", r+1, name, jps)
		}
	}
	var b strings.Builder
	b.WriteString("\n| configuration | median jobs/s | runs |\n|---|---:|---|\n")
	for _, c := range cfgs {
		fmt.Fprintf(&b, "| %s | %.0f | %s |\n", c.name, median(results[c.name]), fmtRuns(results[c.name]))
	}
	for _, n := range []int{1, 10} {
		name := fmt.Sprintf("disq-bench -c 50 -P 16, %d tenant(s)", n)
		fmt.Fprintf(&b, "| %s | %.0f | %s |\n", name, median(benchRes[name]), fmtRuns(benchRes[name]))
	}
	ratio := func(a, bb string) {
		fmt.Fprintf(&b, "\nratio %s / %s = %.3f (per-round ratios %s)", bb, a, median(results[bb])/median(results[a]), perRound(results[a], results[bb]))
	}
	ratio(cfgs[0].name, cfgs[1].name)
	ratio(cfgs[2].name, cfgs[3].name)
	ratio(cfgs[4].name, cfgs[3].name)
	ratio(cfgs[5].name, cfgs[6].name)
	t.Log(b.String())
}

func tname(i int) string { return fmt.Sprintf("t%03d", i) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRuns(v []float64) string {
	var p []string
	for _, x := range v {
		p = append(p, strconv.FormatFloat(x, 'f', 0, 64))
	}
	return strings.Join(p, ", ")
}

func perRound(a, b []float64) string {
	var p []string
	for i := range min(len(a), len(b)) {
		p = append(p, strconv.FormatFloat(b[i]/a[i], 'f', 2, 64))
	}
	return strings.Join(p, " ")
}

// produceLoad runs closed-loop pipelined ADDJOB producers, connection i
// authenticated as users[i], for warm-up + d, and returns the ADDJOB
// replies per second counted during d, and the error replies.
func produceLoad(t testing.TB, addr string, users []string, depth, queues int, d time.Duration) (float64, int64) {
	t.Helper()
	var ok, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	from, to := start.Add(500*time.Millisecond), start.Add(500*time.Millisecond+d)
	var ready sync.WaitGroup
	gate := make(chan struct{})
	var failed atomic.Value
	for i, u := range users {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Store(err.Error())
				ready.Done()
				return
			}
			defer c.Close()
			rd := bufio.NewReaderSize(c, 64<<10)
			_, _ = c.Write(resp.AppendCommandStrings(nil, "AUTH", u, "pw-"+u))
			if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
				failed.Store(fmt.Sprintf("AUTH %s: %q %v", u, line, err))
				ready.Done()
				return
			}
			var buf []byte
			for k := 0; k < depth; k++ {
				q := "disq-bench"
				switch {
				case queues > 1: // the pipeline spread over the queues
					q += ":" + strconv.Itoa((i+k)%queues)
				case queues < 0: // connection i on queue i mod -queues
					q += ":" + strconv.Itoa(i%-queues)
				}
				buf = resp.AppendCommandStrings(buf, "ADDJOB", q, "xxxxxxxxxxxxxxxxxxxx", "0")
			}
			ready.Done()
			<-gate
			for {
				if _, err := c.Write(buf); err != nil {
					failed.Store(err.Error())
					return
				}
				var good, bad int64
				for k := 0; k < depth; k++ {
					line, err := rd.ReadSlice('\n')
					if err != nil {
						failed.Store(err.Error())
						return
					}
					if line[0] == '+' {
						good++
					} else {
						bad++
					}
				}
				now := time.Now()
				if now.After(to) {
					return
				}
				if now.After(from) {
					ok.Add(good)
					errs.Add(bad)
				}
			}
		}()
	}
	ready.Wait()
	// Restart the clock once every connection is ready.
	start = time.Now()
	from, to = start.Add(500*time.Millisecond), start.Add(500*time.Millisecond+d)
	close(gate)
	wg.Wait()
	if f := failed.Load(); f != nil {
		t.Fatalf("load: %v", f)
	}
	return float64(ok.Load()) / d.Seconds(), errs.Load()
}

// runDisqBench runs n disq-bench produce processes at once, process k
// authenticated as tenant k with conns connections (-P 16), for secs
// seconds, and returns the sum of their jobs/s.
func runDisqBench(t testing.TB, bench string, port, n, conns, secs int) float64 {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0.0
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(bench, "produce", "-p", strconv.Itoa(port), "-c", strconv.Itoa(conns), "-P", "16",
				"--duration", strconv.Itoa(secs)+"s", "--user", tname(k), "--pass", "pw-"+tname(k),
				"--cleanup=false", "--progress", "never", "--json")
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("disq-bench: %v\n%s", err, out)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(out, &m); err != nil {
				t.Errorf("disq-bench JSON: %v\n%s", err, out)
				return
			}
			v, ok := m["ops_per_sec"].(float64)
			if !ok {
				t.Errorf("disq-bench JSON has no ops_per_sec: %s", out)
			}
			mu.Lock()
			total += v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}
