package resp

import (
	"strconv"
	"testing"
)

// benchAddjob is a multibulk ADDJOB with a 20-byte body.
var benchAddjob = AppendCommandStrings(nil,
	"ADDJOB", "myqueue", "01234567890123456789", "5000", "REPLICATE", "2", "RETRY", "60", "TTL", "3600", "ASYNC")

func BenchmarkReadCommand(b *testing.B) {
	run := func(name string, in []byte, perLoop int, mutates bool) {
		b.Run(name, func(b *testing.B) {
			orig := in
			buf := append([]byte(nil), in...)
			args := make([][]byte, 0, 16)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if mutates {
					copy(buf, orig)
				}
				rest := buf
				for range perLoop {
					out, n, err := ReadCommand(rest, args[:0], nil)
					if err != nil || n <= 0 {
						b.Fatalf("got %d args n=%d err=%v", len(out), n, err)
					}
					rest = rest[n:]
				}
			}
		})
	}
	run("multibulk-addjob", benchAddjob, 1, false)
	var pipeline []byte
	for range 16 {
		pipeline = append(pipeline, benchAddjob...)
	}
	run("pipeline16-addjob", pipeline, 16, false)
	run("inline-ping", []byte("PING\r\n"), 1, false)
	run("inline-quoted", []byte("ADDJOB myqueue \"hello \\\"world\\\"\\n\" 5000 ASYNC\r\n"), 1, true)
	run("multibulk-get", AppendCommandStrings(nil, "GETJOB", "FROM", "myqueue"), 1, false)

	// A large argument still arriving: the caller that ignores the need
	// re-parses; this is the cost of one such call.
	big := AppendCommand(nil, []byte("ADDJOB"), []byte("q"), make([]byte, 1<<20))
	b.Run("incomplete-1MB", func(b *testing.B) {
		buf := big[:len(big)/2]
		args := make([][]byte, 0, 16)
		b.ReportAllocs()
		for b.Loop() {
			if _, n, _ := ReadCommand(buf, args[:0], nil); n >= 0 {
				b.Fatal("not incomplete")
			}
		}
	})
}

func BenchmarkAppendBulk(b *testing.B) {
	for _, size := range []int{20, 1000, 4096} {
		body := make([]byte, size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			dst := make([]byte, 0, size+32)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendBulk(dst[:0], body)
			}
		})
	}
}

func BenchmarkAppendCommand(b *testing.B) {
	args := [][]byte{[]byte("ADDJOB"), []byte("myqueue"), []byte("01234567890123456789"), []byte("5000")}
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendCommand(dst[:0], args...)
	}
	b.SetBytes(int64(len(dst)))
}

// benchReply is a GETJOB reply with two jobs.
var benchReply = []byte("*2\r\n" +
	"*3\r\n$7\r\nmyqueue\r\n$40\r\nD-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1\r\n$20\r\n01234567890123456789\r\n" +
	"*3\r\n$7\r\nmyqueue\r\n$40\r\nD-dcb833cf-9YL1NT17e9+wsA/09NqxscQI-05a1\r\n$20\r\n01234567890123456789\r\n")

func BenchmarkSkipReply(b *testing.B) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"simple", []byte("+OK\r\n")},
		{"bulk", []byte("$40\r\nD-dcb833cf-8YL1NT17e9+wsA/09NqxscQI-05a1\r\n")},
		{"getjob-array", benchReply},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if n, _, err := SkipReply(tc.in); n != len(tc.in) || err != nil {
					b.Fatalf("got n=%d err=%v", n, err)
				}
			}
		})
	}
}

func BenchmarkReadReply(b *testing.B) {
	b.SetBytes(int64(len(benchReply)))
	b.ReportAllocs()
	for b.Loop() {
		if _, n, err := ReadReply(benchReply); n != len(benchReply) || err != nil {
			b.Fatalf("got n=%d err=%v", n, err)
		}
	}
}
