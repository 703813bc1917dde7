package aof

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func fileLen(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPreallocation: the writer extends the file ahead of its data; a clean
// Close cuts the zeros off; a copy taken while it runs (what a crash
// leaves) loads every acknowledged record, is checked OK with the zero
// tail reported, and Load cuts the tail off; Open without a Load appends
// at the data's end, not after the zeros.
func TestPreallocation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.aof")
	w := openTest(t, Options{Path: p, Fsync: FsyncAlways, Preallocate: 1 << 20})
	rng := rand.New(rand.NewPCG(7, 8))
	want := model{}
	for i := 0; i < 40; i++ {
		j := makeJob(rng, 0, i)
		if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
			t.Fatal(err)
		}
		want[j.ID] = cloneJob(j)
	}
	size := w.Stats().CurrentSize
	settleFill(w)
	if n := fileLen(t, p); n != 1<<20 || size >= n {
		t.Fatalf("file length %d with %d bytes of data; want the 1 MiB chunk", n, size)
	}

	// What a crash leaves: the data and the preallocated zeros.
	crashed := filepath.Join(dir, "crashed.aof")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crashed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(crashed)
	if err != nil || rep.Bad != nil || rep.ZeroTail != int64(len(b))-size || rep.ValidSize != size {
		t.Fatalf("Check of the crashed copy: %+v, %v; want OK with a zero tail of %d", rep, err, int64(len(b))-size)
	}
	// Open without Load: appends after the data.
	w2 := openTest(t, Options{Path: crashed, Fsync: FsyncAlways, Preallocate: -1})
	j := makeJob(rng, 1, 0)
	if err := appendSync(w2, 0, AppendLoadJob(nil, &j), 1); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := loadModel(t, crashed, LoadOptions{})
	want2 := model{j.ID: cloneJob(j)}
	for id, x := range want {
		want2[id] = x
	}
	compareModels(t, got, want2)

	// Load of a crashed copy with aof-load-truncated no: no damage, the
	// zeros are cut off.
	if err := os.WriteFile(crashed, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, st := loadModel(t, crashed, LoadOptions{})
	compareModels(t, got, want)
	if st.ZeroTail != int64(len(b))-size || st.TruncatedBytes != 0 || fileLen(t, crashed) != size {
		t.Fatalf("Load: %+v, file %d bytes; want the zero tail cut to %d", st, fileLen(t, crashed), size)
	}

	// A torn batch followed by zeros is a torn tail, not damage inside.
	torn := append(append([]byte(nil), b[:size-3]...), make([]byte, 4096)...)
	if err := os.WriteFile(crashed, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	if rep, err := Check(crashed); err != nil || rep.Bad == nil || rep.Bad.MidFile {
		t.Fatalf("torn batch + zeros: %+v %v", rep, err)
	}

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fileLen(t, p); n != size {
		t.Fatalf("after Close the file is %d bytes; want %d", n, size)
	}
	got, st = loadModel(t, p, LoadOptions{})
	compareModels(t, got, want)
	if st.ZeroTail != 0 {
		t.Fatalf("clean file: %+v", st)
	}
}

// settleFill waits for the zero fill in flight, if any.
func settleFill(w *Writer) {
	w.wmu.Lock()
	w.waitFill()
	w.wmu.Unlock()
}

// TestPreallocationManyChunks: with a small chunk the filler runs dozens
// of times while records keep coming, under always and while the policy
// switches between always and everysec; the data never meets a fill
// (every record loads back), the file never has a hole of zeros inside the
// data, and a clean Close leaves exactly the data.
func TestPreallocationManyChunks(t *testing.T) {
	for _, switching := range []bool{false, true} {
		name := "always"
		if switching {
			name = "switching"
		}
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a.aof")
			w := openTest(t, Options{Path: p, Fsync: FsyncAlways, Preallocate: 16 << 10})
			rng := rand.New(rand.NewPCG(9, uint64(len(name))))
			want := model{}
			var wg sync.WaitGroup
			var mu sync.Mutex
			stop := make(chan struct{})
			var toggles sync.WaitGroup
			switches := 0
			if switching {
				toggles.Add(1)
				go func() {
					defer toggles.Done()
					for ; ; switches++ {
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Microsecond):
						}
						w.SetFsync([]Fsync{FsyncEverysec, FsyncAlways}[switches%2])
					}
				}()
			}
			for prod := 0; prod < 4; prod++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 300; i++ {
						mu.Lock()
						j := makeJob(rng, prod, i)
						mu.Unlock()
						if err := appendSync(w, prod, AppendLoadJob(nil, &j), 1); err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						want[j.ID] = cloneJob(j)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(stop)
			toggles.Wait()
			if switching && switches < 4 {
				t.Fatalf("the policy switched %d times while the producers wrote; want several", switches)
			}
			size := w.Stats().CurrentSize
			if size < 16*(16<<10) {
				t.Fatalf("only %d bytes written: too few chunks to test", size)
			}
			settleFill(w)
			if n := fileLen(t, p); !switching && (n <= size || n > size+2*(16<<10)) {
				t.Fatalf("file %d bytes with %d of data; want zeros ahead, at most two chunks", n, size)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if n := fileLen(t, p); n != size {
				t.Fatalf("after Close the file is %d bytes; want %d", n, size)
			}
			got, st := loadModel(t, p, LoadOptions{})
			compareModels(t, got, want)
			if st.ZeroTail != 0 || st.TruncatedBytes != 0 {
				t.Fatalf("load: %+v", st)
			}
		})
	}
}

// TestPreallocationOnlyUnderAlways: the zeros ahead make always's fsyncs
// cheaper and are not written under everysec (they would double its
// writes); a switch to always at run time starts them, a switch back stops
// them once the data has passed the zeros already written.
func TestPreallocationOnlyUnderAlways(t *testing.T) {
	const chunk = 16 << 10
	p := filepath.Join(t.TempDir(), "a.aof")
	w := openTest(t, Options{Path: p, Fsync: FsyncEverysec, Preallocate: chunk})
	rng := rand.New(rand.NewPCG(10, 10))
	want := model{}
	seq := 0
	write := func(bytes int64) {
		t.Helper()
		for end := w.Stats().CurrentSize + bytes; w.Stats().CurrentSize < end; seq++ {
			j := makeJob(rng, 0, seq)
			if err := appendSync(w, 0, AppendLoadJob(nil, &j), 1); err != nil {
				t.Fatal(err)
			}
			want[j.ID] = cloneJob(j)
		}
		settleFill(w)
	}
	write(4 * chunk)
	if size, n := w.Stats().CurrentSize, fileLen(t, p); n != size {
		t.Fatalf("everysec: file %d bytes with %d of data; want no zeros ahead", n, size)
	}
	w.SetFsync(FsyncAlways)
	write(4 * chunk)
	if size, n := w.Stats().CurrentSize, fileLen(t, p); n <= size || n > size+2*chunk {
		t.Fatalf("always: file %d bytes with %d of data; want zeros ahead, at most two chunks", n, size)
	}
	w.SetFsync(FsyncEverysec)
	write(4 * chunk)
	if size, n := w.Stats().CurrentSize, fileLen(t, p); n != size {
		t.Fatalf("back to everysec: file %d bytes with %d of data; want no zeros ahead", n, size)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, st := loadModel(t, p, LoadOptions{})
	compareModels(t, got, want)
	if st.ZeroTail != 0 || st.TruncatedBytes != 0 {
		t.Fatalf("load: %+v", st)
	}
}
