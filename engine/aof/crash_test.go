package aof

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "DISQ_AOF_CRASH_CHILD"

// TestCrashChild is the child of TestCrashRecovery: it appends with
// appendfsync always and prints every acknowledged batch until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only runs as the child of TestCrashRecovery")
	}
	w, err := Open(Options{Path: path, Fsync: FsyncAlways, Compress: true, Logger: quietLogger()})
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(3)
	}
	acks := make(chan string, 1024)
	const producers = 4
	for p := 0; p < producers; p++ {
		go func(p int) {
			rng := rand.New(rand.NewPCG(uint64(p), uint64(time.Now().UnixNano())))
			win := make(chan struct{}, 8)
			for seq := 0; ; seq++ {
				var recs []byte
				for k := 0; k < 3; k++ {
					j := makeJob(rng, p, seq*3+k)
					recs = AppendLoadJob(recs, &j)
				}
				win <- struct{}{}
				line := fmt.Sprintf("ack %d %d\n", p, seq)
				w.Append(&Batch{Producer: p, Records: recs, Count: 3, OnDurable: func(err error) {
					if err == nil {
						acks <- line
					}
					<-win
				}})
			}
		}(p)
	}
	fmt.Println("ready")
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-acks:
			os.Stdout.WriteString(l)
		case <-deadline:
			os.Exit(0)
		}
	}
}

// TestCrashRecovery kills a writing child with SIGKILL at a random time and
// checks that every batch it acknowledged is in the file.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < 3; round++ {
		path := filepath.Join(dir, fmt.Sprintf("crash%d.aof", round))
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child did not start: %q", sc.Text())
		}
		lines := make(chan []string, 1)
		first := make(chan struct{})
		go func() {
			var l []string
			for sc.Scan() {
				if len(l) == 0 {
					close(first)
				}
				l = append(l, sc.Text())
			}
			if len(l) == 0 {
				close(first)
			}
			lines <- l
		}()
		// Kill at a random time once acknowledgements flow (a busy disk
		// may delay the first fsyncs).
		select {
		case <-first:
		case <-time.After(20 * time.Second):
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		acked := <-lines
		cmd.Wait()

		// The file may end with a torn batch: aof-load-truncated yes.
		got, st := loadModel(t, path, LoadOptions{Truncate: true})
		n := 0
		for _, l := range acked {
			f := strings.Fields(l)
			if len(f) != 3 || f[0] != "ack" {
				continue // a line cut by the kill
			}
			p, _ := strconv.Atoi(f[1])
			seq, _ := strconv.Atoi(f[2])
			for k := 0; k < 3; k++ {
				if _, ok := got[idOf(p, seq*3+k)]; !ok {
					t.Fatalf("round %d: acknowledged batch %d/%d record %d missing (%d acks, %d records loaded, %+v)", round, p, seq, k, len(acked), len(got), st)
				}
			}
			n++
		}
		if n == 0 {
			t.Fatalf("round %d: no acknowledged batch", round)
		}
		t.Logf("round %d: %d acknowledged batches present, %d records loaded, %d bytes truncated", round, n, len(got), st.TruncatedBytes)
	}
}
