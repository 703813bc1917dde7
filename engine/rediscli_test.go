package engine_test

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
)

// TestRedisCLI drives the server with the stock redis-cli, as a user would.
func TestRedisCLI(t *testing.T) {
	t.Parallel()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not on PATH (apt-get install redis-tools); skipping the redis-cli test")
	}
	srv := startServer(t, 2)
	port := strconv.Itoa(srv.Port)
	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-h", "127.0.0.1", "-p", port}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("redis-cli %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
		}
		return out.String()
	}

	// Raw output (stdout is not a terminal): one line per element.
	id := strings.TrimSpace(run("", "ADDJOB", "cli-q", "hello world", "0"))
	if !testclient.IsJobID(id) {
		t.Fatalf("redis-cli ADDJOB: got %q; want a job ID", id)
	}
	if got, want := run("", "QLEN", "cli-q"), "1\n"; got != want {
		t.Errorf("redis-cli QLEN: got %q; want %q", got, want)
	}
	if got, want := run("", "GETJOB", "FROM", "cli-q"), "cli-q\n"+id+"\nhello world\n"; got != want {
		t.Errorf("redis-cli GETJOB: got %q; want %q", got, want)
	}
	if got, want := run("", "ACKJOB", id), "1\n"; got != want {
		t.Errorf("redis-cli ACKJOB: got %q; want %q", got, want)
	}
	if got, want := run("", "SHOW", id), "\n"; got != want {
		t.Errorf("redis-cli SHOW after ACKJOB: got %q; want %q (nil)", got, want)
	}
	info := run("", "INFO")
	if !strings.HasPrefix(info, "# Server") || !strings.Contains(info, "tcp_port:"+port) ||
		!strings.Contains(info, "registered_jobs:0") {
		t.Errorf("redis-cli INFO: got %.200q...; want # Server ... tcp_port:%s ... registered_jobs:0", info, port)
	}
	if got := run("", "FOO"); !strings.Contains(got, "ERR unknown command 'FOO'") {
		t.Errorf("redis-cli FOO: got %q; want the unknown command error", got)
	}

	// Typed output: a simple string prints bare, a bulk string quoted.
	id = strings.TrimSpace(run("", "--no-raw", "ADDJOB", "cli-q", "x", "0"))
	if !testclient.IsJobID(id) {
		t.Errorf("redis-cli --no-raw ADDJOB: got %q; want a bare (simple string) job ID", id)
	}
	if got, want := run("", "--no-raw", "GETJOB", "WITHCOUNTERS", "FROM", "cli-q"),
		"1) 1) \"cli-q\"\n   2) \""+id+"\"\n   3) \"x\"\n   4) \"nacks\"\n   5) (integer) 0\n   6) \"additional-deliveries\"\n   7) (integer) 0\n"; got != want {
		t.Errorf("redis-cli --no-raw GETJOB WITHCOUNTERS: got %q; want %q", got, want)
	}
	if got, want := run("", "--no-raw", "GETJOB", "NOHANG", "FROM", "cli-q"), "(nil)\n"; got != want {
		t.Errorf("redis-cli --no-raw GETJOB NOHANG: got %q; want %q", got, want)
	}
	if got, want := run("", "--no-raw", "PING"), "PONG\n"; got != want {
		t.Errorf("redis-cli --no-raw PING: got %q; want %q", got, want)
	}

	// Commands from standard input.
	if got, want := run("PING\nQLEN cli-q\nACKJOB "+id+"\nQLEN cli-q\n"), "PONG\n0\n1\n0\n"; got != want {
		t.Errorf("redis-cli with commands on stdin: got %q; want %q", got, want)
	}
}
