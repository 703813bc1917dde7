package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a server process started by compare (or a test) on loopback.
type Server struct {
	Name string // "disq" or "redis"
	Port int
	Addr string
	Dir  string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

// FreePort returns a loopback port in [20000, 45000) that is free, with
// port+10000 free too (the Disque bus port), as decision 11 asks.
func FreePort() (int, error) {
	for range 500 {
		p := 20000 + rand.IntN(25000)
		if portFree(p) && portFree(p+10000) {
			return p, nil
		}
	}
	return 0, errors.New("no free port pair found")
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
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
		port, err := FreePort()
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
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = s.Dir
	s.cmd.Stdout, s.cmd.Stderr = f, f
	// The kernel kills the server if this process dies without stopping it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		f.Close()
		return err
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited: %s", s.Name, s.LogTail(10))
		case <-ctx.Done():
			s.Stop()
			return ctx.Err()
		default:
		}
		if pingOK(s.Addr) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("%s did not answer PING: %s", s.Name, s.LogTail(10))
}

func pingOK(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	// +PONG, or -NOAUTH from a server with a password: it is up either way.
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s). It is safe to call
// more than once.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	}
	if s.log != nil {
		s.log.Close()
	}
}

// Exited reports whether the process has ended.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

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
