package persist_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

// Crash recovery: producers pipeline ADDJOBs without pause, the server is
// killed with SIGKILL at a random moment, restarted from the same
// directory, and every job whose ADDJOB reply arrived must be there again.
// The rounds share the directory, so each restart also reloads (and keeps
// appending to) the log of the previous rounds, torn tails included.
//
// SIGKILL does not lose the page cache, so this alone cannot tell a reply
// sent after write(2) from one sent after fsync(2). Under appendfsync
// always the writer counts, at every release of a reply, whether the file's
// synced offset covered it: INFO aof_replies_before_fsync must be 0 and
// aof_durable_after_fsync must have counted the replies.

func TestCrashAppendfsyncAlways(t *testing.T) { crashRounds(t, "always", 3) }

func TestCrashAppendfsyncEverysec(t *testing.T) { crashRounds(t, "everysec", 2) }

// TestCrashDuringRewrites: the same with automatic rewrites from 1 MB on,
// so the log is rewritten again and again under the load and the kill
// lands in the middle of a rewrite (its snapshot taken in chunks, its
// switch) as often as between two.
func TestCrashDuringRewrites(t *testing.T) {
	crashRounds(t, "always", 3, "--auto-aof-rewrite-min-size", "1000000")
}

func crashRounds(t *testing.T, policy string, rounds int, args ...string) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("appendfsync %s %v: %d rounds, seed %d", policy, args, rounds, seed)
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, append([]string{"--appendonly", "yes", "--appendfsync", policy}, args...)...)
	all := map[string]bool{} // acknowledged in every round so far
	var queues []string
	for round := 1; round <= rounds; round++ {
		queue := fmt.Sprintf("crash-%s-%d", policy, round)
		queues = append(queues, queue)
		c := testclient.Dial(t, srv.Addr)
		l := newLoad()
		l.produce(t, srv.Addr, queue, 6, 16)
		// Kill at a random moment, after some load built up.
		wait := time.Duration(400+rng.IntN(1100)) * time.Millisecond
		time.Sleep(wait)
		info := c.Info("persistence")
		rewriting := info["aof_rewrite_in_progress"] == "1"
		srv.Kill()
		rewrites := strings.Count(srv.Log(), "background rewrite done") // this run's log
		acked := l.Stop()
		c.Close()

		durable, _ := strconv.ParseInt(info["aof_durable_after_fsync"], 10, 64)
		early := info["aof_replies_before_fsync"]
		fsyncs, _ := strconv.ParseInt(info["aof_fsyncs"], 10, 64)
		if early != "0" {
			t.Errorf("round %d: INFO aof_replies_before_fsync:%s before the kill; want 0", round, early)
		}
		if policy == "always" && durable <= 0 {
			t.Errorf("round %d: INFO aof_durable_after_fsync:%s before the kill; want > 0 under always", round, info["aof_durable_after_fsync"])
		}
		fsyncUsec, err := strconv.ParseInt(info["aof_fsync_usec"], 10, 64)
		if err != nil || fsyncs > 0 && fsyncUsec <= 0 {
			t.Errorf("round %d: INFO aof_fsync_usec:%q with aof_fsyncs %d; want a positive time", round, info["aof_fsync_usec"], fsyncs)
		}

		restart(t, srv)
		c = testclient.Dial(t, srv.Addr)
		present := jobSet(t, c, "QUEUE", queue)
		got := 0
		var missing []string
		for _, id := range acked {
			all[id] = true
			if present[id] {
				got++
			} else {
				missing = append(missing, id)
			}
		}
		extra := len(present) - got
		// Cross-check the listing with SHOW on a sample.
		for k := 0; k < 100 && len(acked) > 0; k++ {
			id := acked[rng.IntN(len(acked))]
			if r := show(t, c, id); r.IsNull() || string(testclient.Field(r, "queue").Str) != queue {
				t.Errorf("round %d: SHOW %s after the restart: %s", round, id, r)
				break
			}
		}
		torn := strings.Count(srv.Log(), "damaged tail truncated")
		t.Logf("round %d (%s, killed after %v): acknowledged %d, present after restart %d, missing %d, extra present %d (no reply received: allowed); "+
			"before the kill: aof_durable_after_fsync %d, aof_fsyncs %d (%.1f reply batches per fsync, %.0f us each), aof_replies_before_fsync %s, rewrites done %d, one in progress %v; torn tail truncated at load: %v; producer errors: %s",
			round, policy, wait, len(acked), got, len(missing), extra, durable, fsyncs, ratio(durable, fsyncs), ratio(fsyncUsec, fsyncs), early, rewrites, rewriting, torn > 0, l.errorSummary())
		if len(acked) == 0 {
			t.Errorf("round %d: no ADDJOB was acknowledged before the kill", round)
		}
		if len(missing) > 0 {
			t.Errorf("round %d: %d acknowledged jobs missing after SIGKILL + restart, e.g. %v", round, len(missing), head(missing, 5))
		}
		// Jobs of the earlier rounds survive this round's kill and reload.
		everything := jobSet(t, c)
		lost := 0
		for id := range all {
			if !everything[id] {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("round %d: %d jobs acknowledged in this or earlier rounds are missing (queues %v)", round, lost, queues)
		}
		if info := c.Info("persistence"); info["aof_state"] != "on" || info["aof_last_write_status"] != "ok" {
			t.Errorf("round %d: after restart aof_state:%s aof_last_write_status:%s; want on, ok", round, info["aof_state"], info["aof_last_write_status"])
		}
		c.Close()
	}
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
