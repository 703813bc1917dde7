// Package proc runs server processes on loopback for the tests
// (internal/testserver) and for disq-bench compare: a free port pair, a
// process whose exit is watched, stopped with SIGTERM then SIGKILL, and a
// wait until it answers PING.
package proc

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FreePort returns a loopback port in [12000, 22768) that is free, with
// port+10000 free too (the Disque cluster bus port). Both stay below
// Linux's ephemeral range (32768-60999 by default): a port picked there
// can be taken by some client socket's local end between this check and
// the server's bind (it happened in CI: "bind: address already in use").
func FreePort() (int, error) {
	for range 500 {
		p := 12000 + rand.IntN(10768)
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

// Up reports whether a server answers PING at addr: +PONG, or -NOAUTH from
// a server with a password (it is up either way).
func Up(addr string) bool {
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
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// Proc is a started process. The methods of a nil *Proc (a process that
// never started) do nothing: it has not exited, Stop and Kill return.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
}

// Start starts cmd and watches for its exit.
func Start(cmd *exec.Cmd) (*Proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Exited reports whether the process has ended (then Cmd.ProcessState is
// set).
func (p *Proc) Exited() bool {
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the process to exit and reports whether it did.
func (p *Proc) Wait(d time.Duration) bool {
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Stop sends SIGTERM and waits (SIGKILL after 10 s).
func (p *Proc) Stop() {
	if p == nil || p.Exited() {
		return
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	if !p.Wait(10 * time.Second) {
		p.Kill()
	}
}

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() {
	if p == nil {
		return
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// The errors of WaitUp besides ctx's.
var (
	ErrExited  = errors.New("exited")
	ErrNoReply = errors.New("did not answer PING")
)

// WaitUp polls addr with PING every 20 ms until the server is Up (nil), the
// process exits (ErrExited), ctx ends (its error) or d passes (ErrNoReply).
// It leaves the process running.
func (p *Proc) WaitUp(ctx context.Context, addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return ErrExited
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if Up(addr) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ErrNoReply
}
