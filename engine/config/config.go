package config

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// LogLevel is the value of the loglevel directive.
type LogLevel string

// The log levels, from the most to the least verbose.
const (
	LogDebug   LogLevel = "debug"
	LogVerbose LogLevel = "verbose"
	LogNotice  LogLevel = "notice"
	LogWarning LogLevel = "warning"
)

// SyslogFacility is the value of the syslog-facility directive: "user" or
// "local0" .. "local7" (always lower case).
type SyslogFacility string

// MaxmemoryPolicy is the value of the maxmemory-policy directive.
type MaxmemoryPolicy string

// The maxmemory policies.
const (
	PolicyAcks       MaxmemoryPolicy = "acks"       // evict acknowledged jobs first
	PolicyNoEviction MaxmemoryPolicy = "noeviction" // refuse writes, evict nothing
)

// FsyncPolicy is the value of the appendfsync directive.
type FsyncPolicy string

// The AOF fsync policies.
const (
	FsyncAlways   FsyncPolicy = "always"
	FsyncEverysec FsyncPolicy = "everysec"
	FsyncNo       FsyncPolicy = "no"
)

// Compression is the value of the repl-compression and aof-compression
// directives.
type Compression string

// The compression modes.
const (
	CompressionS2   Compression = "s2"
	CompressionNone Compression = "none"
)

// Limits shared with the rest of the server.
const (
	DefaultPort      = 7711  // client port
	DefaultAdminPort = 7710  // admin HTTP API port
	BusPortOffset    = 10000 // cluster bus port = port + BusPortOffset
	MaxPortWithBus   = 65535 - BusPortOffset
	MaxBindAddrs     = 16  // bind accepts at most this many addresses
	MaxPasswordLen   = 512 // requirepass, in bytes
	MinHz            = 1
	MaxHz            = 500
	MaxShards        = 4096 // shards beyond the 4096 slots would stay empty
	MaxEventLoops    = 1024
	TCPKeepaliveYes  = 300 // seconds meant by CONFIG SET tcp-keepalive yes
)

// ClientOutputBufferLimit is the output buffer limit of normal clients, the
// only client class disq has.
type ClientOutputBufferLimit struct {
	Hard    int64 // bytes; a client over this is closed at once; 0 = no hard limit
	Soft    int64 // bytes; 0 = no soft limit
	Seconds int   // seconds a client may stay over Soft before it is closed
}

// Config holds every configuration directive, typed. A *Config is treated
// as immutable once published: Set returns a modified copy, so readers can
// load the current pointer (e.g. from an atomic.Pointer) without locks.
// Relative paths (logfile, pidfile, unixsocket, tenants-file,
// appendfilename, cluster-config-file) are relative to Dir: the server
// changes to Dir before it opens anything.
type Config struct {
	// ConfigFile is the absolute path of the loaded config file; "" when
	// the configuration came from stdin or the command line only. CONFIG
	// REWRITE needs it.
	ConfigFile string

	// Network.
	Port           int         // client TCP port, 0..55535; 0 = no TCP listener; bus = Port+10000
	Bind           []string    // listen addresses, at most 16; empty = all interfaces (IPv4+IPv6)
	TCPBacklog     int         // listen(2) backlog, >= 0
	UnixSocket     string      // unix socket path; "" = none
	UnixSocketPerm fs.FileMode // unix socket permissions, <= 0777; 0 = leave the umask default
	Timeout        int64       // idle client timeout in seconds; 0 = never (blocked clients exempt)
	TCPKeepalive   int         // TCP keepalive period in seconds; 0 = off
	// RenameCommands maps an upper-case command name to its new name;
	// "" removes the command. See CheckRenames.
	RenameCommands map[string]string

	// Process and logging.
	Daemonize      bool           // always false: disq runs in the foreground
	Pidfile        string         // pid file path (see the package doc about when it is written)
	LogLevel       LogLevel       // debug, verbose, notice or warning
	Logfile        string         // log file path; "" = standard output
	SyslogEnabled  bool           // also log to syslog
	SyslogIdent    string         // syslog identity
	SyslogFacility SyslogFacility // user, local0..local7
	Dir            string         // absolute working directory; the server chdirs here
	Databases      int            // meaningless, accepted for compatibility, >= 1
	Hz             int            // background task frequency in Hz, clamped to 1..500
	WatchdogPeriod int64          // watchdog period in ms (debug; CONFIG SET only); 0 = off

	// Security and clients.
	RequirePass             string                  // client password, <= 512 bytes; "" = none
	MaxClients              int                     // maximum connected clients, >= 1
	ClientOutputBufferLimit ClientOutputBufferLimit // normal client output limits
	ClientQueryBufferLimit  int64                   // max buffered input per client in bytes, >= 1mb
	ProtoMaxBulkLen         int64                   // max bulk string length in bytes, >= 1mb

	// Memory.
	MaxMemory        int64           // memory limit in bytes; > 0 in the file; 0 (CONFIG SET only) = no limit
	MaxMemoryPolicy  MaxmemoryPolicy // acks or noeviction
	MaxMemorySamples int             // >= 1, no effect (compatibility)
	ActiveRehashing  bool            // no effect (compatibility)

	// Append only file.
	AppendOnly                 bool        // AOF enabled
	AppendFilename             string      // AOF file name inside Dir, never a path
	AppendFsync                FsyncPolicy // always, everysec or no
	NoAppendfsyncOnRewrite     bool        // skip fsync while a rewrite runs
	AutoAOFRewritePercentage   int         // growth percentage that triggers a rewrite; 0 = off
	AutoAOFRewriteMinSize      int64       // minimum AOF size in bytes before auto rewrite
	AOFRewriteIncrementalFsync bool        // fsync every 32 MB while rewriting
	AOFLoadTruncated           bool        // load a truncated AOF instead of refusing to start
	AOFEnqueueJobsOnce         bool        // requeue loaded jobs once, then reset to false
	AOFCompression             Compression // s2 or none

	// Cluster.
	ClusterConfigFile  string      // cluster state file, one per node
	ClusterNodeTimeout int64       // node timeout in ms, >= 1
	ReplCompression    Compression // peer link compression: s2 or none

	// Diagnostics.
	SlowlogLogSlowerThan    int64 // microseconds; negative = slow log off
	SlowlogMaxLen           int64 // slow log entries kept, >= 0
	LatencyMonitorThreshold int64 // ms; 0 = latency monitor off

	// disq extensions.
	Shards      int    // shard goroutines, 0..4096; 0 = GOMAXPROCS
	EventLoops  int    // network event loops, 0..1024; 0 = auto (GOMAXPROCS/2, at least 1)
	AdminBind   string // admin HTTP API listen address
	AdminPort   int    // admin HTTP API port, 0..65535 (default 7710); 0 = admin API disabled
	AdminToken  string // admin API bearer token; secret: never returned by CONFIG GET
	TenantsFile string // tenants definition file; "" = only the built-in default tenant

	// renameAt remembers where each rename-command came from, for
	// CheckRenames.
	renameAt map[string]lineRef
}

// lineRef is the location of a config line, for errors reported after
// parsing.
type lineRef struct {
	line int
	text string
	to   string
}

// Default returns a configuration with every directive at its default.
// Dir is the process working directory (absolute).
func Default() *Config {
	dir, err := os.Getwd()
	if err != nil {
		dir, _ = filepath.Abs(".")
	}
	return &Config{
		Port:           DefaultPort,
		TCPBacklog:     511,
		Timeout:        0,
		TCPKeepalive:   0,
		RenameCommands: map[string]string{},

		Pidfile:        "/var/run/disque.pid",
		LogLevel:       LogNotice,
		SyslogIdent:    "disque",
		SyslogFacility: "local0",
		Dir:            dir,
		Databases:      16,
		Hz:             10,

		MaxClients:              10000,
		ClientOutputBufferLimit: ClientOutputBufferLimit{Hard: 256 << 20, Soft: 64 << 20, Seconds: 60},
		ClientQueryBufferLimit:  1 << 30,
		ProtoMaxBulkLen:         512 << 20,

		MaxMemory:        1 << 30,
		MaxMemoryPolicy:  PolicyAcks,
		MaxMemorySamples: 5,
		ActiveRehashing:  true,

		AppendFilename:             "disque.aof",
		AppendFsync:                FsyncEverysec,
		AutoAOFRewritePercentage:   100,
		AutoAOFRewriteMinSize:      64 << 20,
		AOFRewriteIncrementalFsync: true,
		AOFLoadTruncated:           true,
		AOFCompression:             CompressionNone,

		ClusterConfigFile:  "nodes.conf",
		ClusterNodeTimeout: 15000,
		ReplCompression:    CompressionS2,

		SlowlogLogSlowerThan: 10000,
		SlowlogMaxLen:        128,

		AdminBind: "127.0.0.1",
		AdminPort: DefaultAdminPort,
	}
}

// Clone returns a deep copy of c.
func (c *Config) Clone() *Config {
	n := *c
	n.Bind = slices.Clone(c.Bind)
	n.RenameCommands = maps.Clone(c.RenameCommands)
	if n.RenameCommands == nil {
		n.RenameCommands = map[string]string{}
	}
	n.renameAt = maps.Clone(c.renameAt)
	return &n
}
