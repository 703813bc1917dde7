package engine_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

const (
	errCursor    = "-ERR invalid cursor or option name"
	errStateName = "-ERR Invalid job state name"
	errReplyType = "-ERR Invalid REPLY type, try ID or ALL"
)

// TestScan covers QSCAN and JSCAN (commands.md 2.11, 3.4): option parsing
// and every error text, reply shapes, BUSYLOOP, COUNT, the filters, and the
// iteration contract under concurrent change. The subtests run in order on
// a server of their own: the filters are checked against exact sets.
func TestScan(t *testing.T) {
	t.Parallel()
	const shards = 3
	srv := startServer(t, shards)
	c := testclient.Dial(t, srv.Addr)

	// Queues of known lengths, one or more per shard; an empty one.
	lens := map[string]int{}
	for i, q := range diffShards("sc-len", shards, shards) {
		lens[q] = []int{1, 2, 5}[i]
	}
	var lenJobs []string
	for q, n := range lens {
		for k := 0; k < n; k++ {
			lenJobs = append(lenJobs, c.AddJob(q, fmt.Sprint(k)))
		}
	}
	const empty = "sc-empty"
	c.Expect("(nil array)", "GETJOB", "NOHANG", "FROM", empty) // creates the queue
	lens[empty] = 0

	// Jobs in known states: queued (sc-j-a), one fetched = active (sc-j-b),
	// delayed = active (sc-j-c).
	var queued, active []string
	for k := 0; k < 3; k++ {
		queued = append(queued, c.AddJob("sc-j-a", "a"+fmt.Sprint(k)))
	}
	b0 := c.AddJob("sc-j-b", "b0")
	b1 := c.AddJob("sc-j-b", "b1")
	// GETJOB takes the oldest: b0 becomes active, b1 stays queued.
	if js := c.GetJobs("NOHANG", "FROM", "sc-j-b"); len(js) != 1 || js[0].ID != b0 {
		t.Fatalf("GETJOB sc-j-b: got %s; want b0", jobsString(js))
	}
	queued = append(queued, b1)
	active = append(active, b0, c.AddJob("sc-j-c", "c", "DELAY", "3600"))
	allQueues := []string{"sc-j-a", "sc-j-b", "sc-j-c", empty}
	for q := range lens {
		if q != empty {
			allQueues = append(allQueues, q)
		}
	}
	allJobs := append(append(append([]string{}, queued...), active...), lenJobs...)

	t.Run("Errors", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for _, tc := range []struct {
			want string
			args []string
		}{
			{errCursor, []string{"QSCAN", "abc"}},
			{errCursor, []string{"QSCAN", "1.5"}},
			{errCursor, []string{"QSCAN", "18446744073709551616"}},
			{errCursor, []string{"QSCAN", ""}},
			{errCursor, []string{"QSCAN", "COUNT"}}, // a keyword without its value is a cursor
			{errCursor, []string{"QSCAN", "MINLEN"}},
			{errCursor, []string{"QSCAN", "MAXLEN"}},
			{errCursor, []string{"QSCAN", "IMPORTRATE"}},
			{errCursor, []string{"QSCAN", "STATE", "queued"}}, // a JSCAN option
			{errCursor, []string{"QSCAN", "0", "COUNT", "10", "QUEUE"}},
			{errSyntax, []string{"QSCAN", "0", "0"}},
			{errSyntax, []string{"QSCAN", "1", "COUNT", "5", "2"}},
			{errNotInteger, []string{"QSCAN", "COUNT", "abc"}},
			{errNotInteger, []string{"QSCAN", "COUNT", "1.5"}},
			{errNotInteger, []string{"QSCAN", "COUNT", "99999999999999999999"}},
			{errNotInteger, []string{"QSCAN", "MINLEN", "x"}},
			{errNotInteger, []string{"QSCAN", "MAXLEN", "x"}},
			{errNotInteger, []string{"QSCAN", "IMPORTRATE", "1.5"}},
			{errCursor, []string{"JSCAN", "abc"}},
			{errCursor, []string{"JSCAN", "COUNT"}},
			{errCursor, []string{"JSCAN", "QUEUE"}},
			{errCursor, []string{"JSCAN", "STATE"}},
			{errCursor, []string{"JSCAN", "REPLY"}},
			{errCursor, []string{"JSCAN", "MINLEN", "1"}}, // a QSCAN option
			{errSyntax, []string{"JSCAN", "0", "0"}},
			{errSyntax, []string{"JSCAN", "5", "BUSYLOOP", "7"}},
			{errNotInteger, []string{"JSCAN", "COUNT", "abc"}},
			{errStateName, []string{"JSCAN", "STATE", "foo"}},
			{errStateName, []string{"JSCAN", "STATE", "queued", "STATE", "waitrepl"}},
			{errStateName, []string{"JSCAN", "STATE", ""}},
			{errReplyType, []string{"JSCAN", "REPLY", "foo"}},
			{errReplyType, []string{"JSCAN", "REPLY", "ids"}},
			{errReplyType, []string{"JSCAN", "REPLY", ""}},
		} {
			c.Expect(tc.want, tc.args...)
		}
		c.Expect("+PONG", "PING")
	})

	t.Run("QScanShape", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		r := c.Do("QSCAN", "BUSYLOOP")
		cur, items := scanPage(t, r, "QSCAN BUSYLOOP")
		if cur != "0" {
			t.Errorf("QSCAN BUSYLOOP: cursor %q; want \"0\"", cur)
		}
		for _, it := range items {
			if it.Kind != resp.KindBulk || it.IsNull() {
				t.Fatalf("QSCAN item %s; want a bulk string (queue name)", it)
			}
		}
		got := strs(items)
		slices.Sort(got)
		want := slices.Clone(allQueues)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("QSCAN BUSYLOOP: got %q; want every queue %q (including the empty one)", got, want)
		}
		// Case-insensitive keywords; the cursor anywhere.
		for _, args := range [][]string{
			{"qscan", "busyloop"},
			{"QSCAN", "Count", "1000", "BusyLoop", "0"},
			{"QSCAN", "0", "COUNT", "1000", "BUSYLOOP"},
		} {
			cur, items := scanPage(t, c.Do(args...), strings.Join(args, " "))
			if cur != "0" || len(items) != len(allQueues) {
				t.Errorf("%s: got cursor %s and %d queues; want \"0\" and %d", strings.Join(args, " "), cur, len(items), len(allQueues))
			}
		}
	})

	t.Run("JScanShape", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		for _, args := range [][]string{{"JSCAN", "BUSYLOOP"}, {"JSCAN", "BUSYLOOP", "REPLY", "id"}, {"jscan", "reply", "ID", "busyloop"}} {
			cur, items := scanPage(t, c.Do(args...), strings.Join(args, " "))
			if cur != "0" {
				t.Errorf("%s: cursor %q; want \"0\"", strings.Join(args, " "), cur)
			}
			for _, it := range items {
				if it.Kind != resp.KindSimple || !testclient.IsJobID(string(it.Str)) {
					t.Fatalf("%s: item %s; want a job ID as a simple string (+D-...)", strings.Join(args, " "), it)
				}
			}
			got := strs(items)
			slices.Sort(got)
			want := slices.Clone(allJobs)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s: got %d jobs %q; want %d %q", strings.Join(args, " "), len(got), got, len(want), want)
			}
		}
		// REPLY all: the SHOW array of each job.
		for _, reply := range []string{"all", "ALL"} {
			cur, items := scanPage(t, c.Do("JSCAN", "BUSYLOOP", "REPLY", reply), "JSCAN BUSYLOOP REPLY "+reply)
			if cur != "0" || len(items) != len(allJobs) {
				t.Fatalf("JSCAN BUSYLOOP REPLY %s: got cursor %s and %d items; want \"0\" and %d", reply, cur, len(items), len(allJobs))
			}
			for _, it := range items {
				if it.Kind != resp.KindArray || len(it.Elems) != 30 {
					t.Fatalf("JSCAN REPLY %s item %s; want the 30-element SHOW array", reply, it)
				}
				for i, k := range showKeys {
					if got := it.Elems[2*i]; got.Kind != resp.KindBulk || string(got.Str) != k {
						t.Fatalf("JSCAN REPLY %s item: key %d got %s; want %q", reply, i, got, k)
					}
				}
				id := string(testclient.Field(it, "id").Str)
				if want := show(t, c, id); want.String() != it.String() {
					// Only the countdown fields may differ between the two calls.
					for _, k := range []string{"id", "queue", "state", "body", "nacks", "ctime"} {
						if a, b := testclient.Field(it, k).String(), testclient.Field(want, k).String(); a != b {
							t.Errorf("JSCAN REPLY all for %s: %s got %s; SHOW says %s", id, k, a, b)
						}
					}
				}
			}
		}
		// The last REPLY wins.
		_, items := scanPage(t, c.Do("JSCAN", "BUSYLOOP", "REPLY", "all", "REPLY", "id"), "JSCAN REPLY all REPLY id")
		if len(items) == 0 || items[0].Kind != resp.KindSimple {
			t.Errorf("JSCAN REPLY all REPLY id: first item %v; want a simple-string ID", items)
		}
	})

	t.Run("BusyLoopFromCursor", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// BUSYLOOP finishes the iteration from any cursor: cursor "0".
		r := c.Do("JSCAN", "COUNT", "1")
		cur, first := scanPage(t, r, "JSCAN COUNT 1")
		if cur == "0" {
			t.Skip("the first JSCAN COUNT 1 call completed the iteration")
		}
		cur2, rest := scanPage(t, c.Do("JSCAN", cur, "BUSYLOOP"), "JSCAN <cursor> BUSYLOOP")
		if cur2 != "0" {
			t.Errorf("JSCAN %s BUSYLOOP: cursor %q; want \"0\"", cur, cur2)
		}
		got := set(strs(append(first, rest...))...)
		for _, id := range allJobs {
			if !got[id] {
				t.Errorf("JSCAN COUNT 1 then BUSYLOOP: job %s missing", id)
			}
		}
	})

	t.Run("Count", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// COUNT 0 (and negative) still makes one step per call: the
		// iteration ends; COUNT 1 and a large COUNT give the same set.
		for _, count := range []string{"0", "-5", "1", "2", "1000"} {
			items, calls := scanAll(t, c, 5000, "JSCAN", "COUNT", count)
			got := set(strs(items)...)
			if len(got) != len(allJobs) {
				t.Errorf("JSCAN COUNT %s: got %d distinct jobs in %d calls; want %d", count, len(got), calls, len(allJobs))
			}
			for _, id := range allJobs {
				if !got[id] {
					t.Errorf("JSCAN COUNT %s: job %s never returned", count, id)
				}
			}
			qs, qcalls := scanAll(t, c, 5000, "QSCAN", "COUNT", count)
			gotQ := set(strs(qs)...)
			for _, q := range allQueues {
				if !gotQ[q] {
					t.Errorf("QSCAN COUNT %s: queue %q never returned (%d calls)", count, q, qcalls)
				}
			}
			if len(gotQ) != len(allQueues) {
				t.Errorf("QSCAN COUNT %s: got %d distinct queues; want %d", count, len(gotQ), len(allQueues))
			}
			if count == "0" && calls < 2 {
				t.Errorf("JSCAN COUNT 0: finished in %d call for %d jobs on %d shards; want one step per call", calls, len(allJobs), shards)
			}
		}
	})

	t.Run("QScanFilters", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		lenOf := func(q string) int {
			if n, ok := lens[q]; ok {
				return n
			}
			return int(qlen(c, q))
		}
		for _, tc := range []struct {
			opts []string
			keep func(n int) bool
		}{
			{[]string{"MINLEN", "2"}, func(n int) bool { return n >= 2 }},
			{[]string{"MINLEN", "0"}, func(n int) bool { return true }},
			{[]string{"MINLEN", "-3"}, func(n int) bool { return true }},
			{[]string{"MAXLEN", "1"}, func(n int) bool { return n <= 1 }},
			{[]string{"MAXLEN", "0"}, func(n int) bool { return n == 0 }},
			{[]string{"MINLEN", "2", "MAXLEN", "4"}, func(n int) bool { return n >= 2 && n <= 4 }},
			{[]string{"minlen", "5", "maxlen", "5"}, func(n int) bool { return n == 5 }},
			{[]string{"MINLEN", "6"}, func(n int) bool { return false }},
			{[]string{"IMPORTRATE", "0"}, func(n int) bool { return true }},
			// Import rates are 0 on a lone node: any positive rate filters
			// every queue out.
			{[]string{"IMPORTRATE", "1"}, func(n int) bool { return false }},
			{[]string{"MINLEN", "1", "IMPORTRATE", "1"}, func(n int) bool { return false }},
		} {
			for _, count := range []string{"1", "100"} {
				opts := append([]string{"COUNT", count}, tc.opts...)
				items, _ := scanAll(t, c, 1000, "QSCAN", opts...)
				got := set(strs(items)...)
				for _, q := range allQueues {
					n := lenOf(q)
					if want := tc.keep(n); got[q] != want {
						t.Errorf("QSCAN %s: queue %q (len %d) returned=%v; want %v", strings.Join(opts, " "), q, n, got[q], want)
					}
				}
				if len(got) > len(allQueues) {
					t.Errorf("QSCAN %s: got %q; want only known queues", strings.Join(opts, " "), strs(items))
				}
			}
		}
	})

	t.Run("JScanFilters", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		byQueue := map[string][]string{"sc-j-a": queued[:3], "sc-j-b": {queued[3], active[0]}, "sc-j-c": {active[1]}}
		for _, tc := range []struct {
			opts []string
			want []string
		}{
			{[]string{"STATE", "queued"}, append(slices.Clone(queued), lenJobs...)},
			{[]string{"STATE", "QUEUED"}, append(slices.Clone(queued), lenJobs...)},
			{[]string{"STATE", "active"}, active},
			{[]string{"STATE", "Active"}, active},
			{[]string{"STATE", "active", "STATE", "queued"}, allJobs},
			{[]string{"STATE", "acked"}, nil},     // acked jobs are deleted at once on a lone node
			{[]string{"STATE", "wait-repl"}, nil}, // nothing waits for replication on a lone node
			{[]string{"STATE", "wait-repl", "STATE", "active"}, active},
			{[]string{"QUEUE", "sc-j-a"}, byQueue["sc-j-a"]},
			{[]string{"QUEUE", "sc-j-b"}, byQueue["sc-j-b"]},
			{[]string{"QUEUE", "sc-j-c"}, byQueue["sc-j-c"]},
			{[]string{"QUEUE", "sc-j-b", "STATE", "active"}, active[:1]},
			{[]string{"QUEUE", "sc-j-b", "STATE", "queued"}, queued[3:4]},
			{[]string{"QUEUE", "sc-j-a", "STATE", "active"}, nil},
			{[]string{"QUEUE", "SC-J-A"}, nil}, // queue names are case-sensitive
			{[]string{"QUEUE", "sc-nosuch"}, nil},
			{[]string{"QUEUE", empty}, nil},
			{[]string{"QUEUE", "sc-nosuch", "QUEUE", "sc-j-c"}, byQueue["sc-j-c"]}, // the last QUEUE wins
		} {
			for _, count := range []string{"1", "100"} {
				opts := append([]string{"COUNT", count}, tc.opts...)
				items, _ := scanAll(t, c, 1000, "JSCAN", opts...)
				got := strs(items)
				slices.Sort(got)
				got = slices.Compact(got)
				want := slices.Clone(tc.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("JSCAN %s: got %q; want %q", strings.Join(opts, " "), got, want)
				}
			}
		}
		// REPLY all with filters gives the right states.
		_, items := scanPage(t, c.Do("JSCAN", "BUSYLOOP", "STATE", "active", "REPLY", "all"), "JSCAN STATE active REPLY all")
		if len(items) != len(active) {
			t.Fatalf("JSCAN STATE active REPLY all: got %d items; want %d", len(items), len(active))
		}
		for _, it := range items {
			if st := testclient.Field(it, "state").String(); st != `"active"` {
				t.Errorf("JSCAN STATE active REPLY all: item state %s; want \"active\"", st)
			}
		}
	})

	t.Run("NoDummyAcks", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// ACKJOB of unknown jobs creates no dummy ACK on a lone node (and a
		// dummy ACK would never be listed anyway).
		before := infoInt(t, c, "jobs", "registered_jobs")
		c.Expect(":0", "ACKJOB", unknownID, "D-00000000-BBBBBBBBBBBBBBBBBBBBBBBB-05a1")
		items, _ := scanAll(t, c, 100, "JSCAN", "BUSYLOOP")
		for _, id := range strs(items) {
			if id == unknownID {
				t.Errorf("JSCAN lists %s, a job that was only acknowledged (dummy ACK)", id)
			}
		}
		if got := infoInt(t, c, "jobs", "registered_jobs"); got != before {
			t.Errorf("registered_jobs after ACKJOB of unknown IDs: got %d; want %d", got, before)
		}
		_, items = scanPage(t, c.Do("JSCAN", "BUSYLOOP", "STATE", "acked"), "JSCAN STATE acked")
		if len(items) != 0 {
			t.Errorf("JSCAN STATE acked: got %s; want no job", strs(items))
		}
	})

	t.Run("CompleteUnderChange", func(t *testing.T) {
		c := testclient.Dial(t, srv.Addr)
		// Stable jobs and queues on every shard, present for the whole
		// test, while a goroutine keeps adding and acking jobs in other
		// queues (new queue names each time). Every full iteration must
		// return each stable job and queue at least once.
		stableQ := diffShards("sc-stable", shards, shards)
		for i := 0; i < 12; i++ {
			stableQ = append(stableQ, fmt.Sprintf("sc-stable-x%d", i))
		}
		var stableIDs []string
		var cmds [][]string
		for i := 0; i < 300; i++ {
			cmds = append(cmds, []string{"ADDJOB", stableQ[i%len(stableQ)], fmt.Sprint(i), "0"})
		}
		for _, r := range c.Pipeline(cmds...) {
			if r.Kind != resp.KindSimple {
				t.Fatalf("ADDJOB: got %s", r)
			}
			stableIDs = append(stableIDs, string(r.Str))
		}
		stable := append(slices.Clone(allJobs), stableIDs...)
		stableQueues := append(slices.Clone(allQueues), stableQ...)

		stop := make(chan struct{})
		var wg sync.WaitGroup
		errc := make(chan error, 1)
		var churned atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := dialRaw(srv.Addr)
			if err != nil {
				errc <- err
				return
			}
			defer rc.Close()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				var adds [][]string
				for k := 0; k < 20; k++ {
					adds = append(adds, []string{"ADDJOB", fmt.Sprintf("sc-churn-%d-%d", round%25, k%7), "x", "0"})
				}
				// New empty queues too, from a bounded set of names (queue
				// objects are evicted only after 300 s: an unbounded set
				// would let a one-step-per-call QSCAN chase it forever).
				adds = append(adds, []string{"GETJOB", "NOHANG", "FROM", fmt.Sprintf("sc-churn-empty-%d", round%50)})
				reps, err := rc.pipeline(adds...)
				if err != nil {
					errc <- err
					return
				}
				acks := []string{"ACKJOB"}
				for _, r := range reps[:20] {
					if !strings.HasPrefix(r, "+D-") {
						errc <- fmt.Errorf("churn ADDJOB: got %s", r)
						return
					}
					acks = append(acks, r[1:])
				}
				// Ack half now, half later (positions freed and reused).
				if _, err := rc.pipeline(acks[:11]); err != nil {
					errc <- err
					return
				}
				if _, err := rc.pipeline(append([]string{"ACKJOB"}, acks[11:]...)); err != nil {
					errc <- err
					return
				}
				churned.Add(20)
				time.Sleep(2 * time.Millisecond)
			}
		}()
		defer func() {
			close(stop)
			wg.Wait()
		}()

		check := func(what string, items []resp.Reply, want []string) {
			t.Helper()
			got := set(strs(items)...)
			missing := 0
			for _, x := range want {
				if !got[x] {
					missing++
					if missing <= 5 {
						t.Errorf("%s: %q present during the whole iteration but never returned", what, x)
					}
				}
			}
			if missing > 5 {
				t.Errorf("%s: %d items missing in all", what, missing)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for _, count := range []string{"3", "0", "10"} {
			if time.Now().After(deadline) {
				t.Fatalf("iterations took more than 20 s")
			}
			items, calls := scanAll(t, c, 20000, "JSCAN", "COUNT", count)
			check(fmt.Sprintf("JSCAN COUNT %s (%d calls)", count, calls), items, stable)
			qitems, qcalls := scanAll(t, c, 20000, "QSCAN", "COUNT", count)
			check(fmt.Sprintf("QSCAN COUNT %s (%d calls)", count, qcalls), qitems, stableQueues)
		}
		items, _ := scanAll(t, c, 1, "JSCAN", "BUSYLOOP")
		check("JSCAN BUSYLOOP", items, stable)
		qitems, _ := scanAll(t, c, 1, "QSCAN", "BUSYLOOP")
		check("QSCAN BUSYLOOP", qitems, stableQueues)
		select {
		case err := <-errc:
			t.Fatalf("churn goroutine: %v", err)
		default:
		}
		t.Logf("churn added and acked about %d jobs during the iterations", churned.Load())
	})
}
