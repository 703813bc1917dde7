package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"disq/engine/aof"
)

// TestCheckAOFSubcommand: "disq-server check-aof" is disq-check-aof.
func TestCheckAOFSubcommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.aof")
	w, err := aof.Open(aof.Options{Path: good, Fsync: aof.FsyncNo})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.aof")
	if err := os.WriteFile(bad, []byte("*2\r\n$7\r\nLOADJOB\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		code int
		out  string
	}{
		{good, 0, "status:         OK"},
		{bad, 2, "Disque"},
	} {
		var out, errb bytes.Buffer
		code := run([]string{"check-aof", tc.file}, nil, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("check-aof %s: exit %d, output %q %q; want exit %d and %q", tc.file, code, out.String(), errb.String(), tc.code, tc.out)
		}
	}
	var out bytes.Buffer
	if run([]string{"--help"}, nil, &out, &out) != 0 || !strings.Contains(out.String(), "check-aof") {
		t.Errorf("--help does not mention check-aof: %s", out.String())
	}
}
