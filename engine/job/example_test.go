package job_test

import (
	"fmt"

	"disq/engine/job"
)

// A job's lifecycle on the node that created it: ADDJOB with DELAY 0 queues
// it, GETJOB delivers it, ACKJOB acknowledges it, and garbage collection
// frees the record. The shard carries out the printed effects.
func ExampleJob_Apply() {
	const now job.Millis = 1_451_750_000_123 // the shard reads the clock
	j := job.Job{
		CTime:  uint64(now) * 1_000_000,
		Expire: now + 86_400_000, // TTL 1 day
		Retry:  300,
		Repl:   1,
		Queue:  1,
	}
	for i, kind := range []job.EventKind{job.EvAdd, job.EvDeliver, job.EvAck, job.EvDelete} {
		t := now + job.Millis(i)*1000
		eff, err := j.Apply(job.Event{Kind: kind}, t)
		if err != nil {
			fmt.Println(kind, err)
			continue
		}
		fmt.Printf("%-7v -> %-6v %v\n", kind, j.State, eff)
		if j.State == job.Active {
			fmt.Println("        requeue in", j.NextRequeue(t)-t, "ms")
		}
	}
	// Acknowledged and collected: nothing applies any more.
	_, err := j.Apply(job.Event{Kind: job.EvAck}, now+5000)
	fmt.Println(err)
	// Output:
	// add     -> queued enqueue|schedule|log-add
	// deliver -> active dequeue|schedule
	//         requeue in 299000 ms
	// ack     -> acked  schedule|gc|log-del
	// delete  -> free   free
	// job: event does not apply in this state
}

func ExampleParseID() {
	text := []byte("D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1")
	if !job.ValidID(text) {
		fmt.Println("-BADID")
		return
	}
	id, ok := job.ParseID(text)
	fmt.Println("parsed:", ok)
	fmt.Printf("node prefix: %x\n", id.NodePrefix())
	fmt.Println("slot:", id.Slot(), "=", job.SlotOfText(text))
	field := id.TTLField()
	// The TTL in minutes, with 2-minute precision: the lowest bit says
	// whether RETRY > 0.
	fmt.Printf("ttl field: %#04x (TTL ~%d minutes, at-least-once: %v)\n", field, field&^1, field&1 == 1)
	fmt.Println(string(id.AppendText(nil)) == string(text))
	// Output:
	// parsed: true
	// node prefix: dcb833cf
	// slot: 3864 = 3864
	// ttl field: 0x05a1 (TTL ~1440 minutes, at-least-once: true)
	// true
}
