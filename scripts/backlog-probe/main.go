// Command backlog-probe drives scripts/backlog-bench.sh (a measurement
// helper, not a product binary). Over raw RESP on one address:
//
//	backlog-probe -mode randdel -n N   fill queue q with N jobs, then DELJOB
//	                                   5/8 of them in random order (pipelined
//	                                   100 deep) while a second connection
//	                                   sends QLEN q every millisecond
//	backlog-probe -mode ping -d 5s -q Q[,Q2...] -want N
//	                                   QLEN Q (and Q2...) every millisecond
//	                                   for d; want is compared with Q's
//	backlog-probe -mode slowlog        the slow log's entries and longest
//
// Both print the longest QLEN round trip: how long the queue's shard
// stood still.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func send(w *bufio.Writer, args ...string) {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// reply reads one reply: a bulk string's content or a simple line's text.
func reply(r *bufio.Reader) string {
	line, err := r.ReadString('\n')
	if err != nil {
		fail(err)
	}
	return scalar(line, r)
}

// scalar finishes reading a non-array reply whose first line is line.
func scalar(line string, r *bufio.Reader) string {
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		if n < 0 {
			return ""
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			fail(err)
		}
		return string(buf[:n])
	case '-':
		fail(fmt.Errorf("server: %s", strings.TrimSpace(line)))
	}
	return strings.TrimSpace(line[1:])
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "backlog-probe:", err)
	os.Exit(1)
}

func dial(addr string) (*bufio.Reader, *bufio.Writer) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fail(err)
	}
	return bufio.NewReaderSize(c, 1<<20), bufio.NewWriterSize(c, 1<<20)
}

// pinger sends QLEN q every millisecond until stop, recording the longest
// round trip and when QLEN first answered want.
type pinger struct {
	worst   atomic.Int64
	reached atomic.Int64 // ns since start, -1 never
}

func (p *pinger) run(addr, q, want string, stop func() bool) {
	r, w := dial(addr)
	t0 := time.Now()
	p.reached.Store(-1)
	qs := strings.Split(q, ",") // several queues: one on each shard
	for !stop() {
		t1 := time.Now()
		for _, q := range qs {
			send(w, "QLEN", q)
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		got := reply(r)
		for range qs[1:] {
			reply(r)
		}
		if d := int64(time.Since(t1)); d > p.worst.Load() {
			p.worst.Store(d)
		}
		if got == want && p.reached.Load() < 0 {
			p.reached.Store(int64(time.Since(t0)))
		}
		time.Sleep(time.Millisecond)
	}
}

func main() {
	addr := flag.String("a", "127.0.0.1:7711", "server address")
	mode := flag.String("mode", "ping", "randdel | ping")
	n := flag.Int("n", 4<<20, "randdel: jobs to queue")
	q := flag.String("q", "q", "ping: the queue, or a comma-separated list")
	want := flag.String("want", "", "ping: report when QLEN first answers this")
	d := flag.Duration("d", 5*time.Second, "ping: how long")
	flag.Parse()
	var p pinger
	switch *mode {
	case "ping":
		t0 := time.Now()
		p.run(*addr, *q, *want, func() bool { return time.Since(t0) > *d })
		fmt.Printf("longest QLEN %.2f ms", float64(p.worst.Load())/1e6)
		if *want != "" {
			reached := "never"
			if v := p.reached.Load(); v >= 0 {
				reached = fmt.Sprintf("%.2fs", time.Duration(v).Seconds())
			}
			fmt.Printf("; QLEN %s reached after %s", *want, reached)
		}
		fmt.Println()
	case "randdel":
		randdel(*addr, *n, &p)
	case "slowlog":
		slowlog(*addr)
	default:
		fail(fmt.Errorf("unknown mode %q", *mode))
	}
}

func randdel(addr string, n int, p *pinger) {
	r, w := dial(addr)
	ids := make([]string, 0, n)
	for len(ids) < n {
		k := min(1000, n-len(ids))
		for range k {
			send(w, "ADDJOB", "q", "01234567890123456789", "0")
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		for range k {
			ids = append(ids, reply(r))
		}
	}
	rand.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(addr, "q", "", stop.Load)
	}()
	time.Sleep(50 * time.Millisecond)
	var worst time.Duration
	del := ids[:len(ids)/2+len(ids)/8]
	t0 := time.Now()
	for i := 0; i < len(del); i += 100 {
		tb := time.Now()
		part := del[i:min(len(del), i+100)]
		for _, id := range part {
			send(w, "DELJOB", id)
		}
		if err := w.Flush(); err != nil {
			fail(err)
		}
		for range part {
			reply(r)
		}
		worst = max(worst, time.Since(tb))
	}
	el := time.Since(t0)
	stop.Store(true)
	<-done
	fmt.Printf("deleted %d of %d in %.2fs (%.0f/s), longest 100-DELJOB batch %.2f ms, longest QLEN %.2f ms\n",
		len(del), n, el.Seconds(), float64(len(del))/el.Seconds(), float64(worst)/1e6, float64(p.worst.Load())/1e6)
}

// value reads one reply of any type (arrays nested).
func value(r *bufio.Reader) any {
	line, err := r.ReadString('\n')
	if err != nil {
		fail(err)
	}
	if line[0] != '*' {
		return scalar(line, r)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	out := make([]any, 0, max(n, 0))
	for range n {
		out = append(out, value(r))
	}
	return out
}

func slowlog(addr string) {
	r, w := dial(addr)
	send(w, "SLOWLOG", "GET", "128")
	if err := w.Flush(); err != nil {
		fail(err)
	}
	entries, _ := value(r).([]any)
	longest, name := int64(0), ""
	for _, e := range entries {
		f, ok := e.([]any)
		if !ok || len(f) < 4 {
			continue
		}
		us, _ := strconv.ParseInt(fmt.Sprint(f[2]), 10, 64)
		if us > longest {
			longest = us
			if args, ok := f[3].([]any); ok && len(args) > 0 {
				name = fmt.Sprint(args[0])
			}
		}
	}
	fmt.Printf("slow log: %d entries, longest %d us %s\n", len(entries), longest, name)
}
