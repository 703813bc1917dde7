//go:build !race

package replicate

import "testing"

// Allocation guards (non-race pass of make test).

func TestCodecAllocs(t *testing.T) {
	ms := sampleMsgs()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() {
		for i := range ms {
			buf = AppendMsg(buf[:0], &ms[i])
		}
	}); n != 0 {
		t.Fatalf("AppendMsg: %v allocs", n)
	}
	encs := make([][]byte, len(ms))
	for i := range ms {
		encs[i] = AppendMsg(nil, &ms[i])
	}
	var m Msg
	for _, e := range encs { // warm up the reused backing arrays
		_, _ = m.Decode(e)
	}
	if n := testing.AllocsPerRun(100, func() {
		for _, e := range encs {
			if _, err := m.Decode(e); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Fatalf("Msg.Decode: %v allocs", n)
	}
}

func TestSendPathAllocs(t *testing.T) {
	ob := newOutbox(1 << 30)
	ob.setOpen(true)
	msg := AppendMsg(nil, &sampleMsgs()[1])
	var spare, ctrl []byte
	var fw frameWriter
	fw.compress = true
	big := make([]byte, 0, 1<<16)
	for i := 0; i < 200; i++ {
		big = appendRecord(big, msg)
	}
	fw.build(big, 200) // warm up enc
	if n := testing.AllocsPerRun(100, func() {
		for i := 0; i < 100; i++ {
			ob.push(msg)
		}
		ob.pushCtrl(msg)
		buf, k, _, cb, nc := ob.take(spare, ctrl)
		fw.build(cb, nc)
		fw.build(buf, k)
		spare, ctrl = buf, cb
	}); n != 0 {
		t.Fatalf("push/take/build: %v allocs", n)
	}
}
