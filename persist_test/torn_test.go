package persist_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"disq/engine/aof"
	"disq/engine/job"
	"disq/internal/testclient"
	"disq/internal/testserver"
)

// Torn and corrupt logs against the real server (the reader itself is
// fuzzed in engine/aof: FuzzLoad, TestLoadEveryTruncation; below, a
// seeded sweep of aof.Load over many cuts and flips of a server-written
// file checks the same prefix property on the real thing).

// checkAOF runs disq-check-aof [--fix] path and fails unless it exits with
// want (0 valid or repaired, 1 damaged, 2 foreign/unreadable); it returns
// the output.
func checkAOF(t *testing.T, path string, want int, flags ...string) string {
	t.Helper()
	cmd := exec.Command(testserver.Tool(t, "disq-check-aof"), append([]string{path}, flags...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("disq-check-aof: %v", err)
	}
	if code != want {
		t.Fatalf("disq-check-aof %s %v: exit %d; want %d\n%s", path, flags, code, want, out)
	}
	return string(out)
}

// checkCode is checkAOF without an expectation: the exit status and output.
func checkCode(t *testing.T, path string) (int, string) {
	t.Helper()
	out, err := exec.Command(testserver.Tool(t, "disq-check-aof"), path).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("disq-check-aof: %v", err)
	}
	return 0, string(out)
}

// serverArgs are the arguments StartIn would give, for RunExpectExit.
func serverArgs(t *testing.T, dir string, directives ...string) []string {
	port := testserver.FreePort(t)
	return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir}, directives...)
}

// writtenLog makes a log of several hundred jobs in many batches (each
// pipelined step of ADDJOBs, then ACKJOBs, is one or two batches) and
// returns its bytes and the jobs it holds at the end.
func writtenLog(t *testing.T) ([]byte, map[string]bool) {
	t.Helper()
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes")
	c := testclient.Dial(t, srv.Addr)
	for i := 0; i < 40; i++ {
		ids := addJobs(t, c, "torn", 20, "RETRY", "60")
		if i%4 == 3 {
			ackJobs(t, c, ids[:5])
		}
	}
	held := heldJobs(t, c)
	srv.Stop()
	b, err := os.ReadFile(aofPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	checkAOF(t, aofPath(dir), 0)
	return b, held
}

// replay returns the jobs a log holds after its valid prefix (what
// aof-load-truncated yes keeps), by replaying a copy of data with aof.Load,
// and the length of that prefix.
func replay(t *testing.T, data []byte) (map[string]bool, int64, bool) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "replay.aof")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	_, err := aof.Load(p, aof.LoadOptions{Logger: quiet}, func(r aof.Record) error {
		id := job.ID(r.Job.ID).String()
		switch r.Type {
		case aof.RecLoadJob:
			set[id] = true
		case aof.RecDelJob:
			delete(set, id)
		}
		return nil
	})
	var torn *aof.TornError
	switch {
	case err == nil:
		return set, int64(len(data)), false
	case errors.As(err, &torn):
		return set, torn.Offset, torn.MidFile
	}
	t.Fatalf("aof.Load of a damaged copy: %v", err)
	return nil, 0, false
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestTornLog: the log cut at random offsets (the server stopped). With
// aof-load-truncated yes the server starts, cuts the tail off with a log
// line and holds exactly the jobs of the valid prefix; with no it refuses
// to start, naming the offset and disq-check-aof; after disq-check-aof
// --fix it starts with no as well, holding the same jobs.
func TestTornLog(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	orig, origSet := writtenLog(t)
	if all, n, _ := replay(t, orig); n != int64(len(orig)) || len(all) != len(origSet) {
		t.Fatalf("replaying the intact log: %d jobs, %d bytes; want %d jobs, %d bytes", len(all), n, len(origSet), len(orig))
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	offsets := []int{0, 9, aof.HeaderSize}
	for i := 0; i < 3; i++ {
		offsets = append(offsets, aof.HeaderSize+1+rng.IntN(len(orig)-aof.HeaderSize-1))
	}
	slices.Sort(offsets)
	t.Logf("seed %d: file of %d bytes, %d jobs; cuts at %v", seed, len(orig), len(origSet), offsets)
	fixedOne := false
	for _, off := range offsets {
		damaged := damagedCase(t, fmt.Sprintf("cut at %d", off), orig[:off], false, !fixedOne)
		fixedOne = fixedOne || damaged
	}
}

// TestCorruptLog: one byte flipped at random offsets after the file header.
// disq-check-aof calls the file corrupt; aof-load-truncated no refuses it;
// yes loads the valid prefix, cuts the rest off and saves the cut bytes to
// a side file.
func TestCorruptLog(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	orig, _ := writtenLog(t)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	var offs []int
	for i := 0; i < 3; i++ {
		off := aof.HeaderSize + rng.IntN(len(orig)-aof.HeaderSize)
		offs = append(offs, off)
		data := bytes.Clone(orig)
		data[off] ^= byte(1 + rng.IntN(255))
		if !damagedCase(t, fmt.Sprintf("byte %d flipped", off), data, true, i == 0) {
			t.Errorf("byte %d flipped: the file still checks as valid", off)
		}
	}
	t.Logf("seed %d: file of %d bytes; flipped bytes at %v", seed, len(orig), offs)
}

// damagedCase puts data in a fresh directory as the log and checks
// disq-check-aof, aof-load-truncated no (refusal) and yes (the valid
// prefix, exactly), and with fix disq-check-aof --fix on a copy followed
// by a start with aof-load-truncated no. It reports whether the file was
// damaged.
func damagedCase(t *testing.T, what string, data []byte, corrupt, fix bool) bool {
	t.Helper()
	dir := t.TempDir()
	path := aofPath(dir)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, validLen, midFile := replay(t, data)
	code, report := checkCode(t, path)
	if code != 0 && code != 1 {
		t.Fatalf("%s: disq-check-aof exit %d; want 0 or 1\n%s", what, code, report)
	}
	damaged := code == 1
	if damaged != (validLen != int64(len(data))) {
		t.Errorf("%s: disq-check-aof exit %d but the valid prefix is %d of %d bytes", what, code, validLen, len(data))
	}
	if damaged {
		kind := "TRUNCATED"
		if corrupt {
			kind = "CORRUPT"
		}
		// A flipped byte may also make a batch look longer than the file:
		// then it reads as a torn tail.
		if !strings.Contains(report, kind) && !(corrupt && strings.Contains(report, "TRUNCATED")) {
			t.Errorf("%s: disq-check-aof does not say %s:\n%s", what, kind, report)
		}
		if !strings.Contains(report, "offset "+strconv.FormatInt(validLen, 10)) {
			t.Errorf("%s: disq-check-aof does not name offset %d:\n%s", what, validLen, report)
		}
		r := testserver.RunExpectExit(t, dir, 20*time.Second, serverArgs(t, dir, "--appendonly", "yes", "--aof-load-truncated", "no")...)
		switch {
		case r.TimedOut:
			t.Fatalf("%s: the server started with aof-load-truncated no", what)
		case r.ExitCode == 0:
			t.Errorf("%s: the server refusing the file exited with status 0", what)
		case !strings.Contains(r.Output, "offset "+strconv.FormatInt(validLen, 10)) || !strings.Contains(r.Output, "disq-check-aof"):
			t.Errorf("%s: the refusal does not name offset %d and disq-check-aof:\n%s", what, validLen, r.Output)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
			t.Errorf("%s: aof-load-truncated no changed the file", what)
		}
	}
	if damaged && fix {
		fdir := t.TempDir()
		copyFile(t, path, aofPath(fdir))
		out := checkAOF(t, aofPath(fdir), 0, "--fix")
		if !strings.Contains(out, "fixed:") {
			t.Errorf("%s: disq-check-aof --fix output has no fixed: line:\n%s", what, out)
		}
		if n := fileSize(t, aofPath(fdir)); n != validLen {
			t.Errorf("%s: --fix left %d bytes; want %d", what, n, validLen)
		}
		checkAOF(t, aofPath(fdir), 0)
		fsrv := testserver.StartIn(t, fdir, "--appendonly", "yes", "--aof-load-truncated", "no")
		compareSets(t, what+": after disq-check-aof --fix, aof-load-truncated no", want, jobSet(t, testclient.Dial(t, fsrv.Addr)))
		fsrv.Stop()
	}
	if midFile {
		// Damage followed by more data: refused even with yes, file untouched.
		r := testserver.RunExpectExit(t, dir, 20*time.Second, serverArgs(t, dir, "--appendonly", "yes", "--aof-load-truncated", "yes")...)
		switch {
		case r.TimedOut:
			t.Fatalf("%s: the server loaded a file corrupt inside with aof-load-truncated yes", what)
		case r.ExitCode == 0 || !strings.Contains(r.Output, "offset "+strconv.FormatInt(validLen, 10)) || !strings.Contains(r.Output, "disq-check-aof"):
			t.Errorf("%s: refusal (exit %d) does not name offset %d and disq-check-aof:\n%s", what, r.ExitCode, validLen, r.Output)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, data) {
			t.Errorf("%s: the refused start changed the file", what)
		}
		t.Logf("%s: corrupt inside the file at %d of %d bytes: refused", what, validLen, len(data))
		return damaged
	}
	srv := testserver.StartIn(t, dir, "--appendonly", "yes", "--aof-load-truncated", "yes")
	got := jobSet(t, testclient.Dial(t, srv.Addr))
	srv.Stop()
	compareSets(t, what+": aof-load-truncated yes", want, got)
	if logged := strings.Contains(srv.Log(), "damaged tail truncated"); damaged != logged {
		t.Errorf("%s: damaged %v but truncation logged %v:\n%s", what, damaged, logged, srv.Log())
	}
	// The valid prefix is kept; an empty one gets a fresh file header.
	if n, wantLen := fileSize(t, path), max(validLen, aof.HeaderSize); n != wantLen {
		t.Errorf("%s: %d bytes after loading and a clean stop; want %d (valid prefix %d)", what, n, wantLen, validLen)
	}
	checkAOF(t, path, 0)
	if corrupt && damaged {
		side, _ := filepath.Glob(path + ".corrupt-*")
		if len(side) != 1 {
			t.Errorf("%s: %d side files with the cut corrupt bytes; want 1", what, len(side))
		} else if b, _ := os.ReadFile(side[0]); !bytes.Equal(b, data[validLen:]) {
			t.Errorf("%s: side file %s holds %d bytes; want the %d cut", what, side[0], len(b), len(data)-int(validLen))
		}
	}
	t.Logf("%s: damaged %v, valid prefix %d of %d bytes, %d jobs loaded", what, damaged, validLen, len(data), len(got))
	return damaged
}

// TestDisqueAOFRefused: an original Disque AOF (RESP LOADJOB commands) in
// dir is refused with a message saying so, by the server and by
// disq-check-aof.
func TestDisqueAOFRefused(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	dir := t.TempDir()
	disque := "*2\r\n$7\r\nLOADJOB\r\n$12\r\nserializedjob\r\n*2\r\n$6\r\nDELJOB\r\n$5\r\nD-abc\r\n"
	if err := os.WriteFile(aofPath(dir), []byte(disque), 0o644); err != nil {
		t.Fatal(err)
	}
	r := testserver.RunExpectExit(t, dir, 20*time.Second, serverArgs(t, dir, "--appendonly", "yes")...)
	if r.TimedOut || r.ExitCode == 0 {
		t.Fatalf("the server accepted a Disque AOF (timed out %v, exit %d):\n%s", r.TimedOut, r.ExitCode, r.Output)
	}
	if !strings.Contains(r.Output, "written by Disque") {
		t.Errorf("the refusal does not say the file was written by Disque:\n%s", r.Output)
	}
	if b, _ := os.ReadFile(aofPath(dir)); string(b) != disque {
		t.Errorf("the server changed the Disque AOF")
	}
	out := checkAOF(t, aofPath(dir), 2)
	if !strings.Contains(out, "Disque") {
		t.Errorf("disq-check-aof on a Disque AOF does not say so:\n%s", out)
	}
	t.Logf("server: %s", lastLine(r.Output))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// TestLoadSweep: aof.Load over every cut of a server-written log in its
// first and last 100 bytes, and seeded random cuts and byte flips anywhere:
// it never fails other than by refusing, keeps a prefix of whole batches,
// and the records it passes are a prefix of the intact file's records.
func TestLoadSweep(t *testing.T) {
	t.Parallel() // waits and server starts: overlaps with the other parallel tests
	orig, _ := writtenLog(t)
	var all []string
	recs := func(data []byte) ([]string, error) {
		p := filepath.Join(t.TempDir(), "sweep.aof")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var out []string
		_, err := aof.Load(p, aof.LoadOptions{Truncate: true, Logger: quiet}, func(r aof.Record) error {
			out = append(out, fmt.Sprintf("%d %s", r.Type, job.ID(r.Job.ID)))
			return nil
		})
		return out, err
	}
	all, err := recs(orig)
	if err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 3))
	var cuts []int
	for i := 0; i <= 100 && i <= len(orig); i++ {
		cuts = append(cuts, i, len(orig)-i)
	}
	for i := 0; i < 100; i++ {
		cuts = append(cuts, rng.IntN(len(orig)+1))
	}
	check := func(what string, data []byte) {
		got, err := recs(data)
		var torn *aof.TornError
		if errors.As(err, &torn) && torn.MidFile {
			err = nil // damage inside the file: refused; got is the prefix before it
		}
		if err != nil {
			if len(data) >= aof.HeaderSize && bytes.Equal(data[:aof.HeaderSize], orig[:aof.HeaderSize]) {
				t.Fatalf("%s: %v", what, err)
			}
			return // a damaged file header is refused, not truncated
		}
		if len(got) > len(all) || !slices.Equal(got, all[:len(got)]) {
			t.Fatalf("%s: %d records loaded are not a prefix of the file's %d", what, len(got), len(all))
		}
	}
	for _, c := range cuts {
		check(fmt.Sprintf("cut at %d", c), orig[:c])
	}
	const flips = 100
	for i := 0; i < flips; i++ {
		data := bytes.Clone(orig)
		off := rng.IntN(len(data))
		data[off] ^= byte(1 + rng.IntN(255))
		check(fmt.Sprintf("byte %d flipped", off), data)
	}
	t.Logf("seed %d: %d cuts and %d flips of a %d-byte log with %d records", seed, len(cuts), flips, len(orig), len(all))
}
