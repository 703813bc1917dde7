package bench

import (
	"strconv"

	"disq/netpoll/resp"
)

// opKind is the command of one request; it selects the reply handling and
// the per-command histogram.
type opKind uint8

const (
	opAdd opKind = iota
	opGet
	opAck
	opFastAck
	opQlen
	opPing
	opLpush
	opRpop
	opBrpop
	opLmove
	opLrem
	opLlen
	numOps
)

var opNames = [numOps]string{
	"ADDJOB", "GETJOB", "ACKJOB", "FASTACK", "QLEN", "PING",
	"LPUSH", "RPOP", "BRPOP", "LMOVE", "LREM", "LLEN",
}

func (o opKind) String() string { return opNames[o] }

// isFetch reports whether o takes jobs out of a queue.
func (o opKind) isFetch() bool { return o == opGet || o == opRpop || o == opBrpop || o == opLmove }

// tmpl is one encoded request, reused for every send. When tok >= 0 the 16
// bytes at b[tok:] are the body's token, patched for each send.
type tmpl struct {
	op  opKind
	b   []byte
	tok int
}

// encode builds a template from args; body, when not nil, is appended as
// the argument at index bodyAt and its first TokenLen bytes are the token
// when it is long enough.
func encode(op opKind, args []string, bodyAt int, body []byte) tmpl {
	n := len(args)
	if body != nil {
		n++
	}
	t := tmpl{op: op, tok: -1}
	t.b = resp.AppendArray(nil, n)
	for i := 0; i <= len(args); i++ {
		if body != nil && i == bodyAt {
			t.b = append(t.b, '$')
			t.b = strconv.AppendInt(t.b, int64(len(body)), 10)
			t.b = append(t.b, "\r\n"...)
			if len(body) >= TokenLen {
				t.tok = len(t.b)
			}
			t.b = append(t.b, body...)
			t.b = append(t.b, "\r\n"...)
		}
		if i < len(args) {
			t.b = resp.AppendBulkString(t.b, args[i])
		}
	}
	return t
}

// addTemplates returns the ADDJOB (or LPUSH) template of every queue.
func addTemplates(c *Config, queues []string, body []byte) []tmpl {
	out := make([]tmpl, len(queues))
	for i, q := range queues {
		if c.Target == Redis {
			out[i] = encode(opLpush, []string{"LPUSH", q}, 2, body)
			continue
		}
		args := []string{"ADDJOB", q, strconv.Itoa(c.AddTimeout)}
		if c.Replicate > 0 {
			args = append(args, "REPLICATE", strconv.Itoa(c.Replicate))
		}
		if c.Delay >= 0 {
			args = append(args, "DELAY", strconv.Itoa(c.Delay))
		}
		if c.Retry >= 0 {
			args = append(args, "RETRY", strconv.Itoa(c.Retry))
		}
		if c.TTL > 0 {
			args = append(args, "TTL", strconv.Itoa(c.TTL))
		}
		if c.Async {
			args = append(args, "ASYNC")
		}
		out[i] = encode(opAdd, args, 2, body)
	}
	return out
}

// rotate returns queues starting at index i.
func rotate(queues []string, i int) []string {
	i %= len(queues)
	out := append([]string{}, queues[i:]...)
	return append(out, queues[:i]...)
}

// fetchTemplates returns the fetch requests of a consumer whose queue
// rotation starts at start. Commands that take a single queue get one
// template per queue, used in turn; the others list every queue.
// blocking selects GETJOB TIMEOUT / BRPOP over GETJOB NOHANG / RPOP.
func fetchTemplates(c *Config, queues []string, start int, blocking bool) []tmpl {
	rot := rotate(queues, start)
	if c.Target == Disque {
		args := []string{"GETJOB"}
		if blocking {
			args = append(args, "TIMEOUT", strconv.FormatInt(c.FetchTimeout.Milliseconds(), 10))
		} else {
			args = append(args, "NOHANG")
		}
		args = append(append(args, "FROM"), rot...)
		return []tmpl{encode(opGet, args, -1, nil)}
	}
	switch {
	case c.Pattern == BRPop && blocking:
		secs := strconv.FormatFloat(c.FetchTimeout.Seconds(), 'f', -1, 64)
		args := append(append([]string{"BRPOP"}, rot...), secs)
		return []tmpl{encode(opBrpop, args, -1, nil)}
	case c.Pattern == LMove:
		out := make([]tmpl, len(rot))
		for i, q := range rot {
			out[i] = encode(opLmove, []string{"LMOVE", q, processingList(q), "RIGHT", "LEFT"}, -1, nil)
		}
		return out
	default: // rpop, or brpop where blocking makes no sense (consume, mixed)
		out := make([]tmpl, len(rot))
		for i, q := range rot {
			out[i] = encode(opRpop, []string{"RPOP", q}, -1, nil)
		}
		return out
	}
}

// lenTemplates returns QLEN (LLEN) of every queue.
func lenTemplates(c *Config, queues []string) []tmpl {
	out := make([]tmpl, len(queues))
	for i, q := range queues {
		if c.Target == Redis {
			out[i] = encode(opLlen, []string{"LLEN", q}, -1, nil)
		} else {
			out[i] = encode(opQlen, []string{"QLEN", q}, -1, nil)
		}
	}
	return out
}
