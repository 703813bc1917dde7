package promtext

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// metrics is text shaped like a disq-server /metrics page.
const metrics = `# HELP disq_commands_total Commands processed, by command.
# TYPE disq_commands_total counter
disq_commands_total{cmd="addjob"} 12
disq_commands_total{cmd="getjob"} 7
# HELP disq_command_duration_seconds_total Time spent executing commands, by command.
# TYPE disq_command_duration_seconds_total counter
disq_command_duration_seconds_total{cmd="addjob"} 0.000153
# HELP disq_connected_clients Client connections.
# TYPE disq_connected_clients gauge
disq_connected_clients 3
# HELP disq_tenant_quota_rejections_total Commands refused by a quota.
# TYPE disq_tenant_quota_rejections_total counter
disq_tenant_quota_rejections_total{tenant="acme",limit="max_jobs"} 1
disq_tenant_quota_rejections_total{limit="max_bytes",tenant="acme"} 0
`

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       map[string]float64
		err        string // a part of the error; "" for none
	}{
		{name: "Empty", text: "", want: map[string]float64{}},
		{name: "Metrics", text: metrics, want: map[string]float64{
			`disq_commands_total{cmd="addjob"}`:                                   12,
			`disq_commands_total{cmd="getjob"}`:                                   7,
			`disq_command_duration_seconds_total{cmd="addjob"}`:                   0.000153,
			`disq_connected_clients{}`:                                            3,
			`disq_tenant_quota_rejections_total{limit="max_jobs",tenant="acme"}`:  1,
			`disq_tenant_quota_rejections_total{limit="max_bytes",tenant="acme"}`: 0,
		}},
		{name: "TimestampAndBlanks", text: "\n# a comment\nup{ job = \"x\" , } 1 1700000000000\n",
			want: map[string]float64{`up{job="x"}`: 1}},
		{name: "Escapes", text: `m{v="a\\b\"c\nd"} 1` + "\n",
			want: map[string]float64{`m{v="a\\b\"c\nd"}`: 1}},
		{name: "Specials", text: "a +Inf\nb -Inf\nc Inf\nd 1e3\n",
			want: map[string]float64{"a{}": math.Inf(1), "b{}": math.Inf(-1), "c{}": math.Inf(1), "d{}": 1000}},
		{name: "NoValue", text: "up\n", err: "no value"},
		{name: "BadName", text: "1up 1\n", err: "bad metric name"},
		{name: "BadLabelName", text: "up{1a=\"x\"} 1\n", err: "bad or duplicate label name"},
		{name: "DuplicateLabel", text: "up{a=\"x\",a=\"y\"} 1\n", err: "bad or duplicate label name"},
		{name: "Unquoted", text: "up{a=x} 1\n", err: "label value not quoted"},
		{name: "BadEscape", text: `up{a="\t"} 1` + "\n", err: `bad escape \t`},
		{name: "Unterminated", text: `up{a="x} 1` + "\n", err: "unterminated label value"},
		{name: "NoSpace", text: "up{a=\"x\"}1\n", err: "no space before the value"},
		{name: "BadValue", text: "up one\n", err: "bad value"},
		{name: "BadTimestamp", text: "up 1 soon\n", err: "bad timestamp"},
		{name: "DuplicateSeries", text: "up{a=\"x\"} 1\nup{a=\"x\"} 2\n", err: "duplicate series"},
		{name: "NotContiguous", text: "a 1\nb 1\na{x=\"1\"} 1\n", err: "not contiguous"},
		{name: "TypeAfterSamples", text: "a 1\n# TYPE a gauge\n", err: "TYPE twice or after samples"},
		{name: "TypeTwice", text: "# TYPE a gauge\n# TYPE a gauge\n", err: "TYPE twice or after samples"},
		{name: "UnknownType", text: "# TYPE a meter\n", err: "bad TYPE"},
		{name: "BadHelp", text: "# HELP\n", err: "bad HELP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.text)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q): error %v; want one with %q", tc.text, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.text, err)
			}
			if !sameSamples(got, tc.want) {
				t.Errorf("Parse(%q):\n got %v\nwant %v", tc.text, got, tc.want)
			}
		})
	}
}

func TestParseNaN(t *testing.T) {
	got, err := Parse("x NaN\n")
	if err != nil || len(got) != 1 || !math.IsNaN(got["x{}"]) {
		t.Fatalf(`Parse("x NaN"): %v, %v; want x{} NaN`, got, err)
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// written out again in the format parses to the same samples.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		metrics,
		"# TYPE disq_shard_jobs gauge\ndisq_shard_jobs{shard=\"0\"} 4\ndisq_shard_jobs{shard=\"1\"} 0\n",
		"disq_used_memory_bytes 1.048576e+06\n",
		"m{a=\"x\\\\y\",b=\"\\\"q\\\"\",c=\"l1\\nl2\"} -Inf 1700000000000\n",
		"up{ job = \"x\" , } NaN\n",
		"a 1\nb 1\na 2\n",
		"up{a=\"x} 1\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := Parse(text)
		if err != nil {
			return
		}
		again := format(t, m)
		m2, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse(%q) = %v; written out as %q it does not parse: %v", text, m, again, err)
		}
		if !sameSamples(m, m2) {
			t.Fatalf("Parse(%q) = %v; written out as %q it parses to %v", text, m, again, m2)
		}
	})
}

// format writes samples keyed as Parse keys them back in the text format.
func format(t *testing.T, m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a name's keys all start with "name{": contiguous
	var b strings.Builder
	for _, k := range keys {
		name, rest, ok := strings.Cut(k, "{")
		if !ok {
			t.Fatalf("key %q: no {", k)
		}
		b.WriteString(name + "{")
		for rest != "}" {
			ln, after, ok := strings.Cut(rest, "=")
			if !ok {
				t.Fatalf("key %q: no = in %q", k, rest)
			}
			q, err := strconv.QuotedPrefix(after)
			if err != nil {
				t.Fatalf("key %q: %v", k, err)
			}
			v, _ := strconv.Unquote(q)
			v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
			b.WriteString(ln + `="` + v + `",`)
			rest = strings.TrimPrefix(after[len(q):], ",")
		}
		b.WriteString("} " + strconv.FormatFloat(m[k], 'g', -1, 64) + "\n")
	}
	return b.String()
}

func sameSamples(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || (v != w && !(math.IsNaN(v) && math.IsNaN(w))) {
			return false
		}
	}
	return true
}
