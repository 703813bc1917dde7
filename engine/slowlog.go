package engine

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"

	"disq/engine/config"
	"disq/netpoll/resp"
)

// The slow log (SLOWLOG) and the latency monitor (LATENCY). Commands run on
// the event loop are timed there; commands run by a shard are timed by the
// shard, which logs them with the arguments it received (the command name
// and the queue, body or job IDs it was given).

type slowEntry struct {
	id   int64
	at   int64 // unix seconds
	usec int64
	args [][]byte
}

type slowLog struct {
	mu      sync.Mutex
	entries []slowEntry // oldest first
	nextID  int64
}

const (
	slowMaxArgs   = 32
	slowMaxArgLen = 128
)

// record logs a command that took d in the slow log and the latency
// monitor, as their thresholds say. args include the command name (already
// trimmed when they come from a shard command's slot).
func (e *Engine) record(cmd *Command, args [][]byte, d time.Duration) {
	cfg := e.Config()
	us := d.Microseconds()
	if t := cfg.SlowlogLogSlowerThan; t >= 0 && us >= t && cfg.SlowlogMaxLen > 0 {
		ent := slowEntry{at: time.Now().Unix(), usec: us}
		for i, a := range args {
			if i >= 1 && cmd != nil && cmd.Name == "auth" {
				ent.args = append(ent.args, []byte("(redacted)"))
				continue
			}
			if i == slowMaxArgs-1 && len(args) > slowMaxArgs {
				ent.args = append(ent.args, []byte(fmt.Sprintf("... (%d more arguments)", len(args)-slowMaxArgs+1)))
				break
			}
			if len(a) > slowMaxArgLen && !bytes.Contains(a[slowMaxArgLen:], []byte("... (")) {
				a = append(append([]byte(nil), a[:slowMaxArgLen]...), fmt.Sprintf("... (%d more bytes)", len(a)-slowMaxArgLen)...)
			} else {
				a = append([]byte(nil), a...)
			}
			ent.args = append(ent.args, a)
		}
		l := &e.slowlog
		l.mu.Lock()
		ent.id = l.nextID
		l.nextID++
		l.entries = append(l.entries, ent)
		l.trim(cfg.SlowlogMaxLen)
		l.mu.Unlock()
	}
	ev := "command"
	if cmd != nil && cmd.Flags&FlagFast != 0 {
		ev = "fast-command"
	}
	e.sampleLatency(cfg, ev, d)
}

// sampleLatency records d under event in the latency monitor when it
// reaches latency-monitor-threshold (0 turns the monitor off).
func (e *Engine) sampleLatency(cfg *config.Config, event string, d time.Duration) {
	if t := cfg.LatencyMonitorThreshold; t > 0 && d.Milliseconds() >= t {
		e.latency.add(event, d.Milliseconds())
	}
}

// trim keeps the newest max entries. l.mu held.
func (l *slowLog) trim(max int64) {
	if over := len(l.entries) - int(max); over > 0 {
		l.entries = append(l.entries[:0], l.entries[over:]...)
	}
}

// setRecordThreshold publishes the smallest duration (us) worth recording
// (-1: neither the slow log nor the latency monitor wants anything).
func (e *Engine) setRecordThreshold(cfg *config.Config) {
	t := int64(-1)
	if cfg.SlowlogLogSlowerThan >= 0 {
		t = cfg.SlowlogLogSlowerThan
	}
	if cfg.LatencyMonitorThreshold > 0 {
		if lt := cfg.LatencyMonitorThreshold * 1000; t < 0 || lt < t {
			t = lt
		}
	}
	e.recordMicros.Store(t)
	e.slowlog.mu.Lock()
	e.slowlog.trim(cfg.SlowlogMaxLen)
	e.slowlog.mu.Unlock()
}

// SLOWLOG GET [n] | LEN | RESET
func cmdSlowlog(s *Session, args [][]byte) {
	l := &s.e.slowlog
	l.mu.Lock()
	l.trim(s.e.Config().SlowlogMaxLen)
	l.mu.Unlock()
	sub := args[1]
	switch {
	case eqFold(sub, "get") && len(args) <= 3:
		n := int64(10)
		if len(args) == 3 {
			v, ok := parseInt(args[2])
			if !ok {
				s.replyError(errNotInteger)
				return
			}
			n = v
		}
		l.mu.Lock()
		var out []slowEntry
		for i := len(l.entries) - 1; i >= 0 && (n < 0 || int64(len(out)) < n); i-- {
			out = append(out, l.entries[i])
		}
		l.mu.Unlock()
		b := s.reply()
		d := resp.AppendArray(*b, len(out))
		for _, ent := range out {
			d = resp.AppendArray(d, 4)
			d = resp.AppendInt(d, ent.id)
			d = resp.AppendInt(d, ent.at)
			d = resp.AppendInt(d, ent.usec)
			d = resp.AppendArray(d, len(ent.args))
			for _, a := range ent.args {
				d = resp.AppendBulk(d, a)
			}
		}
		*b = d
	case eqFold(sub, "len") && len(args) == 2:
		l.mu.Lock()
		n := len(l.entries)
		l.mu.Unlock()
		s.replyInt(int64(n))
	case eqFold(sub, "reset") && len(args) == 2:
		l.mu.Lock()
		l.entries = nil
		l.mu.Unlock()
		s.replyOK()
	default:
		s.replyError("ERR Unknown SLOWLOG subcommand or wrong # of args. Try GET, RESET, LEN.")
	}
}

// latencyMonitor keeps, per event, the latest samples above the threshold.
type latencyMonitor struct {
	mu     sync.Mutex
	events map[string]*latencyEvent
}

type latencyEvent struct {
	samples []latencySample // oldest first, at most 160
	max     int64
}

type latencySample struct{ at, ms int64 }

func (m *latencyMonitor) add(event string, ms int64) {
	now := time.Now().Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == nil {
		m.events = make(map[string]*latencyEvent)
	}
	ev := m.events[event]
	if ev == nil {
		ev = &latencyEvent{}
		m.events[event] = ev
	}
	if n := len(ev.samples); n > 0 && ev.samples[n-1].at == now {
		ev.samples[n-1].ms = max(ev.samples[n-1].ms, ms)
	} else {
		ev.samples = append(ev.samples, latencySample{now, ms})
		if len(ev.samples) > 160 {
			ev.samples = ev.samples[1:]
		}
	}
	ev.max = max(ev.max, ms)
}

// LATENCY LATEST | HISTORY event | RESET [event...] | GRAPH event | DOCTOR
func cmdLatency(s *Session, args [][]byte) {
	m := &s.e.latency
	sub := args[1]
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case eqFold(sub, "latest") && len(args) == 2:
		b := s.reply()
		d := resp.AppendArray(*b, len(m.events))
		for name, ev := range m.events {
			last := ev.samples[len(ev.samples)-1]
			d = resp.AppendArray(d, 4)
			d = resp.AppendBulkString(d, name)
			d = resp.AppendInt(d, last.at)
			d = resp.AppendInt(d, last.ms)
			d = resp.AppendInt(d, ev.max)
		}
		*b = d
	case eqFold(sub, "history") && len(args) == 3:
		ev := m.events[string(args[2])]
		b := s.reply()
		if ev == nil {
			*b = resp.AppendArray(*b, 0)
			return
		}
		d := resp.AppendArray(*b, len(ev.samples))
		for _, smp := range ev.samples {
			d = resp.AppendArray(d, 2)
			d = resp.AppendInt(d, smp.at)
			d = resp.AppendInt(d, smp.ms)
		}
		*b = d
	case eqFold(sub, "reset"):
		n := 0
		if len(args) == 2 {
			n = len(m.events)
			m.events = nil
		} else {
			for _, a := range args[2:] {
				if _, ok := m.events[string(a)]; ok {
					delete(m.events, string(a))
					n++
				}
			}
		}
		s.replyInt(int64(n))
	case eqFold(sub, "graph") && len(args) == 3:
		ev := m.events[string(args[2])]
		if ev == nil || len(ev.samples) == 0 {
			s.replyError("ERR No samples available for event '" + string(args[2]) + "'")
			return
		}
		var g strings.Builder
		fmt.Fprintf(&g, "%s - high %d ms, low %d ms (all time high %d ms)\n", args[2], maxSample(ev), minSample(ev), ev.max)
		for _, smp := range ev.samples {
			bar := int(smp.ms * 40 / max(ev.max, 1))
			fmt.Fprintf(&g, "%s %s %d ms\n", time.Unix(smp.at, 0).UTC().Format("15:04:05"), strings.Repeat("#", bar), smp.ms)
		}
		s.replyBulk([]byte(g.String()))
	case eqFold(sub, "doctor") && len(args) == 2:
		var g strings.Builder
		if len(m.events) == 0 {
			if s.e.Config().LatencyMonitorThreshold == 0 {
				g.WriteString("I'm sorry, the latency monitor is disabled: set latency-monitor-threshold to a number of milliseconds to enable it.\n")
			} else {
				g.WriteString("No latency spikes were observed above the threshold.\n")
			}
		}
		for name, ev := range m.events {
			fmt.Fprintf(&g, "%s: %d latency spikes (average %d ms, worst %d ms).\n", name, len(ev.samples), avgSample(ev), ev.max)
		}
		s.replyBulk([]byte(g.String()))
	default:
		s.replyError(errSyntax)
	}
}

func maxSample(ev *latencyEvent) int64 {
	var m int64
	for _, s := range ev.samples {
		m = max(m, s.ms)
	}
	return m
}

func minSample(ev *latencyEvent) int64 {
	m := ev.samples[0].ms
	for _, s := range ev.samples {
		m = min(m, s.ms)
	}
	return m
}

func avgSample(ev *latencyEvent) int64 {
	var t int64
	for _, s := range ev.samples {
		t += s.ms
	}
	return t / int64(len(ev.samples))
}
