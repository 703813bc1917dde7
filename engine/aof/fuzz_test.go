package aof

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"testing"
)

func fuzzSeedFile(f *testing.F) []byte {
	dir := f.TempDir()
	p, _, _ := buildFileSmall(f, dir, 3, 3, true)
	data, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return data
}

// FuzzLoad: any file either loads completely (possibly followed by a
// zero-filled preallocated tail), or loads a prefix of whole
// batches and reports where it stops (and that prefix loads cleanly), or is
// refused as foreign; it never panics or hangs.
func FuzzLoad(f *testing.F) {
	good := fuzzSeedFile(f)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(good[:HeaderSize+5])
	f.Add([]byte{})
	f.Add(appendFileHeader(nil))
	f.Add([]byte("*2\r\n$7\r\nLOADJOB\r\n$3\r\nabc\r\n"))
	f.Add([]byte(Magic[:4]))
	f.Fuzz(func(t *testing.T, data []byte) {
		// In memory: the file system would make each run milliseconds
		// long (TestLoadEveryTruncation covers the file-level repair).
		scan := func(b []byte) (int64, *scanner, *TornError, error) {
			var n int64
			sc := scanner{path: "fuzz.aof", f: bytes.NewReader(b), size: int64(len(b)), fn: func(Record) error { n++; return nil }}
			te, err := sc.run()
			return n, &sc, te, err
		}
		n1, sc, te, err := scan(data)
		switch {
		case err != nil:
			if te != nil || !(errors.Is(err, ErrNotAOF) || errors.Is(err, ErrDisqueAOF) || errors.Is(err, ErrVersion) || errors.Is(err, ErrBadHeader)) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		case te == nil:
			// A clean end: every byte is in a batch or in the zero
			// tail that preallocation leaves past the log's end.
			if sc.valid+sc.zeroTail != int64(len(data)) && len(data) != 0 {
				t.Fatalf("loaded %d of %d bytes (zero tail %d) without error", sc.valid, len(data), sc.zeroTail)
			}
			for _, b := range data[sc.valid:] {
				if b != 0 {
					t.Fatalf("non-zero byte in the accepted tail after %d", sc.valid)
				}
			}
			return
		}
		if te.Offset < 0 || te.Offset > int64(len(data)) || te.Size != int64(len(data)) || te.Offset != sc.valid || te.Error() == "" {
			t.Fatalf("bad TornError %+v (valid %d)", te, sc.valid)
		}
		// The valid prefix loads cleanly with the same records: what
		// aof-load-truncated yes keeps.
		n2, _, te2, err := scan(data[:te.Offset])
		if err != nil || te2 != nil || n2 != n1 {
			t.Fatalf("prefix: %d records (want %d): %v %v", n2, n1, err, te2)
		}
	})
}

// FuzzDecodeRecord: DecodeRecord never panics; what it accepts re-encodes
// to a record that decodes to the same job.
func FuzzDecodeRecord(f *testing.F) {
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 4; i++ {
		j := makeJob(rng, 0, i)
		f.Add(AppendLoadJob(nil, &j))
	}
	f.Add(AppendDelJob(nil, idOf(0, 1), "default"))
	f.Add(AppendRaw(nil, Skippable|1, []byte("x")))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, n, err := DecodeRecord(data)
		if err != nil {
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("length %d of %d", n, len(data))
		}
		var enc []byte
		switch r.Type {
		case RecLoadJob:
			enc = AppendLoadJob(nil, &r.Job)
			if len(enc) != LoadJobSize(&r.Job) {
				t.Fatal("LoadJobSize")
			}
		case RecDelJob:
			enc = AppendDelJob(nil, r.Job.ID, string(r.Job.Tenant))
		default:
			return
		}
		r2, n2, err := DecodeRecord(enc)
		if err != nil || n2 != len(enc) || r2.Type != r.Type || !jobsEqual(cloneJob(r.Job), cloneJob(r2.Job)) {
			t.Fatalf("re-encode: %v\n%+v\n%+v", err, r.Job, r2.Job)
		}
	})
}

// FuzzRoundTrip: every job encodes and decodes to itself.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("id"), uint8(1), uint32(5), uint64(7), int64(-1), uint32(1), uint32(2), uint16(3), uint16(4), uint16(5), []byte("default"), []byte("q"), []byte(holderID(1)), []byte("body"))
	f.Fuzz(func(t *testing.T, id []byte, state uint8, flags uint32, ctime uint64, expire int64, delay, retry uint32, repl, nacks, adddel uint16, tenant, queue, holders, body []byte) {
		j := Job{State: State(state & 1), Flags: JobFlags(flags), CTime: ctime, Expire: expire, Delay: delay, Retry: retry,
			Repl: repl, Nacks: nacks, AddDel: adddel, Tenant: tenant, Queue: queue, Body: body}
		copy(j.ID[:], id)
		j.Holders = holders[:len(holders)/NodeIDLen*NodeIDLen]
		enc := AppendLoadJob(nil, &j)
		r, n, err := DecodeRecord(enc)
		if err != nil || n != len(enc) || r.Type != RecLoadJob || !jobsEqual(cloneJob(r.Job), cloneJob(j)) {
			t.Fatalf("%v\n%+v\n%+v", err, r.Job, j)
		}
	})
}
