package replicate

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// jsonBody returns a ~100-byte JSON-like body that varies with i.
func jsonBody(i int) []byte {
	return []byte(`{"user_id":` + strconv.Itoa(100000+i*7919%900000) + `,"event":"order.created","sku":"SKU-` +
		strconv.Itoa(i*31%10000) + `","qty":` + strconv.Itoa(1+i%5) + `,"ts":` + strconv.Itoa(1700000000+i) + `}`)
}

// randomJobID returns a job ID like real ones: node prefix, then 18
// pseudo-random bytes (slot included), then the TTL field.
func randomJobID(i int) (id [24]byte) {
	x := uint64(i)*0x9E3779B97F4A7C15 + 1
	copy(id[:4], []byte{0xdc, 0xb8, 0x33, 0xcf})
	for k := 4; k < 22; k++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		id[k] = byte(x)
	}
	id[22], id[23] = 0x05, 0xa1
	return id
}

func replJob(i int, holders []NodeID) Msg {
	return Msg{Type: MsgReplJob, Job: Job{
		ID: randomJobID(i), Tenant: []byte("default"), Queue: []byte("orders"), Body: jsonBody(i),
		CTime: 1700000000000 + int64(i), TTL: 86400000, Retry: 300000, Repl: 3, Holders: holders,
	}}
}

// BenchmarkFrameBuild measures encoding a batch of REPLJOB records into a
// frame, with and without S2, and reports the wire/payload sizes.
func BenchmarkFrameBuild(b *testing.B) {
	holders := []NodeID{testNodeID(1), testNodeID(2), testNodeID(3)}
	for _, n := range []int{1, 16, 256} {
		for _, comp := range []bool{false, true} {
			b.Run(fmt.Sprintf("jobs=%d/s2=%v", n, comp), func(b *testing.B) {
				var payload []byte
				for i := 0; i < n; i++ {
					m := replJob(i, holders)
					payload = appendRecord(payload, AppendMsg(nil, &m))
				}
				fw := frameWriter{compress: comp}
				fw.build(payload, n)
				b.SetBytes(int64(len(payload)))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					fw.build(payload, n)
				}
				b.ReportMetric(float64(len(payload)), "payload-B")
				b.ReportMetric(float64(fw.wire), "wire-B")
				b.ReportMetric(float64(len(payload))/float64(fw.wire), "ratio")
			})
		}
	}
}

// BenchmarkFrameDecode measures the reader side: checksum, S2 decode,
// record split and message decode.
func BenchmarkFrameDecode(b *testing.B) {
	holders := []NodeID{testNodeID(1), testNodeID(2), testNodeID(3)}
	const n = 256
	for _, comp := range []bool{false, true} {
		b.Run(fmt.Sprintf("jobs=%d/s2=%v", n, comp), func(b *testing.B) {
			var payload []byte
			for i := 0; i < n; i++ {
				m := replJob(i, holders)
				payload = appendRecord(payload, AppendMsg(nil, &m))
			}
			fw := frameWriter{compress: comp}
			frame := fw.appendFrame(nil, payload, n)
			var scratch []byte
			var m Msg
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, count, _, sc, err := decodeFrame(frame, scratch, DefaultMaxFrameSize)
				scratch = sc
				if err != nil {
					b.Fatal(err)
				}
				rest := p
				for k := 0; k < count; k++ {
					var rec []byte
					rec, rest, _ = nextRecord(rest)
					if _, err := m.Decode(rec); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkSendEndToEnd sends REPLJOB messages from one node to another
// over loopback and reports the batching achieved.
func BenchmarkSendEndToEnd(b *testing.B) {
	for _, comp := range []bool{false, true} {
		b.Run(fmt.Sprintf("s2=%v", comp), func(b *testing.B) {
			a := startNode(b, "", 0, 2*time.Second, func(o *Options) { o.Compression = comp; o.Handler = nil })
			rec := &countHandler{}
			c := startNode(b, "", 1, 2*time.Second, func(o *Options) { o.Compression = comp; o.Handler = rec })
			defer a.c.Close()
			defer c.c.Close()
			if err := a.c.Meet("127.0.0.1", c.opts.Port); err != nil {
				b.Fatal(err)
			}
			waitFor(b, 5*time.Second, "link", func() bool { return a.c.View().IsReachable(c.c.Self()) })
			to := c.c.Self()
			holders := []NodeID{a.c.Self(), to}
			msgs := make([][]byte, 1024)
			for i := range msgs {
				m := replJob(i, holders)
				msgs[i] = AppendMsg(nil, &m)
			}
			before := a.c.Stats().Total
			b.ReportAllocs()
			b.ResetTimer()
			sent := 0
			for i := 0; i < b.N; i++ {
				for !a.c.Send(to, msgs[i%len(msgs)]) {
					time.Sleep(time.Microsecond) // outbox full: let the writer drain
				}
				sent++
			}
			// Best effort: a link reset (a loaded machine) drops what is
			// queued, so wait for the count to settle rather than to match.
			last, stable := int64(-1), 0
			for rec.n.Load() < int64(sent) && stable < 200 {
				if n := rec.n.Load(); n == last {
					stable++
				} else {
					last, stable = n, 0
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.StopTimer()
			if lost := int64(sent) - rec.n.Load(); lost > 0 {
				b.Logf("%d of %d messages dropped (link reset under load)", lost, sent)
			}
			st := a.c.Stats().Total
			frames := st.FramesSent - before.FramesSent
			if frames > 0 {
				b.ReportMetric(float64(st.MessagesSent-before.MessagesSent)/float64(frames), "msgs/frame")
				b.ReportMetric(float64(st.PayloadBytesSent-before.PayloadBytesSent)/float64(st.BytesSent-before.BytesSent), "ratio")
			}
		})
	}
}
