// Command disq-bench is the load-testing tool of disq: it runs job-queue
// workloads (produce, consume, cycle, e2e, mixed) against any
// Disque-compatible server, or against Redis in the "list as a queue"
// pattern, and compares disq-server with redis-server side by side.
//
//	disq-bench <workload> [flags]
//	disq-bench compare [flags]
//
// See bench/doc.go for the design and `disq-bench --help` for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"disq/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr))
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1 // the run had errors or did not finish
	exitUsage  = 2
)

const usageHead = `Usage: disq-bench <workload> [flags]
       disq-bench compare [flags]      (disq-bench compare --help)

Load-tests a Disque-compatible job queue (or Redis used as a queue) with
pipelined connections, and reports jobs/s, HDR latency percentiles, errors
by kind and the tool's own CPU time.

Workloads:
  produce   ADDJOB (Redis: LPUSH) -n jobs
  consume   pre-fill -n jobs (not measured), then fetch and acknowledge them:
            GETJOB + ACKJOB (FASTACK with --fastack); Redis: the pattern's
            fetch (RPOP, BRPOP, or LMOVE + LREM)
  cycle     producers and consumers at once; every job is acknowledged
  e2e       cycle, measuring each job from its ADDJOB reply to its delivery
  mixed     every connection sends a weighted random mix of commands (--mix)

A run ends after -n jobs (produce, consume, cycle, e2e: all acknowledged)
or after --duration (cycle and e2e then drain what was produced). Latency is
per command round trip, from the write of its batch to the read of its
reply (with --rate, from its intended send time); for e2e it is the time
from the ADDJOB reply to the delivery. The summary goes to stdout (a table,
or --json / --csv), logs and the live progress line to stderr. Exit status:
0 ok, 1 the run had errors or did not finish, 2 usage error.

Examples:
  disq-bench produce -c 50 -P 16 -n 1000000
  disq-bench cycle -c 50 -P 16 --duration 10s --queues 8
  disq-bench e2e --rate 20000 --duration 30s --json
  disq-bench consume --target redis -p 6379 --redis-pattern lmove -d 1024
  disq-bench mixed --mix addjob=2,getjob=2,qlen=1 -n 500000

Flags (one or two dashes):
`

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, usageHead)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

type options struct {
	cfg      bench.Config
	host     string
	port     int
	nodes    string
	target   string
	pattern  string
	mix      string
	json     bool
	csv      bool
	header   bool
	progress string
	cpuprof  string
	procs    int
}

func workloadFlags(o *options) *flag.FlagSet {
	d := bench.DefaultConfig()
	o.cfg = d
	fs := flag.NewFlagSet("disq-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &o.cfg
	fs.StringVar(&o.host, "h", "127.0.0.1", "server `host`")
	fs.IntVar(&o.port, "p", 0, "server `port` (default 7711, or 6379 with --target redis)")
	fs.StringVar(&o.nodes, "nodes", "", "comma-separated `host:port,...` of several nodes; connection i uses node i mod N (overrides -h/-p)")
	fs.IntVar(&c.Clients, "c", d.Clients, "number of connections (`clients`); cycle and e2e split them into producers and consumers")
	fs.IntVar(&c.Consumers, "consumers", 0, "cycle, e2e: how many of the -c connections consume (default half)")
	fs.IntVar(&c.Pipeline, "P", d.Pipeline, "`pipeline` depth: commands written per batch; with --rate, the most in flight per connection")
	fs.Int64Var(&c.Jobs, "n", d.Jobs, "`jobs` to complete (mixed: commands); consume pre-fills this many")
	fs.IntVar(&c.BodyBytes, "d", d.BodyBytes, "job body size in `bytes` (e2e and the lmove pattern need at least 16)")
	fs.DurationVar(&c.Duration, "duration", 0, "run for this long instead of -n (e.g. 30s); cycle and e2e then drain what was produced")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: total `jobs/s` sent on a fixed schedule (produce, cycle, e2e: ADDJOB; consume: fetches; mixed: commands), latency measured from each send's intended time (0: closed loop)")
	fs.StringVar(&c.Queue, "queue", d.Queue, "queue `name` (Redis: list key); with --queues N, names name:0 ... name:N-1")
	fs.IntVar(&c.Queues, "queues", d.Queues, "number of queues, spread over the server's shards; producers rotate over them, consumers fetch from all")
	fs.IntVar(&c.Replicate, "replicate", -1, "ADDJOB REPLICATE `count` (default: not sent)")
	fs.IntVar(&c.Retry, "retry", -1, "ADDJOB RETRY `seconds` (default: not sent)")
	fs.IntVar(&c.TTL, "ttl", -1, "ADDJOB TTL `seconds` (default: not sent)")
	fs.IntVar(&c.Delay, "delay", -1, "ADDJOB DELAY `seconds` (default: not sent)")
	fs.BoolVar(&c.Async, "async", false, "ADDJOB ASYNC")
	fs.IntVar(&c.AddTimeout, "addjob-timeout", 0, "ADDJOB <ms-timeout> argument (0: wait for replication without limit)")
	fs.BoolVar(&c.FastAck, "fastack", false, "acknowledge with FASTACK instead of ACKJOB")
	fs.StringVar(&o.mix, "mix", bench.MixString(d.Mix), "mixed: `command=weight,...` among addjob, getjob (GETJOB NOHANG, then ACKJOB of what it got), qlen, ping")
	fs.StringVar(&c.User, "user", "", "AUTH `user` (AUTH user pass; Disque tenants, Redis ACL users)")
	fs.StringVar(&c.Pass, "pass", "", "AUTH `password`, sent on every connection")
	fs.Int64Var(&c.Seed, "seed", d.Seed, "`seed` of the body bytes and of the mixed command choice")
	fs.StringVar(&o.target, "target", string(d.Target), "`disque` (any Disque-compatible server) or redis (the list pattern)")
	fs.StringVar(&o.pattern, "redis-pattern", string(d.Pattern), "with --target redis: rpop (poll), brpop (block), or lmove (LMOVE to name:processing + LREM as the ack)")
	fs.DurationVar(&c.FetchTimeout, "fetch-timeout", d.FetchTimeout, "GETJOB TIMEOUT / BRPOP timeout of consumers")
	fs.DurationVar(&c.StallTimeout, "stall-timeout", d.StallTimeout, "abort when no job completes for this long")
	fs.BoolVar(&c.Cleanup, "cleanup", d.Cleanup, "empty the bench queues before and after the run (Disque: GETJOB NOHANG + FASTACK; Redis: DEL); --cleanup=false keeps them")
	fs.BoolVar(&o.json, "json", false, "print the summary as one JSON object")
	fs.BoolVar(&o.csv, "csv", false, "print the summary as CSV (header and one row)")
	fs.BoolVar(&o.header, "csv-header", true, "with --csv, print the header row")
	fs.IntVar(&o.procs, "procs", 0, "GOMAXPROCS of the tool: the most CPU cores its connections use at once (0: all cores)")
	fs.StringVar(&o.cpuprof, "cpuprofile", "", "write a CPU profile of the tool itself to `file` (to check the client is not the bottleneck)")
	fs.StringVar(&o.progress, "progress", "auto", "live progress line on stderr: auto (when stderr is a terminal), always, never")
	return fs
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	if len(args) == 0 {
		usage(workloadFlags(&options{}), stderr)
		return exitUsage
	}
	switch args[0] {
	case "-help", "--help", "help":
		usage(workloadFlags(&options{}), stdout)
		return exitOK
	case "compare":
		return runCompare(ctx, args[1:], stdout, stderr, tty)
	}
	var o options
	fs := workloadFlags(&o)
	workload := args[0]
	if strings.HasPrefix(workload, "-") {
		fmt.Fprintf(stderr, "disq-bench: the workload comes first (one of produce, consume, cycle, e2e, mixed, compare)\n")
		return exitUsage
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "disq-bench: %v (see disq-bench --help)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "disq-bench: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	cfg := &o.cfg
	cfg.Workload = bench.Workload(workload)
	cfg.Target = bench.Target(o.target)
	cfg.Pattern = bench.Pattern(o.pattern)
	if o.nodes != "" {
		cfg.Nodes = splitList(o.nodes)
	} else {
		port := o.port
		if port == 0 {
			port = 7711
			if cfg.Target == bench.Redis {
				port = 6379
			}
		}
		cfg.Nodes = []string{o.host + ":" + strconv.Itoa(port)}
	}
	if cfg.Workload == bench.Mixed {
		m, err := bench.ParseMix(o.mix)
		if err != nil {
			fmt.Fprintf(stderr, "disq-bench: %v\n", err)
			return exitUsage
		}
		cfg.Mix = m
	}
	if o.json && o.csv {
		fmt.Fprintln(stderr, "disq-bench: --json and --csv are exclusive")
		return exitUsage
	}
	switch o.progress {
	case "always":
		cfg.Progress = stderr
	case "auto":
		if tty {
			cfg.Progress = stderr
		}
	case "never":
	default:
		fmt.Fprintf(stderr, "disq-bench: --progress must be auto, always or never\n")
		return exitUsage
	}
	cfg.Log = stderr
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "disq-bench: %v\n", err)
		return exitUsage
	}
	if o.procs > 0 {
		runtime.GOMAXPROCS(o.procs)
	}
	if o.cpuprof != "" {
		f, err := os.Create(o.cpuprof)
		if err != nil {
			fmt.Fprintf(stderr, "disq-bench: %v\n", err)
			return exitFailed
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "disq-bench: %v\n", err)
			return exitFailed
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, *cfg)
	if err != nil {
		fmt.Fprintf(stderr, "disq-bench: %v\n", err)
		return exitFailed
	}
	switch {
	case o.json:
		err = res.WriteJSON(stdout)
	case o.csv:
		err = res.WriteCSV(stdout, o.header)
	default:
		err = res.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "disq-bench: %v\n", err)
		return exitFailed
	}
	if res.Failed() {
		if res.Aborted != "" {
			fmt.Fprintf(stderr, "disq-bench: the run did not finish: %s\n", res.Aborted)
		}
		if res.Errors > 0 {
			fmt.Fprintf(stderr, "disq-bench: the run had %d errors\n", res.Errors)
		}
		return exitFailed
	}
	return exitOK
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
