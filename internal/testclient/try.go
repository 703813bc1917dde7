package testclient

import (
	"time"

	"disq/netpoll/resp"
)

// Error-returning variants for goroutines other than the test's (which
// must not call t.Fatal), e.g. load generators that run until the server
// is killed under them.

// TryWrite writes raw bytes and returns the error instead of failing the
// test.
func (c *Conn) TryWrite(b []byte) error {
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.c.Write(b)
	return err
}

// TryDo sends one command and reads its reply, waiting up to d, and
// returns any error instead of failing the test.
func (c *Conn) TryDo(d time.Duration, args ...string) (resp.Reply, error) {
	if err := c.TryWrite(resp.AppendCommandStrings(nil, args...)); err != nil {
		return resp.Reply{}, err
	}
	return c.ReadTimeout(d)
}
