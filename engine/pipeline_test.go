package engine_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"disq/internal/testclient"
	"disq/netpoll/resp"
)

// pipeModel predicts the replies of a pipeline on queues only this test
// touches: a FIFO of bodies per queue and the ID each body got.
type pipeModel struct {
	queues map[string][]string
	ids    map[string]string // body -> job ID, learnt from ADDJOB replies
}

// step is one pipelined command and the check of its reply.
type step struct {
	args  []string
	check func(r resp.Reply) string // "" when the reply is right
}

func exact(want string) func(resp.Reply) string {
	return func(r resp.Reply) string {
		if got := r.String(); got != want {
			return "got " + got + "; want " + want
		}
		return ""
	}
}

// genPipeline generates n mixed commands over queues; the checks consult
// the model as replies are read in order.
func genPipeline(rng *rand.Rand, queues []string, n int) []step {
	m := &pipeModel{queues: map[string][]string{}, ids: map[string]string{}}
	var steps []step
	bodies := 0
	for len(steps) < n {
		switch k := rng.IntN(12); {
		case k < 4:
			q := queues[rng.IntN(len(queues))]
			body := fmt.Sprintf("body-%d", bodies)
			bodies++
			m.queues[q] = append(m.queues[q], body)
			steps = append(steps, step{[]string{"ADDJOB", q, body, "0"}, func(r resp.Reply) string {
				if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
					return "got " + r.String() + "; want +<job id>"
				}
				m.ids[body] = string(r.Str)
				return ""
			}})
		case k < 6:
			q := queues[rng.IntN(len(queues))]
			steps = append(steps, step{[]string{"QLEN", q}, exact(fmt.Sprint(":", len(m.queues[q])))})
		case k < 8:
			// GETJOB NOHANG COUNT c FROM some queues: the spec's round-robin.
			count := 1 + rng.IntN(4)
			var from []string
			for i := 0; i < 1+rng.IntN(3); i++ {
				from = append(from, queues[rng.IntN(len(queues))])
			}
			var want []string // "queue/body"
			for progress := true; progress && len(want) < count; {
				progress = false
				for _, q := range from {
					if len(m.queues[q]) > 0 {
						want = append(want, q+"/"+m.queues[q][0])
						m.queues[q] = m.queues[q][1:]
						progress = true
						if len(want) == count {
							break
						}
					}
				}
			}
			args := append([]string{"GETJOB", "NOHANG", "COUNT", fmt.Sprint(count), "FROM"}, from...)
			steps = append(steps, step{args, func(r resp.Reply) string {
				if len(want) == 0 {
					return exact("(nil array)")(r)
				}
				if r.Kind != resp.KindArray || r.IsNull() || len(r.Elems) != len(want) {
					return fmt.Sprintf("got %s; want %v", r, want)
				}
				for i, e := range r.Elems {
					q, body, _ := strings.Cut(want[i], "/")
					w := `["` + q + `" "` + m.ids[body] + `" "` + body + `"]`
					if e.String() != w {
						return fmt.Sprintf("item %d: got %s; want %s", i, e, w)
					}
				}
				return ""
			}})
		case k == 8:
			if rng.IntN(2) == 0 {
				steps = append(steps, step{[]string{"PING"}, exact("+PONG")})
			} else {
				steps = append(steps, step{[]string{"PING", "m"}, exact(`"m"`)})
			}
		case k == 9:
			switch rng.IntN(4) {
			case 0:
				steps = append(steps, step{[]string{"NOSUCH", "x"}, exact("-ERR unknown command 'NOSUCH'")})
			case 1:
				steps = append(steps, step{[]string{"QLEN"}, exact(errArity("qlen"))})
			case 2:
				steps = append(steps, step{[]string{"GETJOB", "COUNT", "0", "FROM", queues[0]}, exact(errCount)})
			default:
				steps = append(steps, step{[]string{"ADDJOB", queues[0], "x", "0", "TTL", "0"}, exact(errTTL)})
			}
		case k == 10:
			switch rng.IntN(3) {
			case 0:
				steps = append(steps, step{[]string{"SHOW", "bad"}, exact(errBadID)})
			case 1:
				steps = append(steps, step{[]string{"SHOW", unknownID}, exact("(nil)")})
			default:
				steps = append(steps, step{[]string{"ACKJOB"}, exact(":0")})
			}
		default:
			q := queues[rng.IntN(len(queues))]
			var want []string
			for i, b := range m.queues[q] {
				if i == 2 {
					break
				}
				want = append(want, b)
			}
			steps = append(steps, step{[]string{"QPEEK", q, "2"}, func(r resp.Reply) string {
				var parts []string
				for _, b := range want {
					parts = append(parts, `["`+q+`" "`+m.ids[b]+`" "`+b+`"]`)
				}
				return exact("[" + strings.Join(parts, " ") + "]")(r)
			}})
		}
	}
	return steps
}

// TestPipelining sends mixed commands over queues of every shard in one
// write and checks every reply, in order (commands.md 1.1).
func TestPipelining(t *testing.T) {
	t.Parallel()
	const shards = 4
	srv := startServer(t, shards)

	run := func(t *testing.T, c *testclient.Conn, steps []step, write func([]byte)) {
		t.Helper()
		var w []byte
		for _, s := range steps {
			w = resp.AppendCommandStrings(w, s.args...)
		}
		write(w)
		for i, s := range steps {
			r, err := c.ReadTimeout(10 * time.Second)
			if err != nil {
				t.Fatalf("reply %d (%s): %v", i, strings.Join(s.args, " "), err)
			}
			if msg := s.check(r); msg != "" {
				t.Fatalf("reply %d (%s): %s", i, strings.Join(s.args, " "), msg)
			}
		}
		c.Expect("+PONG", "PING")
	}

	t.Run("OneWrite", func(t *testing.T) {
		t.Parallel()
		for seed := uint64(1); seed <= 3; seed++ {
			c := testclient.Dial(t, srv.Addr)
			queues := append(diffShards(fmt.Sprint("pl-one-", seed), shards, shards), sameShard(fmt.Sprint("pl-one-same-", seed), 2, shards)...)
			steps := genPipeline(rand.New(rand.NewPCG(seed, 7)), queues, 200)
			run(t, c, steps, c.Write)
		}
	})

	t.Run("RandomChunks", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		queues := diffShards("pl-chunks", shards, shards)
		rng := rand.New(rand.NewPCG(42, 42))
		steps := genPipeline(rng, queues, 200)
		run(t, c, steps, func(b []byte) {
			for len(b) > 0 {
				n := min(len(b), 1+rng.IntN(64))
				c.Write(b[:n])
				b = b[n:]
				if rng.IntN(8) == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		})
	})

	t.Run("Large", func(t *testing.T) {
		t.Parallel()
		// Far more requests in one write than a connection may have in
		// flight: parsing pauses and resumes, replies stay in order.
		c := testclient.Dial(t, srv.Addr)
		qs := diffShards("pl-large", shards, shards)
		const n = 5000
		var w []byte
		for i := 0; i < n; i++ {
			q := qs[i%len(qs)]
			w = resp.AppendCommandStrings(w, "ADDJOB", q, fmt.Sprint(i), "0")
			if i%100 == 99 {
				w = resp.AppendCommandStrings(w, "QLEN", q)
			}
		}
		c.Write(w)
		var ids []string
		for i := 0; i < n; i++ {
			r := c.Read()
			if r.Kind != resp.KindSimple || !testclient.IsJobID(string(r.Str)) {
				t.Fatalf("reply to ADDJOB %d: got %s", i, r)
			}
			ids = append(ids, string(r.Str))
			if i%100 == 99 {
				want := fmt.Sprint(":", i/len(qs)+1)
				if got := c.Read().String(); got != want {
					t.Fatalf("QLEN after %d ADDJOBs: got %s; want %s", i+1, got, want)
				}
			}
		}
		// ACKJOB of everything, across shards, in one command.
		c.Expect(fmt.Sprint(":", n), append([]string{"ACKJOB"}, ids...)...)
		for _, q := range qs {
			c.Expect(":0", "QLEN", q)
		}
	})

	t.Run("ByteByByte", func(t *testing.T) {
		t.Parallel()
		c := testclient.Dial(t, srv.Addr)
		qs := diffShards("pl-bytes", 2, shards)
		var w []byte
		w = resp.AppendCommandStrings(w, "ADDJOB", qs[0], "a b\r\nc", "0")
		w = append(w, "PING\r\n"...)
		w = resp.AppendCommandStrings(w, "ADDJOB", qs[1], "", "0")
		w = append(w, "QLEN "+qs[0]+"\r\n"...)
		w = append(w, "ping \"x y\"\r\n"...)
		w = resp.AppendCommandStrings(w, "GETJOB", "NOHANG", "COUNT", "3", "FROM", qs[0], qs[1])
		w = resp.AppendCommandStrings(w, "FOO")
		w = resp.AppendCommandStrings(w, "QLEN", qs[1])
		w = append(w, "\r\n"...) // an empty inline line is skipped
		w = resp.AppendCommandStrings(w, "SHOW", "bad")
		w = resp.AppendCommandStrings(w, "PING", "end")
		for i := range w {
			c.Write(w[i : i+1])
			time.Sleep(500 * time.Microsecond)
		}
		a := c.Read()
		want := []string{"+PONG"}
		if a.Kind != resp.KindSimple || !testclient.IsJobID(string(a.Str)) {
			t.Fatalf("reply 0: got %s; want +<job id>", a)
		}
		b := c.Read()
		if got := b.String(); got != "+PONG" {
			t.Fatalf("reply 1: got %s; want %s", got, want[0])
		}
		b = c.Read()
		if b.Kind != resp.KindSimple {
			t.Fatalf("reply 2: got %s; want +<job id>", b)
		}
		for i, want := range []string{
			":1",
			`"x y"`,
			`[["` + qs[0] + `" "` + string(a.Str) + `" "a b\r\nc"] ["` + qs[1] + `" "` + string(b.Str) + `" ""]]`,
			"-ERR unknown command 'FOO'",
			":0",
			errBadID,
			`"end"`,
		} {
			if got := c.Read().String(); got != want {
				t.Fatalf("reply %d: got %s; want %s", i+3, got, want)
			}
		}
	})
}
