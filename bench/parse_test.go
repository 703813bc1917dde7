package bench

import (
	"math"
	"strings"
	"sync"
	"testing"

	"disq/netpoll/resp"
)

func TestWalkJobs(t *testing.T) {
	id1, id2 := "D-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1", "D-dcb833cf-DyKdAz6uH7KOtCtkWPRzY67p-05a1"
	job := func(q, id, body string, counters bool) []byte {
		n := 3
		if counters {
			n = 7
		}
		b := resp.AppendArray(nil, n)
		b = resp.AppendBulkString(b, q)
		b = resp.AppendBulkString(b, id)
		b = resp.AppendBulkString(b, body)
		if counters {
			b = resp.AppendBulkString(b, "nacks")
			b = resp.AppendInt(b, 1)
			b = resp.AppendBulkString(b, "additional-deliveries")
			b = resp.AppendInt(b, 0)
		}
		return b
	}
	for _, counters := range []bool{false, true} {
		rep := resp.AppendArray(nil, 2)
		rep = append(rep, job("q", id1, "hello", counters)...)
		rep = append(rep, job("other", id2, strings.Repeat("x", 1024), counters)...)
		if n, _, err := resp.SkipReply(rep); err != nil || n != len(rep) {
			t.Fatalf("test reply is malformed: %d %v", n, err)
		}
		jobs := walkJobs(nil, rep)
		if len(jobs) != 2 || string(jobs[0].id) != id1 || string(jobs[0].body) != "hello" ||
			string(jobs[1].id) != id2 || len(jobs[1].body) != 1024 {
			t.Fatalf("counters=%v: got %q", counters, jobs)
		}
	}
	if jobs := walkJobs(nil, []byte("*-1\r\n")); len(jobs) != 0 {
		t.Fatalf("null array: %q", jobs)
	}
}

func TestBRPopBodyAndBulk(t *testing.T) {
	rep := resp.AppendCommandStrings(nil, "q", "value") // *2 $q $value
	if got := string(brpopBody(rep)); got != "value" {
		t.Fatalf("got %q", got)
	}
	if brpopBody([]byte("*-1\r\n")) != nil {
		t.Fatal("null array gave a body")
	}
	if b, next := bulkAt([]byte("$-1\r\n"), 0); b != nil || next != 5 {
		t.Fatalf("null bulk: %q %d", b, next)
	}
	if v, next := header([]byte(":-42\r\n"), 0); v != -42 || next != 6 {
		t.Fatalf("header: %d %d", v, next)
	}
}

func TestToken(t *testing.T) {
	tok := makeToken(0xbeef, 123456789012)
	b := make([]byte, 20)
	putToken(b, tok)
	if string(b[:16]) != "beef001cbe991a14" {
		t.Fatalf("hex %q", b[:16])
	}
	got, ok := getToken(b)
	if !ok || got != tok {
		t.Fatalf("round trip: %x %v", got, ok)
	}
	if n, seq := splitToken(tok); n != 0xbeef || seq != 123456789012 {
		t.Fatalf("split: %x %d", n, seq)
	}
	if _, ok := getToken([]byte("not-a-token-at-all")); ok {
		t.Fatal("accepted a non-hex body")
	}
	if _, ok := getToken([]byte("abc")); ok {
		t.Fatal("accepted a short body")
	}
}

func TestTemplates(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Replicate, cfg.Retry, cfg.TTL, cfg.Delay, cfg.Async, cfg.AddTimeout = 1, 5, 60, 0, true, 100
	body := makeBody(20, 1)
	tp := addTemplates(&cfg, []string{"q"}, body)[0]
	r, n, err := resp.ReadReply(tp.b) // a request is an array of bulks, as a reply
	if err != nil || n != len(tp.b) {
		t.Fatalf("template does not parse: %v", err)
	}
	var args []string
	for _, e := range r.Elems {
		args = append(args, string(e.Str))
	}
	want := "ADDJOB q " + string(body) + " 100 REPLICATE 1 DELAY 0 RETRY 5 TTL 60 ASYNC"
	if strings.Join(args, " ") != want {
		t.Fatalf("got %q\nwant %q", strings.Join(args, " "), want)
	}
	if string(tp.b[tp.tok:tp.tok+TokenLen]) != string(body[:TokenLen]) {
		t.Fatal("token offset does not point at the body")
	}
	cfg.Target = Redis
	if tp := addTemplates(&cfg, []string{"q"}, []byte("short"))[0]; tp.tok != -1 || tp.op != opLpush {
		t.Fatalf("short body: tok %d op %v", tp.tok, tp.op)
	}
	// Fetch templates rotate over the queues.
	qs := []string{"a", "b", "c"}
	cfg.Pattern = LMove
	f := fetchTemplates(&cfg, qs, 1, true)
	if len(f) != 3 || !strings.Contains(string(f[0].b), "LMOVE\r\n$1\r\nb\r\n$12\r\nb:processing") {
		t.Fatalf("lmove templates: %q", f[0].b)
	}
	cfg.Pattern = BRPop
	if f := fetchTemplates(&cfg, qs, 2, true); len(f) != 1 || !strings.HasPrefix(string(f[0].b), "*5\r\n$5\r\nBRPOP\r\n$1\r\nc\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\n1\r\n") {
		t.Fatalf("brpop template: %q", f[0].b)
	}
	cfg.Target = Disque
	if f := fetchTemplates(&cfg, qs, 0, false); !strings.Contains(string(f[0].b), "NOHANG\r\n$4\r\nFROM\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n") {
		t.Fatalf("getjob template: %q", f[0].b)
	}
}

func TestTrackerBothOrders(t *testing.T) {
	tr := newTracker(7, 100)
	// Reply first, then delivery.
	tok := makeToken(7, 1)
	tr.sent(tok, 100)
	if _, rec := tr.replied(tok, 150, true); rec {
		t.Fatal("recorded before delivery")
	}
	fromSend, tracked, lat, rec := tr.delivered(tok, 400)
	if !tracked || !rec || lat != 250 || fromSend != 300 {
		t.Fatalf("reply first: tracked %v rec %v lat %d fromSend %d", tracked, rec, lat, fromSend)
	}
	// Delivery first (the job is queued before ADDJOB replies).
	tok = makeToken(7, 2)
	tr.sent(tok, 100)
	if _, tracked, _, rec := tr.delivered(tok, 120); !tracked || rec {
		t.Fatal("delivery first: recorded too early")
	}
	if lat, rec := tr.replied(tok, 130, true); !rec || lat != -10 {
		t.Fatalf("delivery first: lat %d rec %v", lat, rec)
	}
	// A wrapped slot, a foreign nonce and a failed ADDJOB are not tracked.
	small := newTracker(7, 4)
	old := makeToken(7, 1)
	small.sent(old, 0)
	small.sent(makeToken(7, 5), 0) // same slot
	if _, tracked, _, _ := small.delivered(old, 10); tracked {
		t.Fatal("wrapped slot tracked")
	}
	if _, tracked, _, _ := small.delivered(makeToken(8, 5), 10); tracked {
		t.Fatal("foreign nonce tracked")
	}
	tok = makeToken(7, 6)
	small.sent(tok, 0)
	small.replied(tok, 1, false)
	if _, _, _, rec := small.delivered(tok, 10); rec {
		t.Fatal("failed ADDJOB recorded")
	}
}

// Concurrent reply and delivery record each job exactly once.
func TestTrackerRace(t *testing.T) {
	const n = 20000
	tr := newTracker(1, n)
	for i := range n {
		tr.sent(makeToken(1, uint64(i)), 0)
	}
	var recs [2]int
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			if _, rec := tr.replied(makeToken(1, uint64(i)), 10, true); rec {
				recs[0]++
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			if _, _, _, rec := tr.delivered(makeToken(1, uint64(i)), 20); rec {
				recs[1]++
			}
		}
	}()
	wg.Wait()
	if recs[0]+recs[1] != n {
		t.Fatalf("recorded %d + %d times, want %d", recs[0], recs[1], n)
	}
}

func TestBudget(t *testing.T) {
	var b budget
	b.limit.Store(100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	total := int64(0)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start, k := b.claim(7)
				if k == 0 {
					return
				}
				mu.Lock()
				total += k
				for i := start; i < start+k; i++ {
					if seen[i] {
						t.Errorf("number %d claimed twice", i)
					}
					seen[i] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if total != 100 || !b.exhausted() {
		t.Fatalf("claimed %d, exhausted %v", total, b.exhausted())
	}
	b.unclaim(3)
	if _, k := b.claim(10); k != 3 {
		t.Fatalf("after unclaim(3), claim gave %d", k)
	}
	b.limit.Store(50) // the limit can drop below what was claimed
	if _, k := b.claim(1); k != 0 {
		t.Fatal("claimed past the limit")
	}
	b.slack = 60 // 50 + 60 = 110: 10 more than claimed
	if _, k := b.claim(100); k != 10 || !b.exhausted() {
		t.Fatalf("with slack 60 over limit 50 and 100 claimed, claim gave %d", k)
	}
	b.limit.Store(math.MaxInt64) // no overflow with slack on an unlimited budget
	if _, k := b.claim(5); k != 5 {
		t.Fatalf("unlimited budget with slack gave %d", k)
	}
}

func TestPendRing(t *testing.T) {
	var r pendRing
	var model []int64
	v := int64(0)
	for round := range 60 {
		for range round % 7 * 5 { // pushes grow the ring while it wraps
			r.push(pending{t: v})
			model = append(model, v)
			v++
		}
		for range round % 5 * 4 {
			if len(model) == 0 {
				break
			}
			if p := r.pop(); p.t != model[0] {
				t.Fatalf("popped %d, want %d", p.t, model[0])
			}
			model = model[1:]
		}
		if r.size != len(model) {
			t.Fatalf("size %d, want %d", r.size, len(model))
		}
	}
}
