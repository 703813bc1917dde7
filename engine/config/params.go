package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Failure reasons shared by several directives.
const (
	reasonBadDirective = "Bad directive or wrong number of arguments"
	reasonQuotes       = "Unbalanced quotes in configuration line"
	reasonYesNo        = "argument must be 'yes' or 'no'"
	reasonNotInt       = "argument couldn't be parsed into an integer"
	reasonMemory       = "argument must be a memory value"
	reasonDaemonize    = "disq always runs in the foreground (daemonize yes is not supported); use your service manager"
)

// flag says where a parameter is accepted.
type flag uint8

const (
	fFile flag = 1 << iota // config file and command line
	fGet                   // listed by CONFIG GET
	fSet                   // accepted by CONFIG SET
	fAll  = fFile | fGet | fSet
)

// errBadValue makes Set reply "Invalid argument '<v>' for CONFIG SET '<n>'".
var errBadValue = errors.New("bad value")

// param describes one directive: how the file parser, CONFIG GET, CONFIG SET
// and CONFIG REWRITE handle it.
type param struct {
	name  string
	flags flag
	nargs int // values after the name in a file line; -1 = one or more

	// load applies the values of a file line; it returns "" or the reason
	// the line is refused.
	load func(c *Config, args []string) string
	// get renders the value for CONFIG GET.
	get func(c *Config) string
	// set applies a CONFIG SET value to c (a private copy); errBadValue
	// means the value is invalid, any other error is returned as is.
	set func(c *Config, v string) error
	// conf renders the values of the directive's file line, quoted as
	// needed; ok == false means the directive must not be in the file
	// (an unset optional string, an empty bind list).
	conf func(c *Config) (args string, ok bool)
	// always makes CONFIG REWRITE write the line even at the default.
	always bool
}

// params lists every directive except include and rename-command (handled
// by the parser): first the CONFIG GET ones in the reply's order, then the
// others. CONFIG REWRITE appends missing directives in this order too.
var params = []*param{
	stringParam("requirepass", fAll, func(c *Config) *string { return &c.RequirePass }, checkPassword, true),
	stringParam("unixsocket", fFile|fGet, func(c *Config) *string { return &c.UnixSocket }, nil, true),
	stringParam("logfile", fFile|fGet, func(c *Config) *string { return &c.Logfile }, nil, false),
	stringParam("pidfile", fFile|fGet, func(c *Config) *string { return &c.Pidfile }, nil, false),
	maxmemoryParam(),
	intParam("maxmemory-samples", fAll, func(c *Config) *int { return &c.MaxMemorySamples },
		intRule{fileMin: 1, setMin: 1, max: math.MaxInt32, rng: "maxmemory-samples must be 1 or greater"}),
	intParam("timeout", fAll, func(c *Config) *int64 { return &c.Timeout },
		intRule{max: math.MaxInt64, bad: "Invalid timeout value"}),
	intParam("auto-aof-rewrite-percentage", fAll, func(c *Config) *int { return &c.AutoAOFRewritePercentage },
		intRule{max: math.MaxInt32, rng: "Invalid negative percentage for AOF auto rewrite"}),
	memParam("auto-aof-rewrite-min-size", fAll, func(c *Config) *int64 { return &c.AutoAOFRewriteMinSize },
		memRule{plainSet: true}),
	intParam("slowlog-log-slower-than", fAll, func(c *Config) *int64 { return &c.SlowlogLogSlowerThan },
		intRule{fileMin: math.MinInt64, max: math.MaxInt64}),
	intParam("latency-monitor-threshold", fAll, func(c *Config) *int64 { return &c.LatencyMonitorThreshold },
		intRule{max: math.MaxInt64, rng: "The latency threshold can't be negative"}),
	intParam("slowlog-max-len", fAll, func(c *Config) *int64 { return &c.SlowlogMaxLen },
		intRule{max: math.MaxInt64, rng: "slowlog-max-len can't be negative"}),
	intParam("port", fFile|fGet, func(c *Config) *int { return &c.Port },
		intRule{max: 65535, bad: "Invalid port", check: checkBusPort}),
	intParam("tcp-backlog", fFile|fGet, func(c *Config) *int { return &c.TCPBacklog },
		intRule{max: math.MaxInt32, bad: "Invalid backlog value"}),
	intParam("databases", fFile|fGet, func(c *Config) *int { return &c.Databases },
		intRule{fileMin: 1, setMin: 1, max: math.MaxInt32, bad: "Invalid number of databases"}),
	intParam("maxclients", fAll, func(c *Config) *int { return &c.MaxClients },
		intRule{fileMin: 1, setMin: 1, max: math.MaxInt32, bad: "Invalid max clients limit"}),
	intParam("watchdog-period", fGet|fSet, func(c *Config) *int64 { return &c.WatchdogPeriod },
		intRule{max: math.MaxInt64}),
	intParam("hz", fAll, func(c *Config) *int { return &c.Hz },
		intRule{fileMin: MinHz, max: MaxHz, clamp: true}),
	intParam("cluster-node-timeout", fAll, func(c *Config) *int64 { return &c.ClusterNodeTimeout },
		intRule{fileMin: 1, setMin: 0, max: math.MaxInt64, rng: "cluster node timeout must be 1 or greater"}),
	tcpKeepaliveParam(),
	boolParam("no-appendfsync-on-rewrite", fFile|fGet, func(c *Config) *bool { return &c.NoAppendfsyncOnRewrite }),
	daemonizeParam(),
	boolParam("activerehashing", fAll, func(c *Config) *bool { return &c.ActiveRehashing }),
	boolParam("aof-rewrite-incremental-fsync", fAll, func(c *Config) *bool { return &c.AOFRewriteIncrementalFsync }),
	boolParam("aof-load-truncated", fAll, func(c *Config) *bool { return &c.AOFLoadTruncated }),
	boolParam("aof-enqueue-jobs-once", fAll, func(c *Config) *bool { return &c.AOFEnqueueJobsOnce }),
	enumParam("maxmemory-policy", fAll, func(c *Config) *MaxmemoryPolicy { return &c.MaxMemoryPolicy },
		[]MaxmemoryPolicy{PolicyAcks, PolicyNoEviction}, "Invalid maxmemory policy"),
	enumParam("loglevel", fAll, func(c *Config) *LogLevel { return &c.LogLevel },
		[]LogLevel{LogDebug, LogVerbose, LogNotice, LogWarning},
		"Invalid log level. Must be one of debug, verbose, notice, warning"),
	enumParam("appendfsync", fAll, func(c *Config) *FsyncPolicy { return &c.AppendFsync },
		[]FsyncPolicy{FsyncAlways, FsyncEverysec, FsyncNo}, "argument must be 'no', 'always' or 'everysec'"),
	enumParam("syslog-facility", fFile|fGet, func(c *Config) *SyslogFacility { return &c.SyslogFacility },
		[]SyslogFacility{"user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"},
		"Invalid log facility. Must be one of USER or between LOCAL0-LOCAL7"),
	boolParam("appendonly", fAll, func(c *Config) *bool { return &c.AppendOnly }),
	dirParam(),
	clientOutputBufferLimitParam(),
	unixSocketPermParam(),
	bindParam(),
	// disq additions, at the end of CONFIG GET.
	memParam("client-query-buffer-limit", fAll, func(c *Config) *int64 { return &c.ClientQueryBufferLimit },
		memRule{fileMin: 1 << 20, setMin: 1 << 20, rng: "client-query-buffer-limit must be 1mb or greater"}),
	memParam("proto-max-bulk-len", fAll, func(c *Config) *int64 { return &c.ProtoMaxBulkLen },
		memRule{fileMin: 1 << 20, setMin: 1 << 20, rng: "proto-max-bulk-len must be 1mb or greater"}),
	intParam("shards", fFile|fGet, func(c *Config) *int { return &c.Shards },
		intRule{max: MaxShards, bad: "shards must be between 0 and 4096 (0 = GOMAXPROCS)"}),
	intParam("event-loops", fFile|fGet, func(c *Config) *int { return &c.EventLoops },
		intRule{max: MaxEventLoops, bad: "event-loops must be between 0 and 1024 (0 = auto)"}),
	stringParam("admin-bind", fFile|fGet, func(c *Config) *string { return &c.AdminBind }, checkAdminBind, false),
	intParam("admin-port", fFile|fGet, func(c *Config) *int { return &c.AdminPort },
		intRule{max: 65535, bad: "Invalid admin-port"}),
	stringParam("tenants-file", fFile|fGet, func(c *Config) *string { return &c.TenantsFile }, nil, true),
	enumParam("repl-compression", fFile|fGet|fSet, func(c *Config) *Compression { return &c.ReplCompression },
		[]Compression{CompressionS2, CompressionNone}, "repl-compression must be 's2' or 'none'"),
	enumParam("aof-compression", fFile|fGet|fSet, func(c *Config) *Compression { return &c.AOFCompression },
		[]Compression{CompressionS2, CompressionNone}, "aof-compression must be 's2' or 'none'"),
	// Not gettable. admin-token is a secret: settable, never listed.
	stringParam("admin-token", fFile|fSet, func(c *Config) *string { return &c.AdminToken }, nil, true),
	boolParam("syslog-enabled", fFile, func(c *Config) *bool { return &c.SyslogEnabled }),
	stringParam("syslog-ident", fFile, func(c *Config) *string { return &c.SyslogIdent }, nil, false),
	stringParam("appendfilename", fFile, func(c *Config) *string { return &c.AppendFilename }, checkAppendFilename, false),
	stringParam("cluster-config-file", fFile, func(c *Config) *string { return &c.ClusterConfigFile }, checkNotEmpty, false),
}

// byName indexes params by lower-case name.
var byName = func() map[string]*param {
	m := make(map[string]*param, len(params))
	for _, p := range params {
		if m[p.name] != nil {
			panic("config: duplicate parameter " + p.name)
		}
		m[p.name] = p
	}
	return m
}()

func parseYesNo(s string) (v, ok bool) {
	switch {
	case strings.EqualFold(s, "yes"):
		return true, true
	case strings.EqualFold(s, "no"):
		return false, true
	}
	return false, false
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func boolParam(name string, fl flag, ptr func(*Config) *bool) *param {
	return &param{
		name: name, flags: fl, nargs: 1,
		load: func(c *Config, a []string) string {
			v, ok := parseYesNo(a[0])
			if !ok {
				return reasonYesNo
			}
			*ptr(c) = v
			return ""
		},
		get: func(c *Config) string { return yesNo(*ptr(c)) },
		set: func(c *Config, s string) error {
			v, ok := parseYesNo(s)
			if !ok {
				return errBadValue
			}
			*ptr(c) = v
			return nil
		},
		conf: func(c *Config) (string, bool) { return yesNo(*ptr(c)), true },
	}
}

// intRule is the validation of an integer directive.
type intRule struct {
	fileMin int64                // smallest value accepted in the file
	setMin  int64                // smallest value accepted by CONFIG SET
	max     int64                // largest value accepted by both
	bad     string               // reason for a non-integer (default reasonNotInt)
	rng     string               // reason for a value out of range (default bad)
	clamp   bool                 // clamp into fileMin..max instead of refusing (hz)
	check   func(v int64) string // extra file check
}

func intParam[T ~int | ~int64](name string, fl flag, ptr func(*Config) *T, r intRule) *param {
	if r.bad == "" {
		r.bad = reasonNotInt
	}
	if r.rng == "" {
		r.rng = r.bad
	}
	format := func(c *Config) string { return strconv.FormatInt(int64(*ptr(c)), 10) }
	return &param{
		name: name, flags: fl, nargs: 1,
		load: func(c *Config, a []string) string {
			v, ok := parseFileInt(a[0])
			if !ok {
				return r.bad
			}
			if r.clamp {
				v = min(max(v, r.fileMin), r.max)
			} else if v < r.fileMin || v > r.max {
				return r.rng
			}
			if r.check != nil {
				if reason := r.check(v); reason != "" {
					return reason
				}
			}
			*ptr(c) = T(v)
			return ""
		},
		get: format,
		set: func(c *Config, s string) error {
			v, ok := parseStrictInt(s)
			if !ok || v < r.setMin {
				return errBadValue
			}
			if r.clamp {
				v = min(max(v, r.fileMin), r.max)
			} else if v > r.max {
				return errBadValue
			}
			*ptr(c) = T(v)
			return nil
		},
		conf: func(c *Config) (string, bool) { return format(c), true },
	}
}

// memRule is the validation of a memory size directive.
type memRule struct {
	fileMin  int64  // smallest value accepted in the file
	setMin   int64  // smallest value accepted by CONFIG SET
	rng      string // reason for a value below fileMin
	plainSet bool   // CONFIG SET takes plain bytes only (no unit)
}

func memParam(name string, fl flag, ptr func(*Config) *int64, r memRule) *param {
	return &param{
		name: name, flags: fl, nargs: 1,
		load: func(c *Config, a []string) string {
			v, err := ParseMemory(a[0])
			if err != nil {
				return reasonMemory
			}
			if v < r.fileMin {
				return r.rng
			}
			*ptr(c) = v
			return ""
		},
		get: func(c *Config) string { return strconv.FormatInt(*ptr(c), 10) },
		set: func(c *Config, s string) error {
			var v int64
			var ok bool
			if r.plainSet {
				v, ok = parseStrictInt(s)
			} else {
				var err error
				v, err = ParseMemory(s)
				ok = err == nil
			}
			if !ok || v < r.setMin {
				return errBadValue
			}
			*ptr(c) = v
			return nil
		},
		conf: func(c *Config) (string, bool) { return formatMemory(*ptr(c)), true },
	}
}

// stringParam is a free-form string; check (optional) returns a reason to
// refuse a value; nullable strings are removed from the file when empty.
func stringParam(name string, fl flag, ptr func(*Config) *string, check func(string) string, nullable bool) *param {
	return &param{
		name: name, flags: fl, nargs: 1,
		load: func(c *Config, a []string) string {
			if check != nil {
				if reason := check(a[0]); reason != "" {
					return reason
				}
			}
			*ptr(c) = a[0]
			return ""
		},
		get: func(c *Config) string { return *ptr(c) },
		set: func(c *Config, s string) error {
			if check != nil && check(s) != "" {
				return errBadValue
			}
			*ptr(c) = s
			return nil
		},
		conf: func(c *Config) (string, bool) {
			v := *ptr(c)
			return quoteArg(v), !nullable || v != ""
		},
	}
}

// enumParam accepts one of values, case-insensitively, and stores it in
// its canonical (lower-case) spelling.
func enumParam[T ~string](name string, fl flag, ptr func(*Config) *T, values []T, reason string) *param {
	lookup := func(s string) (T, bool) {
		for _, v := range values {
			if strings.EqualFold(s, string(v)) {
				return v, true
			}
		}
		return "", false
	}
	return &param{
		name: name, flags: fl, nargs: 1,
		load: func(c *Config, a []string) string {
			v, ok := lookup(a[0])
			if !ok {
				return reason
			}
			*ptr(c) = v
			return ""
		},
		get: func(c *Config) string { return string(*ptr(c)) },
		set: func(c *Config, s string) error {
			v, ok := lookup(s)
			if !ok {
				return errBadValue
			}
			*ptr(c) = v
			return nil
		},
		conf: func(c *Config) (string, bool) { return string(*ptr(c)), true },
	}
}

func checkPassword(s string) string {
	if len(s) > MaxPasswordLen {
		return "Password is longer than 512 bytes"
	}
	return ""
}

func checkBusPort(v int64) string {
	if v > MaxPortWithBus {
		return "Invalid port: the cluster bus listens on port+10000, so port must be 55535 or less (or 0)"
	}
	return ""
}

func checkAppendFilename(s string) string {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/"+string(os.PathSeparator)) {
		return "appendfilename can't be a path, just a filename"
	}
	return ""
}

func checkNotEmpty(s string) string {
	if s == "" {
		return "argument can't be empty"
	}
	return ""
}

// validAddr accepts a non-empty address of printable ASCII without spaces
// or quotes (an IP address, a host name, Redis 7's "-::1" optional form).
func validAddr(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\'' {
			return false
		}
	}
	return true
}

func checkAdminBind(s string) string {
	if !validAddr(s) {
		return "Invalid admin-bind address"
	}
	return ""
}

func maxmemoryParam() *param {
	p := memParam("maxmemory", fAll, func(c *Config) *int64 { return &c.MaxMemory },
		memRule{fileMin: 1, rng: "You need to specify a memory limit greater than zero"})
	// 0 (no limit, CONFIG SET only) is refused in the file: write the
	// largest limit instead, which behaves the same.
	p.conf = func(c *Config) (string, bool) {
		if c.MaxMemory == 0 {
			return strconv.FormatInt(math.MaxInt64, 10), true
		}
		return formatMemory(c.MaxMemory), true
	}
	return p
}

func tcpKeepaliveParam() *param {
	p := intParam("tcp-keepalive", fAll, func(c *Config) *int { return &c.TCPKeepalive },
		intRule{max: math.MaxInt32, bad: "Invalid tcp-keepalive value"})
	intSet := p.set
	// CONFIG SET also takes yes (300 s) and no (0), as upstream did.
	p.set = func(c *Config, s string) error {
		if v, ok := parseYesNo(s); ok {
			c.TCPKeepalive = 0
			if v {
				c.TCPKeepalive = TCPKeepaliveYes
			}
			return nil
		}
		return intSet(c, s)
	}
	return p
}

func daemonizeParam() *param {
	p := boolParam("daemonize", fFile|fGet, func(c *Config) *bool { return &c.Daemonize })
	p.load = func(c *Config, a []string) string {
		v, ok := parseYesNo(a[0])
		if !ok {
			return reasonYesNo
		}
		if v {
			return reasonDaemonize
		}
		c.Daemonize = false
		return ""
	}
	return p
}

// resolveDir resolves v against the current directory base and checks that
// it is a directory; the error is the bare OS error, as chdir(2) reports.
func resolveDir(base, v string) (string, error) {
	if v == "" {
		return "", syscall.ENOENT
	}
	d := v
	if !filepath.IsAbs(d) {
		d = filepath.Join(base, d)
	}
	d = filepath.Clean(d)
	st, err := os.Stat(d)
	if err != nil {
		return "", bareError(err)
	}
	if !st.IsDir() {
		return "", syscall.ENOTDIR
	}
	return d, nil
}

func dirParam() *param {
	return &param{
		name: "dir", flags: fAll, nargs: 1,
		load: func(c *Config, a []string) string {
			d, err := resolveDir(c.Dir, a[0])
			if err != nil {
				return fmt.Sprintf("Can't chdir to '%s': %v", a[0], err)
			}
			c.Dir = d
			return ""
		},
		get: func(c *Config) string { return c.Dir },
		set: func(c *Config, s string) error {
			d, err := resolveDir(c.Dir, s)
			if err != nil {
				return fmt.Errorf("Changing directory: %v", err)
			}
			c.Dir = d
			return nil
		},
		conf:   func(c *Config) (string, bool) { return quoteArg(c.Dir), true },
		always: true, // as Redis: the directory is always pinned
	}
}

func clientOutputBufferLimitParam() *param {
	return &param{
		name: "client-output-buffer-limit", flags: fAll, nargs: 4,
		load: func(c *Config, a []string) string {
			if !strings.EqualFold(a[0], "normal") {
				return "Unrecognized client limit class"
			}
			hard, err1 := ParseMemory(a[1])
			soft, err2 := ParseMemory(a[2])
			if err1 != nil || err2 != nil {
				return reasonMemory
			}
			secs, ok := parseFileInt(a[3])
			if !ok {
				return reasonNotInt
			}
			if secs < 0 {
				return "Negative number of seconds in soft limit is invalid"
			}
			if secs > math.MaxInt32 {
				return "Invalid soft limit seconds"
			}
			c.ClientOutputBufferLimit = ClientOutputBufferLimit{Hard: hard, Soft: soft, Seconds: int(secs)}
			return ""
		},
		get: func(c *Config) string {
			l := c.ClientOutputBufferLimit
			return fmt.Sprintf("normal %d %d %d", l.Hard, l.Soft, l.Seconds)
		},
		set: func(c *Config, s string) error {
			if s == "" {
				return nil // no group at all: nothing to change, as upstream
			}
			v := strings.Split(s, " ")
			if len(v)%4 != 0 {
				return errBadValue
			}
			// Check every group before applying any.
			limits := make([]ClientOutputBufferLimit, 0, len(v)/4)
			for j := 0; j < len(v); j += 4 {
				if !strings.EqualFold(v[j], "normal") {
					return errBadValue
				}
				hard, err1 := ParseMemory(v[j+1])
				soft, err2 := ParseMemory(v[j+2])
				secs, ok := parseStrictInt(v[j+3])
				if err1 != nil || err2 != nil || !ok || secs < 0 || secs > math.MaxInt32 {
					return errBadValue
				}
				limits = append(limits, ClientOutputBufferLimit{Hard: hard, Soft: soft, Seconds: int(secs)})
			}
			c.ClientOutputBufferLimit = limits[len(limits)-1]
			return nil
		},
		conf: func(c *Config) (string, bool) {
			l := c.ClientOutputBufferLimit
			return "normal " + formatMemory(l.Hard) + " " + formatMemory(l.Soft) + " " + strconv.Itoa(l.Seconds), true
		},
	}
}

func unixSocketPermParam() *param {
	format := func(c *Config) string { return strconv.FormatUint(uint64(c.UnixSocketPerm), 8) }
	return &param{
		name: "unixsocketperm", flags: fFile | fGet, nargs: 1,
		load: func(c *Config, a []string) string {
			v, err := strconv.ParseUint(a[0], 8, 32)
			if err != nil || v > 0o777 {
				return "Invalid socket file permissions"
			}
			c.UnixSocketPerm = fs.FileMode(v)
			return ""
		},
		get:  format,
		conf: func(c *Config) (string, bool) { return format(c), true },
	}
}

func bindParam() *param {
	return &param{
		name: "bind", flags: fFile | fGet, nargs: -1,
		load: func(c *Config, a []string) string {
			if len(a) > MaxBindAddrs {
				return "Too many bind addresses specified"
			}
			for _, addr := range a {
				if !validAddr(addr) {
					return "Invalid bind address"
				}
			}
			c.Bind = slices.Clone(a)
			return ""
		},
		get: func(c *Config) string { return strings.Join(c.Bind, " ") },
		conf: func(c *Config) (string, bool) {
			q := make([]string, len(c.Bind))
			for i, a := range c.Bind {
				q[i] = quoteArg(a)
			}
			return strings.Join(q, " "), len(c.Bind) > 0
		},
	}
}

// bareError strips the operation and path from an OS error, leaving the
// strerror-like text ("no such file or directory").
func bareError(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	case errors.As(err, &se):
		return se.Err
	}
	return err
}
