package engine_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

// TestStartupConfigErrors runs the binary with bad configurations: it must
// print the "*** FATAL CONFIG FILE ERROR ***" block (line number, line,
// reason) and exit with status 1 (spec README, configuration checklist).
func TestStartupConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		file   string // config file text ("" = no file)
		stdin  bool   // pass the file on stdin ("-")
		args   []string
		line   int
		text   string
		reason string // exact reason, or "" for any
		has    string // substring of the reason
	}{
		{name: "UnknownDirective", file: "hz 10\nnosuchdirective 1\n", line: 2, text: "nosuchdirective 1",
			reason: "Bad directive or wrong number of arguments"},
		{name: "MissingArgument", file: "# c\n\nport\n", line: 3, text: "port",
			reason: "Bad directive or wrong number of arguments"},
		{name: "ExtraArgument", file: "hz 10 20\n", line: 1, text: "hz 10 20",
			reason: "Bad directive or wrong number of arguments"},
		{name: "NotGettableIsNoDirective", file: "watchdog-period 10\n", line: 1, text: "watchdog-period 10",
			reason: "Bad directive or wrong number of arguments"},
		{name: "Daemonize", file: "hz 10\ndaemonize yes\n", line: 2, text: "daemonize yes", has: "daemonize"},
		{name: "DaemonizeCaseInsensitive", file: "DAEMONIZE YES\n", line: 1, text: "DAEMONIZE YES", has: "daemonize"},
		{name: "DaemonizeOption", args: []string{"--daemonize", "yes"}, line: 2, text: "daemonize yes", has: "daemonize"},
		{name: "BadYesNo", file: "appendonly maybe\n", line: 1, text: "appendonly maybe", reason: "argument must be 'yes' or 'no'"},
		{name: "PortAboveBusLimit", file: "port 55536\n", line: 1, text: "port 55536", has: "port"},
		{name: "PortOutOfRange", file: "port 65536\n", line: 1, text: "port 65536"},
		{name: "PortNegative", file: "port -1\n", line: 1, text: "port -1"},
		{name: "PortOption", args: []string{"--port", "60000"}, line: 2, text: "port 60000", has: "port"},
		{name: "PortNotNumber", file: "port abc\n", stdin: true, line: 1, text: "port abc"},
		{name: "UnbalancedQuotes", file: "hz 10\nrequirepass \"abc\n", line: 2, text: "requirepass \"abc",
			reason: "Unbalanced quotes in configuration line"},
		{name: "BadMemory", file: "maxmemory 12qb\n", line: 1, text: "maxmemory 12qb"},
		{name: "ZeroMaxmemory", file: "maxmemory 0\n", line: 1, text: "maxmemory 0"},
		{name: "BadLoglevel", file: "loglevel loud\n", line: 1, text: "loglevel loud"},
		{name: "BadPolicy", file: "maxmemory-policy allkeys-lru\n", line: 1, text: "maxmemory-policy allkeys-lru"},
		{name: "AppendfilenamePath", file: "appendfilename a/b.aof\n", line: 1, text: "appendfilename a/b.aof",
			reason: "appendfilename can't be a path, just a filename"},
		{name: "RenameUnknownCommand", file: "rename-command NOSUCHCMD foo\n", line: 1, text: "rename-command NOSUCHCMD foo"},
		{name: "RenameOntoCommand", file: "hz 10\nrename-command PING QLEN\n", line: 2, text: "rename-command PING QLEN"},
		{name: "IncludeMissing", file: "include /nonexistent/disq-test.conf\n", line: 1, text: "include /nonexistent/disq-test.conf"},
		{name: "OptionAfterGoodFile", file: "hz 10\n", args: []string{"--maxclients", "abc"}, line: 3, text: "maxclients abc"},
		{name: "LastBadLineStillFatal", file: "hz 10\nhz 20\nhz x\n", line: 3, text: "hz x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			port := strconv.Itoa(testserver.FreePort(t))
			var args []string
			stdin := ""
			switch {
			case tc.stdin:
				args, stdin = []string{"-"}, tc.file
			case tc.file != "":
				args = []string{writeFile(t, dir, "bad.conf", tc.file)}
			}
			if tc.args != nil {
				args = append(args, tc.args...)
			} else {
				// A listener that cannot clash, should the file be accepted.
				args = append(args, "--bind", "127.0.0.1", "--port", port)
			}
			code, out := runFails(t, dir, stdin, args...)
			if code != 1 {
				t.Errorf("disq-server %s: exit status %d; want 1\n%s", strings.Join(args, " "), code, out)
			}
			m := fatalBlock(tc.line, tc.text).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("disq-server %s: output %q; want the FATAL CONFIG FILE ERROR block for line %d %q", strings.Join(args, " "), out, tc.line, tc.text)
			}
			if tc.reason != "" && m[1] != tc.reason {
				t.Errorf("reason: got %q; want %q", m[1], tc.reason)
			}
			if tc.has != "" && !strings.Contains(strings.ToLower(m[1]), tc.has) {
				t.Errorf("reason: got %q; want it to mention %q", m[1], tc.has)
			}
		})
	}

	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		missing := filepath.Join(dir, "nosuch.conf")
		code, out := runFails(t, dir, "", missing, "--port", strconv.Itoa(testserver.FreePort(t)))
		if code != 1 || !strings.Contains(out, "Fatal error, can't open config file '"+missing+"'") {
			t.Errorf("disq-server %s: exit %d, output %q; want status 1 and \"Fatal error, can't open config file '%s'\"", missing, code, out, missing)
		}
	})
}

// TestStartupConfig starts servers from config files and stdin: include,
// rename-command (renamed, removed), quoting, memory units, last occurrence
// wins, case-insensitive directive names, options after the file.
func TestStartupConfig(t *testing.T) {
	t.Parallel()

	t.Run("File", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		inc := writeFile(t, dir, "inc.conf", "# included file\nhz 15\nmaxclients 300\nslowlog-max-len 5\n")
		pid := filepath.Join(dir, "my pid.pid")
		srv, _ := confServer(t, dir, ""+
			"include "+inc+"\n"+
			"maxclients 400\n"+ // after the include: wins
			"HZ 17\n"+ // case-insensitive name; wins over the include
			"rename-command QLEN queuelength\n"+
			"rename-command DEBUG \"\"\n"+
			"pidfile \""+pid+"\"\n"+
			"requirepass \"p\\x41ss word\"\n"+
			"syslog-ident 'single \"quoted\"'\n"+
			"maxmemory 3mb\n"+
			"auto-aof-rewrite-min-size 2k\n"+
			"client-output-buffer-limit normal 1kb 2m 5\n"+
			"cluster-node-timeout 1234\n"+
			"   slowlog-max-len 10   \n"+
			"slowlog-max-len 20\n"+
			"tcp-keepalive 60\n")
		c := testclient.Dial(t, srv.Addr)
		c.Expect(errNoAuth, "PING")
		c.Expect("+OK", "AUTH", "pAss word")
		for k, want := range map[string]string{
			"maxclients": "400", "hz": "17", "pidfile": pid, "requirepass": "pAss word",
			"maxmemory": "3145728", "auto-aof-rewrite-min-size": "2000",
			"client-output-buffer-limit": "normal 1024 2000000 5", "cluster-node-timeout": "1234",
			"slowlog-max-len": "20", "tcp-keepalive": "60",
		} {
			if got := configGet(t, c, k); got != want {
				t.Errorf("CONFIG GET %s: got %q; want %q", k, got, want)
			}
		}
		// The pidfile (a quoted path with a space) holds the pid.
		if b, err := os.ReadFile(pid); err != nil || strings.TrimSpace(string(b)) != c.Info("server")["process_id"] {
			t.Errorf("pidfile %q: got %q (%v); want the process ID", pid, b, err)
		}
		// rename-command: the new name works, the old one is unknown; ""
		// removes the command.
		c.Expect(":0", "queuelength", "q")
		c.Expect(":0", "QUEUELENGTH", "q")
		c.Expect("-ERR unknown command 'QLEN'", "QLEN", "q")
		c.Expect("-ERR unknown command 'DEBUG'", "DEBUG", "SLEEP", "0")
		c.Expect("-ERR unknown command 'debug'", "debug", "flushall")
		c.Expect(":"+strconv.Itoa(len(commandTable)-1), "COMMAND", "COUNT")
	})

	t.Run("Units", func(t *testing.T) {
		t.Parallel()
		// Memory sizes: k=1000, kb=1024, m, mb, g, gb, case-insensitive
		// (File covers 3mb, 2k, 1kb, 2m).
		dir := t.TempDir()
		srv, _ := confServer(t, dir, ""+
			"maxmemory 2Mb\n"+
			"auto-aof-rewrite-min-size 1K\n"+
			"client-output-buffer-limit normal 1KB 1g 5\n"+
			"proto-max-bulk-len 2M\n"+
			"client-query-buffer-limit 2GB\n")
		c := testclient.Dial(t, srv.Addr)
		for k, want := range map[string]string{
			"maxmemory": "2097152", "auto-aof-rewrite-min-size": "1000",
			"client-output-buffer-limit": "normal 1024 1000000000 5",
			// disq's extension directives take memory sizes too.
			"proto-max-bulk-len": "2000000", "client-query-buffer-limit": "2147483648",
		} {
			if got := configGet(t, c, k); got != want {
				t.Errorf("CONFIG GET %s: got %q; want %q", k, got, want)
			}
		}
	})

	t.Run("OptionsAfterFile", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		port := testserver.FreePort(t)
		path := writeFile(t, dir, "disq.conf", "port 1\nbind 127.0.0.1\ndir "+dir+"\nhz 11\nmaxclients 50\nmaxmemory 10mb\n")
		// Options come after the file and win; several values per option.
		srv := testserver.StartArgs(t, dir, port, path, "--port", strconv.Itoa(port), "--hz", "12",
			"--client-output-buffer-limit", "normal", "1mb", "0", "0", "--maxmemory", "20MB")
		c := testclient.Dial(t, srv.Addr)
		for k, want := range map[string]string{"port": strconv.Itoa(port), "hz": "12", "maxclients": "50",
			"client-output-buffer-limit": "normal 1048576 0 0", "maxmemory": "20971520"} {
			if got := configGet(t, c, k); got != want {
				t.Errorf("CONFIG GET %s: got %q; want %q", k, got, want)
			}
		}
		if got := c.Info("server")["config_file"]; filepath.Base(got) != "disq.conf" || !filepath.IsAbs(got) {
			t.Errorf("INFO config_file: got %q; want the absolute path of disq.conf", got)
		}
	})

	t.Run("IncludeRelativeAndNested", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		sub := filepath.Join(dir, "conf.d")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		inner := writeFile(t, sub, "inner.conf", "maxmemory-samples 8\n")
		writeFile(t, sub, "outer.conf", "include "+inner+"\nlatency-monitor-threshold 3\n")
		// dir comes first in confServer's file, so a relative include is
		// resolved against it.
		srv, _ := confServer(t, dir, "include conf.d/outer.conf\n")
		c := testclient.Dial(t, srv.Addr)
		for k, want := range map[string]string{"maxmemory-samples": "8", "latency-monitor-threshold": "3"} {
			if got := configGet(t, c, k); got != want {
				t.Errorf("CONFIG GET %s (nested include): got %q; want %q", k, got, want)
			}
		}
	})
}
