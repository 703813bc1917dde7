package engine

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"disq/engine/config"
	"disq/shard"
	"disq/tenant"
)

// Version is disq's version; INFO also reports the Disque version it
// implements (disque_version).
const Version = "0.1.0"

// DisqueVersion is the Disque release whose client contract disq follows.
const DisqueVersion = "1.0-rc1"

// memStats samples the process's memory for INFO and the maxmemory levels.
//
// "Used memory" is the Go heap held by allocated objects
// (runtime/metrics /memory/classes/heap/objects:bytes) plus the job records
// and bodies in use in the shards' mappings outside the heap (shard
// hugemem.go), sampled every cron tick. The heap part includes garbage not
// yet collected, so the engine sets the runtime's soft memory limit to
// maxmemory (SetMemoryLimit): the collector runs before garbage alone can
// push the heap over a level. The levels of the spec (75% external
// replication, 95% -OOM) apply to this figure.
type memStats struct {
	used    atomic.Int64
	peak    atomic.Int64
	rss     atomic.Int64
	mu      sync.Mutex
	samples []metrics.Sample
	loopOut sync.Map // loop index -> [2]int64{longest output, biggest input}
}

func (m *memStats) sample(offHeap int64) {
	m.mu.Lock()
	if m.samples == nil {
		m.samples = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	}
	metrics.Read(m.samples)
	used := int64(m.samples[0].Value.Uint64()) + offHeap
	m.mu.Unlock()
	if used < 0 {
		used = 0
	}
	m.used.Store(used)
	if used > m.peak.Load() {
		m.peak.Store(used)
	}
	m.rss.Store(readRSS())
}

// reclaim collects the garbage a flush left and samples memory again, so
// the memory levels drop at once (DEBUG FLUSHALL, CLUSTER RESET).
func (e *Engine) reclaim() {
	runtime.GC()
	e.mem.sample(e.offHeap())
	e.memLevel.Store(int32(e.mem.level(e.Config())))
}

// setMemoryLimit makes the garbage collector keep the heap under maxmemory
// (0 = no limit).
func setMemoryLimit(maxmemory int64) {
	if maxmemory <= 0 {
		debug.SetMemoryLimit(math.MaxInt64)
		return
	}
	debug.SetMemoryLimit(maxmemory)
}

// readRSS returns the resident set size from /proc (0 where unavailable).
func readRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

func (m *memStats) loopMax(loop int, out, in int64) { m.loopOut.Store(loop, [2]int64{out, in}) }

// level returns the memory level of the spec: 0 (<= 75%), 1 (> 75%), 2 (> 95%).
func (m *memStats) level(cfg *config.Config) int {
	if cfg.MaxMemory <= 0 {
		return 0
	}
	u := m.used.Load()
	switch {
	case u*100 > cfg.MaxMemory*95:
		return 2
	case u*100 > cfg.MaxMemory*75:
		return 1
	}
	return 0
}

// oom reports whether denyoom commands must be refused: at level 2, where
// nothing is evictable on a lone node (acked jobs are freed at once).
func (m *memStats) oom(cfg *config.Config) bool { return m.level(cfg) >= 2 }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

var infoSections = []string{"server", "clients", "memory", "jobs", "queues", "persistence", "stats", "cpu"}

// info builds the INFO text for section ("" = default). t, when not nil,
// is the tenant whose own figures replace the node's (tenants configured).
func (e *Engine) info(section string, t *tenant.Tenant) string {
	section = strings.ToLower(section)
	var b strings.Builder
	var list []string
	switch section {
	case "default":
		list = infoSections
	case "all", "everything":
		list = append(append([]string(nil), infoSections...), "commandstats")
	default:
		list = []string{section}
	}
	first := true
	for _, sec := range list {
		var lines [][2]string
		switch sec {
		case "server":
			lines = e.infoServer()
		case "clients":
			lines = e.infoClients()
		case "memory":
			lines = e.infoMemory()
		case "jobs":
			n := e.sumShards(func(i int) int64 { return e.shards[i].Stats.Jobs.Load() })
			if t != nil {
				n = t.Jobs() // a tenant sees only its own jobs
			}
			lines = [][2]string{{"registered_jobs", itoa(n)}}
		case "queues":
			n := e.sumShards(func(i int) int64 { return e.shards[i].Stats.Queues.Load() })
			if t != nil {
				n = t.Queues()
			}
			lines = [][2]string{{"registered_queues", itoa(n)}}
		case "persistence":
			lines = e.infoPersistence()
		case "stats":
			lines = e.infoStats(t)
		case "cpu":
			lines = e.infoCPU()
		case "commandstats":
			lines = e.infoCommandStats()
		case "bus":
			if lines = e.infoBus(); lines == nil {
				continue
			}
		default:
			continue
		}
		if !first {
			b.WriteString("\r\n")
		}
		first = false
		b.WriteString("# ")
		b.WriteString(sectionTitle(sec))
		b.WriteString("\r\n")
		for _, l := range lines {
			b.WriteString(l[0])
			b.WriteByte(':')
			b.WriteString(l[1])
			b.WriteString("\r\n")
		}
	}
	return b.String()
}

// sectionTitle returns the INFO heading of a section ("cpu" -> "CPU").
func sectionTitle(sec string) string {
	if sec == "cpu" {
		return "CPU"
	}
	return strings.ToUpper(sec[:1]) + sec[1:]
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func (e *Engine) sumShards(f func(i int) int64) int64 {
	var n int64
	for i := range e.shards {
		n += f(i)
	}
	return n
}

func buildInfo() (sha, dirty, id string) {
	sha, dirty = "00000000", "0"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if len(s.Value) >= 8 {
					sha = s.Value[:8]
				}
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "1"
				}
			}
		}
	}
	return sha, dirty, sha + "-go"
}

func (e *Engine) infoServer() [][2]string {
	cfg := e.Config()
	sha, dirty, id := buildInfo()
	up := int64(time.Since(e.start).Seconds())
	return [][2]string{
		{"disque_version", DisqueVersion},
		{"disque_git_sha1", sha},
		{"disque_git_dirty", dirty},
		{"disque_build_id", id},
		{"os", runtime.GOOS + " " + runtime.GOARCH},
		{"arch_bits", strconv.Itoa(strconv.IntSize)},
		{"multiplexing_api", "epoll"},
		{"gcc_version", "0.0.0"},
		{"process_id", strconv.Itoa(os.Getpid())},
		{"run_id", e.runID},
		{"tcp_port", strconv.Itoa(cfg.Port)},
		{"uptime_in_seconds", itoa(up)},
		{"uptime_in_days", itoa(up / 86400)},
		{"hz", strconv.Itoa(cfg.Hz)},
		{"executable", e.opts.Executable},
		{"config_file", cfg.ConfigFile},
		{"disq_version", Version},
		{"go_version", runtime.Version()},
		{"shards", strconv.Itoa(len(e.shards))},
	}
}

func (e *Engine) infoClients() [][2]string {
	var out, in int64
	e.mem.loopOut.Range(func(_, v any) bool {
		p := v.([2]int64)
		out, in = max(out, p[0]), max(in, p[1])
		return true
	})
	blocked := e.sumShards(func(i int) int64 { return e.shards[i].Stats.Blocked.Load() })
	return [][2]string{
		{"connected_clients", itoa(e.clients.Load())},
		{"client_longest_output_list", itoa(out)},
		{"client_biggest_input_buf", itoa(in)},
		{"blocked_clients", itoa(blocked)},
	}
}

func (e *Engine) infoMemory() [][2]string {
	used, peak, rss := e.mem.used.Load(), e.mem.peak.Load(), e.mem.rss.Load()
	frag := "0.00"
	if used > 0 {
		frag = fmt.Sprintf("%.2f", float64(rss)/float64(used))
	}
	return [][2]string{
		{"used_memory", itoa(used)},
		{"used_memory_human", humanBytes(used)},
		{"used_memory_rss", itoa(rss)},
		{"used_memory_peak", itoa(peak)},
		{"used_memory_peak_human", humanBytes(peak)},
		{"mem_fragmentation_ratio", frag},
		{"mem_allocator", "go-" + runtime.Version()},
		{"jobs_memory", itoa(e.sumShards(func(i int) int64 { return e.shards[i].Stats.Memory.Load() }))},
	}
}

func (e *Engine) infoStats(t *tenant.Tenant) [][2]string {
	st := &e.stats
	kbps := func(v int64) string { return fmt.Sprintf("%.2f", float64(v)/1024) }
	lines := [][2]string{
		{"total_connections_received", itoa(st.connections.Load())},
		{"total_commands_processed", itoa(e.sumLoops(func(l *loopStats) int64 { return l.commands.Load() }))},
		{"instantaneous_ops_per_sec", itoa(st.opsRate.Load())},
		{"total_net_input_bytes", itoa(e.sumLoops(func(l *loopStats) int64 { return l.netIn.Load() }))},
		{"total_net_output_bytes", itoa(e.sumLoops(func(l *loopStats) int64 { return l.netOut.Load() }))},
		{"instantaneous_input_kbps", kbps(st.inRate.Load())},
		{"instantaneous_output_kbps", kbps(st.outRate.Load())},
		{"rejected_connections", itoa(st.rejected.Load())},
		{"latest_fork_usec", "0"},
	}
	if t != nil {
		// A tenant sees its own job counters (the tenant registry's), not
		// the node's; evictions and replication resends are node-wide only.
		u := func(ev tenant.Event) string { return strconv.FormatUint(t.Counted(ev), 10) }
		return append(lines,
			[2]string{"jobs_created", u(tenant.EventAdded)},
			[2]string{"jobs_acked", u(tenant.EventAcked)},
			[2]string{"jobs_expired", u(tenant.EventExpired)},
			[2]string{"jobs_requeued", u(tenant.EventRequeued)})
	}
	sum := func(f func(st *shard.Stats) int64) string {
		return itoa(e.sumShards(func(i int) int64 { return f(&e.shards[i].Stats) }))
	}
	return append(lines,
		[2]string{"jobs_created", sum(func(st *shard.Stats) int64 { return st.Created.Load() })},
		[2]string{"jobs_acked", sum(func(st *shard.Stats) int64 { return st.Acked.Load() })},
		[2]string{"jobs_expired", sum(func(st *shard.Stats) int64 { return st.Expired.Load() })},
		[2]string{"jobs_requeued", sum(func(st *shard.Stats) int64 { return st.Requeued.Load() })},
		[2]string{"jobs_evicted", sum(func(st *shard.Stats) int64 { return st.Evicted.Load() })},
		[2]string{"repl_resends", sum(func(st *shard.Stats) int64 { return st.ReplResends.Load() })})
}

func (e *Engine) infoCPU() [][2]string {
	var ru, rc syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc)
	t := func(tv syscall.Timeval) string {
		return fmt.Sprintf("%.2f", float64(tv.Sec)+float64(tv.Usec)/1e6)
	}
	return [][2]string{
		{"used_cpu_sys", t(ru.Stime)},
		{"used_cpu_user", t(ru.Utime)},
		{"used_cpu_sys_children", t(rc.Stime)},
		{"used_cpu_user_children", t(rc.Utime)},
	}
}

func (e *Engine) infoCommandStats() [][2]string {
	var lines [][2]string
	loops := e.loopList()
	for i, c := range e.cmdList {
		var calls, usec int64
		for _, ls := range loops {
			calls += ls.stats.cmds[i].calls.Load()
			usec += ls.stats.cmds[i].usec.Load()
		}
		if calls == 0 {
			continue
		}
		lines = append(lines, [2]string{"cmdstat_" + c.Name,
			fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f", calls, usec, float64(usec)/float64(calls))})
	}
	return lines
}
