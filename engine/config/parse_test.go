package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// value returns a directive's value as CONFIG GET would render it, also
// for the directives CONFIG GET does not list.
func value(c *Config, name string) string {
	return byName[name].get(c)
}

func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c := Default()
	if err := ParseText(text, c); err != nil {
		t.Fatalf("ParseText(%q): unexpected error: %v", text, err)
	}
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	wd, _ := os.Getwd()
	f := func(name, want string) {
		t.Helper()
		if got := value(c, name); got != want {
			t.Errorf("default %s: got %q; want %q", name, got, want)
		}
	}
	f("port", "7711")
	f("bind", "")
	f("tcp-backlog", "511")
	f("unixsocket", "")
	f("unixsocketperm", "0")
	f("timeout", "0")
	f("tcp-keepalive", "0")
	f("daemonize", "no")
	f("pidfile", "/var/run/disque.pid")
	f("loglevel", "notice")
	f("logfile", "")
	f("syslog-enabled", "no")
	f("syslog-ident", "disque")
	f("syslog-facility", "local0")
	f("dir", wd)
	f("databases", "16")
	f("requirepass", "")
	f("maxclients", "10000")
	f("maxmemory", "1073741824")
	f("maxmemory-policy", "acks")
	f("maxmemory-samples", "5")
	f("activerehashing", "yes")
	f("hz", "10")
	f("appendonly", "no")
	f("appendfilename", "disque.aof")
	f("appendfsync", "everysec")
	f("no-appendfsync-on-rewrite", "no")
	f("auto-aof-rewrite-percentage", "100")
	f("auto-aof-rewrite-min-size", "67108864")
	f("aof-rewrite-incremental-fsync", "yes")
	f("aof-load-truncated", "yes")
	f("aof-enqueue-jobs-once", "no")
	f("cluster-config-file", "nodes.conf")
	f("cluster-node-timeout", "15000")
	f("slowlog-log-slower-than", "10000")
	f("slowlog-max-len", "128")
	f("latency-monitor-threshold", "0")
	f("client-output-buffer-limit", "normal 268435456 67108864 60")
	f("watchdog-period", "0")
	f("client-query-buffer-limit", "1073741824")
	f("proto-max-bulk-len", "536870912")
	f("shards", "0")
	f("event-loops", "0")
	f("admin-bind", "127.0.0.1")
	f("admin-port", "7710")
	f("admin-token", "")
	f("tenants-file", "")
	f("repl-compression", "s2")
	f("aof-compression", "none")
	if c.ConfigFile != "" || len(c.RenameCommands) != 0 {
		t.Errorf("default ConfigFile %q, RenameCommands %v; want empty", c.ConfigFile, c.RenameCommands)
	}
}

func TestParseTextSuccess(t *testing.T) {
	f := func(text, name, want string) {
		t.Helper()
		c := mustParse(t, text)
		if got := value(c, name); got != want {
			t.Errorf("ParseText(%q): %s: got %q; want %q", text, name, got, want)
		}
	}
	// Network.
	f("port 0", "port", "0")
	f("port 6380", "port", "6380")
	f("port 55535", "port", "55535")
	f("PORT 1", "port", "1")
	f("bind 127.0.0.1", "bind", "127.0.0.1")
	f("bind 127.0.0.1 ::1 10.0.0.1", "bind", "127.0.0.1 ::1 10.0.0.1")
	f("bind "+strings.Repeat("a ", 16), "bind", strings.TrimSpace(strings.Repeat("a ", 16)))
	f("tcp-backlog 0", "tcp-backlog", "0")
	f("tcp-backlog 1024", "tcp-backlog", "1024")
	f("unixsocket /tmp/disq.sock", "unixsocket", "/tmp/disq.sock")
	f("unixsocketperm 700", "unixsocketperm", "700")
	f("unixsocketperm 0755", "unixsocketperm", "755")
	f("unixsocketperm 0", "unixsocketperm", "0")
	f("timeout 300", "timeout", "300")
	f("tcp-keepalive 60", "tcp-keepalive", "60")
	// Process and logging.
	f("daemonize no", "daemonize", "no")
	f("daemonize NO", "daemonize", "no")
	f("pidfile /run/disq.pid", "pidfile", "/run/disq.pid")
	f("loglevel debug", "loglevel", "debug")
	f("loglevel VERBOSE", "loglevel", "verbose")
	f("loglevel Warning", "loglevel", "warning")
	f("logfile ''", "logfile", "")
	f("logfile disq.log", "logfile", "disq.log")
	f("syslog-enabled yes", "syslog-enabled", "yes")
	f("syslog-ident disq", "syslog-ident", "disq")
	f("syslog-facility user", "syslog-facility", "user")
	f("syslog-facility LOCAL7", "syslog-facility", "local7")
	f("databases 1", "databases", "1")
	f("hz 100", "hz", "100")
	f("hz 0", "hz", "1")
	f("hz -5", "hz", "1")
	f("hz 501", "hz", "500")
	f("hz 99999999999", "hz", "500")
	// Security and clients.
	f("requirepass secret", "requirepass", "secret")
	f("requirepass "+strings.Repeat("x", 512), "requirepass", strings.Repeat("x", 512))
	f("maxclients 1", "maxclients", "1")
	f("client-output-buffer-limit normal 0 0 0", "client-output-buffer-limit", "normal 0 0 0")
	f("client-output-buffer-limit NORMAL 1mb 512kb 10", "client-output-buffer-limit", "normal 1048576 524288 10")
	f("client-query-buffer-limit 2gb", "client-query-buffer-limit", "2147483648")
	f("client-query-buffer-limit 1mb", "client-query-buffer-limit", "1048576")
	f("proto-max-bulk-len 2m", "proto-max-bulk-len", "2000000")
	// Memory.
	f("maxmemory 1", "maxmemory", "1")
	f("maxmemory 100mb", "maxmemory", "104857600")
	f("maxmemory 3GB", "maxmemory", "3221225472")
	f("maxmemory 2k", "maxmemory", "2000")
	f("maxmemory-policy noeviction", "maxmemory-policy", "noeviction")
	f("maxmemory-policy ACKS", "maxmemory-policy", "acks")
	f("maxmemory-samples 1", "maxmemory-samples", "1")
	f("activerehashing no", "activerehashing", "no")
	// AOF.
	f("appendonly yes", "appendonly", "yes")
	f("appendonly YES", "appendonly", "yes")
	f("appendfilename my.aof", "appendfilename", "my.aof")
	f("appendfsync always", "appendfsync", "always")
	f("appendfsync No", "appendfsync", "no")
	f("no-appendfsync-on-rewrite yes", "no-appendfsync-on-rewrite", "yes")
	f("auto-aof-rewrite-percentage 0", "auto-aof-rewrite-percentage", "0")
	f("auto-aof-rewrite-min-size 1kb", "auto-aof-rewrite-min-size", "1024")
	f("auto-aof-rewrite-min-size 0", "auto-aof-rewrite-min-size", "0")
	f("aof-rewrite-incremental-fsync no", "aof-rewrite-incremental-fsync", "no")
	f("aof-load-truncated no", "aof-load-truncated", "no")
	f("aof-enqueue-jobs-once yes", "aof-enqueue-jobs-once", "yes")
	f("aof-compression s2", "aof-compression", "s2")
	f("aof-compression NONE", "aof-compression", "none")
	// Cluster.
	f("cluster-config-file nodes-7711.conf", "cluster-config-file", "nodes-7711.conf")
	f("cluster-node-timeout 3000", "cluster-node-timeout", "3000")
	f("cluster-node-timeout 1", "cluster-node-timeout", "1")
	f("repl-compression none", "repl-compression", "none")
	// Diagnostics.
	f("slowlog-log-slower-than -1", "slowlog-log-slower-than", "-1")
	f("slowlog-log-slower-than 0", "slowlog-log-slower-than", "0")
	f("slowlog-max-len 0", "slowlog-max-len", "0")
	f("latency-monitor-threshold 100", "latency-monitor-threshold", "100")
	// Extensions.
	f("shards 0", "shards", "0")
	f("shards 8", "shards", "8")
	f("shards 4096", "shards", "4096")
	f("event-loops 4", "event-loops", "4")
	f("admin-bind 0.0.0.0", "admin-bind", "0.0.0.0")
	f("admin-port 8080", "admin-port", "8080")
	f("admin-token 's3cr3t'", "admin-token", "s3cr3t")
	f("tenants-file tenants.json", "tenants-file", "tenants.json")
	// Syntax: comments, blanks, whitespace, case, last one wins.
	f("# comment\n\n   \t\nport 1000\n", "port", "1000")
	f("  port 1000  \r\n", "port", "1000")
	f("\tport\t1000", "port", "1000")
	f("port 1\nport 2\nPort 3", "port", "3")
	f("port +12", "port", "12")
	f("port 0012", "port", "12")
	f("\v\f", "port", "7711")
	// Quoting (sdssplitargs).
	f(`requirepass "a b"`, "requirepass", "a b")
	f(`requirepass "tab\there\n\r\a\b\\\"end"`, "requirepass", "tab\there\n\r\a\b\\\"end")
	f(`requirepass "\x41\x62\xzz"`, "requirepass", "Abxzz")
	f(`requirepass 'it\'s "x"'`, "requirepass", `it's "x"`)
	f(`requirepass 'a\nb'`, "requirepass", `a\nb`)
	f(`requirepass ""`, "requirepass", "")
	f(`"port" "1234"`, "port", "1234")
	f(`requirepass a\b`, "requirepass", `a\b`)
	// databases is accepted and ignored.
	f("databases 32", "databases", "32")
}

func TestParseTextDir(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "dir "+tmp+"\ndir sub\n")
	if want := filepath.Join(tmp, "sub"); c.Dir != want {
		t.Fatalf("dir: got %q; want %q", c.Dir, want)
	}
	c = mustParse(t, "dir "+tmp+"/sub/..")
	if c.Dir != tmp {
		t.Fatalf("dir: got %q; want %q", c.Dir, tmp)
	}
	wd, _ := os.Getwd()
	if got, _ := os.Getwd(); got != wd {
		t.Fatalf("ParseText changed the working directory to %q", got)
	}
}

func TestParseTextError(t *testing.T) {
	f := func(text string, line int, reason string) {
		t.Helper()
		err := ParseText(text, Default())
		var fe *FatalError
		if !errors.As(err, &fe) {
			t.Fatalf("ParseText(%q): got %v; want a *FatalError", text, err)
		}
		if fe.Line != line || fe.Reason != reason {
			t.Errorf("ParseText(%q): got line %d reason %q; want line %d reason %q", text, fe.Line, fe.Reason, line, reason)
		}
	}
	bad := "Bad directive or wrong number of arguments"
	yn := "argument must be 'yes' or 'no'"
	notInt := "argument couldn't be parsed into an integer"
	mem := "argument must be a memory value"
	// Unknown directives and argument counts.
	f("foo bar", 1, bad)
	f("port", 1, bad)
	f("port 1 2", 1, bad)
	f("bind", 1, bad)
	f("include", 1, bad)
	f("include a b", 1, bad)
	f("rename-command GET", 1, bad)
	f("client-output-buffer-limit normal 0 0", 1, bad)
	f("watchdog-period 10", 1, bad)
	f("save 900 1", 1, bad)
	f("port 7711 # inline comments are not comments", 1, bad)
	f("\n\n# x\nport 1\nnope", 5, bad)
	// Quotes.
	f(`requirepass "abc`, 1, "Unbalanced quotes in configuration line")
	f(`requirepass 'abc`, 1, "Unbalanced quotes in configuration line")
	f(`requirepass "abc"def`, 1, "Unbalanced quotes in configuration line")
	// Network.
	f("port abc", 1, "Invalid port")
	f("port -1", 1, "Invalid port")
	f("port 65536", 1, "Invalid port")
	f("port 55536", 1, "Invalid port: the cluster bus listens on port+10000, so port must be 55535 or less (or 0)")
	f("port 65535", 1, "Invalid port: the cluster bus listens on port+10000, so port must be 55535 or less (or 0)")
	f("bind "+strings.Repeat("a ", 17), 1, "Too many bind addresses specified")
	f(`bind 127.0.0.1 ""`, 1, "Invalid bind address")
	f(`bind "a b"`, 1, "Invalid bind address")
	f("tcp-backlog -1", 1, "Invalid backlog value")
	f("unixsocketperm 1000", 1, "Invalid socket file permissions")
	f("unixsocketperm 8", 1, "Invalid socket file permissions")
	f("unixsocketperm rwx", 1, "Invalid socket file permissions")
	f("timeout -1", 1, "Invalid timeout value")
	f("timeout 1s", 1, "Invalid timeout value")
	f("tcp-keepalive -1", 1, "Invalid tcp-keepalive value")
	f("tcp-keepalive yes", 1, "Invalid tcp-keepalive value")
	// Process and logging.
	f("daemonize yes", 1, "disq always runs in the foreground (daemonize yes is not supported); use your service manager")
	f("daemonize maybe", 1, yn)
	f("loglevel trace", 1, "Invalid log level. Must be one of debug, verbose, notice, warning")
	f("syslog-enabled 1", 1, yn)
	f("syslog-facility local8", 1, "Invalid log facility. Must be one of USER or between LOCAL0-LOCAL7")
	f("dir /nonexistent/disq-test", 1, "Can't chdir to '/nonexistent/disq-test': no such file or directory")
	f("databases 0", 1, "Invalid number of databases")
	f("hz fast", 1, notInt)
	// Security and clients.
	f("requirepass "+strings.Repeat("x", 513), 1, "Password is longer than 512 bytes")
	f("maxclients 0", 1, "Invalid max clients limit")
	f("client-output-buffer-limit slave 0 0 0", 1, "Unrecognized client limit class")
	f("client-output-buffer-limit pubsub 0 0 0", 1, "Unrecognized client limit class")
	f("client-output-buffer-limit normal 1xb 0 0", 1, mem)
	f("client-output-buffer-limit normal 0 -1 0", 1, mem)
	f("client-output-buffer-limit normal 0 0 -1", 1, "Negative number of seconds in soft limit is invalid")
	f("client-output-buffer-limit normal 0 0 x", 1, notInt)
	f("client-query-buffer-limit 1000", 1, "client-query-buffer-limit must be 1mb or greater")
	f("client-query-buffer-limit lots", 1, mem)
	f("proto-max-bulk-len 1k", 1, "proto-max-bulk-len must be 1mb or greater")
	// Memory.
	f("maxmemory 0", 1, "You need to specify a memory limit greater than zero")
	f("maxmemory -1", 1, mem)
	f("maxmemory 1tb", 1, mem)
	f("maxmemory 1.5gb", 1, mem)
	f("maxmemory gb", 1, mem)
	f("maxmemory-policy allkeys-lru", 1, "Invalid maxmemory policy")
	f("maxmemory-samples 0", 1, "maxmemory-samples must be 1 or greater")
	f("maxmemory-samples x", 1, notInt)
	f("activerehashing on", 1, yn)
	// AOF.
	f("appendonly true", 1, yn)
	f("appendfilename dir/disque.aof", 1, "appendfilename can't be a path, just a filename")
	f("appendfilename /tmp/disque.aof", 1, "appendfilename can't be a path, just a filename")
	f("appendfilename ''", 1, "appendfilename can't be a path, just a filename")
	f("appendfsync sometimes", 1, "argument must be 'no', 'always' or 'everysec'")
	f("no-appendfsync-on-rewrite x", 1, yn)
	f("auto-aof-rewrite-percentage -1", 1, "Invalid negative percentage for AOF auto rewrite")
	f("auto-aof-rewrite-min-size 64x", 1, mem)
	f("aof-rewrite-incremental-fsync x", 1, yn)
	f("aof-load-truncated x", 1, yn)
	f("aof-enqueue-jobs-once x", 1, yn)
	f("aof-compression zstd", 1, "aof-compression must be 's2' or 'none'")
	// Cluster.
	f("cluster-config-file ''", 1, "argument can't be empty")
	f("cluster-node-timeout 0", 1, "cluster node timeout must be 1 or greater")
	f("cluster-node-timeout x", 1, notInt)
	f("repl-compression lz4", 1, "repl-compression must be 's2' or 'none'")
	// Diagnostics.
	f("slowlog-log-slower-than x", 1, notInt)
	f("slowlog-max-len -1", 1, "slowlog-max-len can't be negative")
	f("latency-monitor-threshold -1", 1, "The latency threshold can't be negative")
	// Extensions.
	f("shards -1", 1, "shards must be between 0 and 4096 (0 = GOMAXPROCS)")
	f("shards 4097", 1, "shards must be between 0 and 4096 (0 = GOMAXPROCS)")
	f("event-loops -1", 1, "event-loops must be between 0 and 1024 (0 = auto)")
	f("admin-port 65536", 1, "Invalid admin-port")
	f("admin-bind ''", 1, "Invalid admin-bind address")
}

func TestFatalErrorRendering(t *testing.T) {
	f := func(text, want string) {
		t.Helper()
		err := ParseText(text, Default())
		if err == nil {
			t.Fatalf("ParseText(%q): got nil; want an error", text)
		}
		if got := err.Error(); got != want {
			t.Errorf("ParseText(%q):\ngot  %q\nwant %q", text, got, want)
		}
	}
	f("port 7711\n  port abc  \n", "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line 2\n>>> 'port abc'\nInvalid port")
	f("# disq\n\nfoo bar", "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line 3\n>>> 'foo bar'\nBad directive or wrong number of arguments")
	f("daemonize yes", "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line 1\n>>> 'daemonize yes'\n"+
		"disq always runs in the foreground (daemonize yes is not supported); use your service manager")
	f(`requirepass "x`, "\n*** FATAL CONFIG FILE ERROR ***\nReading the configuration file, at line 1\n>>> 'requirepass \"x'\nUnbalanced quotes in configuration line")
}

func TestInclude(t *testing.T) {
	tmp := t.TempDir()
	a := filepath.Join(tmp, "a.conf")
	b := filepath.Join(tmp, "b.conf")
	writeFile(t, a, "port 1000\nmaxclients 5\n")
	writeFile(t, b, "# b\ninclude "+a+"\nport 2000\n")

	// The include takes effect where it is: later lines win.
	c := mustParse(t, "port 3000\ninclude "+b+"\nhz 20")
	if c.Port != 2000 || c.MaxClients != 5 || c.Hz != 20 {
		t.Fatalf("include: got port %d maxclients %d hz %d; want 2000 5 20", c.Port, c.MaxClients, c.Hz)
	}
	c = mustParse(t, "include "+b+"\nport 3000")
	if c.Port != 3000 {
		t.Fatalf("include: got port %d; want 3000", c.Port)
	}

	// Relative paths are relative to the working directory, i.e. the
	// current dir directive.
	c = mustParse(t, "dir "+tmp+"\ninclude a.conf")
	if c.Port != 1000 {
		t.Fatalf("relative include: got port %d; want 1000", c.Port)
	}

	// An error in an included file reports that file's line.
	bad := filepath.Join(tmp, "bad.conf")
	writeFile(t, bad, "port 1\nport x\n")
	err := ParseText("# main\ninclude "+bad, Default())
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Line != 2 || fe.Text != "port x" || fe.Reason != "Invalid port" {
		t.Fatalf("error in include: got %v; want line 2 'port x' Invalid port", err)
	}

	// Missing file.
	missing := filepath.Join(tmp, "missing.conf")
	err = ParseText("include "+missing, Default())
	if !errors.As(err, &fe) || fe.Line != 1 || fe.Reason != "Fatal error, can't open config file '"+missing+"': no such file or directory" {
		t.Fatalf("missing include: got %#v", err)
	}
}

func TestIncludeCycle(t *testing.T) {
	tmp := t.TempDir()
	a := filepath.Join(tmp, "a.conf")
	b := filepath.Join(tmp, "b.conf")
	writeFile(t, a, "dir "+tmp+"\nport 1\ninclude b.conf\n")
	writeFile(t, b, "# b\n\ninclude a.conf\n")
	f := func(args []string, line int, text string) {
		t.Helper()
		_, err := Load(args, nil)
		var fe *FatalError
		if !errors.As(err, &fe) {
			t.Fatalf("Load(%q): got %v; want a *FatalError", args, err)
		}
		if fe.Line != line || fe.Text != text || !strings.HasPrefix(fe.Reason, "Include cycle: ") {
			t.Fatalf("Load(%q): got line %d %q %q; want line %d %q Include cycle", args, fe.Line, fe.Text, fe.Reason, line, text)
		}
	}
	// a.conf -> b.conf -> a.conf, relative to dir.
	f([]string{a}, 3, "include a.conf")
	// A file including itself.
	self := filepath.Join(tmp, "self.conf")
	writeFile(t, self, "include "+self+"\n")
	f([]string{self}, 1, "include "+self)
	// Through a symlink.
	link := filepath.Join(tmp, "link.conf")
	if err := os.Symlink(self, link); err == nil {
		f([]string{link}, 1, "include "+self)
	}
	// Including the same file twice is not a cycle.
	twice := filepath.Join(tmp, "twice.conf")
	p := filepath.Join(tmp, "p.conf")
	writeFile(t, p, "hz 42\n")
	writeFile(t, twice, "include "+p+"\ninclude "+p+"\n")
	if _, err := Load([]string{twice}, nil); err != nil {
		t.Fatalf("including a file twice: %v", err)
	}
}

func TestLoadCommandLine(t *testing.T) {
	tmp := t.TempDir()
	path := filepath.Join(tmp, "disq.conf")
	writeFile(t, path, "port 7000\nbind 10.0.0.1\nloglevel debug\n")

	c, err := Load([]string{path, "--port", "7777", "--bind", "127.0.0.1", "::1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 7777 || !reflect.DeepEqual(c.Bind, []string{"127.0.0.1", "::1"}) || c.LogLevel != LogDebug {
		t.Fatalf("got port %d bind %q loglevel %s; want 7777 [127.0.0.1 ::1] debug", c.Port, c.Bind, c.LogLevel)
	}
	if c.ConfigFile != path {
		t.Fatalf("ConfigFile: got %q; want %q", c.ConfigFile, path)
	}

	// Options only; values needing quotes survive; names are case-insensitive.
	c, err = Load([]string{"--requirepass", "a b\"c'", "--LogLevel", "warning", "--logfile", ""}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RequirePass != "a b\"c'" || c.LogLevel != LogWarning || c.Logfile != "" || c.ConfigFile != "" {
		t.Fatalf("got requirepass %q loglevel %s logfile %q ConfigFile %q", c.RequirePass, c.LogLevel, c.Logfile, c.ConfigFile)
	}

	// No arguments: defaults.
	c, err = Load(nil, nil)
	if err != nil || !reflect.DeepEqual(c, Default()) {
		t.Fatalf("Load(nil): got %+v, %v; want defaults", c, err)
	}

	// Option lines continue the file's numbering (file, "\n", options).
	_, err = Load([]string{path, "--hz", "10", "--port", "abc"}, nil)
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Line != 6 || fe.Text != "port abc" {
		t.Fatalf("got %v; want line 6 'port abc'", err)
	}
	_, err = Load([]string{"--port", "abc"}, nil)
	if !errors.As(err, &fe) || fe.Line != 2 {
		t.Fatalf("got %v; want line 2", err)
	}
	// A stray value becomes a bad line.
	_, err = Load([]string{path, "extra"}, nil)
	if !errors.As(err, &fe) || fe.Reason != "Bad directive or wrong number of arguments" || fe.Text != "extra" {
		t.Fatalf("got %v; want a bad directive 'extra'", err)
	}
	// Wrong number of values.
	_, err = Load([]string{"--port", "1", "2"}, nil)
	if !errors.As(err, &fe) || fe.Reason != "Bad directive or wrong number of arguments" {
		t.Fatalf("got %v; want a bad directive", err)
	}
	// A relative config file path is made absolute.
	wd, _ := os.Getwd()
	rel, err := filepath.Rel(wd, path)
	if err == nil {
		c, err = Load([]string{rel}, nil)
		if err != nil || c.ConfigFile != path {
			t.Fatalf("relative path: got %q, %v; want %q", c.ConfigFile, err, path)
		}
	}
}

func TestLoadStdin(t *testing.T) {
	c, err := Load([]string{"-", "--maxclients", "7"}, strings.NewReader("port 1234\nmaxclients 3"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 1234 || c.MaxClients != 7 || c.ConfigFile != "" {
		t.Fatalf("got port %d maxclients %d ConfigFile %q; want 1234 7 \"\"", c.Port, c.MaxClients, c.ConfigFile)
	}
	_, err = Load([]string{"-"}, nil)
	var oe *OpenError
	if !errors.As(err, &oe) {
		t.Fatalf("nil stdin: got %v; want an *OpenError", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.conf")
	_, err := Load([]string{path}, nil)
	want := "Fatal error, can't open config file '" + path + "': no such file or directory"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v; want %q", err, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("errors.Is(%v, fs.ErrNotExist) = false; want true", err)
	}
}

func TestRenameCommand(t *testing.T) {
	c := mustParse(t, "rename-command config \"\"\nrename-command DEBUG dbg\nrename-command flushall x\nrename-command FLUSHALL y\n")
	want := map[string]string{"CONFIG": "", "DEBUG": "dbg", "FLUSHALL": "y"}
	if !reflect.DeepEqual(c.RenameCommands, want) {
		t.Fatalf("got %v; want %v", c.RenameCommands, want)
	}
	// A chain renames the original command.
	c = mustParse(t, "rename-command GET foo\nrename-command FOO bar")
	if want := map[string]string{"GET": "bar"}; !reflect.DeepEqual(c.RenameCommands, want) {
		t.Fatalf("chain: got %v; want %v", c.RenameCommands, want)
	}
}

func TestCheckRenames(t *testing.T) {
	commands := map[string]bool{"ping": true, "config": true, "debug": true, "info": true}
	isCommand := func(n string) bool { return commands[n] }
	f := func(text string, line int, reason string) {
		t.Helper()
		c := mustParse(t, text)
		err := c.CheckRenames(isCommand)
		if reason == "" {
			if err != nil {
				t.Fatalf("CheckRenames(%q): unexpected error %v", text, err)
			}
			return
		}
		var fe *FatalError
		if !errors.As(err, &fe) || fe.Line != line || fe.Reason != reason {
			t.Fatalf("CheckRenames(%q): got %v; want line %d %q", text, err, line, reason)
		}
	}
	f("rename-command config ''\nrename-command DEBUG dbg", 0, "")
	f("rename-command config info\nrename-command info config", 0, "") // swap
	f("port 1\nrename-command nosuch x", 2, "No such command in rename-command")
	f("rename-command config ping", 1, "Target command name already exists")
	f("rename-command config x\nrename-command debug X", 2, "Target command name already exists")
}
