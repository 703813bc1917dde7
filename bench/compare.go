package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CompareConfig describes `disq-bench compare`: the servers to start, and
// the matrix of runs (workload x pipeline x body size) each made against
// both servers, interleaved, for several rounds.
type CompareConfig struct {
	DisqServer     string   // disq-server binary
	RedisServer    string   // redis-server binary
	RedisBenchmark string   // redis-benchmark binary ("" skips the client check)
	DisqArgs       []string // extra disq-server directives, e.g. --shards 2
	RedisArgs      []string // extra redis-server arguments
	MaxMemory      string   // maxmemory of both servers, e.g. 2gb
	Dir            string   // working directory of the servers ("" : a temporary one)

	Rounds    int
	Workloads []Workload
	Pipelines []int
	Sizes     []int
	Patterns  []Pattern // Redis patterns for consume, cycle, e2e
	Clients   int
	Jobs      int64
	Duration  time.Duration
	E2ERate   float64 // e2e runs open loop at this rate (0: closed loop)
	E2EJobs   int64   // jobs of an e2e run (0: Jobs)
	Queues    int

	CheckJobs int64 // requests of the LPUSH client check (redis-benchmark vs disq-bench)
	CheckRuns int   // pairs of check runs per round

	Log      io.Writer // per-run lines, server notes
	Progress io.Writer // live progress of each run
}

// DefaultCompareConfig returns the defaults of `disq-bench compare`.
func DefaultCompareConfig() CompareConfig {
	return CompareConfig{
		DisqServer: "disq-server", RedisServer: "redis-server", RedisBenchmark: "redis-benchmark",
		MaxMemory: "2gb", Rounds: 3,
		Workloads: []Workload{Produce, Consume, Cycle, E2E},
		Pipelines: []int{1, 16}, Sizes: []int{20, 1024}, Patterns: []Pattern{BRPop, LMove},
		Clients: 50, Jobs: 200000, E2ERate: 5000, E2EJobs: 50000, Queues: 1,
		CheckJobs: 1000000, CheckRuns: 3,
	}
}

// CompareRun is one measured run of the matrix.
type CompareRun struct {
	Round   int     `json:"round"`
	Server  string  `json:"server"` // disq or redis
	Pattern Pattern `json:"pattern,omitempty"`
	Result  *Result `json:"result"`
}

// CompareRow aggregates the runs of one cell of the matrix.
type CompareRow struct {
	Workload  Workload `json:"workload"`
	Pipeline  int      `json:"pipeline"`
	BodyBytes int      `json:"body_bytes"`
	Pattern   Pattern  `json:"redis_pattern,omitempty"`
	Disq      Agg      `json:"disq"`
	Redis     Agg      `json:"redis"`
	Ratio     float64  `json:"ratio"` // disq / redis jobs/s (medians)
}

// Agg is the median of a cell's runs against one server.
type Agg struct {
	Runs      int     `json:"runs"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50       float64 `json:"p50_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Errors    int64   `json:"errors"`
	CPU       float64 `json:"client_cpu_pct"`
	// e2e only: ADDJOB (LPUSH) send to delivery.
	FromSendP50 float64 `json:"e2e_from_send_p50_ms,omitempty"`
	FromSendP99 float64 `json:"e2e_from_send_p99_ms,omitempty"`
}

// ClientCheck compares disq-bench with redis-benchmark on Redis LPUSH.
type ClientCheck struct {
	Clients        int       `json:"clients"`
	Pipeline       int       `json:"pipeline"`
	BodyBytes      int       `json:"body_bytes"`
	Requests       int64     `json:"requests"`
	RedisBenchmark []float64 `json:"redis_benchmark_rps"`
	DisqBench      []float64 `json:"disq_bench_jobs_per_sec"`
	RBMedian       float64   `json:"redis_benchmark_median"`
	DBMedian       float64   `json:"disq_bench_median"`
	Ratio          float64   `json:"ratio"`
}

// CompareReport is the outcome of Compare.
type CompareReport struct {
	Started      time.Time     `json:"started"`
	Duration     time.Duration `json:"duration_ns"`
	DisqVersion  string        `json:"disq_version"`
	RedisVersion string        `json:"redis_version"`
	DisqAddr     string        `json:"disq_addr"`
	RedisAddr    string        `json:"redis_addr"`
	DisqArgs     []string      `json:"disq_args"`
	RedisArgs    []string      `json:"redis_args"`
	MaxMemory    string        `json:"maxmemory"`
	Config       CompareConfig `json:"-"`
	Rows         []CompareRow  `json:"rows"`
	Runs         []CompareRun  `json:"runs"`
	Check        *ClientCheck  `json:"client_check,omitempty"`
	Failures     []string      `json:"failures,omitempty"`
}

// Failed reports whether any run had errors or did not finish.
func (r *CompareReport) Failed() bool { return len(r.Failures) > 0 }

type cellKey struct {
	w       Workload
	p, d    int
	pattern Pattern
}

// Compare starts disq-server and redis-server on loopback with the same
// memory limit, runs every cell of the matrix against both (alternating
// which goes first from one round to the next), then stops both servers;
// it stops them on cancellation of ctx too.
func Compare(ctx context.Context, cc CompareConfig) (*CompareReport, error) {
	if cc.Rounds < 1 || cc.Clients < 1 || len(cc.Workloads) == 0 || len(cc.Pipelines) == 0 || len(cc.Sizes) == 0 {
		return nil, errors.New("compare: rounds, clients, workloads, pipelines and sizes must not be empty")
	}
	if len(cc.Patterns) == 0 {
		cc.Patterns = []Pattern{BRPop}
	}
	logf := func(format string, a ...any) {
		if cc.Log != nil {
			fmt.Fprintf(cc.Log, format+"\n", a...)
		}
	}
	dir := cc.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "disq-bench-compare-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &CompareReport{
		Started: time.Now(), DisqVersion: Version(cc.DisqServer), RedisVersion: Version(cc.RedisServer),
		DisqArgs: cc.DisqArgs, RedisArgs: cc.RedisArgs, MaxMemory: cc.MaxMemory, Config: cc,
	}
	disq, err := StartDisq(ctx, cc.DisqServer, filepath.Join(dir, "disq"), cc.MaxMemory, cc.DisqArgs)
	if err != nil {
		return rep, err
	}
	defer disq.Stop()
	rep.DisqAddr = disq.Addr
	redis, err := StartRedis(ctx, cc.RedisServer, filepath.Join(dir, "redis"), cc.MaxMemory, cc.RedisArgs)
	if err != nil {
		return rep, err
	}
	defer redis.Stop()
	rep.RedisAddr = redis.Addr
	logf("started %s on %s and %s on %s (maxmemory %s)", rep.DisqVersion, disq.Addr, rep.RedisVersion, redis.Addr, cc.MaxMemory)

	type target struct {
		name    string
		srv     *Server
		pattern Pattern
	}
	runs := map[cellKey][]CompareRun{}
	var order []cellKey
	one := func(round int, w Workload, p, d int, t target) error {
		cfg := DefaultConfig()
		cfg.Workload, cfg.Clients, cfg.Pipeline, cfg.BodyBytes = w, cc.Clients, p, d
		cfg.Jobs, cfg.Duration, cfg.Queues = cc.Jobs, cc.Duration, cc.Queues
		cfg.Nodes = []string{t.srv.Addr}
		cfg.Progress = cc.Progress
		if w == E2E {
			cfg.Rate = cc.E2ERate
			if cc.E2EJobs > 0 {
				cfg.Jobs = cc.E2EJobs
			}
		}
		if t.name == "redis" {
			cfg.Target, cfg.Pattern = Redis, t.pattern
		}
		if err := flush(t.srv.Addr, cfg.Target); err != nil {
			return fmt.Errorf("%s: flush: %w", t.name, err)
		}
		res, err := Run(ctx, cfg)
		if err != nil {
			return fmt.Errorf("%s %s -P %d -d %d: %w", t.name, w, p, d, err)
		}
		label := fmt.Sprintf("round %d/%d  %-7s -P %-2d -d %-4d %-5s", round, cc.Rounds, w, p, d, t.name)
		if t.name == "redis" && w != Produce {
			label += " (" + string(t.pattern) + ")"
		}
		logf("%s  %9.0f jobs/s  p50 %.3f ms  p99 %.3f ms  errors %d  client CPU %.0f%%", label, res.OpsPerSec, res.Latency.P50, res.Latency.P99, res.Errors, res.CPUPercent)
		if res.Failed() {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %d errors %v %s", strings.TrimSpace(label), res.Errors, res.ErrorsByKind, res.Aborted))
		}
		run := CompareRun{Round: round, Server: t.name, Result: res}
		if t.name == "redis" && w != Produce {
			run.Pattern = t.pattern
		}
		rep.Runs = append(rep.Runs, run)
		var keys []cellKey
		switch {
		case w == Produce:
			keys = []cellKey{{w, p, d, ""}}
		case t.name == "disq": // one disq run serves the rows of every Redis pattern
			for _, pat := range cc.Patterns {
				keys = append(keys, cellKey{w, p, d, pat})
			}
		default:
			keys = []cellKey{{w, p, d, t.pattern}}
		}
		for _, k := range keys {
			if _, ok := runs[k]; !ok {
				order = append(order, k)
			}
			runs[k] = append(runs[k], run)
		}
		return nil
	}
	for round := 1; round <= cc.Rounds; round++ {
		for _, w := range cc.Workloads {
			for _, p := range cc.Pipelines {
				for _, d := range cc.Sizes {
					targets := []target{{"disq", disq, ""}}
					if w == Produce {
						targets = append(targets, target{"redis", redis, RPop})
					} else {
						for _, pat := range cc.Patterns {
							targets = append(targets, target{"redis", redis, pat})
						}
					}
					if round%2 == 0 {
						slices.Reverse(targets)
					}
					for _, t := range targets {
						if err := ctx.Err(); err != nil {
							return rep, err
						}
						if err := one(round, w, p, d, t); err != nil {
							rep.Failures = append(rep.Failures, err.Error())
							logf("%v", err)
						}
						if disq.Exited() || redis.Exited() {
							return rep, fmt.Errorf("a server exited: disq: %s / redis: %s", disq.LogTail(5), redis.LogTail(5))
						}
					}
				}
			}
		}
		if cc.RedisBenchmark != "" && cc.CheckJobs > 0 {
			if err := clientCheck(ctx, &cc, rep, redis, round, logf); err != nil {
				rep.Failures = append(rep.Failures, "client check: "+err.Error())
				logf("client check: %v", err)
			}
		}
	}
	for _, k := range order {
		row := CompareRow{Workload: k.w, Pipeline: k.p, BodyBytes: k.d, Pattern: k.pattern}
		var dr, rr []*Result
		for _, r := range runs[k] {
			if r.Server == "disq" {
				dr = append(dr, r.Result)
			} else {
				rr = append(rr, r.Result)
			}
		}
		row.Disq, row.Redis = aggregate(dr), aggregate(rr)
		if row.Redis.OpsPerSec > 0 {
			row.Ratio = round(row.Disq.OpsPerSec/row.Redis.OpsPerSec, 3)
		}
		rep.Rows = append(rep.Rows, row)
	}
	if rep.Check != nil {
		c := rep.Check
		c.RBMedian, c.DBMedian = median(c.RedisBenchmark), median(c.DisqBench)
		if c.RBMedian > 0 {
			c.Ratio = round(c.DBMedian/c.RBMedian, 3)
		}
	}
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

// flush empties a server the compare started.
func flush(addr string, t Target) error {
	c, err := Dial(addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	if t == Redis {
		return c.OK("FLUSHALL")
	}
	return c.OK("DEBUG", "FLUSHALL")
}

// clientCheck runs redis-benchmark LPUSH and disq-bench produce against
// the same Redis with the same settings (order alternating by round).
func clientCheck(ctx context.Context, cc *CompareConfig, rep *CompareReport, redis *Server, round int, logf func(string, ...any)) error {
	if rep.Check == nil {
		rep.Check = &ClientCheck{Clients: 50, Pipeline: 16, BodyBytes: 20, Requests: cc.CheckJobs}
	}
	c := rep.Check
	steps := []func() error{
		func() error {
			if err := flush(redis.Addr, Redis); err != nil {
				return err
			}
			rps, err := RedisBenchmarkLPUSH(ctx, cc.RedisBenchmark, redis.Port, c.Clients, c.Pipeline, c.BodyBytes, c.Requests)
			if err != nil {
				return err
			}
			c.RedisBenchmark = append(c.RedisBenchmark, rps)
			logf("round %d/%d  client check: redis-benchmark -t lpush -c %d -P %d -d %d -n %d: %.0f requests/s", round, cc.Rounds, c.Clients, c.Pipeline, c.BodyBytes, c.Requests, rps)
			return nil
		},
		func() error {
			if err := flush(redis.Addr, Redis); err != nil {
				return err
			}
			cfg := DefaultConfig()
			cfg.Workload, cfg.Target, cfg.Nodes = Produce, Redis, []string{redis.Addr}
			cfg.Clients, cfg.Pipeline, cfg.BodyBytes, cfg.Jobs = c.Clients, c.Pipeline, c.BodyBytes, c.Requests
			cfg.Progress = cc.Progress
			res, err := Run(ctx, cfg)
			if err != nil {
				return err
			}
			if res.Failed() {
				return fmt.Errorf("disq-bench produce: %d errors %s", res.Errors, res.Aborted)
			}
			c.DisqBench = append(c.DisqBench, res.OpsPerSec)
			logf("round %d/%d  client check: disq-bench produce --target redis -c %d -P %d -d %d -n %d: %.0f jobs/s (client CPU %.0f%%)", round, cc.Rounds, c.Clients, c.Pipeline, c.BodyBytes, c.Requests, res.OpsPerSec, res.CPUPercent)
			return nil
		},
	}
	for i := range max(cc.CheckRuns, 1) {
		order := steps
		if (round+i)%2 == 0 { // alternate which runs first
			order = []func() error{steps[1], steps[0]}
		}
		for _, s := range order {
			if err := s(); err != nil {
				return err
			}
		}
	}
	return nil
}

// RedisBenchmarkLPUSH runs redis-benchmark -t lpush on 127.0.0.1:port and
// returns its requests per second.
func RedisBenchmarkLPUSH(ctx context.Context, bin string, port, clients, pipeline, body int, n int64) (float64, error) {
	cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-c", strconv.Itoa(clients),
		"-P", strconv.Itoa(pipeline), "-d", strconv.Itoa(body), "-n", strconv.FormatInt(n, 10), "-t", "lpush", "--csv")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", bin, err)
	}
	return parseRedisBenchmarkCSV(string(out), "LPUSH")
}

// parseRedisBenchmarkCSV finds the requests/s of test in redis-benchmark
// --csv output ("LPUSH","123456.78",...).
func parseRedisBenchmarkCSV(out, test string) (float64, error) {
	for _, line := range strings.Split(strings.ReplaceAll(out, "\r", "\n"), "\n") {
		f := strings.Split(line, ",")
		if len(f) >= 2 && strings.Trim(f[0], `"`) == test {
			return strconv.ParseFloat(strings.Trim(f[1], `"`), 64)
		}
	}
	return 0, fmt.Errorf("no %s line in redis-benchmark output %q", test, out)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func aggregate(rs []*Result) Agg {
	var a Agg
	var ops, p50, p99, p999, cpu, tx50, tx99 []float64
	for _, r := range rs {
		a.Runs++
		a.Errors += r.Errors
		if r.Aborted != "" {
			a.Errors++
		}
		ops = append(ops, r.OpsPerSec)
		p50 = append(p50, r.Latency.P50)
		p99 = append(p99, r.Latency.P99)
		p999 = append(p999, r.Latency.P999)
		cpu = append(cpu, r.CPUPercent)
		if r.E2EFromSend != nil {
			tx50 = append(tx50, r.E2EFromSend.P50)
			tx99 = append(tx99, r.E2EFromSend.P99)
		}
	}
	a.FromSendP50, a.FromSendP99 = median(tx50), median(tx99)
	a.OpsPerSec, a.P50, a.P99, a.P999, a.CPU = round(median(ops), 1), median(p50), median(p99), median(p999), round(median(cpu), 1)
	return a
}

// WriteMarkdown writes the comparison table (medians over the rounds).
func (r *CompareReport) WriteMarkdown(w io.Writer) error {
	cc := r.Config
	var b strings.Builder
	withArgs := func(v string, args []string) string {
		if len(args) == 0 {
			return v
		}
		return v + " " + strings.Join(args, " ")
	}
	fmt.Fprintf(&b, "disq: %s; redis: %s; maxmemory %s for both; %d clients; %d rounds, medians; jobs per run %d",
		withArgs(r.DisqVersion, r.DisqArgs), withArgs(r.RedisVersion, r.RedisArgs), r.MaxMemory, cc.Clients, cc.Rounds, cc.Jobs)
	if cc.Duration > 0 {
		fmt.Fprintf(&b, " (or %v)", cc.Duration)
	}
	b.WriteString("\n")
	if slices.Contains(cc.Workloads, E2E) {
		if cc.E2ERate > 0 {
			fmt.Fprintf(&b, "e2e: open loop at %.0f jobs/s, %d jobs, latency from ADDJOB (LPUSH) reply to delivery\n", cc.E2ERate, cc.E2EJobs)
		} else {
			b.WriteString("e2e: closed loop, latency from ADDJOB (LPUSH) reply to delivery\n")
		}
	}
	b.WriteString("\n| workload | -P | body | redis pattern | disq jobs/s | redis jobs/s | disq/redis | disq p50 ms | redis p50 ms | disq p99 ms | redis p99 ms | disq p99.9 ms | redis p99.9 ms | errors |\n")
	b.WriteString("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		pat := "LPUSH"
		if row.Workload != Produce {
			pat = redisPatternText(row.Pattern)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %.0f | %.0f | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %d |\n",
			row.Workload, row.Pipeline, sizeText(row.BodyBytes), pat, row.Disq.OpsPerSec, row.Redis.OpsPerSec, row.Ratio,
			row.Disq.P50, row.Redis.P50, row.Disq.P99, row.Redis.P99, row.Disq.P999, row.Redis.P999, row.Disq.Errors+row.Redis.Errors)
	}
	first := true
	for _, row := range r.Rows {
		if row.Workload != E2E {
			continue
		}
		if first {
			b.WriteString("\ne2e measured from the ADDJOB (LPUSH) send instead of its reply:\n\n")
			b.WriteString("| -P | body | redis pattern | disq p50 ms | redis p50 ms | disq p99 ms | redis p99 ms |\n")
			b.WriteString("|---:|---:|---|---:|---:|---:|---:|\n")
			first = false
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.3f | %.3f | %.3f | %.3f |\n", row.Pipeline, sizeText(row.BodyBytes),
			redisPatternText(row.Pattern), row.Disq.FromSendP50, row.Redis.FromSendP50, row.Disq.FromSendP99, row.Redis.FromSendP99)
	}
	if c := r.Check; c != nil {
		verdict := "ok"
		if c.Ratio < 0.9 {
			verdict = "BELOW the 0.9 target"
		}
		fmt.Fprintf(&b, "\nClient check, Redis LPUSH, -c %d -P %d, %d-byte values, %d requests (medians of %d): redis-benchmark %.0f requests/s, disq-bench %.0f jobs/s, ratio %.2f (%s)\n",
			c.Clients, c.Pipeline, c.BodyBytes, c.Requests, len(c.RedisBenchmark), c.RBMedian, c.DBMedian, c.Ratio, verdict)
		fmt.Fprintf(&b, "  redis-benchmark runs: %s\n  disq-bench runs:      %s\n", floats(c.RedisBenchmark), floats(c.DisqBench))
	}
	if len(r.Failures) > 0 {
		b.WriteString("\nFailures:\n")
		for _, f := range r.Failures {
			b.WriteString("  - " + f + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the whole report (rows, every run, the client check).
func (r *CompareReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func redisPatternText(p Pattern) string {
	switch p {
	case RPop:
		return "LPUSH + RPOP"
	case BRPop:
		return "LPUSH + BRPOP"
	case LMove:
		return "LPUSH + LMOVE + LREM"
	}
	return string(p)
}

func sizeText(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(s, ", ")
}
