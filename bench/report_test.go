package bench

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bench -run Report -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// sampleResult is a fixed e2e result with errors, used by the golden tests.
func sampleResult() *Result {
	return &Result{
		Workload: E2E, Target: Disque, Queue: "disq-bench", Queues: 4, Nodes: []string{"127.0.0.1:7711", "127.0.0.1:7712"},
		Clients: 50, Producers: 25, Consumers: 25, Pipeline: 16, BodyBytes: 20, Rate: 20000,
		Jobs: 199990, ElapsedSec: 10.000512, OpsPerSec: 19998, Produced: 199990, Delivered: 199990, Acked: 199990,
		Commands: 600000, Empty: 12, Errors: 12,
		ErrorsByKind: map[string]int64{"NOREPL": 10, "io": 2},
		ErrorSamples: map[string]string{"NOREPL": "NOREPL Timeout reached before replicating to the requested number of nodes", "io": "127.0.0.1:7712: EOF"},
		Latency:      Percentiles{Count: 199990, Mean: 0.41, P50: 0.25, P90: 0.75, P99: 2.001, P999: 5.503, Max: 12.007},
		LatencyOf:    "ADDJOB reply to delivery",
		ByCommand: map[string]Percentiles{
			"ADDJOB": {Count: 200000, Mean: 0.3, P50: 0.2, P90: 0.4, P99: 0.9, P999: 2, Max: 9},
			"GETJOB": {Count: 200002, Mean: 0.6, P50: 0.5, P90: 0.8, P99: 1.9, P999: 3, Max: 11},
			"ACKJOB": {Count: 199990, Mean: 0.2, P50: 0.1, P90: 0.3, P99: 0.8, P999: 1.5, Max: 4},
		},
		E2EFromSend: &Percentiles{Count: 199990, Mean: 0.9, P50: 0.6, P90: 1.1, P99: 2.9, P999: 6.1, Max: 13},
		Early:       812,
		CPUUserSec:  3.25, CPUSysSec: 4.5, CPUPercent: 77.5, Leftover: 0,
	}
}

func TestReportTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.table.golden", b.Bytes())

	ok := &Result{Workload: Produce, Target: Redis, Queue: "q", Queues: 1, Nodes: []string{"127.0.0.1:6379"},
		Clients: 50, Producers: 50, Pipeline: 1, BodyBytes: 1024, Jobs: 1000, ElapsedSec: 0.5, OpsPerSec: 2000,
		ErrorsByKind: map[string]int64{}, LatencyOf: "command round trip",
		Latency:   Percentiles{Count: 1000, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5},
		ByCommand: map[string]Percentiles{"LPUSH": {Count: 1000, P50: 1, P90: 2, P99: 3, P999: 4, Max: 5}}}
	b.Reset()
	if err := ok.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.produce.golden", b.Bytes())
}

func TestReportJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json.golden", b.Bytes())
	// The keys the issue promises.
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"workload", "target", "queue", "jobs", "ops_per_sec", "errors", "errors_by_kind", "latency_ms"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	lat := m["latency_ms"].(map[string]any)
	for _, k := range []string{"p50", "p90", "p99", "p999", "max"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency_ms lacks %q", k)
		}
	}
	if strings.Count(b.String(), "\n") != 1 {
		t.Error("JSON is not one line")
	}
}

func TestReportCSV(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResult().WriteCSV(&b, true); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.csv.golden", b.Bytes())
	b.Reset()
	if err := sampleResult().WriteCSV(&b, false); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != 1 || strings.HasPrefix(b.String(), "workload,") {
		t.Errorf("without header: %q", b.String())
	}
	if len(CSVHeader) != len(sampleResult().CSVRecord()) {
		t.Error("header and record lengths differ")
	}
}

func TestFailed(t *testing.T) {
	r := &Result{}
	if r.Failed() {
		t.Fatal("empty result failed")
	}
	r.Aborted = "stalled"
	if !r.Failed() {
		t.Fatal("aborted result did not fail")
	}
	r = &Result{Errors: 1}
	if !r.Failed() {
		t.Fatal("result with errors did not fail")
	}
}

func TestCompareMarkdown(t *testing.T) {
	cc := DefaultCompareConfig()
	cc.Rounds = 3
	rep := &CompareReport{
		DisqVersion: "disq-server v=0.1.0", RedisVersion: "Redis server v=7.0.15", DisqArgs: []string{"--shards", "2"},
		MaxMemory: "2gb", Config: cc,
		Rows: []CompareRow{
			{Workload: Produce, Pipeline: 16, BodyBytes: 20, Disq: Agg{Runs: 3, OpsPerSec: 150000, P50: 4.1, P99: 9.2, P999: 12},
				Redis: Agg{Runs: 3, OpsPerSec: 600000, P50: 1.1, P99: 2.2, P999: 3.3}, Ratio: 0.25},
			{Workload: E2E, Pipeline: 1, BodyBytes: 1024, Pattern: BRPop, Disq: Agg{Runs: 3, OpsPerSec: 20000, P50: 0.01, P99: 1.5, P999: 3, FromSendP50: 0.2, FromSendP99: 2},
				Redis: Agg{Runs: 3, OpsPerSec: 20000, P50: 0.005, P99: 0.4, P999: 1, Errors: 1, FromSendP50: 0.1, FromSendP99: 0.9}, Ratio: 1},
		},
		Check: &ClientCheck{Clients: 50, Pipeline: 16, BodyBytes: 20, Requests: 1000000,
			RedisBenchmark: []float64{700000, 650000, 720000}, DisqBench: []float64{690000, 700000, 710000},
			RBMedian: 700000, DBMedian: 700000, Ratio: 1},
		Failures: []string{"round 2/3 e2e -P 1 -d 1024 redis (brpop): 1 errors map[] stalled"},
	}
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.golden", b.Bytes())
}

func TestParseRedisBenchmarkCSV(t *testing.T) {
	out := "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"\"LPUSH\",\"690131.12\",\"0.700\",\"0.208\",\"0.567\",\"1.487\",\"2.503\",\"4.439\"\n"
	v, err := parseRedisBenchmarkCSV(out, "LPUSH")
	if err != nil || v != 690131.12 {
		t.Fatalf("got %v %v", v, err)
	}
	if _, err := parseRedisBenchmarkCSV("garbage", "LPUSH"); err == nil {
		t.Fatal("no error on garbage")
	}
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Fatalf("median %v", m)
	}
	a := aggregate([]*Result{{OpsPerSec: 10, Errors: 1}, {OpsPerSec: 30, Aborted: "x"}, {OpsPerSec: 20}})
	if a.Runs != 3 || a.OpsPerSec != 20 || a.Errors != 2 {
		t.Fatalf("aggregate %+v", a)
	}
}
