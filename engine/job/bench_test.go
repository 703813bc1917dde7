package job

import "testing"

// applyCycle takes a free job through add, deliver, working, nack, dequeue,
// enqueue, deliver, an early timer, ack and delete, 100 ms apart.
var applyCycle = []Event{
	{Kind: EvAdd, Jitter: 12},
	{Kind: EvDeliver},
	{Kind: EvWorking, Jitter: -7},
	{Kind: EvNack, Jitter: 3},
	{Kind: EvDequeue},
	{Kind: EvEnqueue},
	{Kind: EvDeliver},
	{Kind: EvDue},
	{Kind: EvAck},
	{Kind: EvDelete},
}

// checkApplyCycle fails unless every event of applyCycle applies to base.
func checkApplyCycle(tb testing.TB, base Job) {
	tb.Helper()
	j := base
	now := n
	for _, e := range applyCycle {
		if _, err := j.Apply(e, now); err != nil {
			tb.Fatalf("applyCycle: %v on %v: %v", e.Kind, j.State, err)
		}
		now += 100
	}
	if j.State != Free {
		tb.Fatalf("applyCycle ends in %v; want free", j.State)
	}
}

// BenchmarkApplyCycle: one job through the applyCycle lifecycle (10 events,
// add to delete) per iteration.
func BenchmarkApplyCycle(b *testing.B) {
	b.ReportAllocs()
	base := mk(Free, 10, 0, 0, 0)
	checkApplyCycle(b, base)
	var sink Effect
	for b.Loop() {
		j := base
		now := n
		for _, e := range applyCycle {
			eff, _ := j.Apply(e, now)
			sink |= eff
			now += 100
		}
	}
	if sink == 0 {
		b.Fatal("no effect")
	}
}

func BenchmarkParseID(b *testing.B) {
	b.ReportAllocs()
	text := []byte(specIDText)
	for b.Loop() {
		if _, ok := ParseID(text); !ok {
			b.Fatal("ParseID failed")
		}
	}
}

func BenchmarkAppendText(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, IDLen)
	for b.Loop() {
		buf = specID.AppendText(buf[:0])
	}
	if string(buf) != specIDText {
		b.Fatalf("AppendText = %q", buf)
	}
}

func BenchmarkMakeID(b *testing.B) {
	b.ReportAllocs()
	rnd := [18]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	node := [4]byte{0xdc, 0xb8, 0x33, 0xcf}
	var id ID
	slot := uint16(0)
	for b.Loop() {
		id = MakeID(node, slot&4095, &rnd, 86400, 300)
		slot++
	}
	if id.TTLField() != 0x05a1 {
		b.Fatalf("TTL field %#x", id.TTLField())
	}
}
