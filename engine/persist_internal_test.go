package engine

import (
	"testing"
	"time"

	"disq/engine/config"
)

// TestLogLatency: the log writer's write and fsync times reach the latency
// monitor under the event names Redis uses, only at or above
// latency-monitor-threshold, and never when the threshold is 0.
func TestLogLatency(t *testing.T) {
	for _, tc := range []struct {
		threshold int64
		d         time.Duration
		want      bool
	}{
		{0, time.Second, false},
		{5, 4 * time.Millisecond, false},
		{5, 5 * time.Millisecond, true},
		{1, 30 * time.Millisecond, true},
	} {
		e := &Engine{}
		cfg := config.Default()
		cfg.LatencyMonitorThreshold = tc.threshold
		e.cfg.Store(cfg)
		e.logLatency("aof-fsync-always", tc.d)
		e.logLatency("aof-write", tc.d/2)
		ev := e.latency.events["aof-fsync-always"]
		if got := ev != nil; got != tc.want {
			t.Errorf("threshold %d ms, fsync %v: recorded %v; want %v", tc.threshold, tc.d, got, tc.want)
			continue
		}
		if ev != nil && ev.max != tc.d.Milliseconds() {
			t.Errorf("threshold %d ms, fsync %v: max %d ms", tc.threshold, tc.d, ev.max)
		}
		if w := e.latency.events["aof-write"]; (w != nil) != (tc.threshold > 0 && (tc.d/2).Milliseconds() >= tc.threshold) {
			t.Errorf("threshold %d ms, write %v: recorded %v", tc.threshold, tc.d/2, w != nil)
		}
	}
}
