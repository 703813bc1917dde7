package engine_test

import (
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// infoFields is the field list of each INFO section, in order (commands.md
// 5.4; Persistence with the AOF off and not loading).
var infoFields = []struct {
	title  string
	fields []string
}{
	{"Server", []string{"disque_version", "disque_git_sha1", "disque_git_dirty", "disque_build_id", "os", "arch_bits",
		"multiplexing_api", "gcc_version", "process_id", "run_id", "tcp_port", "uptime_in_seconds", "uptime_in_days",
		"hz", "executable", "config_file"}},
	{"Clients", []string{"connected_clients", "client_longest_output_list", "client_biggest_input_buf", "blocked_clients"}},
	{"Memory", []string{"used_memory", "used_memory_human", "used_memory_rss", "used_memory_peak",
		"used_memory_peak_human", "mem_fragmentation_ratio", "mem_allocator"}},
	{"Jobs", []string{"registered_jobs"}},
	{"Queues", []string{"registered_queues"}},
	{"Persistence", []string{"loading", "aof_enabled", "aof_state", "aof_rewrite_in_progress", "aof_rewrite_scheduled",
		"aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec", "aof_last_bgrewrite_status", "aof_last_write_status"}},
	{"Stats", []string{"total_connections_received", "total_commands_processed", "instantaneous_ops_per_sec",
		"total_net_input_bytes", "total_net_output_bytes", "instantaneous_input_kbps", "instantaneous_output_kbps",
		"rejected_connections", "latest_fork_usec"}},
	{"CPU", []string{"used_cpu_sys", "used_cpu_user", "used_cpu_sys_children", "used_cpu_user_children"}},
}

type infoSection struct {
	title  string
	fields [][2]string
}

// parseInfoText checks INFO's layout (commands.md 5.4): "# Title\r\n", then
// "field:value\r\n" lines, sections separated by one extra "\r\n".
func parseInfoText(t testing.TB, what, text string) []infoSection {
	t.Helper()
	if text == "" {
		return nil
	}
	if !strings.HasSuffix(text, "\r\n") || strings.HasSuffix(text, "\r\n\r\n") {
		t.Fatalf("%s: got %q; want text ending in exactly one CRLF", what, text)
	}
	var out []infoSection
	lines := strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "# "):
			if i > 0 && lines[i-1] != "" {
				t.Fatalf("%s: section %q not preceded by an empty line", what, l)
			}
			out = append(out, infoSection{title: l[2:]})
		case l == "":
			if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "# ") {
				t.Fatalf("%s: empty line %d not followed by a section title", what, i)
			}
		default:
			k, v, ok := strings.Cut(l, ":")
			if !ok || len(out) == 0 || k == "" || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("%s: line %q; want field:value inside a section", what, l)
			}
			out[len(out)-1].fields = append(out[len(out)-1].fields, [2]string{k, v})
		}
	}
	return out
}

// TestInfo covers INFO's sections, layout, field lists in order and values
// (commands.md 5.4).
func TestInfo(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)
	c := testclient.Dial(t, srv.Addr)
	c.Expect("+PONG", "PING")

	checkFields := func(what string, sec infoSection, want []string) {
		t.Helper()
		var names []string
		for _, f := range sec.fields {
			names = append(names, f[0])
		}
		// The spec's fields come first, in order; extensions may follow.
		if len(names) < len(want) || !slices.Equal(names[:len(want)], want) {
			t.Errorf("%s # %s: fields %q; want %q first, in this order", what, sec.title, names, want)
		}
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Errorf("%s # %s: field %s twice", what, sec.title, n)
			}
			seen[n] = true
		}
	}

	t.Run("Default", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for _, args := range [][]string{{"INFO"}, {"INFO", "default"}, {"info", "DEFAULT"}} {
			secs := parseInfoText(t, strings.Join(args, " "), c.Str(args...))
			if len(secs) != len(infoFields) {
				t.Fatalf("%s: got %d sections; want %d (all but Commandstats)", strings.Join(args, " "), len(secs), len(infoFields))
			}
			for i, want := range infoFields {
				if secs[i].title != want.title {
					t.Errorf("%s: section %d is %q; want %q", strings.Join(args, " "), i, secs[i].title, want.title)
					continue
				}
				checkFields(strings.Join(args, " "), secs[i], want.fields)
			}
		}
	})

	t.Run("All", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		secs := parseInfoText(t, "INFO all", c.Str("INFO", "all"))
		if len(secs) != len(infoFields)+1 || secs[len(secs)-1].title != "Commandstats" {
			var titles []string
			for _, s := range secs {
				titles = append(titles, s.title)
			}
			t.Fatalf("INFO all: sections %q; want the default ones then Commandstats", titles)
		}
		for i, want := range infoFields {
			checkFields("INFO all", secs[i], want.fields)
		}
	})

	t.Run("EachSection", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for _, want := range infoFields {
			for _, name := range []string{strings.ToLower(want.title), strings.ToUpper(want.title)} {
				secs := parseInfoText(t, "INFO "+name, c.Str("INFO", name))
				if len(secs) != 1 || secs[0].title != want.title {
					t.Errorf("INFO %s: got %d sections (%v); want only # %s", name, len(secs), secs, want.title)
					continue
				}
				checkFields("INFO "+name, secs[0], want.fields)
			}
		}
		c.Expect(`""`, "INFO", "nosuchsection")
		// An empty section name is an unknown section too (upstream
		// compares it with every section name).
		if got := c.DoS("INFO", ""); got != `""` {
			t.Errorf("INFO \"\": got %.60s...; want \"\" (an unknown section)", got)
		}
		c.Expect(errSyntax, "INFO", "server", "clients")
		c.Expect(errSyntax, "INFO", "a", "b", "c")
	})

	t.Run("Commandstats", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		c.Expect("+PONG", "PING")
		c.Expect(":0", "QLEN", "info-cs")
		text := c.Str("INFO", "commandstats")
		secs := parseInfoText(t, "INFO commandstats", text)
		if len(secs) != 1 || secs[0].title != "Commandstats" {
			t.Fatalf("INFO commandstats: got %q", text)
		}
		re := regexp.MustCompile(`^calls=(\d+),usec=(\d+),usec_per_call=(\d+\.\d\d)$`)
		got := map[string]int64{}
		for _, f := range secs[0].fields {
			name, ok := strings.CutPrefix(f[0], "cmdstat_")
			m := re.FindStringSubmatch(f[1])
			if !ok || m == nil || name != strings.ToLower(name) {
				t.Errorf("INFO commandstats line %s:%s; want cmdstat_<name>:calls=<n>,usec=<n>,usec_per_call=<f.2>", f[0], f[1])
				continue
			}
			calls, _ := strconv.ParseInt(m[1], 10, 64)
			usec, _ := strconv.ParseInt(m[2], 10, 64)
			per, _ := strconv.ParseFloat(m[3], 64)
			if calls <= 0 {
				t.Errorf("INFO commandstats %s: calls %d; want only commands called at least once", f[0], calls)
			}
			if d := per - float64(usec)/float64(calls); d > 0.01 || d < -0.01 {
				t.Errorf("INFO commandstats %s: usec_per_call %s; want usec/calls = %.2f", f[0], m[3], float64(usec)/float64(calls))
			}
			got[name] = calls
		}
		for _, name := range []string{"ping", "qlen", "info"} {
			if got[name] < 1 {
				t.Errorf("INFO commandstats: cmdstat_%s calls %d; want >= 1", name, got[name])
			}
		}
		if _, ok := got["addjob"]; ok {
			t.Errorf("INFO commandstats: lists addjob, never called on this server")
		}
	})

	t.Run("Values", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		f := c.Info("all")
		for k, re := range map[string]string{
			"disque_version":             `^1\.0-rc1$`,
			"disque_git_dirty":           `^[01]$`,
			"arch_bits":                  `^(32|64)$`,
			"process_id":                 `^` + strconv.Itoa(srv.Pid()) + `$`,
			"run_id":                     `^[0-9a-f]{40}$`,
			"tcp_port":                   `^` + strconv.Itoa(srv.Port) + `$`,
			"uptime_in_seconds":          `^\d+$`,
			"uptime_in_days":             `^0$`,
			"hz":                         `^10$`,
			"config_file":                `^$`,
			"connected_clients":          `^[1-9]\d*$`,
			"blocked_clients":            `^\d+$`,
			"used_memory":                `^[1-9]\d*$`,
			"used_memory_human":          `^\d+(\.\d+)?[BKMG]$`,
			"used_memory_rss":            `^\d+$`,
			"used_memory_peak":           `^[1-9]\d*$`,
			"used_memory_peak_human":     `^\d+(\.\d+)?[BKMG]$`,
			"mem_fragmentation_ratio":    `^\d+(\.\d+)?$`,
			"mem_allocator":              `^\S+$`,
			"registered_jobs":            `^0$`,
			"registered_queues":          `^0$`,
			"loading":                    `^0$`,
			"aof_enabled":                `^0$`,
			"aof_state":                  `^off$`,
			"aof_rewrite_in_progress":    `^0$`,
			"aof_rewrite_scheduled":      `^0$`,
			"aof_last_bgrewrite_status":  `^(ok|err)$`,
			"aof_last_write_status":      `^(ok|err)$`,
			"total_connections_received": `^[1-9]\d*$`,
			"total_commands_processed":   `^[1-9]\d*$`,
			"instantaneous_ops_per_sec":  `^\d+$`,
			"total_net_input_bytes":      `^[1-9]\d*$`,
			"total_net_output_bytes":     `^[1-9]\d*$`,
			"instantaneous_input_kbps":   `^\d+(\.\d+)?$`,
			"rejected_connections":       `^0$`,
			"latest_fork_usec":           `^\d+$`,
			"used_cpu_sys":               `^\d+\.\d+$`,
			"used_cpu_user":              `^\d+\.\d+$`,
			"used_cpu_sys_children":      `^\d+\.\d+$`,
			"used_cpu_user_children":     `^\d+\.\d+$`,
		} {
			v, ok := f[k]
			if !ok {
				t.Errorf("INFO all: no field %s", k)
				continue
			}
			if !regexp.MustCompile(re).MatchString(v) {
				t.Errorf("INFO %s: got %q; want %s", k, v, re)
			}
		}
		if exe := f["executable"]; !filepath.IsAbs(exe) {
			t.Errorf("INFO executable: got %q; want the absolute path of the binary", exe)
		}
		if u, p := f["used_memory"], f["used_memory_peak"]; len(u) > 0 && len(p) > 0 {
			un, _ := strconv.ParseInt(u, 10, 64)
			pn, _ := strconv.ParseInt(p, 10, 64)
			if pn < un {
				t.Errorf("INFO used_memory_peak %d < used_memory %d", pn, un)
			}
		}
		// total_commands_processed grows with commands.
		before := infoInt(t, c, "stats", "total_commands_processed")
		for i := 0; i < 5; i++ {
			c.Expect("+PONG", "PING")
		}
		if after := infoInt(t, c, "stats", "total_commands_processed"); after < before+5 {
			t.Errorf("total_commands_processed after 5 PINGs: got %d; want >= %d", after, before+5)
		}
		// Uptime advances; run_id stays for the process.
		if got := c.Info("server")["run_id"]; got != f["run_id"] {
			t.Errorf("INFO run_id changed from %s to %s without a restart", f["run_id"], got)
		}
	})
}

// commandTable is section 0 of commands.md (QUIT is not in the table).
var commandTable = map[string]struct {
	arity int
	flags string
}{
	// AUTH is -2 since AUTH <tenant> <password> (issue 6).
	"auth": {-2, "r l F"}, "ping": {-1, "r F"}, "info": {-1, "r l"}, "shutdown": {-1, "a r l"},
	"monitor": {1, "a r"}, "debug": {-2, "a"}, "config": {-2, "a r"}, "cluster": {-2, "a r"},
	"client": {-2, "a r"}, "slowlog": {-2, "r"}, "time": {1, "r F"}, "command": {0, "r l"},
	"latency": {-2, "a r l"}, "hello": {1, "r F"}, "addjob": {-4, "w m F"}, "getjob": {-2, "w F"},
	"ackjob": {-1, "w F"}, "fastack": {-1, "w F"}, "deljob": {-1, "w F"}, "show": {2, "r F"},
	"loadjob": {2, "w"}, "bgrewriteaof": {1, "a r"}, "qlen": {2, "r F"}, "qpeek": {3, "r"},
	"qstat": {2, "r F"}, "qscan": {-1, "r"}, "jscan": {-1, "r"}, "enqueue": {-1, "m w F"},
	"nack": {-1, "m w F"}, "dequeue": {-1, "w F"}, "working": {2, "w F"}, "pause": {-3, "r F"},
}

// commandEntry renders the COMMAND entry of the spec for name.
func commandEntry(name string) string {
	e := commandTable[name]
	var flags []string
	for _, f := range []struct{ letter, name string }{
		{"w", "write"}, {"r", "readonly"}, {"m", "denyoom"}, {"a", "admin"}, {"l", "loading"}, {"F", "fast"},
	} {
		if slices.Contains(strings.Fields(e.flags), f.letter) {
			flags = append(flags, "+"+f.name)
		}
	}
	return `["` + name + `" :` + strconv.Itoa(e.arity) + ` [` + strings.Join(flags, " ") + `] :0 :0 :0]`
}

// TestCommandTimeIntrospection covers COMMAND (INFO, COUNT) against the
// whole command table, and TIME (commands.md 0, 5.10, 5.11).
func TestCommandTimeIntrospection(t *testing.T) {
	t.Parallel()
	srv := startServer(t, 2)

	t.Run("Command", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		r := c.Do("COMMAND")
		if r.Kind != resp.KindArray || r.IsNull() {
			t.Fatalf("COMMAND: got %s; want an array", r)
		}
		seen := map[string]bool{}
		for _, e := range r.Elems {
			if e.Kind != resp.KindArray || len(e.Elems) != 6 || e.Elems[0].Kind != resp.KindBulk {
				t.Fatalf("COMMAND entry %s; want [\"name\" :arity [flags] :0 :0 :0]", e)
			}
			name := string(e.Elems[0].Str)
			if _, ok := commandTable[name]; !ok {
				t.Errorf("COMMAND lists %q, not in the spec's table", name)
				continue
			}
			if got, want := e.String(), commandEntry(name); got != want {
				t.Errorf("COMMAND entry for %s: got %s; want %s", name, got, want)
			}
			if seen[name] {
				t.Errorf("COMMAND lists %s twice", name)
			}
			seen[name] = true
		}
		for name := range commandTable {
			if !seen[name] {
				t.Errorf("COMMAND: %s missing", name)
			}
		}
		c.Expect(":"+strconv.Itoa(len(commandTable)), "COMMAND", "COUNT")
		c.Expect(":"+strconv.Itoa(len(commandTable)), "command", "count")
	})

	t.Run("CommandInfo", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for name := range commandTable {
			c.Expect("["+commandEntry(name)+"]", "COMMAND", "INFO", name)
		}
		c.Expect("["+commandEntry("getjob")+" (nil) "+commandEntry("qlen")+"]", "COMMAND", "INFO", "GetJob", "nosuch", "QLEN")
		c.Expect("[(nil)]", "COMMAND", "INFO", "quit") // QUIT is not in the table
		c.Expect("[(nil)]", "COMMAND", "INFO", "")
		c.Expect("[]", "COMMAND", "INFO")
		c.Expect("[(nil) (nil)]", "COMMAND", "info", strings.Repeat("x", 100), "set")
	})

	t.Run("CommandErrors", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		const errSub = "-ERR Unknown subcommand or wrong number of arguments."
		c.Expect(errSub, "COMMAND", "FOO")
		c.Expect(errSub, "COMMAND", "COUNT", "x")
		c.Expect(errSub, "COMMAND", "")
		c.Expect("+PONG", "PING")
	})

	t.Run("Time", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for i := 0; i < 3; i++ {
			before := time.Now()
			r := c.Do("TIME")
			after := time.Now()
			if r.Kind != resp.KindArray || len(r.Elems) != 2 || r.Elems[0].Kind != resp.KindBulk || r.Elems[1].Kind != resp.KindBulk {
				t.Fatalf("TIME: got %s; want [\"<seconds>\" \"<microseconds>\"] as bulk strings", r)
			}
			sec, err1 := strconv.ParseInt(string(r.Elems[0].Str), 10, 64)
			usec, err2 := strconv.ParseInt(string(r.Elems[1].Str), 10, 64)
			if err1 != nil || err2 != nil || usec < 0 || usec > 999999 {
				t.Fatalf("TIME: got %s; want decimal seconds and microseconds 0..999999", r)
			}
			at := time.Unix(sec, usec*1000)
			if at.Before(before.Add(-2*time.Second)) || at.After(after.Add(2*time.Second)) {
				t.Errorf("TIME: got %v; want between %v and %v", at, before, after)
			}
		}
		c.Expect(errArity("time"), "TIME", "x")
	})
}
