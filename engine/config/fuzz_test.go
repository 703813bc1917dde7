package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// renderGet turns a CONFIG GET reply back into config lines.
func renderGet(pairs []string) string {
	var b strings.Builder
	for i := 0; i < len(pairs); i += 2 {
		name, v := pairs[i], pairs[i+1]
		switch name {
		case "watchdog-period":
			continue // CONFIG only, not a file directive
		case "bind":
			if v == "" {
				continue
			}
			b.WriteString(name)
			for _, a := range strings.Split(v, " ") {
				b.WriteString(" " + quoteArg(a))
			}
		case "client-output-buffer-limit":
			b.WriteString(name + " " + v)
		default:
			b.WriteString(name + " " + Repr(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

var fuzzSeeds = []string{
	"port 7711\nbind 127.0.0.1 ::1\n",
	"# comment\n\n  maxmemory 100mb  \r\nmaxmemory-policy noeviction\n",
	"requirepass \"p@ss w\\x30rd\"\nrename-command CONFIG ''\n",
	"appendonly yes\nappendfsync always\nappendfilename 'my.aof'\n",
	"client-output-buffer-limit normal 256mb 64mb 60\nclient-query-buffer-limit 1gb\nproto-max-bulk-len 512mb\n",
	"hz 1000\ncluster-node-timeout 3000\ntcp-keepalive 60\ntimeout 0\n",
	"loglevel DEBUG\nlogfile \"\"\nsyslog-enabled yes\nsyslog-ident disq\nsyslog-facility local7\n",
	"unixsocket /tmp/disq.sock\nunixsocketperm 0700\n",
	"slowlog-log-slower-than -1\nslowlog-max-len 1024\nlatency-monitor-threshold 100\n",
	"shards 8\nevent-loops 4\nadmin-bind 0.0.0.0\nadmin-port 8081\nadmin-token t\ntenants-file tenants.conf\n",
	"repl-compression none\naof-compression s2\naof-enqueue-jobs-once yes\naof-load-truncated no\n",
	"dir /\ndir tmp\ndatabases 16\nmaxclients 10000\nmaxmemory-samples 5\nactiverehashing no\n",
	"daemonize no\npidfile /var/run/disque.pid\nauto-aof-rewrite-percentage 100\nauto-aof-rewrite-min-size 64mb\n",
	"port 1\nport 2\nPORT 3\n",
	"port abc\n",
	"requirepass 'unbalanced\n",
}

// hasInclude reports whether a line of text is an include directive (the
// fuzzer must not read arbitrary files, /dev/zero included).
func hasInclude(text string) bool {
	for _, l := range strings.Split(text, "\n") {
		argv, err := SplitArgs(strings.Trim(l, " \t\r\n"))
		if err == nil && len(argv) > 0 && strings.EqualFold(argv[0], "include") {
			return true
		}
	}
	return false
}

func FuzzParseText(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if hasInclude(text) {
			t.Skip()
		}
		c := Default()
		if err := ParseText(text, c); err != nil {
			var fe *FatalError
			if !errors.As(err, &fe) || fe.Line < 1 || fe.Reason == "" {
				t.Fatalf("ParseText(%q): got %#v; want a *FatalError", text, err)
			}
			return
		}
		got := c.Get("*")

		// CONFIG GET output, written back as config lines, reads back
		// the same.
		lines := renderGet(got)
		c2 := Default()
		if err := ParseText(lines, c2); err != nil {
			t.Fatalf("re-parsing CONFIG GET output failed: %v\ninput %q\nlines %q", err, text, lines)
		}
		if got2 := c2.Get("*"); !reflect.DeepEqual(got2, got) {
			t.Fatalf("CONFIG GET round trip:\ninput %q\ngot  %q\nwant %q", text, got2, got)
		}

		// CONFIG REWRITE of the input reads back the same, non-gettable
		// directives included.
		rewritten := rewriteText(text, c)
		c3 := Default()
		if err := ParseText(rewritten, c3); err != nil {
			t.Fatalf("re-parsing the rewritten file failed: %v\ninput %q\nrewritten %q", err, text, rewritten)
		}
		for _, p := range params {
			if a, b := p.get(c3), p.get(c); a != b {
				t.Fatalf("CONFIG REWRITE round trip: %s: got %q; want %q\ninput %q\nrewritten %q", p.name, a, b, text, rewritten)
			}
		}
		if !reflect.DeepEqual(c3.RenameCommands, c.RenameCommands) {
			t.Fatalf("CONFIG REWRITE round trip: rename-command: got %v; want %v", c3.RenameCommands, c.RenameCommands)
		}
	})
}

func FuzzSplitArgs(f *testing.F) {
	for _, s := range fuzzSeeds {
		for _, l := range strings.Split(s, "\n") {
			f.Add(l)
		}
	}
	f.Add(`"\x41\xzz\"" 'a\'b' c"d e"`)
	f.Add("a\vb\x00c")
	f.Fuzz(func(t *testing.T, line string) {
		args, err := SplitArgs(line)
		if err != nil {
			if err != ErrUnbalancedQuotes || args != nil {
				t.Fatalf("SplitArgs(%q): got %q, %v", line, args, err)
			}
			return
		}
		// Quoting every argument (sdscatrepr, or only where needed) and
		// splitting again gives the same arguments.
		for _, quote := range []func(string) string{Repr, quoteArg} {
			q := make([]string, len(args))
			for i, a := range args {
				q[i] = quote(a)
			}
			again, err := SplitArgs(strings.Join(q, " "))
			if err != nil || !reflect.DeepEqual(again, args) {
				t.Fatalf("SplitArgs(%q) = %q; re-quoted %q splits to %q, %v", line, args, q, again, err)
			}
		}
	})
}
