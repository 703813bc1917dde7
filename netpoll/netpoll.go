package netpoll

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

// Handler receives connection events. All methods run on the connection's
// event loop.
type Handler interface {
	// Open is called for a new connection. reply, if non-nil, is written
	// first; close asks to close the connection after it.
	Open(c Conn) (reply []byte, close bool)
	// Traffic is called when input is buffered (or after Wake). The handler
	// consumes a prefix of in and returns its length; the rest stays
	// buffered. close closes the connection after pending writes.
	Traffic(c Conn, in []byte) (consumed int, close bool)
	// Closed is called once when the connection is gone.
	Closed(c Conn, err error)
}

// Conn is one client connection.
type Conn interface {
	// Write queues p for the peer (loop only). It tries one write(2) when
	// nothing is pending and buffers the rest; p may be reused at return.
	Write(p []byte)
	// InboundBuffered returns the bytes received and not consumed (loop only).
	InboundBuffered() int
	// OutboundBuffered returns the bytes queued and not yet sent (loop only).
	OutboundBuffered() int
	// RemoteAddr returns "ip:port" of the peer, or "unix:<path>" (stable).
	RemoteAddr() string
	// LocalAddr returns the local address the connection arrived on (stable).
	LocalAddr() string
	// Fd returns the socket's descriptor number (for CLIENT LIST).
	Fd() int
	// Context and SetContext hold the handler's per-connection state (loop only).
	Context() any
	SetContext(v any)
	// Loop returns the connection's event loop (safe anywhere).
	Loop() Loop
	// Wake makes the loop call Traffic again with the buffered input (safe anywhere).
	Wake() error
	// Close closes the connection after pending writes (safe anywhere).
	Close() error
}

// Loop is an event loop.
type Loop interface {
	// Execute runs r on the loop after the I/O events it is handling.
	// Safe anywhere. Passing the same pointer every time costs no
	// allocation.
	Execute(r Runnable) error
	// ExecuteFunc is Execute for a plain function (it allocates).
	ExecuteFunc(fn func()) error
	// Index is the loop's number, stable for the server's life.
	Index() int
}

// Runnable is a task for Loop.Execute. (It has the shape of gnet's
// Runnable, so it is handed to gnet as is.)
type Runnable interface {
	Run(ctx context.Context) error
}

// Options configure Serve.
type Options struct {
	Addrs         []string      // listen addresses: "tcp://host:port" or "unix:///path"
	Loops         int           // event loops (0 = GOMAXPROCS)
	ReadBufferCap int           // bytes read per read(2); 0 = 64 KiB
	KeepAlive     time.Duration // TCP keepalive period, 0 = off
	Logger        *slog.Logger
}

// Server is a running transport.
type Server struct {
	h       Handler
	opts    Options
	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
	mu      sync.Mutex
	loops   map[gnet.EventLoop]*loop
	nloops  int
	stopped bool
}

// Serve starts listening and returns once the listeners are up, or the error
// that prevented it (an address in use fails loudly: SO_REUSEPORT is off).
func Serve(h Handler, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{h: h, opts: opts, booted: make(chan struct{}), done: make(chan error, 1),
		loops: make(map[gnet.EventLoop]*loop)}
	gopts := []gnet.Option{
		gnet.WithReusePort(false),
		gnet.WithReuseAddr(true), // rebind right after a crash (TIME_WAIT)
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(slogAdapter{opts.Logger}),
		gnet.WithLoadBalancing(gnet.LeastConnections),
	}
	if opts.Loops > 0 {
		gopts = append(gopts, gnet.WithNumEventLoop(opts.Loops))
	} else {
		gopts = append(gopts, gnet.WithMulticore(true))
	}
	if opts.ReadBufferCap > 0 {
		gopts = append(gopts, gnet.WithReadBufferCap(opts.ReadBufferCap))
	}
	if opts.KeepAlive > 0 {
		gopts = append(gopts, gnet.WithTCPKeepAlive(opts.KeepAlive))
	}
	go func() {
		var err error
		if len(opts.Addrs) == 1 {
			err = gnet.Run(s, opts.Addrs[0], gopts...)
		} else {
			err = gnet.Rotate(s, opts.Addrs, gopts...)
		}
		s.done <- err
	}()
	select {
	case <-s.booted:
		return s, nil
	case err := <-s.done:
		if err == nil {
			err = fmt.Errorf("netpoll: engine stopped before it started")
		}
		return nil, err
	}
}

// Stop closes the listeners and all connections and waits for the engine.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	err := s.eng.Stop(ctx)
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	return err
}

// Connections returns the number of open connections.
func (s *Server) Connections() int { return s.eng.CountConnections() }

// ---- gnet.EventHandler ---------------------------------------------------

func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

func (s *Server) OnShutdown(gnet.Engine) {}

func (s *Server) OnTick() (time.Duration, gnet.Action) { return time.Hour, gnet.None }

func (s *Server) loopOf(el gnet.EventLoop) *loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.loops[el]
	if l == nil {
		l = &loop{el: el, idx: s.nloops}
		s.nloops++
		s.loops[el] = l
	}
	return l
}

func (s *Server) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	c := &conn{gc: gc, loop: s.loopOf(gc.EventLoop()), fd: gc.Fd()}
	if a := gc.RemoteAddr(); a != nil {
		c.remote = a.String()
		if a.Network() == "unix" {
			c.remote = "unix:" + gc.LocalAddr().String()
		}
	}
	if a := gc.LocalAddr(); a != nil {
		c.local = a.String()
	}
	gc.SetContext(c)
	out, closeIt := s.h.Open(c)
	if closeIt {
		return out, gnet.Close
	}
	return out, gnet.None
}

func (s *Server) OnClose(gc gnet.Conn, err error) gnet.Action {
	if c, ok := gc.Context().(*conn); ok {
		c.closed = true
		s.h.Closed(c, err)
	}
	return gnet.None
}

func (s *Server) OnTraffic(gc gnet.Conn) gnet.Action {
	c, ok := gc.Context().(*conn)
	if !ok {
		return gnet.Close
	}
	buf, _ := gc.Peek(-1)
	n, closeIt := s.h.Traffic(c, buf)
	if n > 0 {
		_, _ = gc.Discard(n) // never Discard(0): it drops everything
	}
	if closeIt {
		return gnet.Close
	}
	return gnet.None
}

// ---- Conn and Loop ---------------------------------------------------------

type conn struct {
	gc     gnet.Conn
	loop   *loop
	ctx    any
	remote string
	local  string
	fd     int
	closed bool
}

func (c *conn) Write(p []byte) {
	if !c.closed {
		_, _ = c.gc.Write(p)
	}
}
func (c *conn) InboundBuffered() int  { return c.gc.InboundBuffered() }
func (c *conn) OutboundBuffered() int { return c.gc.OutboundBuffered() }
func (c *conn) RemoteAddr() string    { return c.remote }
func (c *conn) LocalAddr() string     { return c.local }
func (c *conn) Fd() int               { return c.fd }
func (c *conn) Context() any          { return c.ctx }
func (c *conn) SetContext(v any)      { c.ctx = v }
func (c *conn) Loop() Loop            { return c.loop }
func (c *conn) Wake() error           { return c.gc.Wake(nil) }
func (c *conn) Close() error          { return c.gc.Close() }

type loop struct {
	el  gnet.EventLoop
	idx int
}

func (l *loop) Execute(r Runnable) error { return l.el.Execute(context.Background(), r) }

func (l *loop) ExecuteFunc(fn func()) error {
	return l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn()
		return nil
	}))
}

func (l *loop) Index() int { return l.idx }

// slogAdapter routes gnet's logging to slog.
type slogAdapter struct{ l *slog.Logger }

var _ logging.Logger = slogAdapter{}

func (a slogAdapter) Debugf(f string, args ...any) {
	a.l.Debug(fmt.Sprintf(f, args...), "component", "gnet")
}
func (a slogAdapter) Infof(f string, args ...any) {
	a.l.Debug(fmt.Sprintf(f, args...), "component", "gnet")
}
func (a slogAdapter) Warnf(f string, args ...any) {
	a.l.Warn(fmt.Sprintf(f, args...), "component", "gnet")
}
func (a slogAdapter) Errorf(f string, args ...any) {
	a.l.Error(fmt.Sprintf(f, args...), "component", "gnet")
}
func (a slogAdapter) Fatalf(f string, args ...any) {
	a.l.Error(fmt.Sprintf(f, args...), "component", "gnet")
}
