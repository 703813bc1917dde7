// Package bench is the load generator behind disq-bench: it runs job-queue
// workloads against a Disque-compatible server, or against Redis used as a
// queue (the "list pattern"), measures throughput and latency with HDR
// histograms, and compares disq-server with redis-server side by side
// (Compare). It speaks RESP through disq/netpoll/resp only.
//
// # Workloads
//
//   - produce: ADDJOB (Redis: LPUSH). A job completes when its ADDJOB
//     reply arrives.
//   - consume: the queues are pre-filled with -n jobs (not measured), then
//     consumers fetch them (GETJOB TIMEOUT; Redis: RPOP, BRPOP, or LMOVE to
//     <queue>:processing) and acknowledge each one (ACKJOB, or FASTACK with
//     --fastack; lmove: LREM <queue>:processing -1 <body>). A job completes
//     when its acknowledgement is answered (rpop and brpop have none: when
//     it is fetched).
//   - cycle: producers and consumers at once (-c split by --consumers); the
//     run ends when every job produced has been acknowledged. With
//     --duration, producers stop at the deadline and consumers drain what
//     was produced.
//   - e2e: cycle, measuring each job from the moment its producer read the
//     ADDJOB reply to the moment a consumer read the job (see below).
//   - mixed: each connection draws commands from a weighted mix (--mix:
//     addjob, getjob = GETJOB NOHANG + ACKJOB of what it got, qlen, ping);
//     a "job" is a completed command of the mix.
//
// # Connections
//
// Each connection is driven by one goroutine (worker.loop) that alone owns
// its net.Conn, buffers and counters; there are no other per-connection
// goroutines. The loop writes a batch of requests in one Write, then reads
// into a reused buffer and walks complete replies with resp.SkipReply; the
// few fields it needs (a job ID to acknowledge, a body to LREM or to read
// the e2e token from) are located in place by small walkers (parse.go), so
// the steady state does not allocate. Requests are pre-encoded templates
// (ops.go); a producer copies the template and patches the body's 16-byte
// token in place. Replies come back in order, so a FIFO (pendRing) of the
// requests in flight, each with its send time and kind, matches them.
//
// Acknowledgements are pipelined too: the IDs a batch of GETJOB replies
// delivered are copied into an arena and sent, one ACKJOB per job, at the
// head of the next batch.
//
// Who does how much is decided by shared budgets (phase.go): producers
// claim job numbers from one counter (-n of them, or unlimited until the
// --duration deadline), so fast connections do more; consumers claim
// fetches up to the number of jobs to complete, and give a claim back when
// a fetch comes back empty (a nil reply, a GETJOB timeout). With several
// --nodes, consumers may claim a full pipeline each past that number: the
// last jobs can sit on a node whose consumers would otherwise have nothing
// left to claim while the claims block elsewhere, waiting for federation.
// The claimed job number doubles as the job's sequence number in its body
// token.
//
// # Closed and open loop
//
// Closed loop (the default, like redis-benchmark): a connection writes -P
// requests, waits for all -P replies, and writes the next batch. Latency is
// the time from the batch's write to each reply's read. When the server
// slows down, the client slows down with it and sends less, so the tail a
// slow server causes is partly hidden ("coordinated omission"); closed
// loop measures capacity.
//
// Open loop (--rate R): the sending role (producers for produce, cycle and
// e2e; consumers' fetches for consume; everything for mixed) sends R
// requests per second in total on a fixed schedule (Schedule: connection i
// of n sends every n/R seconds, offset by i/n of an interval, so the
// aggregate stream is evenly spaced). A connection sends every request
// whose intended time has passed, late or not, with at most -P in flight;
// between sends it reads with a deadline set to the next intended time.
// Latency is measured from the intended send time, so a stall is charged
// to every request that should have been sent during it: the
// coordinated-omission correction. Open loop measures latency at a given
// load.
//
// # Latency
//
// Each connection records every command round trip into its own HDR
// histograms (hdrhistogram-go, 1 µs to 10 min, 3 significant digits), one
// per command kind; they are merged at the end, and into a scratch copy for
// the progress line (under a per-connection mutex taken once per read).
// The report's latency_ms is every command round trip of the run merged
// (by_command_ms splits it per command), except for e2e.
//
// e2e: bodies start with a token (a 16-bit run nonce and the job's
// sequence number, as 16 hex digits). A ring of slots indexed by sequence
// number (tracker, e2e.go) holds per job its ADDJOB send time, the time its
// producer read the ADDJOB reply, and the time a consumer read the job.
// Whichever of the reply and the delivery is read second records
// delivery - reply, so each job is recorded exactly once. A consumer that
// is already blocked in GETJOB often receives a job before its producer has
// read the ADDJOB reply (the server queues the job, then replies): that
// latency is negative and is recorded as 0 (delivered_before_reply counts
// them). e2e_from_send_ms is measured from the ADDJOB send instead. In a
// closed-loop e2e run, producers usually outrun consumers and the latency
// is mostly the backlog's age; use --rate to measure delivery latency at a
// given load.
//
// # Redis patterns (--target redis)
//
// Producers LPUSH; consumers RPOP (polling; an empty reply is retried at
// once), BRPOP (blocking, with --fetch-timeout), or LMOVE <q> <q>:processing
// RIGHT LEFT followed by LREM <q>:processing -1 <body> as the
// acknowledgement (the "reliable queue" pattern; -1 scans from the tail,
// where the oldest job in process is, and the token makes bodies unique).
//
// # Reports
//
// Result carries jobs, jobs/s (jobs over the time from the first send to
// the last completion), latency percentiles, per-command percentiles,
// errors by kind (the first word of an error reply, or io, protocol,
// unexpected-reply, ack-miss) with a sample of each, and the client's own
// CPU time (getrusage) as a share of one core. A run fails (Result.Failed)
// when it had errors or was aborted: a connection broke, nothing completed
// for --stall-timeout, or it was interrupted.
//
// # Compare
//
// Compare starts disq-server and redis-server on free loopback ports (with
// the same maxmemory, Redis without persistence), runs every workload x -P
// x body size against both, the order alternating from round to round,
// flushing the server before each run, for several rounds; then it reports
// medians and the disq/redis ratio of jobs/s as a markdown table. Each round
// also runs redis-benchmark -t lpush and disq-bench produce against the same
// Redis with the same settings, to show the client is not the bottleneck.
// The servers are stopped when it returns, including on cancellation, and
// are started with Pdeathsig so the kernel kills them if disq-bench dies.
package bench
