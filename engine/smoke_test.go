package engine_test

import (
	"testing"

	"disq/internal/testclient"
	"disq/internal/testserver"
)

func TestSmokeAddGetAck(t *testing.T) {
	srv := testserver.Start(t)
	c := testclient.Dial(t, srv.Addr)
	c.Expect("+PONG", "PING")
	id := c.Str("ADDJOB", "q", "hello", "0")
	if len(id) != 40 {
		t.Fatalf("ADDJOB id %q", id)
	}
	c.Expect(`[["q" "`+id+`" "hello"]]`, "GETJOB", "FROM", "q")
	c.Expect(":1", "ACKJOB", id)
	c.Expect("(nil)", "SHOW", id)
}
