package job

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt scripts")

// TestScripts runs the lifecycle scripts of testdata/*.txt against one job
// record with an injected clock, in the spirit of etcd-raft's datadriven
// tests. A script is a sequence of blocks separated by blank lines:
//
//	# comments (kept on -update)
//	command key=value...
//	----
//	expected output
//
// Commands (times in ms, TTL/RETRY/DELAY in seconds):
//
//	new now=T [ttl=100] [retry=10] [delay=0] [repl=1] [nacks=0] [add-deliveries=0]
//	    fill a free record created at T: CTime = T*1e6, Expire = T+ttl*1000,
//	    and an ID made with MakeID (slot 1234).
//	new-dummy now=T id=TEXT
//	    fill a free record for ACKJOB of an unknown ID, as the shard does: the
//	    ID's TTL field must be odd; Expire = T + field*60 s.
//	apply EVENT now=T [sync=false] [paused-in=false] [jitter=0]
//	    apply an event (add, replicated, replica, import, queue-request,
//	    dummy-ack, deliver, nack, enqueue, dequeue, working, ack, due,
//	    delete) and print the transition and the effects, or the error.
//	show now=T
//	    print what SHOW and the shard's timer would see.
//	tick until=T [paused-in=false] [jitter=0]
//	    act as the shard's timer: fire EvDue at every Awake() up to T.
//
// go test ./engine/job -run TestScripts -update rewrites the expected
// outputs.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txt script")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScript(t, file)
		})
	}
}

type scriptBlock struct {
	line     int      // line of the command, for messages
	comments []string // comment lines before the command
	cmd      string
	want     string
	got      string
}

func parseScript(t *testing.T, file string) []*scriptBlock {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var blocks []*scriptBlock
	var comments []string
	for i := 0; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], " \t")
		switch {
		case l == "":
			if len(comments) > 0 { // a comment paragraph on its own
				comments = append(comments, "")
			}
			continue
		case strings.HasPrefix(l, "#"):
			comments = append(comments, l)
			continue
		}
		b := &scriptBlock{line: i + 1, comments: comments, cmd: l}
		comments = nil
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command %q is not followed by ----", file, i+1, l)
		}
		i += 2
		var want []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		b.want = strings.Join(want, "\n")
		blocks = append(blocks, b)
	}
	if len(comments) > 0 {
		t.Fatalf("%s: comments after the last command", file)
	}
	return blocks
}

func runScript(t *testing.T, file string) {
	blocks := parseScript(t, file)
	s := &scriptState{t: t}
	for _, b := range blocks {
		s.where = fmt.Sprintf("%s:%d", file, b.line)
		s.out.Reset()
		s.run(b.cmd)
		b.got = strings.TrimRight(s.out.String(), "\n")
		if !*update && b.got != b.want {
			t.Errorf("%s: %s\ngot:\n%s\nwant:\n%s", s.where, b.cmd, b.got, b.want)
		}
	}
	if *update {
		var out strings.Builder
		for i, b := range blocks {
			if i > 0 {
				out.WriteString("\n")
			}
			for _, c := range b.comments {
				out.WriteString(c + "\n")
			}
			fmt.Fprintf(&out, "%s\n----\n%s\n", b.cmd, b.got)
		}
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type scriptState struct {
	t     *testing.T
	where string
	out   strings.Builder
	j     Job
	now   Millis // time of the last command
}

// at moves the script clock to now, which must not go back in time (a new
// record starts a new clock).
func (s *scriptState) at(now Millis) {
	s.t.Helper()
	if now < s.now {
		s.fatalf("time goes backwards: now=%d after %d", now, s.now)
	}
	s.now = now
}

func (s *scriptState) printf(format string, args ...any) { fmt.Fprintf(&s.out, format, args...) }

func (s *scriptState) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("%s: %s", s.where, fmt.Sprintf(format, args...))
}

// args parses key=value arguments; get and getBool consume them, done fails
// on any argument left over.
type scriptArgs struct {
	s  *scriptState
	kv map[string]string
}

func (a scriptArgs) get(key string, def int64) int64 {
	v, ok := a.kv[key]
	if !ok {
		if def < 0 {
			a.s.fatalf("missing argument %s=", key)
		}
		return def
	}
	delete(a.kv, key)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		a.s.fatalf("argument %s=%s: %v", key, v, err)
	}
	return n
}

func (a scriptArgs) getBool(key string) bool {
	v, ok := a.kv[key]
	if !ok {
		return false
	}
	delete(a.kv, key)
	b, err := strconv.ParseBool(v)
	if err != nil {
		a.s.fatalf("argument %s=%s: %v", key, v, err)
	}
	return b
}

func (a scriptArgs) getString(key string) string {
	v, ok := a.kv[key]
	if !ok {
		a.s.fatalf("missing argument %s=", key)
	}
	delete(a.kv, key)
	return v
}

func (a scriptArgs) done() {
	for k := range a.kv {
		a.s.fatalf("unknown argument %s", k)
	}
}

const required = -1 // default of get for a required argument

func (s *scriptState) run(line string) {
	s.t.Helper()
	fields := strings.Fields(line)
	cmd, rest := fields[0], fields[1:]
	var pos []string
	args := scriptArgs{s: s, kv: map[string]string{}}
	for _, f := range rest {
		if k, v, ok := strings.Cut(f, "="); ok {
			args.kv[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	switch cmd {
	case "new":
		if len(pos) != 0 {
			s.fatalf("new takes no positional argument")
		}
		now := Millis(args.get("now", required))
		ttl, retry, delay := args.get("ttl", 100), args.get("retry", 10), args.get("delay", 0)
		rnd := [18]byte{0x8f, 0x42, 0xfb, 0xb7, 0x92, 0x4d, 0x92, 0x33, 0x5f, 0xf6, 0xd6, 0x7d, 0x3c, 0xea, 0x6e, 0x3d, 0x01, 0x02}
		s.j = Job{
			ID:     MakeID([4]byte{0xdc, 0xb8, 0x33, 0xcf}, 1234, &rnd, ttl, retry),
			CTime:  uint64(now) * 1_000_000,
			Expire: now + Millis(ttl)*1000,
			Delay:  uint32(delay),
			Retry:  uint32(retry),
			Repl:   uint16(args.get("repl", 1)),
			Nacks:  uint16(args.get("nacks", 0)),
			AddDel: uint16(args.get("add-deliveries", 0)),
			Queue:  1,
		}
		args.done()
		s.now = now
		s.printf("id=%v slot=%d expire=%d", s.j.ID, s.j.ID.Slot(), s.j.Expire)

	case "new-dummy":
		now := Millis(args.get("now", required))
		text := []byte(args.getString("id"))
		args.done()
		if !ValidID(text) {
			s.printf("-BADID")
			return
		}
		f := TTLFieldOfText(text)
		if f&1 == 0 {
			s.printf("ttl-field=0x%04x: at-most-once ID, no dummy ACK", f)
			return
		}
		id, ok := ParseID(text)
		if !ok {
			s.printf("ttl-field=0x%04x: not an ID this package writes, no record", f)
			return
		}
		s.j = Job{ID: id, Expire: now + Millis(f)*60*1000}
		s.now = now
		s.printf("ttl-field=0x%04x expire=%d slot=%d", f, s.j.Expire, SlotOfText(text))

	case "apply":
		if len(pos) != 1 {
			s.fatalf("apply takes one event name")
		}
		kind := EventKind(255)
		for k := EventKind(0); k < numEvents; k++ {
			if k.String() == pos[0] {
				kind = k
			}
		}
		if kind == 255 {
			s.fatalf("unknown event %q", pos[0])
		}
		e := Event{Kind: kind, Sync: args.getBool("sync"), PausedIn: args.getBool("paused-in"), Jitter: Millis(args.get("jitter", 0))}
		now := Millis(args.get("now", required))
		args.done()
		s.apply(e, now)

	case "tick":
		until := Millis(args.get("until", required))
		e := Event{Kind: EvDue, PausedIn: args.getBool("paused-in"), Jitter: Millis(args.get("jitter", 0))}
		args.done()
		fired := false
		for i := 0; s.j.State != Free && s.j.Awake() <= until; i++ {
			if i == 100 {
				s.fatalf("timer keeps firing: %+v", s.j)
			}
			now := max(s.j.Awake(), s.now)
			s.printf("@%d ", now)
			before := s.j
			s.apply(e, now)
			fired = true
			if s.j == before {
				s.printf("(timer re-armed at %d)\n", s.j.Awake())
				break
			}
		}
		if !fired {
			s.printf("nothing due; next awake %d\n", s.j.Awake())
		}
		s.at(max(s.now, until))

	case "show":
		now := Millis(args.get("now", required))
		args.done()
		s.at(now)
		j := &s.j
		s.printf("state=%v qtime=%d expire=%d awake=%d\n", j.State, j.QTime, j.Expire, j.Awake())
		s.printf("nacks=%d add-deliveries=%d flags=%s\n", j.Nacks, j.AddDel, flagsString(j.Flags))
		if nr := j.NextRequeue(now); nr == 0 {
			s.printf("next-requeue=never\n")
		} else {
			s.printf("next-requeue=%d (within %d)\n", nr, max(0, nr-now))
		}

	default:
		s.fatalf("unknown command %q", cmd)
	}
}

// apply applies e at now and prints "before -> after effects=..." or the
// error; an error must leave the job unchanged.
func (s *scriptState) apply(e Event, now Millis) {
	s.t.Helper()
	s.at(now)
	before := s.j
	eff, err := s.j.Apply(e, now)
	if err != nil {
		if s.j != before {
			s.fatalf("%v failed with %v but changed the job:%s", e.Kind, err, diffJob(s.j, before))
		}
		s.printf("%v: %v: error: %v", e.Kind, before.State, err)
		if eff != 0 {
			s.printf(" (effects=%v)", eff)
		}
		s.printf("\n")
		return
	}
	s.printf("%v: %v -> %v effects=%v\n", e.Kind, before.State, s.j.State, eff)
}
