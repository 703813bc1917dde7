package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Result is the report of one run. The JSON names are stable: scripts and
// `disq-bench compare` read them.
type Result struct {
	Workload  Workload `json:"workload"`
	Target    Target   `json:"target"`
	Pattern   string   `json:"pattern,omitempty"` // Redis list pattern
	Queue     string   `json:"queue"`
	Queues    int      `json:"queues"`
	Nodes     []string `json:"nodes"`
	Clients   int      `json:"clients"`
	Producers int      `json:"producers"`
	Consumers int      `json:"consumers"`
	Pipeline  int      `json:"pipeline"`
	BodyBytes int      `json:"body_bytes"`
	Rate      float64  `json:"rate"` // sends per second, 0: closed loop
	Mix       string   `json:"mix,omitempty"`

	Jobs       int64   `json:"jobs"`        // completed jobs (commands for mixed)
	ElapsedSec float64 `json:"elapsed_s"`   // first send to last completion
	OpsPerSec  float64 `json:"ops_per_sec"` // Jobs / ElapsedSec
	Produced   int64   `json:"produced"`    // successful ADDJOB / LPUSH
	Delivered  int64   `json:"delivered"`   // jobs fetched
	Acked      int64   `json:"acked"`       // successful ACKJOB / FASTACK / LREM
	Commands   int64   `json:"commands"`    // request/reply round trips
	Empty      int64   `json:"empty_fetches"`

	Errors       int64             `json:"errors"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Aborted      string            `json:"aborted,omitempty"`

	// Latency is per command round trip, except for e2e where it is the
	// time from reading the ADDJOB reply to reading the delivery.
	Latency     Percentiles            `json:"latency_ms"`
	LatencyOf   string                 `json:"latency_of"`
	ByCommand   map[string]Percentiles `json:"by_command_ms"`
	E2EFromSend *Percentiles           `json:"e2e_from_send_ms,omitempty"`
	Early       int64                  `json:"delivered_before_reply,omitempty"`
	Untracked   int64                  `json:"untracked,omitempty"`

	CPUUserSec float64 `json:"client_cpu_user_s"`
	CPUSysSec  float64 `json:"client_cpu_sys_s"`
	CPUPercent float64 `json:"client_cpu_pct"` // of one core, over the run's wall time

	Leftover int64 `json:"leftover"` // jobs the final cleanup removed; -1: not cleaned
}

// Failed reports whether the run had errors or did not finish.
func (r *Result) Failed() bool { return r.Errors > 0 || r.Aborted != "" }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func buildResult(cfg *Config, spec *phaseSpec, pr *phaseResult) *Result {
	res := &Result{
		Workload: cfg.Workload, Target: cfg.Target, Queue: cfg.Queue, Queues: cfg.Queues,
		Nodes: cfg.Nodes, Clients: cfg.Clients, Producers: spec.producers, Consumers: spec.consumers,
		Pipeline: cfg.Pipeline, BodyBytes: cfg.BodyBytes, Rate: cfg.Rate,
		Produced: pr.produced, Delivered: pr.delivered, Acked: pr.acked, Empty: pr.empty,
		Errors: pr.errors, ErrorsByKind: pr.errs, ByCommand: map[string]Percentiles{},
		Early: pr.early, Untracked: pr.untracked,
	}
	if cfg.Target == Redis && cfg.Workload != Produce {
		res.Pattern = string(cfg.Pattern)
	}
	if cfg.Workload == Mixed {
		res.Mix = MixString(cfg.Mix)
	}
	if len(pr.errSample) > 0 {
		res.ErrorSamples = pr.errSample
	}
	if pr.abortErr != nil {
		res.Aborted = pr.abortErr.Error()
	}
	res.Jobs = pr.completed
	res.ElapsedSec = round(pr.elapsed.Seconds(), 6)
	if pr.elapsed > 0 {
		res.OpsPerSec = round(float64(res.Jobs)/pr.elapsed.Seconds(), 1)
	}
	all := NewHist()
	for op, h := range pr.hist {
		res.Commands += pr.cmds[op]
		if h != nil {
			res.ByCommand[opNames[op]] = h.Summary()
			all.Merge(h)
		}
	}
	if cfg.Workload == E2E {
		res.Latency = pr.e2e.Summary()
		res.LatencyOf = "ADDJOB reply to delivery"
		if pr.e2eTx != nil {
			s := pr.e2eTx.Summary()
			res.E2EFromSend = &s
		}
	} else {
		res.Latency = all.Summary()
		res.LatencyOf = "command round trip"
	}
	res.CPUUserSec = round(pr.cpuUser.Seconds(), 3)
	res.CPUSysSec = round(pr.cpuSys.Seconds(), 3)
	if pr.wall > 0 {
		res.CPUPercent = round(100*(pr.cpuUser+pr.cpuSys).Seconds()/pr.wall.Seconds(), 1)
	}
	return res
}

// sortedKinds returns the error kinds, most frequent first.
func sortedKinds(m map[string]int64) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Slice(k, func(i, j int) bool {
		if m[k[i]] != m[k[j]] {
			return m[k[i]] > m[k[j]]
		}
		return k[i] < k[j]
	})
	return k
}

func errorsText(m map[string]int64) string {
	parts := make([]string, 0, len(m))
	for _, k := range sortedKinds(m) {
		parts = append(parts, k+"="+strconv.FormatInt(m[k], 10))
	}
	return strings.Join(parts, ";")
}

func pctText(p Percentiles) string {
	return fmt.Sprintf("p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f", p.P50, p.P90, p.P99, p.P999, p.Max)
}

// WriteTable writes the human-readable summary.
func (r *Result) WriteTable(out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t%s\n", k, fmt.Sprintf(format, a...)) }
	target := string(r.Target)
	if r.Pattern != "" {
		target += " (" + r.Pattern + " pattern)"
	}
	fmt.Fprintf(tw, "disq-bench %s: %s at %s, queue %s", r.Workload, target, strings.Join(r.Nodes, ","), r.Queue)
	if r.Queues > 1 {
		fmt.Fprintf(tw, " x%d", r.Queues)
	}
	fmt.Fprintln(tw)
	conns := fmt.Sprintf("%d", r.Clients)
	switch {
	case r.Producers > 0 && r.Consumers > 0:
		conns += fmt.Sprintf(" (%d producers, %d consumers)", r.Producers, r.Consumers)
	case r.Producers > 0:
		conns += " producers"
	case r.Consumers > 0:
		conns += " consumers"
	}
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f/s", r.Rate)
	}
	row("connections", "%s, pipeline %d, %s", conns, r.Pipeline, loop)
	row("body", "%d bytes", r.BodyBytes)
	if r.Mix != "" {
		row("mix", "%s", r.Mix)
	}
	what := "jobs"
	if r.Workload == Mixed {
		what = "commands"
	}
	row(what, "%d completed in %.3f s", r.Jobs, r.ElapsedSec)
	row(what+"/s", "%.0f", r.OpsPerSec)
	row("latency ms", "%s  (%s)", pctText(r.Latency), r.LatencyOf)
	if r.E2EFromSend != nil {
		row("  from send", "%s  (ADDJOB send to delivery)", pctText(*r.E2EFromSend))
	}
	for _, name := range opNames {
		if p, ok := r.ByCommand[name]; ok {
			row("  "+name, "%s  (%d commands)", pctText(p), p.Count)
		}
	}
	if r.Workload != Produce {
		row("jobs flow", "%d produced, %d delivered, %d acknowledged, %d empty fetches", r.Produced, r.Delivered, r.Acked, r.Empty)
	}
	if r.Early > 0 || r.Untracked > 0 {
		row("e2e notes", "%d delivered before the ADDJOB reply was read (counted as 0), %d not tracked", r.Early, r.Untracked)
	}
	if r.Errors == 0 {
		row("errors", "0")
	} else {
		var parts []string
		for _, k := range sortedKinds(r.ErrorsByKind) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.ErrorsByKind[k]))
		}
		row("errors", "%d (%s)", r.Errors, strings.Join(parts, ", "))
		for _, k := range sortedKinds(r.ErrorsByKind) {
			if s, ok := r.ErrorSamples[k]; ok {
				row("  "+k, "%s", s)
			}
		}
	}
	if r.Aborted != "" {
		row("ABORTED", "%s", r.Aborted)
	}
	row("client CPU", "%.2f s user + %.2f s sys = %.0f%% of one core", r.CPUUserSec, r.CPUSysSec, r.CPUPercent)
	return tw.Flush()
}

// WriteJSON writes the result as one JSON object on one line.
func (r *Result) WriteJSON(out io.Writer) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = out.Write(append(b, '\n'))
	return err
}

// CSVHeader is the header row of WriteCSV.
var CSVHeader = []string{
	"workload", "target", "pattern", "queue", "queues", "nodes", "clients", "producers", "consumers",
	"pipeline", "body_bytes", "rate", "jobs", "elapsed_s", "ops_per_sec", "errors", "errors_by_kind",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "latency_of",
	"client_cpu_user_s", "client_cpu_sys_s", "client_cpu_pct",
}

// CSVRecord returns the result as a CSV row matching CSVHeader.
func (r *Result) CSVRecord() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return []string{
		string(r.Workload), string(r.Target), r.Pattern, r.Queue, i(int64(r.Queues)), strings.Join(r.Nodes, " "),
		i(int64(r.Clients)), i(int64(r.Producers)), i(int64(r.Consumers)), i(int64(r.Pipeline)),
		i(int64(r.BodyBytes)), f(r.Rate), i(r.Jobs), f(r.ElapsedSec), f(r.OpsPerSec), i(r.Errors),
		errorsText(r.ErrorsByKind), f(r.Latency.P50), f(r.Latency.P90), f(r.Latency.P99),
		f(r.Latency.P999), f(r.Latency.Max), r.LatencyOf, f(r.CPUUserSec), f(r.CPUSysSec), f(r.CPUPercent),
	}
}

// WriteCSV writes a header row (when header is true) and the result's row.
func (r *Result) WriteCSV(out io.Writer, header bool) error {
	w := csv.NewWriter(out)
	if header {
		if err := w.Write(CSVHeader); err != nil {
			return err
		}
	}
	if err := w.Write(r.CSVRecord()); err != nil {
		return err
	}
	w.Flush()
	return w.Error()
}
