package job

import "errors"

// EventKind names what happened to a job.
type EventKind uint8

const (
	EvAdd          EventKind = iota // ADDJOB created it here (Event.Sync: wait for replication)
	EvReplicated                    // wait-repl: enough copies confirmed
	EvReplica                       // a copy received from the creating node
	EvImport                        // moved here by federation (YOURJOBS)
	EvQueueRequest                  // another node asks this one to do the first queueing
	EvDummyAck                      // ACKJOB of an unknown at-least-once job
	EvDeliver                       // GETJOB took it from the queue (or handed to another node)
	EvNack                          // NACK command: queue now, count a nack
	EvEnqueue                       // ENQUEUE command: queue now, maybe count a delivery
	EvDequeue                       // DEQUEUE command: leave the queue
	EvWorking                       // WORKING: postpone the next requeue
	EvAck                           // ACKJOB, or SETACK from another node
	EvDue                           // the job's timer (Awake) fired
	EvDelete                        // DELJOB, FASTACK, flush, GC completion
	numEvents
)

var eventNames = [...]string{
	EvAdd: "add", EvReplicated: "replicated", EvReplica: "replica", EvImport: "import",
	EvQueueRequest: "queue-request", EvDummyAck: "dummy-ack", EvDeliver: "deliver",
	EvNack: "nack", EvEnqueue: "enqueue", EvDequeue: "dequeue", EvWorking: "working",
	EvAck: "ack", EvDue: "due", EvDelete: "delete",
}

func (k EventKind) String() string {
	if k < numEvents {
		return eventNames[k]
	}
	return "invalid"
}

// Event is the input of Apply. Randomness (Jitter) and facts about other
// objects (PausedIn) are inputs too, so Apply stays a pure function.
type Event struct {
	Kind     EventKind
	Sync     bool   // EvAdd: the client waits for synchronous replication
	PausedIn bool   // EvDue: the job's queue is paused in input
	Jitter   Millis // requeue jitter, uniform in [-250, +249] ms, drawn by the shard
}

// Effect is a set of actions the shard must carry out after Apply.
type Effect uint16

const (
	EffEnqueue       Effect = 1 << iota // push the job into its queue (ordered by CTime)
	EffDequeue                          // the job left its queue (drop its entry unless already popped)
	EffSchedule                         // (re)arm the job's timer at Awake()
	EffFree                             // the record is free: release body, index and queue entries
	EffReplyAdd                         // answer the ADDJOB client waiting for replication (the ID, or the "removed" error when EffFree is set too)
	EffCountNack                        // this queueing counted a nack: tell the other holders (QUEUED, count-nack)
	EffCountDelivery                    // this queueing counted an additional delivery: tell the other holders
	EffWorking                          // tell the other holders to postpone (WORKING)
	EffGC                               // start garbage collection of the acked job's copies
	EffLogAdd                           // persistence: the node now holds the job
	EffLogDel                           // persistence: the node no longer holds the job
	EffExpired                          // the job was freed because its TTL elapsed
)

// Errors Apply returns when an event does not apply. The job is unchanged.
var (
	ErrState        = errors.New("job: event does not apply in this state")
	ErrAtMostOnce   = errors.New("job: at-most-once job already queued once on this node")
	ErrTooLate      = errors.New("job: half of the job TTL already elapsed")
	ErrAlreadyAcked = errors.New("job: already acknowledged")
)

// Apply applies e to j at time now and returns what the shard must do. It is
// the only function that writes j.State. On error j is unchanged.
func (j *Job) Apply(e Event, now Millis) (Effect, error) {
	switch e.Kind {
	case EvAdd:
		if j.State != Free {
			return 0, ErrState
		}
		if e.Sync {
			j.State = WaitRepl
			return EffSchedule, nil
		}
		return j.firstQueueing(e, now) | EffLogAdd, nil

	case EvReplicated:
		if j.State != WaitRepl {
			return 0, ErrState
		}
		return j.firstQueueing(e, now) | EffLogAdd | EffReplyAdd, nil

	case EvReplica:
		if j.State != Free {
			return 0, ErrState
		}
		j.State = Active
		j.Flags |= FlagCountRequeue
		if j.Retry > 0 {
			j.QTime = now + Millis(j.Delay)*1000 + j.RetryMillis() + e.Jitter
		} else {
			j.QTime = 0 // an at-most-once copy waits for a queue request
		}
		return EffSchedule | EffLogAdd, nil

	case EvImport:
		var eff Effect
		switch j.State {
		case Free:
			eff = EffLogAdd
		case Active:
		default:
			return 0, ErrState
		}
		j.Flags &^= FlagCountRequeue | FlagQueuedOnce
		return eff | j.queue(e, now), nil

	case EvQueueRequest:
		if j.State != Active || (j.AtMostOnce() && j.Flags&FlagQueuedOnce != 0) {
			return 0, ErrState
		}
		j.Flags &^= FlagCountRequeue
		if j.Delay > 0 {
			j.QTime = now + Millis(j.Delay)*1000
			return EffSchedule, nil
		}
		return j.queue(e, now), nil

	case EvDummyAck:
		if j.State != Free {
			return 0, ErrState
		}
		j.State = Acked
		j.Flags = FlagDummy
		j.QTime = 0
		return EffSchedule | EffGC, nil

	case EvDeliver, EvDequeue:
		if j.State != Queued {
			return 0, ErrState
		}
		j.State = Active
		if e.Kind == EvDeliver {
			j.Flags |= FlagDelivered
		}
		j.QTime = rollQTime(j.QTime, j.RetryMillis(), now)
		return EffDequeue | EffSchedule, nil

	case EvNack, EvEnqueue:
		if j.State != Active {
			return 0, ErrState
		}
		if j.AtMostOnce() && j.Flags&FlagQueuedOnce != 0 {
			return 0, ErrAtMostOnce
		}
		var eff Effect
		if e.Kind == EvNack {
			j.Nacks++
			eff = EffCountNack
		} else if j.Flags&FlagCountRequeue != 0 {
			j.AddDel++
			eff = EffCountDelivery
		}
		return eff | j.queue(e, now), nil

	case EvWorking:
		switch j.State {
		case Free:
			return 0, ErrState
		case Acked:
			if j.Flags&FlagDummy != 0 {
				return 0, ErrAlreadyAcked
			}
		}
		created := j.CreatedAt()
		if now-created > (j.Expire-created)/2 {
			return 0, ErrTooLate
		}
		var eff Effect
		switch j.State {
		case WaitRepl, Acked:
			return 0, nil // nothing to postpone; the reply is still RETRY
		case Queued:
			j.State = Active
			eff = EffDequeue
		}
		if j.Retry > 0 {
			j.QTime = now + j.RetryMillis() + e.Jitter
		}
		// An at-most-once job keeps its QTime: it is already 0 once the job
		// was queued here (never again), and before that it is the pending
		// end of DELAY, which WORKING must not cancel (the job would never be
		// delivered).
		return eff | EffSchedule | EffWorking, nil

	case EvAck:
		var eff Effect
		switch j.State {
		case Free:
			return 0, ErrState
		case Acked:
			return EffGC, ErrAlreadyAcked
		case WaitRepl:
			eff = EffReplyAdd // treat as replicated: the ADDJOB client gets its ID
		case Queued:
			eff = EffDequeue | EffLogDel
		case Active:
			eff = EffLogDel
		}
		j.State = Acked
		j.QTime = 0
		return eff | EffGC | EffSchedule, nil

	case EvDue:
		if j.State == Free {
			return 0, ErrState
		}
		if now >= j.Expire {
			return j.free() | EffExpired, nil
		}
		if j.State != Active || j.QTime == 0 || now < j.QTime {
			return EffSchedule, nil // early or stale timer: re-arm
		}
		// A first queueing of a delayed at-most-once job ignores the input
		// pause (otherwise it would never be delivered); everything else
		// is postponed by RETRY while the queue is paused in input.
		firstAtMostOnce := j.AtMostOnce() && j.Flags&FlagQueuedOnce == 0
		if e.PausedIn && !firstAtMostOnce {
			j.QTime = now + j.RetryMillis() + e.Jitter
			return EffSchedule, nil
		}
		var eff Effect
		if j.Flags&FlagCountRequeue != 0 {
			j.AddDel++
			eff = EffCountDelivery
		}
		return eff | j.queue(e, now), nil

	case EvDelete:
		if j.State == Free {
			return 0, ErrState
		}
		return j.free(), nil
	}
	return 0, ErrState
}

// firstQueueing puts a freshly created (or just replicated) job in its
// queue, or holds it active until its DELAY, measured from creation, ends.
func (j *Job) firstQueueing(e Event, now Millis) Effect {
	if j.Delay > 0 {
		j.State = Active
		j.QTime = j.CreatedAt() + Millis(j.Delay)*1000
		return EffSchedule
	}
	return j.queue(e, now)
}

// queue moves the job to Queued and starts its requeue clock.
func (j *Job) queue(e Event, now Millis) Effect {
	j.State = Queued
	j.Flags |= FlagQueuedOnce | FlagCountRequeue
	if j.Retry > 0 {
		j.QTime = now + j.RetryMillis() + e.Jitter
	} else {
		j.QTime = 0
	}
	return EffEnqueue | EffSchedule
}

// free ends the job on this node.
func (j *Job) free() Effect {
	var eff Effect
	switch j.State {
	case WaitRepl:
		eff = EffReplyAdd
	case Queued:
		eff = EffDequeue | EffLogDel
	case Active:
		eff = EffLogDel
	}
	j.State = Free
	return eff | EffFree
}
