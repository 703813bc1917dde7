// Package tenant_test holds the end-to-end tests of disq's tenants: real
// disq-server processes (internal/testserver) driven over RESP
// (internal/testclient), the admin HTTP API on the server's admin port and
// its /metrics. They cover identity (AUTH forms, requirepass, redis-cli
// --user/--pass, max_connections), isolation of every job and queue
// command between two tenants, every quota end to end with its exact error
// text and its release (ack, delete, fast ack, expiry, flush), usage that
// does not drift over 100,000 mixed operations, the produce rate measured
// on loopback, the admin API routes and bearer token, tenant deletion,
// persistence of the tenants-file across a restart, and live limit
// changes under load (run with -race: the server is then built with
// -race too).
//
// The throughput comparison of one tenant against 100 tenants is a
// measurement, not a test: it runs only with DISQ_TENANT_BENCH=1 (see
// throughput_test.go).
//
// File names: go/build takes the package name from the first file in
// name order, and reads a test file declaring package tenant_test, when
// it comes first, as the external test package of a package "tenant".
// Every file name here must therefore sort after "doc.go".
package tenant_test
