package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Workload names a load shape (see the package documentation).
type Workload string

// The workloads.
const (
	Produce Workload = "produce" // ADDJOB / LPUSH only
	Consume Workload = "consume" // fetch + acknowledge a pre-filled queue
	Cycle   Workload = "cycle"   // producers and consumers at once
	E2E     Workload = "e2e"     // cycle, measuring ADDJOB reply -> delivery
	Mixed   Workload = "mixed"   // a weighted mix of commands per connection
)

// Workloads lists every workload in documentation order.
var Workloads = []Workload{Produce, Consume, Cycle, E2E, Mixed}

// Target is the kind of server the run talks to.
type Target string

// The targets.
const (
	Disque Target = "disque" // any Disque-compatible server (disq-server, Disque)
	Redis  Target = "redis"  // Redis, running the workload in the list pattern
)

// Pattern is the Redis "list as a queue" pattern used with --target redis.
type Pattern string

// The Redis patterns. Producers always LPUSH.
const (
	RPop  Pattern = "rpop"  // RPOP, polling (no blocking, no acknowledgement)
	BRPop Pattern = "brpop" // BRPOP with a timeout (blocking, no acknowledgement)
	LMove Pattern = "lmove" // LMOVE to a processing list, then LREM (from the tail) as the acknowledgement
)

// MixEntry is one command of the mixed workload and its weight.
type MixEntry struct {
	Op     string // addjob, getjob, qlen or ping
	Weight int
}

// MixOps are the command names --mix accepts.
var MixOps = []string{"addjob", "getjob", "qlen", "ping"}

// Config describes one run. The zero value is not valid: start from
// DefaultConfig and call Validate (Run does).
type Config struct {
	Workload Workload
	Target   Target
	Pattern  Pattern // Redis pattern for fetching (Target == Redis)

	Nodes    []string // host:port of every node; connection i uses Nodes[i%len(Nodes)]
	Clients  int      // connections in total (-c)
	Pipeline int      // commands per batch (closed loop) / most in flight per connection (open loop) (-P)
	// Consumers is the number of the Clients connections that consume in
	// cycle and e2e (0: half of them, rounded down, at least 1).
	Consumers int

	Jobs      int64         // jobs (commands for mixed) to complete (-n); with Duration, jobs pre-filled by consume
	Duration  time.Duration // run for this long instead of -n (0: use Jobs)
	Rate      float64       // total sends per second, open loop (0: closed loop)
	BodyBytes int           // job body size (-d)

	Queue  string // queue name, or prefix with Queues > 1
	Queues int    // number of queues (names Queue:0 ... Queue:N-1 when > 1)

	// ADDJOB options; a negative value leaves the option out.
	Replicate, Retry, TTL, Delay int
	Async                        bool
	AddTimeout                   int // ADDJOB <ms-timeout>
	FastAck                      bool

	Mix []MixEntry // mixed workload

	User, Pass string // AUTH [user] pass on every connection
	Seed       int64  // body bytes and mixed command choice

	// Cleanup empties the bench queues before and after the run (it
	// drains them with GETJOB NOHANG + FASTACK on Disque, DEL on Redis).
	Cleanup bool

	FetchTimeout time.Duration // blocking GETJOB / BRPOP timeout in cycle and e2e
	StallTimeout time.Duration // abort when nothing completes for this long
	DialTimeout  time.Duration

	// Progress, when not nil, receives a live progress line about once a
	// second (meant for a terminal: it uses \r and an erase-line escape).
	Progress io.Writer
	// Log, when not nil, receives notes (phases, cleanup).
	Log io.Writer
}

// DefaultConfig returns the defaults of disq-bench's flags.
func DefaultConfig() Config {
	return Config{
		Workload:     Produce,
		Target:       Disque,
		Pattern:      BRPop,
		Nodes:        []string{"127.0.0.1:7711"},
		Clients:      50,
		Pipeline:     1,
		Jobs:         100000,
		BodyBytes:    20,
		Queue:        "disq-bench",
		Queues:       1,
		Replicate:    -1,
		Retry:        -1,
		TTL:          -1,
		Delay:        -1,
		Mix:          []MixEntry{{"addjob", 1}, {"getjob", 1}},
		Seed:         1,
		Cleanup:      true,
		FetchTimeout: time.Second,
		StallTimeout: 10 * time.Second,
		DialTimeout:  5 * time.Second,
	}
}

// maxClients bounds -c.
const maxClients = 1 << 14

// TokenLen is the size of the unique token written at the start of every
// body of at least TokenLen bytes (16 hex digits).
const TokenLen = 16

// Validate checks c and fills in derived defaults.
func (c *Config) Validate() error {
	switch c.Workload {
	case Produce, Consume, Cycle, E2E, Mixed:
	default:
		return fmt.Errorf("unknown workload %q (want one of %s)", c.Workload, joinWorkloads())
	}
	switch c.Target {
	case Disque, Redis:
	default:
		return fmt.Errorf("unknown --target %q (want disque or redis)", c.Target)
	}
	switch c.Pattern {
	case RPop, BRPop, LMove:
	default:
		return fmt.Errorf("unknown --redis-pattern %q (want rpop, brpop or lmove)", c.Pattern)
	}
	if len(c.Nodes) == 0 {
		return errors.New("no node to connect to")
	}
	for _, n := range c.Nodes {
		if !strings.Contains(n, ":") {
			return fmt.Errorf("node %q: want host:port", n)
		}
	}
	if c.Clients < 1 {
		return errors.New("-c must be at least 1")
	}
	if c.Pipeline < 1 {
		return errors.New("-P must be at least 1")
	}
	if c.Workload == Cycle || c.Workload == E2E {
		if c.Clients < 2 {
			return fmt.Errorf("%s needs at least 2 connections (-c), one producer and one consumer", c.Workload)
		}
		if c.Consumers == 0 {
			c.Consumers = c.Clients / 2
		}
		if c.Consumers < 1 || c.Consumers >= c.Clients {
			return fmt.Errorf("--consumers must be between 1 and -c minus 1 (%d)", c.Clients-1)
		}
	}
	if c.Duration < 0 {
		return errors.New("--duration must not be negative")
	}
	if c.Duration == 0 && c.Jobs < 1 {
		return errors.New("-n must be at least 1 (or give --duration)")
	}
	if c.Workload == Consume && c.Jobs < 1 {
		return errors.New("consume pre-fills -n jobs: -n must be at least 1")
	}
	if c.Rate < 0 || math.IsInf(c.Rate, 0) || math.IsNaN(c.Rate) {
		return errors.New("--rate must be a positive number of jobs per second (0: closed loop)")
	}
	if c.BodyBytes < 1 {
		return errors.New("-d must be at least 1")
	}
	if c.BodyBytes < TokenLen && (c.Workload == E2E || (c.Target == Redis && c.Pattern == LMove)) {
		return fmt.Errorf("-d must be at least %d here: e2e and the lmove pattern write a unique token at the start of each body", TokenLen)
	}
	if c.Queue == "" {
		return errors.New("--queue must not be empty")
	}
	if c.Queues < 1 || c.Queues > 1<<16 {
		return errors.New("--queues must be between 1 and 65536")
	}
	if c.Target == Redis {
		var bad []string
		if c.Replicate >= 0 {
			bad = append(bad, "--replicate")
		}
		if c.Retry >= 0 {
			bad = append(bad, "--retry")
		}
		if c.TTL >= 0 {
			bad = append(bad, "--ttl")
		}
		if c.Delay >= 0 {
			bad = append(bad, "--delay")
		}
		if c.Async {
			bad = append(bad, "--async")
		}
		if c.FastAck {
			bad = append(bad, "--fastack")
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s: Disque options, not available with --target redis", strings.Join(bad, ", "))
		}
	}
	if c.Replicate == 0 || c.Replicate > 65535 {
		return errors.New("--replicate must be between 1 and 65535")
	}
	if c.TTL == 0 {
		return errors.New("--ttl must be greater than 0")
	}
	if c.AddTimeout < 0 {
		return errors.New("--addjob-timeout must not be negative")
	}
	if c.Workload == Mixed {
		total := 0
		for _, m := range c.Mix {
			if !contains(MixOps, m.Op) {
				return fmt.Errorf("--mix: unknown command %q (want %s)", m.Op, strings.Join(MixOps, ", "))
			}
			if m.Weight < 0 {
				return fmt.Errorf("--mix: negative weight for %s", m.Op)
			}
			total += m.Weight
		}
		if total == 0 {
			return errors.New("--mix: the weights add up to 0")
		}
	}
	if c.FetchTimeout < time.Millisecond {
		c.FetchTimeout = time.Second
	}
	if c.StallTimeout <= 0 {
		c.StallTimeout = 10 * time.Second
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.Clients > maxClients {
		return fmt.Errorf("-c must be at most %d", maxClients)
	}
	return nil
}

// ParseMix parses --mix: comma-separated command=weight pairs, e.g.
// "addjob=3,getjob=3,qlen=1".
func ParseMix(s string) ([]MixEntry, error) {
	var out []MixEntry
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			name, w = part, "1"
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--mix: bad weight %q for %s", w, name)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !contains(MixOps, name) {
			return nil, fmt.Errorf("--mix: unknown command %q (want %s)", name, strings.Join(MixOps, ", "))
		}
		out = append(out, MixEntry{name, n})
	}
	if len(out) == 0 {
		return nil, errors.New("--mix: empty")
	}
	return out, nil
}

// MixString formats a mix the way ParseMix reads it.
func MixString(m []MixEntry) string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Op + "=" + strconv.Itoa(e.Weight)
	}
	return strings.Join(parts, ",")
}

// QueueNames returns the queue names of the run.
func (c *Config) QueueNames() []string {
	if c.Queues <= 1 {
		return []string{c.Queue}
	}
	names := make([]string, c.Queues)
	for i := range names {
		names[i] = c.Queue + ":" + strconv.Itoa(i)
	}
	return names
}

// processingList is the LMOVE destination of queue q.
func processingList(q string) string { return q + ":processing" }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func joinWorkloads() string {
	s := make([]string, len(Workloads))
	for i, w := range Workloads {
		s[i] = string(w)
	}
	return strings.Join(s, ", ")
}
