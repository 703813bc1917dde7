package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // profiling endpoint, only when DISQ_PPROF is set
	"os"
)

// startPprof serves net/http/pprof on $DISQ_PPROF (e.g. 127.0.0.1:6060)
// when the variable is set: a developer tool for profiling the server
// under load (see BENCHMARKS.md). It is off by default.
func startPprof(log *slog.Logger) {
	addr := os.Getenv("DISQ_PPROF")
	if addr == "" {
		return
	}
	go func() {
		log.Info("pprof listening", "addr", addr)
		if err := http.ListenAndServe(addr, nil); err != nil {
			log.Error("pprof", "err", err)
		}
	}()
}
