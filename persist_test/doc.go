// Package persist_test holds the integration tests of disq's append-only
// log (semantics.md 13.1) against real disq-server processes: SIGKILL during
// pipelined ADDJOB load under appendfsync always and everysec (every
// acknowledged job survives; INFO proves no reply left before its fsync),
// requeueing of loaded jobs, the aof-enqueue-jobs-once restart procedure,
// rewrites during load (BGREWRITEAOF, automatic, CONFIG SET appendonly),
// torn and corrupt files (aof-load-truncated, disq-check-aof), DEBUG
// LOADAOF, SHUTDOWN REWRITE-AOF, -MISCONF after write failures, and a
// three-node cluster restarted from its logs. It has no non-test code.
//
// The test files are in package persist_test too, so their names must sort
// after doc.go: go/build takes a _test.go file whose package name ends in
// _test, read before any other file, for the external test package of
// "persist".
package persist_test
