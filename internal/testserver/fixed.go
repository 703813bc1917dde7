package testserver

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/proc"
)

// Helpers for tests that restart servers from their own files: a server on
// a fixed port (a cluster node restarted from its directory must come back
// on the port its peers know), a server started with exact arguments (a
// config file first), a run that is expected to fail at startup, and the
// other commands of the module built once per test process.

// StartPort starts a server listening on 127.0.0.1:port and working in dir,
// with extra directives. Unlike StartIn it does not pick the port, so it
// fails (rather than retries elsewhere) when the port is taken. It is
// stopped when the test ends; Restart keeps port, directory and directives.
func StartPort(t testing.TB, dir string, port int, directives ...string) *Server {
	t.Helper()
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--admin-port", "0"}, directives...)
	return StartArgs(t, dir, port, args...)
}

// StartArgs starts a server with exactly args (typically a config file
// first; "--admin-port 0" is appended unless args mention admin-port),
// working in dir, which must make it listen on 127.0.0.1:port.
func StartArgs(t testing.TB, dir string, port int, args ...string) *Server {
	t.Helper()
	return StartArgsStdin(t, dir, port, "", args...)
}

// StartArgsStdin is StartArgs with stdin (when not empty) as the server's
// standard input, at every start (for "disq-server -", the configuration
// read from stdin).
func StartArgsStdin(t testing.TB, dir string, port int, stdin string, args ...string) *Server {
	t.Helper()
	args = withTestDefaults(args)
	s := &Server{t: t, Dir: dir, Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), args: args, stdin: stdin}
	if err := s.start(); err != nil {
		t.Fatalf("start disq-server %s: %v", strings.Join(args, " "), err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after it exited (Kill, SHUTDOWN), with the
// same port, directory and arguments. It returns the start error instead of
// failing the test (safe to call from several goroutines for different
// servers).
func (s *Server) Start() error {
	if s.p != nil && !s.Exited() {
		return errors.New("the server is still running")
	}
	return s.start()
}

// Wait waits up to d for the process to exit and reports whether it did.
func (s *Server) Wait(d time.Duration) bool { return s.p.Wait(d) }

// ExitCode returns the exit status of an exited process (-1 if killed by a
// signal or still running).
func (s *Server) ExitCode() int {
	if !s.Exited() {
		return -1
	}
	return s.p.Cmd.ProcessState.ExitCode()
}

// RunResult is the outcome of a server run expected to end by itself.
type RunResult struct {
	Output   string // stdout and stderr
	ExitCode int    // -1: killed after the timeout
	TimedOut bool   // still running after the timeout (then killed)
}

// RunExpectExit runs disq-server with args in dir and waits up to d for it
// to exit (a server refusing to start). A server still running after d is
// killed and reported as TimedOut. "--admin-port 0" is appended unless
// args mention admin-port.
func RunExpectExit(t testing.TB, dir string, d time.Duration, args ...string) RunResult {
	t.Helper()
	return RunExpectExitStdin(t, dir, d, "", args...)
}

// RunExpectExitStdin is RunExpectExit with stdin (when not empty) as the
// server's standard input.
func RunExpectExitStdin(t testing.TB, dir string, d time.Duration, stdin string, args ...string) RunResult {
	t.Helper()
	out := &lockedBuffer{}
	p, err := proc.Start(command(t, dir, out, stdin, withTestDefaults(args)))
	if err != nil {
		t.Fatalf("start disq-server: %v", err)
	}
	if !p.Wait(d) {
		p.Kill()
		return RunResult{Output: out.String(), ExitCode: -1, TimedOut: true}
	}
	return RunResult{Output: out.String(), ExitCode: p.Cmd.ProcessState.ExitCode()}
}

// withTestDefaults appends "--admin-port 0" to args unless they mention
// admin-port: the admin API's default port (7710) is one for the whole
// machine. It also appends "--event-loops 2" unless args mention
// event-loops: the default on a 2-core machine is one loop, and tests
// should keep exercising several loops sharing a shard (TryRun races).
func withTestDefaults(args []string) []string {
	joined := strings.Join(args, " ")
	out := append([]string(nil), args...)
	if !strings.Contains(joined, "admin-port") {
		out = append(out, "--admin-port", "0")
	}
	if !strings.Contains(joined, "event-loops") {
		out = append(out, "--event-loops", "2")
	}
	return out
}

var (
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
)

// Tool returns the path of the module's command disq/cmd/<name> (e.g.
// "disq-check-aof"), built once per test process (without -race).
func Tool(t testing.TB, name string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolPaths[name]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "disq-tool-")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", p, "disq/cmd/"+name)
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	toolPaths[name] = p
	return p
}
