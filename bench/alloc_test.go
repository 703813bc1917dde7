//go:build !race

package bench

import (
	"testing"
	"time"

	"disq/netpoll/resp"
)

// The steady state of a connection does not allocate: encoding a batch,
// walking its replies, recording latencies, staging and sending the
// acknowledgements.
func TestWorkerAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workload = Cycle
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	spec := phaseSpec{producers: 1, consumers: 1, pipeline: 16, jobs: 1 << 40, consLimit: 1 << 40, measured: true, track: true}
	ph := newPhase(&cfg, spec, 1)
	ph.start = time.Now()
	queues := cfg.QueueNames()
	prod := &worker{r: ph, role: roleProducer, add: addTemplates(&cfg, queues, makeBody(20, 1)), rbuf: make([]byte, 64<<10)}
	cons := &worker{r: ph, role: roleConsumer, fetch: fetchTemplates(&cfg, queues, 0, true), stageOp: opAck, rbuf: make([]byte, 64<<10)}

	addReplies := []byte{}
	for range 16 {
		addReplies = resp.AppendSimple(addReplies, "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1")
	}
	var getReplies, ackReplies []byte
	step := func() {
		// Producer: a batch of 16 ADDJOB, then their replies.
		prod.wbuf = prod.wbuf[:0]
		for range 16 {
			prod.appendAdd(prod.now(), false)
		}
		prod.rp, prod.rn = 0, copy(prod.rbuf, addReplies)
		if err := prod.process(prod.now()); err != nil {
			t.Fatal(err)
		}
		// Consumer: 16 GETJOB, their replies, then 16 ACKJOB and theirs.
		cons.wbuf = cons.wbuf[:0]
		for range 16 {
			cons.appendFetch(cons.now(), true, true)
		}
		cons.rp, cons.rn = 0, copy(cons.rbuf, getReplies)
		if err := cons.process(cons.now()); err != nil {
			t.Fatal(err)
		}
		cons.wbuf = cons.wbuf[:0]
		cons.appendStaged(cons.now())
		cons.rp, cons.rn = 0, copy(cons.rbuf, ackReplies)
		if err := cons.process(cons.now()); err != nil {
			t.Fatal(err)
		}
	}
	for range 16 {
		getReplies = resp.AppendArray(getReplies, 1)
		getReplies = resp.AppendArray(getReplies, 3)
		getReplies = resp.AppendBulkString(getReplies, "disq-bench")
		getReplies = resp.AppendBulkString(getReplies, "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1")
		getReplies = resp.AppendBulk(getReplies, makeBody(20, 1))
		ackReplies = resp.AppendInt(ackReplies, 1)
	}
	step() // warm up: histograms, buffers
	step()
	if n := testing.AllocsPerRun(100, step); n != 0 {
		t.Fatalf("%.1f allocations per batch of 16 jobs, want 0", n)
	}
	if cons.acked == 0 || prod.produced == 0 || cons.delivered == 0 {
		t.Fatalf("nothing happened: produced %d delivered %d acked %d", prod.produced, cons.delivered, cons.acked)
	}
}
