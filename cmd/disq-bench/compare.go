package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"disq/bench"
)

const compareHead = `Usage: disq-bench compare [flags]

Starts disq-server and redis-server on loopback (free ports, the same
maxmemory, no persistence), runs every workload x pipeline x body size
against both, interleaved (the order alternates from round to round), for
several rounds, and prints one markdown table of medians (jobs/s, p50,
p99, p99.9) with the disq/redis ratio. Each round also runs redis-benchmark
-t lpush and disq-bench produce --target redis with the same settings, to
show the tool is not the bottleneck. Every server it started is stopped at
the end, on errors and on Ctrl-C. Progress and per-run lines go to stderr.

Example (what 'make bench-compare' runs):
  disq-bench compare -n 200000 --rounds 3

Flags (one or two dashes):
`

func defaultDisqServer() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "disq-server")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return "disq-server"
}

func runCompare(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	cc := bench.DefaultCompareConfig()
	cc.DisqServer = defaultDisqServer()
	fs := flag.NewFlagSet("disq-bench compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var disqArgs, redisArgs, workloads, pipelines, sizes, patterns, progress string
	var asJSON bool
	var procs int
	fs.StringVar(&cc.DisqServer, "disq-server", cc.DisqServer, "disq-server `binary` (default: the one next to disq-bench, else from PATH)")
	fs.StringVar(&cc.RedisServer, "redis-server", cc.RedisServer, "redis-server `binary`")
	fs.StringVar(&cc.RedisBenchmark, "redis-benchmark", cc.RedisBenchmark, "redis-benchmark `binary` for the client check (\"none\" skips it)")
	fs.StringVar(&disqArgs, "disq-args", "", "extra disq-server directives, e.g. \"--shards 2 --event-loops 2\"")
	fs.StringVar(&redisArgs, "redis-args", "", "extra redis-server arguments, e.g. \"--io-threads 2\"")
	fs.StringVar(&cc.MaxMemory, "maxmemory", cc.MaxMemory, "maxmemory of both servers (large enough for -n jobs of the biggest body)")
	fs.StringVar(&cc.Dir, "dir", "", "working `directory` of the servers, kept afterwards (default: a temporary one, removed)")
	fs.IntVar(&cc.Rounds, "rounds", cc.Rounds, "rounds; the table shows medians")
	fs.StringVar(&workloads, "workloads", "produce,consume,cycle,e2e", "comma-separated workloads")
	fs.StringVar(&pipelines, "pipelines", "1,16", "comma-separated -P values")
	fs.StringVar(&sizes, "sizes", "20,1024", "comma-separated body sizes in bytes")
	fs.StringVar(&patterns, "redis-patterns", "brpop,lmove", "comma-separated Redis patterns for consume, cycle and e2e (rpop, brpop, lmove); one row each")
	fs.IntVar(&cc.Clients, "c", cc.Clients, "connections per run")
	fs.Int64Var(&cc.Jobs, "n", cc.Jobs, "jobs per run")
	fs.DurationVar(&cc.Duration, "duration", 0, "run each cell for this long instead of -n")
	fs.IntVar(&cc.Queues, "queues", cc.Queues, "queues per run")
	fs.Float64Var(&cc.E2ERate, "e2e-rate", cc.E2ERate, "e2e runs open loop at this many jobs/s, the same offered load for both servers (0: closed loop, where latency is mostly the backlog)")
	fs.Int64Var(&cc.E2EJobs, "e2e-jobs", cc.E2EJobs, "jobs per e2e run (0: -n)")
	fs.Int64Var(&cc.CheckJobs, "check-jobs", cc.CheckJobs, "requests of the LPUSH client check (0 skips it)")
	fs.IntVar(&procs, "procs", 0, "GOMAXPROCS of the tool (0: all cores); the servers are separate processes")
	fs.IntVar(&cc.CheckRuns, "check-runs", cc.CheckRuns, "redis-benchmark / disq-bench pairs of the client check per round")
	fs.BoolVar(&asJSON, "json", false, "print the whole report (rows, every run, client check) as JSON instead of the table")
	fs.StringVar(&progress, "progress", "auto", "live progress line on stderr: auto, always, never")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, compareHead)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		}
		fmt.Fprintf(stderr, "disq-bench compare: %v (see disq-bench compare --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "disq-bench compare: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if procs > 0 {
		runtime.GOMAXPROCS(procs)
	}
	cc.DisqArgs, cc.RedisArgs = strings.Fields(disqArgs), strings.Fields(redisArgs)
	var err error
	if cc.Workloads, err = parseWorkloads(workloads); err == nil {
		if cc.Pipelines, err = parseInts(pipelines, "--pipelines"); err == nil {
			if cc.Sizes, err = parseInts(sizes, "--sizes"); err == nil {
				cc.Patterns, err = parsePatterns(patterns)
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "disq-bench compare: %v\n", err)
		return exitUsage
	}
	if cc.RedisBenchmark == "none" {
		cc.RedisBenchmark = ""
	}
	for _, bin := range []string{cc.DisqServer, cc.RedisServer, cc.RedisBenchmark} {
		if bin == "" {
			continue
		}
		if _, err := exec.LookPath(bin); err != nil {
			fmt.Fprintf(stderr, "disq-bench compare: %v\n", err)
			return exitFailed
		}
	}
	switch progress {
	case "always":
		cc.Progress = stderr
	case "auto":
		if tty {
			cc.Progress = stderr
		}
	case "never":
	default:
		fmt.Fprintf(stderr, "disq-bench compare: --progress must be auto, always or never\n")
		return exitUsage
	}
	cc.Log = stderr
	rep, err := bench.Compare(ctx, cc)
	if rep != nil {
		if asJSON {
			_ = rep.WriteJSON(stdout)
		} else {
			_ = rep.WriteMarkdown(stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "disq-bench compare: %v\n", err)
		return exitFailed
	}
	if rep.Failed() {
		fmt.Fprintf(stderr, "disq-bench compare: %d runs failed\n", len(rep.Failures))
		return exitFailed
	}
	return exitOK
}

func parseInts(s, name string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: bad value %q", name, f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty", name)
	}
	return out, nil
}

func parseWorkloads(s string) ([]bench.Workload, error) {
	var out []bench.Workload
	for _, f := range splitList(s) {
		w := bench.Workload(f)
		ok := false
		for _, k := range bench.Workloads {
			ok = ok || k == w
		}
		if !ok {
			return nil, fmt.Errorf("--workloads: unknown workload %q", f)
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, errors.New("--workloads: empty")
	}
	return out, nil
}

func parsePatterns(s string) ([]bench.Pattern, error) {
	var out []bench.Pattern
	for _, f := range splitList(s) {
		p := bench.Pattern(f)
		if p != bench.RPop && p != bench.BRPop && p != bench.LMove {
			return nil, fmt.Errorf("--redis-patterns: unknown pattern %q", f)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, errors.New("--redis-patterns: empty")
	}
	return out, nil
}
