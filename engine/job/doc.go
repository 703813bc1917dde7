// Package job is disq's job model: the record a shard stores for every job,
// the job ID codec, and the job lifecycle as a pure state machine.
//
// Nothing in this package reads a clock, starts a goroutine, blocks or does
// I/O. The shard that owns a job reads the clock once per batch and passes
// `now` in; Apply returns the effects (enqueue, dequeue, reschedule, delete,
// reply to a waiting ADDJOB, log) for the shard to carry out. (*Job).Apply
// is the only function that writes Job.State; TestOnlyApplyWritesState
// enforces it.
//
// # Lifecycle
//
//	           ADDJOB (sync repl)          replication achieved
//	(free) ─────────────────────▶ wait-repl ─────────────────────┐
//	  │  ADDJOB (immediate, DELAY 0)                              ▼
//	  ├──────────────────────────────────────────────────────▶ queued ◀──┐
//	  │  ADDJOB DELAY>0, replica copy                  GETJOB │  ▲        │ requeue timer,
//	  └──────────────────────────────────────────────▶ active ◀┘  │        │ NACK, ENQUEUE,
//	                                                    │  └───────┴────────┘ end of DELAY
//	                                    ACKJOB (any but acked)
//	                                                    ▼
//	                                                  acked ──▶ (free) after GC
//
// Any state goes to (free) on TTL expiry, DELJOB, FASTACK or a flush.
//
// # Time and units
//
// Absolute times are Millis (unix milliseconds). Delay and Retry are in
// seconds, as the client gave them. CTime is Disque's creation time:
// milliseconds * 1,000,000 plus a per-shard sequence, and it is the queue
// ordering key.
//
// # Requeue clock
//
// As the spec requires, delivery does not restart the requeue clock: QTime
// is set when a job is queued, and while the job stays queued the clock
// "rolls over" every RETRY seconds. The roll-over is computed lazily when the
// job leaves the queue (rollQTime), so a queued job needs a timer only for
// its expiry.
//
// # Usage
//
//  1. The shard fills a free record's identity and parameters (ID, CTime,
//     Expire, Delay, Retry, Repl, Queue, Body) and calls
//     j.Apply(Event{Kind: EvAdd, ...}, now).
//  2. It carries out the returned Effect bits: push to or remove from the
//     queue, reschedule the job's timer at j.Awake(), free the record.
//  3. Commands and timers become further events (EvDeliver, EvAck, EvDue...).
package job
