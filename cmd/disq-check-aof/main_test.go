package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"disq/engine/aof"
)

// writeLog writes a valid log of two batches and returns its path and size.
func writeLog(t *testing.T) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disque.aof")
	w, err := aof.Open(aof.Options{Path: path, Fsync: aof.FsyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		j := aof.Job{Queue: []byte("q"), Tenant: []byte("default"), Body: []byte("body")}
		j.ID[0], j.ID[1] = 1, byte(i)
		recs := aof.AppendLoadJob(nil, &j)
		recs = aof.AppendDelJob(recs, j.ID, "default")
		done := make(chan error, 1)
		w.Append(&aof.Batch{Records: recs, Count: 2, OnDurable: func(err error) { done <- err }})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	return path, fi.Size()
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckValid(t *testing.T) {
	path, _ := writeLog(t)
	code, out, _ := runCmd(path)
	if code != 0 || !strings.Contains(out, "status:         OK") || !strings.Contains(out, "valid batches:  2") ||
		!strings.Contains(out, "LoadJob 2, DelJob 2") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestCheckAndFixTruncated(t *testing.T) {
	path, size := writeLog(t)
	os.Truncate(path, size-5)
	code, out, _ := runCmd(path)
	if code != 1 || !strings.Contains(out, "TRUNCATED") || !strings.Contains(out, "--fix") || !strings.Contains(out, "valid batches:  1") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out, _ = runCmd("--fix", path)
	if code != 0 || !strings.Contains(out, "fixed:") {
		t.Fatalf("--fix: exit %d:\n%s", code, out)
	}
	if code, out, _ = runCmd(path, "--fix"); code != 0 || !strings.Contains(out, "status:         OK") {
		t.Fatalf("after --fix: exit %d:\n%s", code, out)
	}
}

func TestCheckCorrupt(t *testing.T) {
	path, size := writeLog(t)
	data, _ := os.ReadFile(path)
	data[size-3] ^= 0x40
	os.WriteFile(path, data, 0o644)
	code, out, _ := runCmd(path)
	if code != 1 || !strings.Contains(out, "CORRUPT") || !strings.Contains(out, "checksum") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, out, _ = runCmd(path, "--fix")
	if code != 0 || !strings.Contains(out, "saved:") {
		t.Fatalf("--fix: exit %d:\n%s", code, out)
	}
}

func TestCheckForeignAndUsage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "old.aof")
	os.WriteFile(p, []byte("*2\r\n$6\r\nDELJOB\r\n$40\r\nD-00000000-000000000000000000000000-0000\r\n"), 0o644)
	if code, _, errs := runCmd(p); code != 2 || !strings.Contains(errs, "written by Disque, not disq") {
		t.Fatalf("disque file: exit %d: %s", code, errs)
	}
	if code, _, _ := runCmd(filepath.Join(dir, "missing")); code != 2 {
		t.Fatal("missing file")
	}
	if code, _, _ := runCmd(); code != 2 {
		t.Fatal("no args")
	}
	if code, _, errs := runCmd("--bogus", p); code != 2 || !strings.Contains(errs, "Usage") {
		t.Fatal("bad flag")
	}
	if code, out, _ := runCmd("--help"); code != 0 || !strings.Contains(out, "Usage: disq-check-aof FILE [--fix]") {
		t.Fatal("help")
	}
}
