package shard

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"disq/engine/aof"
	"disq/engine/job"
	"disq/netpoll/resp"
)

// openLog gives h's shard a log writer (appendfsync always, no
// preallocation) in a temporary directory and returns it with its path.
func openLog(t *testing.T, h *harness) (*aof.Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "a.aof")
	w, err := aof.Open(aof.Options{Path: path, Fsync: aof.FsyncAlways, Preallocate: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	lg := new(Log)
	lg.Store(w)
	h.s.cfg.Log = lg
	return w, path
}

// loggedIDs returns the IDs of the LoadJob records in the log at path,
// minus those a later DelJob removes.
func loggedIDs(t *testing.T, path string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	_, err := aof.Load(path, aof.LoadOptions{}, func(r aof.Record) error {
		id := job.ID(r.Job.ID)
		switch r.Type {
		case aof.RecLoadJob:
			ids[string(id.AppendText(nil))] = true
		case aof.RecDelJob:
			delete(ids, string(id.AppendText(nil)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestSnapshotKeepsStepRecords: a rewrite's snapshot op that runs in the
// same step as ADDJOBs before it must not drop their records from the
// step's log batch. Those ADDJOBs are answered once that batch is durable,
// so the current log has to hold them even if the rewrite never completes
// (here a second producer of the rewrite never ends, as after a crash in
// the middle of it).
func TestSnapshotKeepsStepRecords(t *testing.T) {
	h := newHarness(t)
	w, path := openLog(t, h)
	rw, err := w.BeginRewrite([]int{0, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := GetBatch()
	h.add(a, Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, "q", "body-before-snapshot")
	b := GetBatch()
	b.Ops = append(b.Ops, Op{Kind: OpCall, Call: func(s *Shard) { s.Snapshot(rw) }})
	h.s.Step([]*Batch{a, b}, h.now)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rs := h.take(h.rq)
	if len(rs) != 1 || rs[0].Code != OK || rs[0].R.Kind != resp.KindSimple {
		t.Fatalf("ADDJOB replies %v; want one ID", rs)
	}
	id := string(rs[0].R.Str)
	if got := loggedIDs(t, path); !got[id] {
		t.Fatalf("job %s was acknowledged but the log holds %v", id, got)
	}
}

// TestSnapshotChunked: a rewrite of a shard with more jobs than one chunk
// takes several steps, one chunk each, while ADDJOB and ACKJOB go on
// between them; the rewritten file holds exactly the shard's jobs at the
// end (acked ones gone, ones added during the rewrite present, each once
// in its final state after replay).
func TestSnapshotChunked(t *testing.T) {
	h := newHarness(t)
	w, path := openLog(t, h)
	w.SetFsync(aof.FsyncNo) // many steps; durability is not what is tested
	// step runs one batch and waits for its replies, which the writer
	// releases (on its goroutine when it is busy with the rewrite).
	step := func(calls ...call) []got {
		b := GetBatch()
		for _, c := range calls {
			h.add(b, c.op, c.args...)
		}
		h.s.Step([]*Batch{b}, h.now)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		return h.take(h.rq)
	}
	add := func(n int, tag string) []string {
		calls := make([]call, n)
		for k := range calls {
			calls[k] = call{Op{Kind: OpAddJob, Slot: testSlot, N: [6]int64{1, 0, 30, 3600}}, []string{"q", fmt.Sprint(tag, k)}}
		}
		var ids []string
		for _, r := range step(calls...) {
			if r.Code != OK || r.R.Kind != resp.KindSimple {
				t.Fatalf("ADDJOB: %v", r)
			}
			ids = append(ids, string(r.R.Str))
		}
		return ids
	}
	var live []string
	for k := 0; k < 5; k++ {
		live = append(live, add(4000, fmt.Sprint("pre", k, "-"))...)
	}
	done := make(chan error, 1)
	rw, err := w.BeginRewrite([]int{0}, func(err error) { done <- err })
	if err != nil {
		t.Fatal(err)
	}
	step(call{Op{Kind: OpCall, Call: func(s *Shard) { s.Snapshot(rw) }}, nil})
	if h.s.snap == nil {
		t.Fatal("the whole store was serialized in one step")
	}
	steps := 1
	for h.s.snap != nil {
		if steps > 10 {
			t.Fatalf("snapshot still running after %d steps", steps)
		}
		// Between chunks: ack jobs from both ends of the store (some
		// already serialized, some not yet) and add new ones.
		acked := []string{live[0], live[len(live)-1]}
		live = live[1 : len(live)-1]
		if r := step(call{Op{Kind: OpIDs, Sub: IDAck}, acked}); len(r) != 1 || r[0].Code != Part || r[0].N != 2 {
			t.Fatalf("ACKJOB of 2 jobs: %v; want a count of 2", r)
		}
		live = append(live, add(10, fmt.Sprint("during", steps, "-"))...)
		steps++
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := loggedIDs(t, path)
	if len(got) != len(live) {
		t.Fatalf("rewritten log holds %d jobs; the shard has %d", len(got), len(live))
	}
	for _, id := range live {
		if !got[id] {
			t.Fatalf("job %s missing from the rewritten log", id)
		}
	}
	t.Logf("20000 jobs snapshotted over %d rounds of two steps; %d jobs in the rewritten log", steps, len(got))
}
