package bench

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ok := DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := DefaultConfig()
	c.Workload = Cycle
	if err := c.Validate(); err != nil || c.Consumers != 25 {
		t.Fatalf("cycle defaults: %v, consumers %d", err, c.Consumers)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"workload", func(c *Config) { c.Workload = "nope" }, "unknown workload"},
		{"target", func(c *Config) { c.Target = "kafka" }, "--target"},
		{"pattern", func(c *Config) { c.Pattern = "blpop" }, "--redis-pattern"},
		{"node", func(c *Config) { c.Nodes = []string{"localhost"} }, "host:port"},
		{"clients", func(c *Config) { c.Clients = 0 }, "-c"},
		{"pipeline", func(c *Config) { c.Pipeline = 0 }, "-P"},
		{"jobs", func(c *Config) { c.Jobs = 0 }, "-n"},
		{"cycle one conn", func(c *Config) { c.Workload, c.Clients = Cycle, 1 }, "at least 2"},
		{"consumers", func(c *Config) { c.Workload, c.Consumers = E2E, 50 }, "--consumers"},
		{"e2e body", func(c *Config) { c.Workload, c.BodyBytes = E2E, 8 }, "at least 16"},
		{"lmove body", func(c *Config) { c.Target, c.Pattern, c.BodyBytes = Redis, LMove, 10 }, "at least 16"},
		{"rate", func(c *Config) { c.Rate = -1 }, "--rate"},
		{"queues", func(c *Config) { c.Queues = 0 }, "--queues"},
		{"redis replicate", func(c *Config) { c.Target, c.Replicate, c.Async = Redis, 2, true }, "--replicate, --async"},
		{"replicate range", func(c *Config) { c.Replicate = 0 }, "--replicate"},
		{"ttl", func(c *Config) { c.TTL = 0 }, "--ttl"},
		{"mix zero", func(c *Config) { c.Workload, c.Mix = Mixed, []MixEntry{{"addjob", 0}} }, "add up to 0"},
		{"too many clients", func(c *Config) { c.Clients = 1 << 20 }, "at most"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("addjob=3, getjob=2,qlen,PING=0")
	if err != nil {
		t.Fatal(err)
	}
	if got := MixString(m); got != "addjob=3,getjob=2,qlen=1,ping=0" {
		t.Fatalf("got %s", got)
	}
	for _, bad := range []string{"", "addjob=x", "lpush=1", "addjob=-1"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

func TestQueueNames(t *testing.T) {
	c := DefaultConfig()
	if got := c.QueueNames(); len(got) != 1 || got[0] != "disq-bench" {
		t.Fatalf("got %v", got)
	}
	c.Queues = 3
	if got := strings.Join(c.QueueNames(), " "); got != "disq-bench:0 disq-bench:1 disq-bench:2" {
		t.Fatalf("got %v", got)
	}
}
