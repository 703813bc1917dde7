package cluster_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// Federation (semantics.md 10): consumers on node 0 receive jobs produced
// on random nodes (GETJOB TIMEOUT 5000, the upstream test), a consumer
// blocked on one node gets a job produced on another, and QSTAT/QSCAN show
// the import rate right after imports.
func TestFederation(t *testing.T) {
	c := startCluster(t, 3)
	ids := []string{c.ID(0), c.ID(1), c.ID(2)}

	const n = 100
	produced := map[string]bool{}
	for k := range n {
		from := rand.IntN(3)
		repl := strconv.Itoa(1 + rand.IntN(3))
		produced[c.addJob(from, "fed", "j"+strconv.Itoa(k), "REPLICATE", repl)] = true
	}
	start := time.Now()
	got := map[string]int{}
	cons := c.dial(0)
	for len(got) < n {
		r := cons.Do("GETJOB", "TIMEOUT", "5000", "FROM", "fed")
		if r.Kind == resp.KindArray && r.IsNull() {
			t.Fatalf("GETJOB TIMEOUT 5000 on node 0 timed out with %d of %d jobs received", len(got), n)
		}
		for _, j := range testclient.Jobs(t, r) {
			if !produced[j.ID] {
				t.Fatalf("received unknown job %s", j.ID)
			}
			got[j.ID]++
			cons.Expect(":1", "ACKJOB", j.ID)
		}
	}
	el := time.Since(start)
	qs := c.cli(0).Do("QSTAT", "fed")
	dups := 0
	for _, v := range got {
		dups += v - 1
	}
	t.Logf("node 0 received all %d jobs produced on random nodes in %v (%d duplicates); QSTAT: %s", n, el.Round(time.Millisecond), dups, qs)
	if dups > 0 {
		t.Errorf("%d duplicate deliveries with a healthy network and RETRY 300", dups)
	}
	if rate := testclient.Field(qs, "import-rate"); rate.Int < 1 {
		t.Fatalf("QSTAT fed import-rate right after the imports: %s; want >= 1", rate)
	}
	from := testclient.Field(qs, "import-from")
	if from.Kind != resp.KindArray || len(from.Elems) == 0 {
		t.Fatalf("QSTAT import-from after imports: %s; want the suppliers' IDs", from)
	}
	for _, e := range from.Elems {
		if s := string(e.Str); s != ids[1] && s != ids[2] {
			t.Fatalf("import-from lists %s, not another node", s)
		}
	}
	c.waitGone(10*time.Second, "acked federated jobs", slices.Collect(func(yield func(string) bool) {
		for id := range produced {
			if !yield(id) {
				return
			}
		}
	})...)

	// A consumer already blocked on node 2 gets a job produced on node 1.
	// Its first discovery broadcast found nothing; the next one goes out
	// about 4 s later (2 s x 2^b backoff, 10.2), hence the longer timeout.
	blocked := c.dial(2)
	blocked.Send("GETJOB", "TIMEOUT", "10000", "FROM", "fed2")
	blocked.ExpectSilent(200*time.Millisecond, "GETJOB on an empty queue")
	id := c.addJob(1, "fed2", "x", "REPLICATE", "1")
	start = time.Now()
	jobs := testclient.Jobs(t, blocked.Read())
	if len(jobs) != 1 || jobs[0].ID != id {
		t.Fatalf("blocked consumer on node 2: %+v; want %s from node 1", jobs, id)
	}
	t.Logf("blocked consumer on node 2 got a job produced on node 1 after %v", time.Since(start).Round(time.Millisecond))

	// Four queues served by importing 4 jobs each: all four show up in
	// QSCAN BUSYLOOP IMPORTRATE 1 on the importer, right after.
	qs4 := []string{"imp-a", "imp-b", "imp-c", "imp-d"}
	for _, q := range qs4 {
		for k := range 4 {
			c.addJob(1, q, strconv.Itoa(k), "REPLICATE", "1")
		}
	}
	start = time.Now()
	for _, q := range qs4 {
		for k := range 4 {
			r := cons.Do("GETJOB", "TIMEOUT", "5000", "FROM", q)
			if jobs := testclient.Jobs(t, r); len(jobs) != 1 {
				t.Fatalf("GETJOB %d from %s on node 0: %s", k, q, r)
			}
		}
	}
	t.Logf("4 queues x 4 jobs imported by node 0 in %v", time.Since(start).Round(time.Millisecond))
	r := c.cli(0).Do("QSCAN", "BUSYLOOP", "IMPORTRATE", "1")
	if r.Kind != resp.KindArray || len(r.Elems) != 2 || string(r.Elems[0].Str) != "0" {
		t.Fatalf("QSCAN BUSYLOOP IMPORTRATE 1: %s", r)
	}
	var names []string
	for _, e := range r.Elems[1].Elems {
		names = append(names, string(e.Str))
	}
	for _, q := range qs4 {
		if !slices.Contains(names, q) {
			t.Fatalf("QSCAN BUSYLOOP IMPORTRATE 1 on the importer: %v; want all of %v", names, qs4)
		}
		if rate := testclient.Field(c.cli(0).Do("QSTAT", q), "import-rate"); rate.Int < 1 {
			t.Fatalf("QSTAT %s import-rate %s; want >= 1", q, rate)
		}
	}
	r = c.cli(1).Do("QSCAN", "BUSYLOOP", "IMPORTRATE", "1")
	if len(r.Elems) != 2 || len(r.Elems[1].Elems) != 0 {
		t.Fatalf("QSCAN BUSYLOOP IMPORTRATE 1 on the supplier: %s; want no queue", r)
	}
}
