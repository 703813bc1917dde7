package persist_test

import (
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"disq/internal/testclient"
	"disq/internal/testserver"
	"disq/netpoll/resp"
)

// -MISCONF: a write failure is provoked portably (on Linux, without root or
// a small file system) by lowering the server's RLIMIT_FSIZE soft limit
// with prlimit(2) just above the log's current size: the next write past
// it fails with EFBIG (Go ignores SIGXFSZ). Raising the limit again lets
// the writer's retry (every second) succeed.

type rlimit struct{ cur, max uint64 }

const rlimFsize = 1 // RLIMIT_FSIZE

// setFsize sets pid's RLIMIT_FSIZE soft limit (keeping the hard limit).
func setFsize(t *testing.T, pid int, soft uint64) {
	t.Helper()
	var old rlimit
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), rlimFsize, 0, uintptr(unsafe.Pointer(&old)), 0, 0); e != 0 {
		t.Skipf("prlimit(RLIMIT_FSIZE) not usable: %v", e)
	}
	nl := rlimit{cur: min(soft, old.max), max: old.max}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), rlimFsize, uintptr(unsafe.Pointer(&nl)), 0, 0, 0); e != 0 {
		t.Skipf("prlimit(RLIMIT_FSIZE) not usable: %v", e)
	}
}

const rlimInfinity = ^uint64(0)

func TestMisconf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("provoking a write failure needs prlimit(2) (Linux)")
	}
	for _, policy := range []string{"everysec", "always"} {
		t.Run(policy, func(t *testing.T) { misconf(t, policy) })
	}
}

func misconf(t *testing.T, policy string) {
	dir := t.TempDir()
	srv := testserver.StartIn(t, dir, "--appendonly", "yes", "--appendfsync", policy)
	c := testclient.Dial(t, srv.Addr)
	before := addJobs(t, c, "mc", 50)
	size := fileSize(t, aofPath(dir))
	setFsize(t, srv.Pid(), uint64(size)+2048)

	// Add jobs until the log cannot take them. The writer preallocates the
	// file in 8 MiB chunks (the limit is just above the chunk): the bodies
	// are large so the data soon needs the next chunk.
	var ok []string
	var misconfErr string
	body := strings.Repeat("x", 64<<10)
	const tries = 400 // 25 MiB of bodies
	for i := 0; i < tries && misconfErr == ""; i++ {
		r := c.Do("ADDJOB", "mc", fmt.Sprintf("%s-%03d", body, i), "0")
		switch {
		case r.Kind == resp.KindSimple:
			ok = append(ok, string(r.Str))
		case r.Kind == resp.KindError:
			misconfErr = string(r.Str)
		default:
			t.Fatalf("ADDJOB with the log over its size limit: %s", r)
		}
	}
	if misconfErr == "" {
		t.Fatalf("%d ADDJOBs of 64 KiB past a file size limit of %d bytes: no error (file now %d bytes)", tries, size+2048, fileSize(t, aofPath(dir)))
	}
	t.Logf("%s: %d ADDJOBs accepted, then the ADDJOB whose record could not be written got -%s", policy, len(ok), misconfErr)
	if !strings.HasPrefix(misconfErr, "MISCONF Errors writing to the AOF file: ") {
		t.Errorf("ADDJOB whose record failed to be written: -%s; want -MISCONF Errors writing to the AOF file: <error>", misconfErr)
	}
	// While the state lasts: write commands and PING are refused, reads
	// work, INFO tells.
	if r := c.DoS("PING"); !strings.HasPrefix(r, "-MISCONF ") {
		t.Errorf("PING during the write error: %s; want -MISCONF", r)
	}
	if r := c.Do("ADDJOB", "mc", "more", "0"); r.Kind != resp.KindError || !strings.HasPrefix(string(r.Str), "MISCONF Errors writing to the AOF file: ") {
		t.Errorf("ADDJOB during the write error: %s; want -MISCONF Errors writing to the AOF file: ...", r)
	} else {
		t.Logf("next ADDJOB: -%s", r.Str)
	}
	if n := c.Int("QLEN", "mc"); n < int64(len(before)+len(ok)) {
		t.Errorf("QLEN mc during the write error: %d; want at least %d", n, len(before)+len(ok))
	}
	info := c.Info("persistence")
	if info["aof_last_write_status"] != "err" {
		t.Errorf("aof_last_write_status during the write error: %q; want err", info["aof_last_write_status"])
	}
	if info["aof_replies_before_fsync"] != "0" {
		t.Errorf("aof_replies_before_fsync: %s; want 0", info["aof_replies_before_fsync"])
	}

	// Lift the limit: the writer's retry succeeds within about a second.
	setFsize(t, srv.Pid(), rlimInfinity)
	testclient.Eventually(t, 10*time.Second, "PING +PONG after the write error cleared", func() bool {
		return c.DoS("PING") == "+PONG"
	})
	if st := c.Info("persistence")["aof_last_write_status"]; st != "ok" {
		t.Errorf("aof_last_write_status after recovery: %q; want ok", st)
	}
	after := addJobs(t, c, "mc", 20)
	held := heldJobs(t, c)

	// Everything acknowledged survives a kill; the jobs refused with
	// -MISCONF were kept in memory and their records retried, so they are
	// there too (reported, not required).
	srv.Kill()
	restart(t, srv)
	c = testclient.Dial(t, srv.Addr)
	got := jobSet(t, c)
	missing := 0
	for _, id := range append(append(append([]string(nil), before...), ok...), after...) {
		if !got[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged jobs missing after the write error, recovery, SIGKILL and restart", missing)
	}
	if d := diffSets(held, got); d != "" {
		t.Errorf("held before the kill vs after the restart: %s", d)
	}
	t.Logf("%s: %d jobs held before the kill (including those refused with -MISCONF), %d after the restart", policy, len(held), len(got))
}
