package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// getOrder is the CONFIG GET order: Disque's, then the disq additions.
var getOrder = []string{
	"requirepass", "unixsocket", "logfile", "pidfile",
	"maxmemory", "maxmemory-samples", "timeout", "auto-aof-rewrite-percentage",
	"auto-aof-rewrite-min-size", "slowlog-log-slower-than", "latency-monitor-threshold",
	"slowlog-max-len", "port", "tcp-backlog", "databases", "maxclients",
	"watchdog-period", "hz", "cluster-node-timeout", "tcp-keepalive",
	"no-appendfsync-on-rewrite", "daemonize", "activerehashing",
	"aof-rewrite-incremental-fsync", "aof-load-truncated", "aof-enqueue-jobs-once",
	"maxmemory-policy", "loglevel", "appendfsync", "syslog-facility", "appendonly",
	"dir", "client-output-buffer-limit", "unixsocketperm", "bind",
	"client-query-buffer-limit", "proto-max-bulk-len", "shards", "event-loops",
	"admin-bind", "admin-port", "tenants-file", "repl-compression", "aof-compression",
}

func names(pairs []string) []string {
	out := []string{}
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, pairs[i])
	}
	return out
}

func TestGetAll(t *testing.T) {
	c := Default()
	got := c.Get("*")
	if n := names(got); !reflect.DeepEqual(n, getOrder) {
		t.Fatalf("CONFIG GET * names:\ngot  %q\nwant %q", n, getOrder)
	}
	wd, _ := os.Getwd()
	want := []string{
		"requirepass", "", "unixsocket", "", "logfile", "", "pidfile", "/var/run/disque.pid",
		"maxmemory", "1073741824", "maxmemory-samples", "5", "timeout", "0",
		"auto-aof-rewrite-percentage", "100", "auto-aof-rewrite-min-size", "67108864",
		"slowlog-log-slower-than", "10000", "latency-monitor-threshold", "0",
		"slowlog-max-len", "128", "port", "7711", "tcp-backlog", "511", "databases", "16",
		"maxclients", "10000", "watchdog-period", "0", "hz", "10",
		"cluster-node-timeout", "15000", "tcp-keepalive", "0",
		"no-appendfsync-on-rewrite", "no", "daemonize", "no", "activerehashing", "yes",
		"aof-rewrite-incremental-fsync", "yes", "aof-load-truncated", "yes",
		"aof-enqueue-jobs-once", "no", "maxmemory-policy", "acks", "loglevel", "notice",
		"appendfsync", "everysec", "syslog-facility", "local0", "appendonly", "no",
		"dir", wd, "client-output-buffer-limit", "normal 268435456 67108864 60",
		"unixsocketperm", "0", "bind", "",
		"client-query-buffer-limit", "1073741824", "proto-max-bulk-len", "536870912",
		"shards", "0", "event-loops", "0", "admin-bind", "127.0.0.1", "admin-port", "7710",
		"tenants-file", "", "repl-compression", "s2", "aof-compression", "none",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CONFIG GET *:\ngot  %q\nwant %q", got, want)
	}
	c = mustParse(t, "bind 127.0.0.1 ::1\nunixsocketperm 0700\nadmin-token secret\nrequirepass pw")
	got = c.Get("*")
	for i := 0; i < len(got); i++ {
		if strings.Contains(got[i], "admin-token") || got[i] == "secret" {
			t.Fatalf("CONFIG GET * leaks the admin token: %q", got)
		}
	}
	f := func(pattern string, want ...string) {
		t.Helper()
		if got := c.Get(pattern); !reflect.DeepEqual(got, append([]string{}, want...)) {
			t.Errorf("Get(%q): got %q; want %q", pattern, got, want)
		}
	}
	f("bind", "bind", "127.0.0.1 ::1")
	f("unixsocketperm", "unixsocketperm", "700")
	f("requirepass", "requirepass", "pw")
	f("admin-token")
	f("appendfilename")
	f("cluster-config-file")
	f("syslog-enabled")
	f("syslog-ident")
}

func TestGetPatterns(t *testing.T) {
	c := Default()
	f := func(pattern string, want ...string) {
		t.Helper()
		if got := names(c.Get(pattern)); !reflect.DeepEqual(got, append([]string{}, want...)) {
			t.Errorf("Get(%q): got %q; want %q", pattern, got, want)
		}
	}
	f("max*", "maxmemory", "maxmemory-samples", "maxclients", "maxmemory-policy")
	f("*-limit", "client-output-buffer-limit", "client-query-buffer-limit")
	f("[pm]ort", "port")
	f("port", "port")
	f("Port")
	f("nomatch")
	f("")
	f("h?", "hz")
	f("?", []string{}...)
	f("*compression", "repl-compression", "aof-compression")
	f("[^p]ort")
	f("[a-z]z", "hz")
	f("[z-a]z", "hz")
	f("hz*", "hz")
	f("*hz*", "hz")
	f("**h**z**", "hz")
	f("admin-*", "admin-bind", "admin-port")
	f("\\hz", "hz")
	f("[h]z", "hz")
	f("h[")
}

func TestGetPatternsStar(t *testing.T) {
	// "**d**i**r**" matches every name containing d, i, r in order.
	c := Default()
	for _, n := range names(c.Get("*d*i*r*")) {
		if !stringMatch("*d*i*r*", n, false) {
			t.Fatalf("Get returned %q, which does not match", n)
		}
	}
}

func TestSetSuccess(t *testing.T) {
	tmp := t.TempDir()
	f := func(name, v, getName, want string) {
		t.Helper()
		c := Default()
		n, err := c.Set(name, v)
		if err != nil {
			t.Fatalf("Set(%q, %q): unexpected error %v", name, v, err)
		}
		if got := value(n, getName); got != want {
			t.Errorf("Set(%q, %q): %s: got %q; want %q", name, v, getName, got, want)
		}
	}
	f("requirepass", "secret", "requirepass", "secret")
	f("requirepass", "", "requirepass", "")
	f("requirepass", strings.Repeat("p", 512), "requirepass", strings.Repeat("p", 512))
	f("REQUIREPASS", "x", "requirepass", "x")
	f("maxclients", "1", "maxclients", "1")
	f("maxclients", "50000", "maxclients", "50000")
	f("appendonly", "yes", "appendonly", "yes")
	f("appendonly", "NO", "appendonly", "no")
	f("dir", tmp, "dir", tmp)
	f("dir", tmp+"/.", "dir", tmp)
	f("client-output-buffer-limit", "normal 0 0 0", "client-output-buffer-limit", "normal 0 0 0")
	f("client-output-buffer-limit", "normal 1024 512 5 normal 2048 1024 6", "client-output-buffer-limit", "normal 2048 1024 6")
	f("client-output-buffer-limit", "NORMAL 1mb 1kb 1", "client-output-buffer-limit", "normal 1048576 1024 1")
	f("client-output-buffer-limit", "", "client-output-buffer-limit", "normal 268435456 67108864 60")
	for _, b := range []string{"aof-rewrite-incremental-fsync", "aof-load-truncated", "activerehashing", "aof-enqueue-jobs-once"} {
		f(b, "yes", b, "yes")
		f(b, "no", b, "no")
		f(b, "Yes", b, "yes")
	}
	f("tcp-keepalive", "60", "tcp-keepalive", "60")
	f("tcp-keepalive", "0", "tcp-keepalive", "0")
	f("tcp-keepalive", "yes", "tcp-keepalive", "300")
	f("tcp-keepalive", "NO", "tcp-keepalive", "0")
	f("maxmemory-samples", "1", "maxmemory-samples", "1")
	f("timeout", "0", "timeout", "0")
	f("timeout", "3600", "timeout", "3600")
	f("auto-aof-rewrite-percentage", "0", "auto-aof-rewrite-percentage", "0")
	f("auto-aof-rewrite-percentage", "200", "auto-aof-rewrite-percentage", "200")
	f("auto-aof-rewrite-min-size", "0", "auto-aof-rewrite-min-size", "0")
	f("auto-aof-rewrite-min-size", "1048576", "auto-aof-rewrite-min-size", "1048576")
	f("slowlog-log-slower-than", "0", "slowlog-log-slower-than", "0")
	f("slowlog-log-slower-than", "500", "slowlog-log-slower-than", "500")
	f("slowlog-max-len", "0", "slowlog-max-len", "0")
	f("slowlog-max-len", "1000", "slowlog-max-len", "1000")
	f("latency-monitor-threshold", "0", "latency-monitor-threshold", "0")
	f("latency-monitor-threshold", "100", "latency-monitor-threshold", "100")
	f("cluster-node-timeout", "3000", "cluster-node-timeout", "3000")
	f("hz", "0", "hz", "1")
	f("hz", "50", "hz", "50")
	f("hz", "1000", "hz", "500")
	f("watchdog-period", "0", "watchdog-period", "0")
	f("watchdog-period", "200", "watchdog-period", "200")
	f("maxmemory", "0", "maxmemory", "0")
	f("maxmemory", "3145728", "maxmemory", "3145728")
	f("maxmemory", "3mb", "maxmemory", "3145728")
	f("maxmemory", "1G", "maxmemory", "1000000000")
	f("maxmemory", "2GB", "maxmemory", "2147483648")
	f("loglevel", "debug", "loglevel", "debug")
	f("loglevel", "WARNING", "loglevel", "warning")
	f("maxmemory-policy", "noeviction", "maxmemory-policy", "noeviction")
	f("maxmemory-policy", "acks", "maxmemory-policy", "acks")
	f("appendfsync", "always", "appendfsync", "always")
	f("appendfsync", "no", "appendfsync", "no")
	f("appendfsync", "everysec", "appendfsync", "everysec")
	f("client-query-buffer-limit", "2mb", "client-query-buffer-limit", "2097152")
	f("client-query-buffer-limit", "1048576", "client-query-buffer-limit", "1048576")
	f("proto-max-bulk-len", "1gb", "proto-max-bulk-len", "1073741824")
	f("repl-compression", "none", "repl-compression", "none")
	f("repl-compression", "S2", "repl-compression", "s2")
	f("aof-compression", "s2", "aof-compression", "s2")
	f("admin-token", "t0ken", "admin-token", "t0ken")
	f("admin-token", "", "admin-token", "")
}

func TestSetRelativeDir(t *testing.T) {
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "dir "+tmp)
	n, err := c.Set("dir", "data")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(tmp, "data"); n.Dir != want {
		t.Fatalf("Set dir data: got %q; want %q", n.Dir, want)
	}
}

func TestSetError(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	writeFile(t, file, "x")
	f := func(name, v, want string) {
		t.Helper()
		c := Default()
		n, err := c.Set(name, v)
		if err == nil {
			t.Fatalf("Set(%q, %q): got nil error; want %q", name, v, want)
		}
		if err.Error() != want {
			t.Errorf("Set(%q, %q): got %q; want %q", name, v, err.Error(), want)
		}
		if n != nil {
			t.Errorf("Set(%q, %q): got a config with the error", name, v)
		}
	}
	bad := func(name, v string) {
		t.Helper()
		f(name, v, fmt.Sprintf("Invalid argument '%s' for CONFIG SET '%s'", v, name))
	}
	unsupported := func(name string) {
		t.Helper()
		f(name, "1", "Unsupported CONFIG parameter: "+name)
	}
	for _, n := range []string{"port", "bind", "daemonize", "databases", "unixsocket", "unixsocketperm",
		"logfile", "pidfile", "tcp-backlog", "syslog-facility", "no-appendfsync-on-rewrite",
		"appendfilename", "cluster-config-file", "syslog-enabled", "syslog-ident", "include",
		"rename-command", "shards", "event-loops", "admin-bind", "admin-port", "tenants-file",
		"nosuch", "", "Save"} {
		unsupported(n)
	}
	bad("requirepass", strings.Repeat("p", 513))
	bad("maxclients", "0")
	bad("maxclients", "-1")
	bad("maxclients", "ten")
	bad("maxclients", "+5")
	bad("maxclients", "010")
	bad("maxclients", " 5")
	bad("MaxClients", "0")
	bad("appendonly", "true")
	f("dir", filepath.Join(tmp, "missing"), "Changing directory: no such file or directory")
	f("dir", file, "Changing directory: not a directory")
	f("dir", "", "Changing directory: no such file or directory")
	bad("client-output-buffer-limit", "normal 0 0")
	bad("client-output-buffer-limit", "slave 0 0 0")
	bad("client-output-buffer-limit", "normal 0 0 -1")
	bad("client-output-buffer-limit", "normal -1 0 0")
	bad("client-output-buffer-limit", "normal x 0 0")
	bad("client-output-buffer-limit", "normal  0 0 0")
	bad("client-output-buffer-limit", "normal 0 0 0 pubsub 0 0 0")
	for _, b := range []string{"aof-rewrite-incremental-fsync", "aof-load-truncated", "activerehashing", "aof-enqueue-jobs-once"} {
		bad(b, "1")
		bad(b, "")
	}
	bad("tcp-keepalive", "-1")
	bad("tcp-keepalive", "maybe")
	bad("tcp-keepalive", "4294967296")
	bad("maxmemory-samples", "0")
	bad("timeout", "-1")
	bad("timeout", "1.5")
	bad("auto-aof-rewrite-percentage", "-1")
	bad("auto-aof-rewrite-min-size", "64mb")
	bad("auto-aof-rewrite-min-size", "-1")
	bad("slowlog-log-slower-than", "-1")
	bad("slowlog-max-len", "-1")
	bad("latency-monitor-threshold", "-1")
	// cluster-node-timeout 0 is accepted by CONFIG SET (spec 5.5: integer >= 0).
	bad("cluster-node-timeout", "-5")
	bad("hz", "-1")
	bad("hz", "x")
	bad("watchdog-period", "-1")
	bad("maxmemory", "-1")
	bad("maxmemory", "1tb")
	bad("maxmemory", "")
	bad("loglevel", "trace")
	bad("maxmemory-policy", "volatile-lru")
	bad("appendfsync", "sometimes")
	bad("client-query-buffer-limit", "1kb")
	bad("client-query-buffer-limit", "x")
	bad("proto-max-bulk-len", "1000")
	bad("repl-compression", "zstd")
	bad("aof-compression", "")
	bad("timeout", "99999999999999999999")
}

func TestSetCopy(t *testing.T) {
	c := mustParse(t, "bind 127.0.0.1\nrename-command DEBUG dbg\nport 1234")
	before := c.Clone()
	for _, kv := range [][2]string{
		{"maxclients", "5"}, {"appendonly", "yes"}, {"requirepass", "pw"},
		{"client-output-buffer-limit", "normal 1 2 3"}, {"hz", "100"}, {"dir", t.TempDir()},
		{"maxmemory", "0"}, {"admin-token", "x"}, {"tcp-keepalive", "yes"},
	} {
		n, err := c.Set(kv[0], kv[1])
		if err != nil {
			t.Fatal(err)
		}
		if n == c {
			t.Fatalf("Set(%q) returned the receiver", kv[0])
		}
		n.Bind[0] = "mutated"
		n.RenameCommands["DEBUG"] = "mutated"
		if !reflect.DeepEqual(c, before) {
			t.Fatalf("Set(%q, %q) changed the receiver: %+v", kv[0], kv[1], c)
		}
	}
	// Failed sets leave it alone too.
	if _, err := c.Set("maxclients", "0"); err == nil || !reflect.DeepEqual(c, before) {
		t.Fatalf("failed Set changed the receiver or succeeded: %v", err)
	}
}

func TestSettable(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := Settable(name); got != want {
			t.Errorf("Settable(%q): got %v; want %v", name, got, want)
		}
	}
	f("maxmemory", true)
	f("MAXMEMORY", true)
	f("admin-token", true)
	f("port", false)
	f("nosuch", false)
}

// TestConcurrentGetSet publishes copies while readers call Get: the race
// detector checks that Set never writes what readers read.
func TestConcurrentGetSet(t *testing.T) {
	var mu sync.Mutex
	cur := Default()
	load := func() *Config { mu.Lock(); defer mu.Unlock(); return cur }
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				c := load()
				if len(c.Get("*")) != 2*len(getOrder) {
					t.Error("short CONFIG GET reply")
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		n, err := load().Set("maxclients", fmt.Sprint(i+1))
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		cur = n
		mu.Unlock()
	}
	wg.Wait()
	if got := load().MaxClients; got != 200 {
		t.Fatalf("maxclients: got %d; want 200", got)
	}
}
