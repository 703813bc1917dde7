package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"disq/internal/proc"
)

// Server is a server process started by compare (or a test) on loopback.
type Server struct {
	Name string // "disq" or "redis"
	Port int
	Addr string
	Dir  string
	p    *proc.Proc
	log  *os.File
}

// StartDisq starts disq-server on a free loopback port, working and
// logging in dir, with maxmemory and extra directives.
func StartDisq(ctx context.Context, bin, dir, maxmemory string, extra []string) (*Server, error) {
	return startServer(ctx, "disq", bin, dir, func(port int) []string {
		// No admin API listener: its fixed default port would collide
		// with other servers on the machine (extra can turn it back on).
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--appendonly", "no", "--admin-port", "0"}
		if maxmemory != "" {
			args = append(args, "--maxmemory", maxmemory)
		}
		return append(args, extra...)
	})
}

// StartRedis starts redis-server on a free loopback port with maxmemory,
// no persistence (save "", appendonly no) and extra arguments.
func StartRedis(ctx context.Context, bin, dir, maxmemory string, extra []string) (*Server, error) {
	return startServer(ctx, "redis", bin, dir, func(port int) []string {
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"}
		if maxmemory != "" {
			args = append(args, "--maxmemory", maxmemory)
		}
		return append(args, extra...)
	})
}

func startServer(ctx context.Context, name, bin, dir string, args func(port int) []string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		// Free with port+10000 too (the Disque bus port), as decision 11 asks.
		port, err := proc.FreePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Name: name, Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir}
		if lastErr = s.start(ctx, bin, args(port)); lastErr == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("cannot start %s: %w", name, lastErr)
}

func (s *Server) start(ctx context.Context, bin string, args []string) error {
	f, err := os.Create(filepath.Join(s.Dir, s.Name+".log"))
	if err != nil {
		return err
	}
	s.log = f
	cmd := exec.Command(bin, args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = f, f
	// The kernel kills the server if this process dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if s.p, err = proc.Start(cmd); err != nil {
		f.Close()
		return err
	}
	// Up at PING: +PONG, or -NOAUTH from a server with a password.
	if err := s.p.WaitUp(ctx, s.Addr, 20*time.Second); err != nil {
		s.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s %w: %s", s.Name, err, s.LogTail(10))
	}
	return nil
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s). It is safe to call
// more than once.
func (s *Server) Stop() {
	if s == nil || s.p == nil {
		return
	}
	s.p.Stop()
	if s.log != nil {
		s.log.Close()
	}
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool { return s.p.Exited() }

// LogTail returns the last n lines the server logged.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, s.Name+".log"))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Version runs `bin --version` and returns its first line.
func Version(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if f := strings.Fields(line); len(f) > 3 && f[0] == "Redis" && f[1] == "server" {
		line = strings.Join(f[:3], " ") // "Redis server v=7.0.15"
	}
	return line
}
