package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"strconv"
	"strings"
	"testing"

	"disq/internal/testserver"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e, false)
	return code, o.String(), e.String()
}

// --help documents every flag.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	code, out, _ := runCmd(t, "--help")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	fs := workloadFlags(&options{})
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(out, "  -"+f.Name+" ") && !strings.Contains(out, "  -"+f.Name+"\n") {
			t.Errorf("--help does not document -%s", f.Name)
		}
	})
	for _, w := range []string{"produce", "consume", "cycle", "e2e", "mixed", "compare"} {
		if !strings.Contains(out, w) {
			t.Errorf("--help does not mention %s", w)
		}
	}
	if code, out2, _ := runCmd(t, "cycle", "--help"); code != exitOK || out2 != out {
		t.Errorf("cycle --help: exit %d", code)
	}
	code, out, _ = runCmd(t, "compare", "--help")
	if code != exitOK {
		t.Fatalf("compare --help: exit %d", code)
	}
	for _, name := range []string{"disq-server", "redis-server", "redis-benchmark", "disq-args", "redis-args", "maxmemory", "dir",
		"rounds", "workloads", "pipelines", "sizes", "redis-patterns", "c", "n", "duration", "queues", "e2e-rate", "e2e-jobs",
		"check-jobs", "check-runs", "procs", "json", "progress"} {
		if !strings.Contains(out, "  -"+name+" ") && !strings.Contains(out, "  -"+name+"\n") {
			t.Errorf("compare --help does not document -%s", name)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-c", "5"},
		{"fly"},
		{"produce", "--nope"},
		{"produce", "extra"},
		{"produce", "--json", "--csv"},
		{"e2e", "-d", "8"},
		{"mixed", "--mix", "lpush=1"},
		{"produce", "--target", "redis", "--replicate", "2"},
		{"produce", "--progress", "maybe"},
		{"compare", "--workloads", "fly"},
		{"compare", "--pipelines", "0"},
		{"compare", "--redis-patterns", "blpop"},
	} {
		if code, _, errOut := runCmd(t, args...); code != exitUsage || errOut == "" {
			t.Errorf("%q: exit %d, stderr %q; want %d and a message", args, code, errOut, exitUsage)
		}
	}
}

func TestRunOutputs(t *testing.T) {
	srv := testserver.Start(t, "--shards", "2")
	port := []string{"-p", strconv.Itoa(srv.Port)}

	code, out, errOut := runCmd(t, append([]string{"cycle", "-c", "4", "-P", "8", "-n", "2000", "--json"}, port...)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if m["workload"] != "cycle" || m["target"] != "disque" || m["queue"] != "disq-bench" || m["jobs"] != 2000.0 || m["errors"] != 0.0 {
		t.Fatalf("JSON %v", m)
	}
	if lat := m["latency_ms"].(map[string]any); lat["p50"].(float64) <= 0 || lat["max"].(float64) < lat["p999"].(float64) {
		t.Fatalf("latency %v", lat)
	}

	code, out, _ = runCmd(t, append([]string{"produce", "-c", "2", "-n", "300", "--csv"}, port...)...)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != exitOK || err != nil || len(rows) != 2 || rows[0][0] != "workload" || rows[1][0] != "produce" {
		t.Fatalf("csv: exit %d, %v, %q", code, err, out)
	}

	code, out, _ = runCmd(t, append([]string{"consume", "-c", "2", "-n", "300"}, port...)...)
	if code != exitOK || !strings.Contains(out, "jobs/s") || !strings.Contains(out, "ACKJOB") || !strings.Contains(out, "client CPU") {
		t.Fatalf("table: exit %d\n%s", code, out)
	}
}

// A run with errors says so and exits non-zero.
func TestRunWithErrorsFails(t *testing.T) {
	srv := testserver.Start(t)
	code, out, errOut := runCmd(t, "produce", "-p", strconv.Itoa(srv.Port), "-c", "2", "-n", "50", "--replicate", "3")
	if code != exitFailed {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(out, "NOREPL 50") || !strings.Contains(errOut, "50 errors") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}
	// An unreachable server is an error too.
	if code, _, errOut := runCmd(t, "produce", "-p", "1", "-n", "1"); code != exitFailed || !strings.Contains(errOut, "connect") {
		t.Fatalf("unreachable: exit %d %q", code, errOut)
	}
}
