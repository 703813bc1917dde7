// Command disq-server runs one disq node: a Disque-compatible job queue
// server (RESP on port 7711).
//
//	disq-server [configfile|-] [--directive value ...]
//	disq-server check-aof FILE [--fix]
//
// The configuration file uses Disque's format; "-" reads it from standard
// input; command-line options are applied after the file and override it.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"disq/engine"
	"disq/engine/aof"
	"disq/engine/config"
	"disq/netpoll"
	"disq/replicate"
	"disq/tenant"
)

const usage = `Usage: disq-server [configfile|-] [--directive value ...]
       disq-server check-aof FILE [--fix]

Runs one disq node: a Disque-compatible job queue server speaking RESP
(default port 7711; the cluster bus listens on port+10000).

  configfile      a Disque-style configuration file ("-" reads it from stdin)
  --<directive>   any configuration directive, applied after the file, e.g.
                    disq-server --port 7777 --bind 127.0.0.1
                    disq-server /etc/disq.conf --loglevel verbose
  --help, -h      show this help
  --version, -v   show the version
  check-aof       check (and with --fix truncate) an append-only file, as
                  disq-check-aof does

Examples:
  disq-server                               # built-in defaults, port 7711
  disq-server --bind 127.0.0.1 --port 7711  # what 'make run' starts
  echo "port 7777" | disq-server -          # configuration from stdin

disq always runs in the foreground and logs to standard output (or the
'logfile' directive) through log/slog. SIGTERM and SIGINT shut it down
cleanly. See README.md for every directive and command.

Environment: GOMAXPROCS (default: the CPU count, at least 2) caps the cores a
node uses and sets the default shard and event-loop counts; give each of
several nodes sharing a machine its share (e.g. GOMAXPROCS=1 for three
nodes on two cores). DISQ_PPROF=host:port serves net/http/pprof.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check-aof" {
		// The same tool as disq-check-aof, for installs with one binary.
		return aof.CheckCommand("disq-server check-aof", args[1:], stdout, stderr)
	}
	if len(args) == 1 {
		switch args[0] {
		case "--help", "-h", "help":
			fmt.Fprint(stdout, usage)
			return 0
		case "--version", "-v":
			fmt.Fprintf(stdout, "disq-server v=%s (Disque %s compatible)\n", engine.Version, engine.DisqueVersion)
			return 0
		}
	}
	cfg, err := config.Load(args, stdin)
	if err == nil {
		err = cfg.CheckRenames(engine.IsCommand)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if err := os.Chdir(cfg.Dir); err != nil {
		fmt.Fprintf(stderr, "Can't chdir to '%s': %v\n", cfg.Dir, err)
		return 1
	}
	var level slog.LevelVar
	level.Set(slogLevel(string(cfg.LogLevel)))
	logger, closeLog, err := newLogger(cfg, &level, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "Can't open the log file: %v\n", err)
		return 1
	}
	defer closeLog()
	slog.SetDefault(logger)
	startPprof(logger)

	shards, loops := tuneRuntime(cfg, logger)

	// The cluster bus (port+10000) and membership; the cluster config file
	// holds the node ID. Port 0 means no TCP listener: a lone node.
	var (
		cluster *replicate.Cluster
		nodeID  string
		bus     = &busRelay{}
	)
	if cfg.Port != 0 {
		bind := ""
		if len(cfg.Bind) > 0 {
			bind = cfg.Bind[0]
		}
		cluster, err = replicate.New(replicate.Options{
			Addr:        bind,
			Port:        cfg.Port,
			ConfigFile:  cfg.ClusterConfigFile,
			NodeTimeout: time.Duration(cfg.ClusterNodeTimeout) * time.Millisecond,
			Compression: cfg.ReplCompression == config.CompressionS2,
			Logger:      logger,
			Handler:     bus,
		})
		if err != nil {
			logger.Error("cannot use the cluster config file", "file", cfg.ClusterConfigFile, "err", err)
			return 1
		}
		nodeID = cluster.MyID()
	} else {
		nodeID = randomNodeID()
	}

	// Tenants (tenants-file) and the admin HTTP API.
	var engRef atomic.Pointer[engine.Engine]
	reg, err := tenant.New(tenant.Options{File: cfg.TenantsFile, Logger: logger,
		DefaultPassword: func() string {
			if e := engRef.Load(); e != nil {
				return e.Config().RequirePass
			}
			return cfg.RequirePass
		}})
	if err != nil {
		logger.Error("cannot load the tenants file", "file", cfg.TenantsFile, "err", err)
		return 1
	}

	var (
		srv      *netpoll.Server
		stopOnce sync.Once
		stopped  = make(chan struct{})
		restart  = make(chan bool, 1) // true: clean restart (config rewrite first)
	)
	if writePid := cfg.Pidfile != "" && cfg.Pidfile != config.Default().Pidfile; writePid {
		// Disque writes its pidfile only when daemonized; disq never
		// daemonizes, so it writes one only when the directive asks for it.
		if err := os.WriteFile(cfg.Pidfile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			logger.Warn("cannot write the pidfile", "file", cfg.Pidfile, "err", err)
		} else {
			defer os.Remove(cfg.Pidfile)
		}
	}
	exe, _ := os.Executable()
	var eng *engine.Engine
	eng, err = engine.New(cfg, engine.Options{
		NodeID:      nodeID,
		Cluster:     cluster,
		Tenants:     reg,
		Shards:      shards,
		Logger:      logger,
		Executable:  exe,
		SetLogLevel: func(l string) { level.Set(slogLevel(l)) },
		Restart: func(delay time.Duration, clean bool) error {
			if _, err := os.Executable(); err != nil {
				return err
			}
			time.AfterFunc(delay, func() {
				select {
				case restart <- clean:
				default:
				}
			})
			return nil
		},
		Shutdown: func(rewriteAOF bool) error {
			if rewriteAOF {
				if err := eng.Shutdown(true); err != nil {
					logger.Error("SHUTDOWN REWRITE-AOF: rewrite failed", "err", err)
					return err
				}
			}
			stopOnce.Do(func() { close(stopped) })
			return nil
		},
	})
	if err != nil {
		logger.Error("cannot start", "err", err)
		if cluster != nil {
			_ = cluster.Close()
		}
		return 1
	}

	bus.set(eng)
	engRef.Store(eng)
	token := func() string { return eng.Config().AdminToken }
	admin, err := tenant.ListenAdmin(cfg.AdminBind, cfg.AdminPort, token,
		tenant.NewAdminHandler(reg, eng.AdminBackend(), token, logger), logger)
	if err != nil {
		logger.Error("cannot listen for the admin API", "bind", cfg.AdminBind, "port", cfg.AdminPort, "err", err)
		eng.Close()
		return 1
	}
	if cluster != nil {
		if err := cluster.Start(); err != nil {
			logger.Error("cannot start the cluster bus", "port", cfg.Port+config.BusPortOffset, "err", err)
			eng.Close()
			return 1
		}
	}
	addrs := listenAddrs(cfg)
	if len(addrs) == 0 {
		logger.Warn("no listener configured (port 0 and no unixsocket)")
	} else {
		srv, err = netpoll.Serve(eng.Handler(), netpoll.Options{
			Addrs:     addrs,
			Loops:     loops,
			KeepAlive: time.Duration(cfg.TCPKeepalive) * time.Second,
			Logger:    logger,
		})
		if err != nil {
			logger.Error("cannot listen", "addrs", strings.Join(addrs, ","), "err", err)
			eng.Close()
			return 1
		}
		if cfg.UnixSocket != "" && cfg.UnixSocketPerm != 0 {
			_ = os.Chmod(cfg.UnixSocket, cfg.UnixSocketPerm)
		}
	}
	logger.Info("disq-server started", "version", engine.Version, "pid", os.Getpid(),
		"port", cfg.Port, "node", nodeID, "shards", eng.Shards(), "event_loops", loops, "gomaxprocs", runtime.GOMAXPROCS(0), "dir", cfg.Dir)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	reexec := false
	select {
	case s := <-sig:
		logger.Warn("received signal, shutting down", "signal", s.String())
	case <-stopped:
	case clean := <-restart:
		reexec = true
		if cur := eng.Config(); clean && cur.ConfigFile != "" {
			if err := config.Rewrite(cur.ConfigFile, cur); err != nil {
				logger.Warn("DEBUG RESTART: config rewrite failed", "err", err)
			}
		}
		logger.Warn("DEBUG RESTART: restarting the server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv != nil {
		_ = srv.Stop(ctx)
	}
	if admin != nil {
		_ = admin.Shutdown(ctx)
	}
	if cluster != nil {
		_ = cluster.Close()
	}
	eng.Close()
	if cfg.UnixSocket != "" {
		_ = os.Remove(cfg.UnixSocket)
	}
	if reexec {
		exe, err := os.Executable()
		if err == nil {
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		logger.Error("DEBUG RESTART: exec failed", "err", err)
		return 1
	}
	logger.Info("disq-server is now ready to exit, bye bye")
	return 0
}

// listenAddrs builds gnet addresses from bind, port and unixsocket.
func listenAddrs(cfg *config.Config) []string {
	var out []string
	if cfg.Port != 0 {
		if len(cfg.Bind) == 0 {
			out = append(out, "tcp://:"+strconv.Itoa(cfg.Port))
		}
		for _, b := range cfg.Bind {
			out = append(out, "tcp://"+net.JoinHostPort(b, strconv.Itoa(cfg.Port)))
		}
	}
	if cfg.UnixSocket != "" {
		_ = os.Remove(cfg.UnixSocket)
		out = append(out, "unix://"+cfg.UnixSocket)
	}
	return out
}

func newLogger(cfg *config.Config, level *slog.LevelVar, stdout io.Writer) (*slog.Logger, func(), error) {
	w := stdout
	closeFn := func() {}
	if cfg.Logfile != "" {
		f, err := os.OpenFile(cfg.Logfile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, nil, err
		}
		w = f
		closeFn = func() { _ = f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), closeFn, nil
}

// slogLevel maps Disque's log levels to slog's.
func slogLevel(l string) slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "verbose":
		return slog.LevelDebug + 2
	case "warning":
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// randomNodeID returns a fresh node ID for a node without a cluster bus.
func randomNodeID() string {
	var raw [20]byte
	_, _ = rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}

// busRelay hands bus messages to the engine once it exists (the cluster is
// created first, since it knows the node ID).
type busRelay struct{ e atomic.Pointer[engine.Engine] }

func (b *busRelay) set(e *engine.Engine) { b.e.Store(e) }

func (b *busRelay) OnMessages(from replicate.NodeID, msgs []replicate.Msg) {
	if e := b.e.Load(); e != nil {
		engine.BusHandler{E: e}.OnMessages(from, msgs)
	}
}

func (b *busRelay) OnMembership(v *replicate.View) {
	if e := b.e.Load(); e != nil {
		engine.BusHandler{E: e}.OnMembership(v)
	}
}

// tuneRuntime resolves the shard and event-loop counts (0 = auto: one
// shard per CPU the runtime may use, one event loop per two CPUs) and
// sizes GOMAXPROCS. On this 2-core machine, where the clients share the
// cores, one loop and two shards beat two and two on every redis-benchmark
// workload (single queue and 1,000 queues; BENCHMARKS.md): a second loop
// mostly contends for the same shard. GOMAXPROCS stays at the CPU count:
// one P more per event loop (the earlier default, meant to keep a P free
// for the shards while a loop sits in epoll_wait) put three Ps on two
// cores, and with one loop that lost about 14% of ADDJOB -P 16 and doubled
// its p99 (disq-bench, 5 interleaved rounds, BENCHMARKS.md "GOMAXPROCS").
// A lone CPU still gets two Ps, so a shard never waits for the runtime to
// retake the loop's P. An explicit GOMAXPROCS environment variable wins.
func tuneRuntime(cfg *config.Config, log *slog.Logger) (shards, loops int) {
	procs := runtime.GOMAXPROCS(0)
	shards, loops = cfg.Shards, cfg.EventLoops
	if shards <= 0 {
		shards = procs
	}
	if loops <= 0 {
		loops = max(1, procs/2)
	}
	if os.Getenv("GOMAXPROCS") == "" && procs < 2 {
		runtime.GOMAXPROCS(2)
	}
	return shards, loops
}
