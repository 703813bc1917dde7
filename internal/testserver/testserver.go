// Package testserver starts real disq-server processes for integration
// tests: it builds the binary once per test process (with -race when the
// tests run with -race), picks a free port below 55535 whose bus port
// (+10000) is free too, starts the server on 127.0.0.1 and waits until it
// answers PING.
package testserver

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"disq/internal/proc"
)

// MainParallel runs the tests of a package whose tests mostly wait on
// real servers and timers, not on the CPU: it raises the default
// -parallel to n (an explicit -test.parallel wins). Call it from TestMain.
func MainParallel(m *testing.M, n int) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(n))
	}
	os.Exit(m.Run())
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the path of a disq-server binary built from this module.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "disq-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "disq-server")
		args := []string{"build", "-o", binPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "disq/cmd/disq-server")
		cmd := exec.Command("go", args...)
		cmd.Dir = moduleRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build disq-server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Server is a running disq-server process.
type Server struct {
	t     testing.TB
	Port  int
	Addr  string // 127.0.0.1:port
	Dir   string
	args  []string
	stdin string // fed to every start when not empty
	p     *proc.Proc
	log   *lockedBuffer
}

// FreePort returns a port in [12000, 22768) that is free, with port+10000
// free too (both below the ephemeral port range, see proc.FreePort).
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := proc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Start starts a server with extra directives ("--name", "value", ...),
// in a fresh temporary directory. It is stopped when the test ends.
func Start(t testing.TB, directives ...string) *Server {
	t.Helper()
	return StartIn(t, t.TempDir(), directives...)
}

// StartIn starts a server working in dir.
func StartIn(t testing.TB, dir string, directives ...string) *Server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		s := &Server{t: t, Dir: dir, Port: FreePort(t)}
		s.Addr = "127.0.0.1:" + strconv.Itoa(s.Port)
		s.args = withTestDefaults(append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--dir", dir}, directives...))
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("cannot start disq-server: %v", lastErr)
	return nil
}

// command returns the disq-server command for args in dir, its output to
// out and stdin (when not empty) as its standard input.
func command(t testing.TB, dir string, out *lockedBuffer, stdin string, args []string) *exec.Cmd {
	cmd := exec.Command(Binary(t), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd
}

// start starts the process and waits until it answers PING (+PONG, or
// -NOAUTH when it has a password).
func (s *Server) start() error {
	s.log = &lockedBuffer{}
	p, err := proc.Start(command(s.t, s.Dir, s.log, s.stdin, s.args))
	s.p = p
	if err != nil {
		return err
	}
	if err := p.WaitUp(context.Background(), s.Addr, 20*time.Second); err != nil {
		p.Kill()
		return fmt.Errorf("server %w: %s", err, s.log.String())
	}
	return nil
}

// Restart stops the server (SIGTERM) and starts it again with the same
// port, directory and directives.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart: %v", err)
	}
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s).
func (s *Server) Stop() { s.p.Stop() }

// Kill sends SIGKILL and waits.
func (s *Server) Kill() { s.p.Kill() }

// Exited reports whether the process has ended.
func (s *Server) Exited() bool { return s.p.Exited() }

// Pid returns the process ID.
func (s *Server) Pid() int { return s.p.Cmd.Process.Pid }

// Log returns everything the server printed so far.
func (s *Server) Log() string { return s.log.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
