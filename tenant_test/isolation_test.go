package tenant_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// TestIsolation: every job and queue command of tenant beta (and of the
// default tenant) is blind to alpha's jobs and queues, even given alpha's
// job IDs, and leaves them as they were.
func TestIsolation(t *testing.T) {
	t.Parallel()
	e := startEnv(t)
	e.putTenant("alpha", "pa", nil)
	e.putTenant("beta", "pb", nil)
	a := e.dial("alpha", "pa")
	b := e.dial("beta", "pb")
	d := e.dial("", "")

	// alpha: 6 queued jobs in "q" (same name as beta's), one delivered
	// (active), one in a queue only alpha has.
	var queued []string
	for i := 0; i < 6; i++ {
		queued = append(queued, addJob(t, a, "q", "alpha-body"))
	}
	activeID := addJob(t, a, "q-active", "alpha-active")
	if got := a.GetJobs("NOHANG", "FROM", "q-active"); len(got) != 1 || got[0].ID != activeID {
		t.Fatalf("alpha GETJOB q-active: %+v", got)
	}
	onlyA := addJob(t, a, "alpha-only", "alpha-only-body")
	alphaIDs := append(append(slices.Clone(queued), activeID), onlyA)
	// beta: one job in its own "q".
	betaID := addJob(t, b, "q", "beta-body")

	checkAlpha := func(when string) {
		t.Helper()
		for _, id := range queued {
			if st := showState(t, a, id); st != "queued" {
				t.Fatalf("%s: alpha's job %s is %q; want queued", when, id, st)
			}
		}
		if st := showState(t, a, activeID); st != "active" {
			t.Fatalf("%s: alpha's active job is %q; want active", when, st)
		}
		if r := a.Do("SHOW", activeID); testclient.Field(r, "nacks").Int != 0 {
			t.Fatalf("%s: alpha's active job has nacks: %s", when, r)
		}
		a.Expect(":6", "QLEN", "q")
		a.Expect(":1", "QLEN", "alpha-only")
	}
	checkAlpha("before")

	for _, c := range []struct {
		name string
		cn   *testclient.Conn
	}{{"beta", b}, {"default", d}} {
		x := c.cn
		who := c.name
		// SHOW: nil for every one of alpha's IDs.
		for _, id := range alphaIDs {
			x.Expect("(nil)", "SHOW", id)
		}
		// WORKING: -NOJOB.
		x.Expect(errNoJob, "WORKING", activeID)
		x.Expect(errNoJob, "WORKING", queued[0])
		// Commands taking IDs: count 0, one ID at a time and all at once.
		for _, cmd := range []string{"ENQUEUE", "DEQUEUE", "NACK", "ACKJOB", "FASTACK", "DELJOB"} {
			for _, id := range alphaIDs {
				x.Expect(":0", cmd, id)
			}
			x.Expect(":0", append([]string{cmd}, alphaIDs...)...)
			checkAlpha(who + " " + cmd)
		}
		// Queue reads.
		x.Expect(":0", "QLEN", "alpha-only")
		x.Expect(":0", "QLEN", "q-active")
		x.Expect("[]", "QPEEK", "alpha-only", "10")
		x.Expect("[]", "QPEEK", "alpha-only", "-10")
		x.Expect("(nil array)", "QSTAT", "alpha-only")
		x.Expect("(nil array)", "QSTAT", "q-active")
		checkAlpha(who + " queue reads")
	}
	// beta's "q" is its own: length 1, QPEEK and QSTAT show only its job.
	b.Expect(":1", "QLEN", "q")
	if got := testclient.Jobs(t, b.Do("QPEEK", "q", "10")); len(got) != 1 || got[0].ID != betaID {
		t.Errorf("beta QPEEK q: %+v; want only %s", got, betaID)
	}
	if r := b.Do("QSTAT", "q"); r.Kind != resp.KindArray || testclient.Field(r, "len").Int != 1 || testclient.Field(r, "jobs-in").Int != 1 {
		t.Errorf("beta QSTAT q: %s; want len 1, jobs-in 1", r)
	}
	if r := a.Do("QSTAT", "q"); testclient.Field(r, "len").Int != 6 || testclient.Field(r, "jobs-in").Int != 6 {
		t.Errorf("alpha QSTAT q: %s; want len 6, jobs-in 6", r)
	}
	d.Expect(":0", "QLEN", "q")

	// INFO: each tenant counts only its own jobs and queues.
	for _, tc := range []struct {
		who          string
		c            *testclient.Conn
		jobs, queues string
	}{{"alpha", a, "8", "3"}, {"beta", b, "1", "1"}, {"default", d, "0", "0"}} {
		info := tc.c.Info()
		if info["registered_jobs"] != tc.jobs || info["registered_queues"] != tc.queues {
			t.Errorf("%s INFO: registered_jobs %s, registered_queues %s; want %s, %s",
				tc.who, info["registered_jobs"], info["registered_queues"], tc.jobs, tc.queues)
		}
	}

	// INFO stats: the job counters are node-wide; a tenant must not see
	// the others' activity through them (absent, or its own figure).
	for _, tc := range []struct {
		who     string
		c       *testclient.Conn
		created string
	}{{"beta", b, "1"}, {"default", d, "0"}} {
		info := tc.c.Info("stats")
		if v, ok := info["jobs_created"]; ok && v != tc.created {
			t.Errorf("%s INFO stats: jobs_created:%s counts other tenants' jobs; want absent or %s", tc.who, v, tc.created)
		}
		// The parsed map keeps one value per name: check the text too, so
		// a node-wide line beside the tenant's own is caught.
		raw := string(tc.c.Do("INFO", "stats").Str)
		for _, f := range []string{"jobs_created:", "jobs_acked:", "jobs_expired:", "jobs_requeued:"} {
			if n := strings.Count(raw, "\r\n"+f); n > 1 {
				t.Errorf("%s INFO stats: %d %s lines; want at most one (its own)", tc.who, n, f)
			}
		}
		for _, f := range []string{"jobs_evicted:", "repl_resends:"} {
			if strings.Contains(raw, "\r\n"+f) {
				t.Errorf("%s INFO stats: node-wide %s shown to a tenant", tc.who, f)
			}
		}
	}
	// HELLO is about nodes only: the same for every tenant.
	if ha, hb, hd := a.DoS("HELLO"), b.DoS("HELLO"), d.DoS("HELLO"); ha != hb || hb != hd {
		t.Errorf("HELLO differs between tenants: %s / %s / %s", ha, hb, hd)
	}

	// QSCAN / JSCAN: only one's own.
	if got := scanAll(t, a, "QSCAN"); !sameSet(got, []string{"q", "q-active", "alpha-only"}) {
		t.Errorf("alpha QSCAN: %v", got)
	}
	if got := scanAll(t, b, "QSCAN"); !sameSet(got, []string{"q"}) {
		t.Errorf("beta QSCAN: %v; want [q]", got)
	}
	if got := scanAll(t, d, "QSCAN"); len(got) != 0 {
		t.Errorf("default QSCAN: %v; want none", got)
	}
	if got := scanAll(t, a, "JSCAN"); !sameSet(got, alphaIDs) {
		t.Errorf("alpha JSCAN: %v; want %v", got, alphaIDs)
	}
	if got := scanAll(t, b, "JSCAN"); !sameSet(got, []string{betaID}) {
		t.Errorf("beta JSCAN: %v; want [%s]", got, betaID)
	}
	if got := scanAll(t, b, "JSCAN", "QUEUE", "q"); !sameSet(got, []string{betaID}) {
		t.Errorf("beta JSCAN QUEUE q: %v; want [%s]", got, betaID)
	}
	if got := scanAll(t, b, "JSCAN", "QUEUE", "alpha-only"); len(got) != 0 {
		t.Errorf("beta JSCAN QUEUE alpha-only: %v; want none", got)
	}
	if got := scanAll(t, b, "JSCAN", "STATE", "active"); len(got) != 0 {
		t.Errorf("beta JSCAN STATE active: %v; want none", got)
	}
	if got := scanAll(t, d, "JSCAN"); len(got) != 0 {
		t.Errorf("default JSCAN: %v; want none", got)
	}

	// GETJOB from the same-named queue: beta gets its own job only, then
	// nothing, though alpha's "q" has 6.
	if got := b.GetJobs("NOHANG", "COUNT", "10", "FROM", "q", "alpha-only", "q-active"); len(got) != 1 || got[0].ID != betaID {
		t.Fatalf("beta GETJOB: %+v; want only its own job", got)
	}
	b.Expect("(nil array)", "GETJOB", "NOHANG", "COUNT", "10", "FROM", "q", "alpha-only")
	d.Expect("(nil array)", "GETJOB", "NOHANG", "COUNT", "10", "FROM", "q", "alpha-only")
	// A blocked GETJOB of beta's is not served by alpha's ADDJOB.
	b.Send("GETJOB", "TIMEOUT", "400", "FROM", "alpha-only")
	addJob(t, a, "alpha-only", "alpha-only-2")
	if r, err := b.ReadTimeout(5 * time.Second); err != nil || r.String() != "(nil array)" {
		t.Fatalf("beta's blocked GETJOB after alpha's ADDJOB: %v %v; want (nil array) at its timeout", r, err)
	}
	a.Expect(":2", "QLEN", "alpha-only")

	// PAUSE: beta pausing its "q" does not pause alpha's, and the reverse.
	b.Expect("+in", "PAUSE", "q", "in")
	b.Expect(errPaused, "ADDJOB", "q", "x", "0")
	a.Expect("+none", "PAUSE", "q", "state")
	addJob(t, a, "q", "alpha-7")
	a.Expect("+all", "PAUSE", "alpha-only", "all")
	b.Expect("+none", "PAUSE", "alpha-only", "state")
	addJob(t, b, "alpha-only", "beta-in-its-own-alpha-only")
	if got := b.GetJobs("NOHANG", "FROM", "alpha-only"); len(got) != 1 || got[0].Body != "beta-in-its-own-alpha-only" {
		t.Fatalf("beta GETJOB from its own alpha-only (alpha's is paused): %+v", got)
	}
	d.Expect("+none", "PAUSE", "q", "state")
	a.Expect(":7", "QLEN", "q")
	a.Expect("+none", "PAUSE", "alpha-only", "none")

	// alpha's jobs are intact and still alpha's to handle.
	got := a.GetJobs("NOHANG", "COUNT", "100", "FROM", "q")
	if len(got) != 7 {
		t.Fatalf("alpha GETJOB q: %d jobs; want 7", len(got))
	}
	for _, j := range got {
		if j.Body != "alpha-body" && j.Body != "alpha-7" {
			t.Errorf("alpha got a job that is not its own: %+v", j)
		}
	}
	a.Expect(":1", "NACK", activeID)
	a.Expect(":1", "ACKJOB", queued[0])
	a.Expect(":1", "FASTACK", queued[1])
	a.Expect(":1", "DELJOB", onlyA)
	// Usage: alpha 10 jobs added, 3 released; beta 2, none released.
	if u := e.usage("alpha"); u.Jobs != 7 || u.Queues != 3 {
		t.Errorf("alpha usage: %d jobs, %d queues; want 7, 3", u.Jobs, u.Queues)
	}
	if u := e.usage("beta"); u.Jobs != 2 {
		t.Errorf("beta usage: %d jobs; want 2", u.Jobs)
	}
}

// TestIsolationServerCommands: the node-wide commands a tenant may send
// do not reach into another tenant's jobs: DEBUG FLUSHALL from beta does
// not delete alpha's jobs, and MONITOR / SLOWLOG from beta do not show
// alpha's commands (job bodies). The fix may refuse these commands to
// tenants or scope them to the caller's tenant; either passes.
func TestIsolationServerCommands(t *testing.T) {
	t.Parallel()
	e := startEnv(t, "--slowlog-log-slower-than", "0")
	e.putTenant("alpha", "pa", nil)
	e.putTenant("beta", "pb", nil)
	a := e.dial("alpha", "pa")
	b := e.dial("beta", "pb")

	// MONITOR and SLOWLOG.
	{
		mon := e.dial("beta", "pb")
		mon.Send("MONITOR")
		first, err := mon.ReadTimeout(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		addJob(t, a, "secret-q", "alpha-secret-body")
		b.Expect("+PONG", "PING")
		var seen strings.Builder
		seen.WriteString(first.String() + "\n")
		for {
			r, err := mon.ReadTimeout(700 * time.Millisecond)
			if err != nil {
				break
			}
			seen.WriteString(r.String() + "\n")
		}
		if strings.Contains(seen.String(), "alpha-secret-body") {
			t.Errorf("beta's MONITOR shows alpha's ADDJOB:\n%s", seen.String())
		}
		if r := b.Do("SLOWLOG", "GET", "100"); strings.Contains(r.String(), "alpha-secret-body") {
			t.Errorf("beta's SLOWLOG GET shows alpha's ADDJOB: %s", r)
		}
	}

	// Node-wide commands belong to the default tenant.
	for _, cmd := range [][]string{{"CONFIG", "GET", "requirepass"}, {"DEBUG", "FLUSHALL"}, {"SLOWLOG", "GET"},
		{"CLIENT", "LIST"}, {"CLUSTER", "NODES"}, {"BGREWRITEAOF"}, {"SHUTDOWN"}, {"LATENCY", "LATEST"}} {
		b.ExpectPrefix("-NOPERM tenant 'beta' may not run '"+strings.ToLower(cmd[0])+"'", cmd...)
	}
	b.Expect("+OK", "CLIENT", "SETNAME", "worker-1")
	b.Expect(`"worker-1"`, "CLIENT", "GETNAME")
	e.dial("", "").ExpectPrefix("[[", "SLOWLOG", "GET") // the default tenant still may

	// DEBUG FLUSHALL.
	{
		id := addJob(t, a, "keep", "alpha-keep")
		b.Do("DEBUG", "FLUSHALL") // refused or scoped: either way alpha's job stays
		if st := showState(t, a, id); st != "queued" {
			t.Errorf("after beta's DEBUG FLUSHALL alpha's job is %q; want queued", st)
		}
		a.Expect(":1", "QLEN", "keep")
	}
}

func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}
