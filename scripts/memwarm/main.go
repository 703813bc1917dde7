// Command memwarm writes to and frees an amount of anonymous memory, so
// that a process started right after it finds guest memory its VM host has
// backed. On a guest with virtio-balloon free page reporting (this
// project's benchmark machine), memory freed for about 2 seconds goes back
// to the host, and the next first write to it costs about 4-5 ms per 2 MiB
// instead of 0.1-0.2 ms; a benchmark that starts a fresh server per run
// then measures how long ago the previous run ended. Run it just before
// starting the server under test so every run starts alike.
//
//	go run ./scripts/memwarm [-mib 1024]
package main

import (
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"
)

func main() {
	mib := flag.Int("mib", 1024, "MiB to write and free")
	verbose := flag.Bool("v", false, "print the time it took")
	flag.Parse()
	size := *mib << 20
	t0 := time.Now()
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "memwarm:", err)
		os.Exit(1)
	}
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE, as the server's stores are
	for p := 0; p < size; p += 4096 {
		b[p] = 1
	}
	_ = syscall.Munmap(b)
	if *verbose {
		fmt.Fprintf(os.Stderr, "memwarm: %d MiB in %v\n", *mib, time.Since(t0))
	}
}
