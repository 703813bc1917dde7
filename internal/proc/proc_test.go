package proc

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// answer serves one line per connection: reply to whatever is sent.
func answer(t *testing.T, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = bufio.NewReader(c).ReadString('\n')
			_, _ = c.Write([]byte(reply))
			_ = c.Close()
		}
	}()
	return l.Addr().String()
}

func TestUp(t *testing.T) {
	for reply, want := range map[string]bool{
		"+PONG\r\n": true, "-NOAUTH Authentication required.\r\n": true, "-ERR unknown command\r\n": false,
	} {
		if got := Up(answer(t, reply)); got != want {
			t.Errorf("Up with a server replying %q: %v; want %v", reply, got, want)
		}
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if Up("127.0.0.1:" + strconv.Itoa(port)) {
		t.Errorf("Up on the free port %d: true; want false", port)
	}
}

func TestWaitUpAndStop(t *testing.T) {
	p, err := Start(exec.Command("sleep", "60"))
	if err != nil {
		t.Skip("no sleep command:", err)
	}
	if err := p.WaitUp(context.Background(), answer(t, "+PONG\r\n"), 5*time.Second); err != nil {
		t.Fatalf("WaitUp with a server answering: %v", err)
	}
	port, _ := FreePort()
	if err := p.WaitUp(context.Background(), "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond); !errors.Is(err, ErrNoReply) {
		t.Fatalf("WaitUp with nothing listening: %v; want ErrNoReply", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.WaitUp(ctx, "127.0.0.1:"+strconv.Itoa(port), 5*time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitUp with a cancelled context: %v; want context.Canceled", err)
	}
	if p.Exited() || p.Wait(10*time.Millisecond) {
		t.Fatal("sleep 60 exited already")
	}
	p.Stop()
	if !p.Exited() {
		t.Fatal("not exited after Stop")
	}
	if err := p.WaitUp(context.Background(), "127.0.0.1:"+strconv.Itoa(port), 5*time.Second); !errors.Is(err, ErrExited) {
		t.Fatalf("WaitUp after the exit: %v; want ErrExited", err)
	}
	p.Stop() // again: nothing to do
	p.Kill()
	var none *Proc
	none.Stop()
	none.Kill()
	if none.Exited() || none.Wait(0) {
		t.Fatal("a nil Proc reports an exit")
	}
}
