package shard

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// boundarySizes are the class edges and the large-body threshold.
var boundarySizes = []int{0, 1, 7, 8, 9, 511, 512, 513, 575, 576, 577, 4095, 4096, 4097,
	5120, 5121, 16383, 16384, 16385, 20480, 65535, 65536, 65537, 1 << 20, 1<<20 + 1}

// classFootprint is what used grows by for an n-byte body.
func classFootprint(n int) int64 {
	switch {
	case n == 0:
		return 0
	case n > maxClassSize:
		return int64(n)
	}
	_, size := classOf(n)
	return int64(size)
}

func TestClassOf(t *testing.T) {
	prevC, prevSize := -1, 0
	sizeOf := map[int]int{}
	for n := 1; n <= maxClassSize; n++ {
		c, size := classOf(n)
		if c < 0 || c >= numClasses {
			t.Fatalf("classOf(%d) = class %d; out of [0, %d)", n, c, numClasses)
		}
		if size < n {
			t.Fatalf("classOf(%d) size %d < n", n, size)
		}
		if c < prevC || size < prevSize {
			t.Fatalf("classOf(%d) = (%d, %d) after (%d, %d): not monotonic", n, c, size, prevC, prevSize)
		}
		if c != prevC && c != prevC+1 {
			t.Fatalf("classOf(%d) = %d after %d: skipped a class", n, c, prevC)
		}
		if s, ok := sizeOf[c]; ok && s != size {
			t.Fatalf("class %d has sizes %d and %d", c, s, size)
		}
		sizeOf[c] = size
		if c != prevC && prevSize != 0 && n != prevSize+1 {
			t.Fatalf("class %d starts at %d; want right after the previous class size %d", c, n, prevSize)
		}
		prevC, prevSize = c, size
	}
	if prevC != numClasses-1 {
		t.Fatalf("largest class %d; want numClasses-1 = %d", prevC, numClasses-1)
	}
	f := func(n, wantC, wantSize int) {
		t.Helper()
		if c, size := classOf(n); c != wantC || size != wantSize {
			t.Fatalf("classOf(%d) = (%d, %d); want (%d, %d)", n, c, size, wantC, wantSize)
		}
	}
	f(1, 0, 8)
	f(8, 0, 8)
	f(9, 1, 16)
	f(512, 63, 512)
	f(513, 64, 576)
	f(4096, 119, 4096)
	f(4097, 120, 5120)
	f(16384, 131, 16384)
	f(16385, 132, 20480)
	f(65536, 143, 65536)
	// Waste is bounded: under a fifth of the slot above 512 B (worst cases:
	// 4097 and 16385 bytes, just past a change of step).
	for n := 513; n <= maxClassSize; n++ {
		if _, size := classOf(n); size-n >= size/5 {
			t.Fatalf("classOf(%d) wastes %d of %d bytes", n, size-n, size)
		}
	}
}

type arenaBody struct {
	ref  uint64
	data []byte
}

func TestArenaDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var a arena
	var live []arenaBody
	var want int64
	// A body is a random 64-byte pattern repeated, stamped with a serial
	// number: cheap to build, and any overlap between bodies shows.
	serial := uint64(0)
	fill := func(n int) []byte {
		b := make([]byte, n)
		var pat [64]byte
		for k := 0; k < 64; k += 8 {
			binary.LittleEndian.PutUint64(pat[k:], rng.Uint64())
		}
		copy(b, pat[:])
		for k := 64; k < len(b); k *= 2 {
			copy(b[k:], b[:k])
		}
		serial++
		for k := 0; k < 8 && k < len(b); k++ {
			b[k] = byte(serial >> (8 * k))
		}
		if len(b) > 8 {
			b[len(b)-1] = byte(serial)
		}
		return b
	}
	// Sizes: the class boundaries, and random sizes within a fixed set of
	// classes spread over every step (each class used costs a 1 MiB chunk;
	// TestArenaEveryClass touches all of them).
	classes := []int{1, 2, 7, 31, 63, 64, 66, 90, 119, 120, 125, 131, 132, 137, 143}
	var first, last [numClasses]int // class c holds sizes first[c]..last[c]
	for n := maxClassSize; n >= 1; n-- {
		c, size := classOf(n)
		first[c], last[c] = n, size
	}
	size := func() int {
		switch p := rng.IntN(100); {
		case p < 20:
			return boundarySizes[rng.IntN(len(boundarySizes)-2)] // up to 65537
		case p < 97:
			c := classes[rng.IntN(len(classes))]
			return first[c] + rng.IntN(last[c]-first[c]+1)
		default:
			return maxClassSize + 1 + rng.IntN(100<<10) // large body
		}
	}
	check := func(b arenaBody) {
		t.Helper()
		got := a.get(b.ref, uint32(len(b.data)))
		if !bytes.Equal(got, b.data) {
			t.Fatalf("body at ref %#x (%d bytes) corrupted", b.ref, len(b.data))
		}
		if cap(got) != len(got) {
			t.Fatalf("get returned cap %d > len %d: an append would overwrite a neighbour", cap(got), len(got))
		}
	}
	for op := 0; op < 2500; op++ {
		if len(live) == 0 || rng.IntN(100) < 55 {
			data := fill(size())
			ref := a.put(data)
			if len(data) == 0 && ref != 0 {
				t.Fatalf("empty body got ref %#x; want 0", ref)
			}
			if len(data) > 0 && ref>>32 == 0 {
				t.Fatalf("body of %d bytes in chunk 0 (reserved)", len(data))
			}
			// put must have copied: scribble over the caller's buffer.
			b := arenaBody{ref, append([]byte(nil), data...)}
			for k := 0; k < len(data) && k < 64; k++ {
				data[k] ^= 0xff
				data[len(data)-1-k] ^= 0x0f
			}
			live = append(live, b)
			want += classFootprint(len(b.data))
			check(b)
		} else {
			k := rng.IntN(len(live))
			b := live[k]
			check(b)
			a.release(b.ref, uint32(len(b.data)))
			want -= classFootprint(len(b.data))
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		}
		if a.used != want {
			t.Fatalf("op %d: used = %d; want %d", op, a.used, want)
		}
		if a.used > a.held {
			t.Fatalf("used %d > held %d", a.used, a.held)
		}
		if op%500 == 0 {
			for _, b := range live {
				check(b)
			}
		}
	}
	for _, b := range live {
		check(b)
		a.release(b.ref, uint32(len(b.data)))
	}
	if a.used != 0 {
		t.Fatalf("used = %d after releasing everything; want 0", a.used)
	}
}

// TestArenaEveryClass puts, checks and releases the smallest and the
// largest body of every class.
func TestArenaEveryClass(t *testing.T) {
	var a arena
	type body struct {
		ref uint64
		n   int
	}
	var bodies []body
	for n := 1; n <= maxClassSize; n++ {
		c, size := classOf(n)
		if c2, _ := classOf(n - 1); n > 1 && c2 == c && n != size {
			continue
		}
		bodies = append(bodies, body{a.put(bytes.Repeat([]byte{byte(n)}, n)), n})
	}
	if len(bodies) != 2*numClasses { // the first and the last size of each class
		t.Fatalf("%d bodies for %d classes; want 2 per class", len(bodies), numClasses)
	}
	seen := map[int]bool{}
	for _, b := range bodies {
		c, _ := classOf(b.n)
		seen[c] = true
		if !bytes.Equal(a.get(b.ref, uint32(b.n)), bytes.Repeat([]byte{byte(b.n)}, b.n)) {
			t.Fatalf("%d-byte body corrupted", b.n)
		}
	}
	if len(seen) != numClasses {
		t.Fatalf("touched %d classes; want %d", len(seen), numClasses)
	}
	for _, b := range bodies {
		a.release(b.ref, uint32(b.n))
	}
	if a.used != 0 {
		t.Fatalf("used = %d after releasing everything; want 0", a.used)
	}
}

// TestArenaReuse: a released slot is reused first by its class; large
// bodies give their chunk back.
func TestArenaReuse(t *testing.T) {
	var a arena
	for _, n := range boundarySizes {
		body := bytes.Repeat([]byte{byte(n)}, n)
		r1 := a.put(body)
		a.release(r1, uint32(n))
		r2 := a.put(body)
		if n > 0 && n <= maxClassSize && r2 != r1 {
			t.Fatalf("%d bytes: put after release got %#x; want the released %#x", n, r2, r1)
		}
		if !bytes.Equal(a.get(r2, uint32(n)), body) {
			t.Fatalf("%d bytes: body mismatch after reuse", n)
		}
		a.release(r2, uint32(n))
	}
	if a.used != 0 {
		t.Fatalf("used = %d; want 0", a.used)
	}
	// Large bodies: held grows by the body and shrinks back on release.
	held := a.held
	big := make([]byte, 300<<10)
	r := a.put(big)
	if a.held != held+int64(len(big)) {
		t.Fatalf("held %d after a %d-byte body; want %d", a.held, len(big), held+int64(len(big)))
	}
	a.release(r, uint32(len(big)))
	if a.held != held {
		t.Fatalf("held %d after releasing the large body; want %d", a.held, held)
	}
	// Their chunk slots are reused: no growth of the chunk table.
	var fresh arena
	fresh.release(fresh.put(big), uint32(len(big)))
	nchunks := len(fresh.chunks)
	for k := 0; k < 10; k++ {
		fresh.release(fresh.put(big), uint32(len(big)))
	}
	if len(fresh.chunks) != nchunks {
		t.Fatalf("chunk table grew from %d to %d putting and releasing a large body", nchunks, len(fresh.chunks))
	}
	if a.get(0, 0) != nil {
		t.Fatal("get of the empty body is not nil")
	}
	// Two classes never share slots: fill one chunk's worth of 8-byte
	// bodies and 16-byte bodies interleaved.
	var refs []uint64
	for k := 0; k < 1000; k++ {
		n := 8 + 8*(k%2)
		refs = append(refs, a.put(bytes.Repeat([]byte{byte(k)}, n)))
	}
	for k, r := range refs {
		n := 8 + 8*(k%2)
		if !bytes.Equal(a.get(r, uint32(n)), bytes.Repeat([]byte{byte(k)}, n)) {
			t.Fatalf("body %d overwritten", k)
		}
	}
}

// TestArenaChunkRollover: a class that fills a chunk continues in a new
// one, never past the chunk end.
func TestArenaChunkRollover(t *testing.T) {
	var a arena
	n := 65536
	per := chunkSize / n
	var refs []uint64
	for k := 0; k < 3*per+1; k++ {
		r := a.put(bytes.Repeat([]byte{byte(k)}, n))
		if int(uint32(r))+n > chunkSize {
			t.Fatalf("body %d at offset %d overflows its chunk", k, uint32(r))
		}
		refs = append(refs, r)
	}
	chunks := map[uint64]int{}
	for k, r := range refs {
		chunks[r>>32]++
		if !bytes.Equal(a.get(r, uint32(n)), bytes.Repeat([]byte{byte(k)}, n)) {
			t.Fatalf("body %d corrupted", k)
		}
	}
	if len(chunks) != 4 {
		t.Fatalf("%d bodies of %d bytes used %d chunks; want 4", len(refs), n, len(chunks))
	}
}
