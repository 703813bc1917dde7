// Package cluster_test holds disq's multi-process cluster tests: 3- and
// 5-node clusters of real disq-server processes on 127.0.0.1 (started by
// internal/testserver, each with its bus on port+10000 and its own
// nodes.conf, node timeout 1 s), exercising the contract of spec
// semantics.md 5-11 and commands.md 2.1/4.1/4.2 from the outside: MEET and
// gossip convergence, FAIL detection and recovery, restarts with the
// cluster config file, synchronous/asynchronous replication and its errors,
// pipelined replicated ADDJOBs, requeue de-duplication and counters, ACK
// garbage collection, federation, leaving nodes, tenant definitions
// reaching every node (admin API changes, a node killed during changes,
// the tenants-file of the receiving node), and fault tests (kill -9
// and SIGSTOP of a node under continuous ADDJOB/GETJOB/ACKJOB load) that
// report delivery counts. There is no non-test code here.
package cluster_test

// Notes for whoever edits this package:
//
//   - Every _test.go file name must sort after "doc.go": go/build reads the
//     files in name order, and a test file declaring package cluster_test
//     seen before this file is taken for the external tests of a package
//     "cluster", which then conflicts with this file (hence gc_test.go, not
//     ack_test.go).
//   - All tests run in make test's race pass (go test -race ./...), none
//     is excluded by a build tag: about 105 s under -race and 80 s without
//     on 2 cores, tests run one after the other (no t.Parallel: the node
//     timeout is 1 s, and CPU starvation would fake failures). The fault
//     tests are sized for that (3 s of load, a 2-2.5 s fault, 3 s more).
//   - Each test fails if a node's log holds a race-detector report (a
//     race-built server writes them to stderr), since nothing else would
//     notice a data race inside a server process.
