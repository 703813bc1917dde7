package aof

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func countRecords(t testing.TB, path string, opts LoadOptions) (int64, LoadStats, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	var n int64
	st, err := Load(path, opts, func(r Record) error { n++; return nil })
	return n, st, err
}

func TestLoadMissingEmptyHeaderOnly(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "none.aof")
	if n, _, err := countRecords(t, p, LoadOptions{}); err != nil || n != 0 {
		t.Fatalf("missing: %d %v", n, err)
	}
	os.WriteFile(p, nil, 0o644)
	if n, _, err := countRecords(t, p, LoadOptions{}); err != nil || n != 0 {
		t.Fatalf("empty: %d %v", n, err)
	}
	os.WriteFile(p, appendFileHeader(nil), 0o644)
	if n, st, err := countRecords(t, p, LoadOptions{}); err != nil || n != 0 || st.Bytes != HeaderSize {
		t.Fatalf("header only: %d %+v %v", n, st, err)
	}
}

func TestLoadForeignFiles(t *testing.T) {
	dir := t.TempDir()
	hdr := appendFileHeader(nil)
	v2 := bytes.Clone(hdr)
	v2[8] = 2
	copy(v2[12:], appendU32(sum32(v2[:12])))
	flags := bytes.Clone(hdr)
	flags[10] = 1
	copy(flags[12:], appendU32(sum32(flags[:12])))
	badSum := bytes.Clone(hdr)
	badSum[15] ^= 0xff
	cases := []struct {
		name, data string
		want       error
		text       string
	}{
		{"disque", "*2\r\n$7\r\nLOADJOB\r\n$120\r\n" + strings.Repeat("x", 120) + "\r\n", ErrDisqueAOF, "was written by Disque, not disq; disq cannot load it"},
		{"disque-short", "*", ErrDisqueAOF, "written by Disque"},
		{"disque-inline", "LOADJOB D-abc\n", ErrDisqueAOF, "written by Disque"},
		{"disque-deljob", "deljob D-abc\n", ErrDisqueAOF, "written by Disque"},
		{"redis", "REDIS0009\xfa\x09redis-ver", ErrNotAOF, "Redis"},
		{"text", "hello world, this is not a log file at all\n", ErrNotAOF, "not a disq append-only file"},
		{"binary", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", ErrNotAOF, "not a disq append-only file"},
		{"short-text", "DISX", ErrNotAOF, "not a disq"},
		{"newer", string(v2), ErrVersion, "newer disq"},
		{"flags", string(flags), ErrVersion, "newer disq"},
		{"badsum", string(badSum), ErrBadHeader, "checksum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".aof")
			os.WriteFile(p, []byte(c.data), 0o644)
			for _, trunc := range []bool{false, true} {
				_, _, err := countRecords(t, p, LoadOptions{Truncate: trunc})
				if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) || !strings.Contains(err.Error(), p) {
					t.Fatalf("Load (truncate %v): %v, want %v containing %q", trunc, err, c.want, c.text)
				}
			}
			if fi, _ := os.Stat(p); fi.Size() != int64(len(c.data)) {
				t.Fatal("a foreign file was modified")
			}
			if _, err := Open(Options{Path: p, Logger: quietLogger()}); !errors.Is(err, c.want) {
				t.Fatalf("Open: %v, want %v", err, c.want)
			}
			if _, err := Check(p); !errors.Is(err, c.want) {
				t.Fatalf("Check: %v", err)
			}
		})
	}
}

func appendU32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

// TestLoadEveryTruncation cuts a small file at every byte offset.
func TestLoadEveryTruncation(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		src, ends, _ := buildFileSmall(t, dir, 5, 4, compress)
		full, _ := os.ReadFile(src)
		if int64(len(full)) != ends[len(ends)-1] {
			t.Fatalf("size %d, ends %v", len(full), ends)
		}
		p := filepath.Join(dir, "cut.aof")
		for cut := 0; cut <= len(full); cut++ {
			// The valid prefix: the last batch end <= cut.
			good, complete := int64(0), 0
			for i, e := range ends {
				if e <= int64(cut) {
					good, complete = e, i
				}
			}
			os.Remove(p)
			os.WriteFile(p, full[:cut], 0o644)
			n, st, err := countRecords(t, p, LoadOptions{})
			var te *TornError
			switch {
			case cut == 0 || int64(cut) == good:
				if err != nil || n != int64(complete*4) {
					t.Fatalf("cut %d (boundary): %d records, %v", cut, n, err)
				}
			case !errors.As(err, &te):
				t.Fatalf("cut %d: %v, want a TornError", cut, err)
			case te.Offset != good || te.Corrupt || te.Size != int64(cut) || n != int64(complete*4) || st.Bytes != good:
				t.Fatalf("cut %d: %+v, %d records (want offset %d, %d records)", cut, te, n, good, complete*4)
			case !strings.Contains(te.Error(), "disq-check-aof --fix") || !strings.Contains(te.Error(), "aof-load-truncated yes"):
				t.Fatalf("message: %v", te)
			}
			// With Truncate (sampled: it fsyncs): the file is cut back to
			// the valid prefix.
			if !nearBoundary(int64(cut), ends) && cut%3 != 0 {
				continue
			}
			n, st, err = countRecords(t, p, LoadOptions{Truncate: true})
			if err != nil || n != int64(complete*4) {
				t.Fatalf("cut %d truncate: %d, %v", cut, n, err)
			}
			fi, _ := os.Stat(p)
			if want := max(good, 0); cut < HeaderSize {
				if fi.Size() != 0 {
					t.Fatalf("cut %d: torn header left %d bytes", cut, fi.Size())
				}
			} else if fi.Size() != want || st.TruncatedBytes != int64(cut)-want || st.SavedTo != "" {
				t.Fatalf("cut %d: size %d after truncation, want %d (%+v)", cut, fi.Size(), want, st)
			}
			if n2, _, err := countRecords(t, p, LoadOptions{}); err != nil || n2 != n {
				t.Fatalf("cut %d: reload after truncation: %d %v", cut, n2, err)
			}
		}
	}
}

// TestLoadCorruption flips bytes at random offsets past the header.
func TestLoadCorruption(t *testing.T) {
	for _, compress := range []bool{false, true} {
		dir := t.TempDir()
		src, ends, _ := buildFile(t, dir, 8, 6, compress)
		full, _ := os.ReadFile(src)
		rng := rand.New(rand.NewPCG(5, 6))
		p := filepath.Join(dir, "bad.aof")
		for round := 0; round < 150; round++ {
			data := bytes.Clone(full)
			off := HeaderSize + rng.IntN(len(full)-HeaderSize)
			data[off] ^= byte(1 + rng.IntN(255))
			os.Remove(p)
			os.WriteFile(p, data, 0o644)
			batch := 0
			for i := range ends {
				if ends[i] <= int64(off) {
					batch = i
				}
			}
			n, _, err := countRecords(t, p, LoadOptions{})
			var te *TornError
			if err == nil && compress && n == int64((len(ends)-1)*6) {
				// A flip inside S2 data can decode to the same payload
				// (e.g. a copy from another place holding equal bytes):
				// the checksum of the decoded payload passes, nothing is lost.
				continue
			}
			if !errors.As(err, &te) {
				t.Fatalf("flip at %d: %v (%d records)", off, err, n)
			}
			// A flipped length may announce more bytes than the file has
			// (a torn batch) only if the header checksum missed it; it does
			// not: the header is checksummed.
			if te.Offset != ends[batch] || !te.Corrupt || n != int64(batch*6) {
				t.Fatalf("flip at %d (batch %d at %d): %+v, %d records", off, batch, ends[batch], te, n)
			}
			last := batch == len(ends)-1 || ends[batch+1] == int64(len(full))
			if te.MidFile == last {
				t.Fatalf("flip at %d (batch %d of %d): MidFile %v", off, batch, len(ends), te.MidFile)
			}
			n2, st, err := countRecords(t, p, LoadOptions{Truncate: true})
			if !last {
				// Damage inside the file: refused even with Truncate, untouched.
				if !errors.As(err, &te) || !te.MidFile || n2 != n {
					t.Fatalf("flip at %d truncate mid-file: %d %v", off, n2, err)
				}
				if b, _ := os.ReadFile(p); !bytes.Equal(b, data) {
					t.Fatalf("flip at %d: a refused load changed the file", off)
				}
				continue
			}
			if err != nil || n2 != n || st.TruncatedBytes != int64(len(full))-ends[batch] {
				t.Fatalf("flip at %d truncate: %d %+v %v", off, n2, st, err)
			}
			saved, err := os.ReadFile(st.SavedTo)
			if err != nil || !bytes.Equal(saved, data[ends[batch]:]) {
				t.Fatalf("flip at %d: saved tail %q: %v", off, st.SavedTo, err)
			}
			os.Remove(st.SavedTo)
		}
	}
}

func TestLoadBatchIsAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a.aof")
	j := Job{ID: idOf(0, 1), Queue: []byte("q")}
	good := batchEncoder{target: 1 << 20}
	good.add(AppendLoadJob(nil, &j), -1)
	out := appendFileHeader(nil)
	out = append(out, good.take(nil)...)
	// A batch whose checksum is right but whose second record is garbage
	// of a known type: the first record must not be applied.
	payload := AppendLoadJob(nil, &j)
	payload = AppendRaw(payload, RecDelJob, []byte("short"))
	var hdr [BatchHeaderSize]byte
	putBatchHeader(hdr[:], batchHeader{n: uint32(len(payload)), count: 2, sum: xxhashSum(payload)})
	bad := len(out)
	out = append(append(out, hdr[:]...), payload...)
	os.WriteFile(p, out, 0o644)
	n, _, err := countRecords(t, p, LoadOptions{})
	var te *TornError
	if !errors.As(err, &te) || te.Offset != int64(bad) || n != 1 || !strings.Contains(te.Reason, "record 1") {
		t.Fatalf("%d records, %v", n, err)
	}
	// Count mismatch.
	putBatchHeader(hdr[:], batchHeader{n: uint32(len(payload)), count: 3, sum: xxhashSum(payload)})
	payload2 := AppendLoadJob(nil, &j)
	putBatchHeader(hdr[:], batchHeader{n: uint32(len(payload2)), count: 3, sum: xxhashSum(payload2)})
	out = append(append(out[:bad], hdr[:]...), payload2...)
	os.WriteFile(p, out, 0o644)
	if n, _, err := countRecords(t, p, LoadOptions{}); !errors.As(err, &te) || n != 1 || !strings.Contains(te.Reason, "announces 3") {
		t.Fatalf("count: %d %v", n, err)
	}
	// Oversized and empty batches are corrupt, not torn.
	for _, h := range []batchHeader{{n: MaxBatchPayload + 1, count: 1}, {n: 0, count: 0}, {n: 10, count: 0}} {
		putBatchHeader(hdr[:], h)
		out = append(out[:bad], hdr[:]...)
		os.WriteFile(p, out, 0o644)
		if _, _, err := countRecords(t, p, LoadOptions{}); !errors.As(err, &te) || !te.Corrupt {
			t.Fatalf("header %+v: %v", h, err)
		}
	}
}

func TestLoadSkippableAndFnError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.aof")
	j := Job{ID: idOf(0, 1)}
	recs := AppendLoadJob(nil, &j)
	recs = AppendRaw(recs, Skippable|3, []byte("future"))
	recs = AppendDelJob(recs, j.ID, "default")
	e := batchEncoder{target: 1 << 20}
	e.add(recs, -1)
	os.WriteFile(p, append(appendFileHeader(nil), e.take(nil)...), 0o644)
	n, st, err := countRecords(t, p, LoadOptions{})
	if err != nil || n != 2 || st.Skipped != 1 || st.Batches != 1 {
		t.Fatalf("%d %+v %v", n, st, err)
	}
	boom := errors.New("boom")
	if _, err := Load(p, LoadOptions{}, func(Record) error { return boom }); err != boom {
		t.Fatalf("fn error: %v", err)
	}
	rep, err := Check(p)
	if err != nil || rep.Bad != nil || rep.Records != 3 || rep.ByType[RecLoadJob] != 1 || rep.ByType[Skippable|3] != 1 {
		t.Fatalf("check: %+v %v", rep, err)
	}
}

func TestLoadProgressAndCompressed(t *testing.T) {
	dir := t.TempDir()
	src, ends, want := buildFile(t, dir, 40, 50, true)
	var last, total int64
	m := model{}
	st, err := Load(src, LoadOptions{Progress: func(l, tot int64) { last, total = l, tot }}, m.apply)
	if err != nil {
		t.Fatal(err)
	}
	compareModels(t, m, want)
	if last != total || total != ends[len(ends)-1] || st.Batches != 40 {
		t.Fatalf("progress %d/%d, %+v", last, total, st)
	}
}

func nearBoundary(off int64, ends []int64) bool {
	for _, e := range ends {
		if off >= e-2 && off <= e+2 {
			return true
		}
	}
	return off < HeaderSize
}
