package replicate

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

var nodesLine = regexp.MustCompile(`^[0-9a-f]{40} \S*:\d+ (myself|fail\?|fail|handshake|noaddr|leaving|noflags)(,(fail\?|fail|handshake|noaddr|leaving))* \d+ \d+ (connected|disconnected)$`)

func checkNodesText(t *testing.T, c *Cluster, want int) []string {
	t.Helper()
	txt := c.NodesText()
	if !strings.HasSuffix(txt, "\n") {
		t.Fatalf("NODES does not end with \\n: %q", txt)
	}
	lines := strings.Split(strings.TrimSuffix(txt, "\n"), "\n")
	if want >= 0 && len(lines) != want {
		t.Fatalf("NODES has %d lines, want %d:\n%s", len(lines), want, txt)
	}
	for _, l := range lines {
		if !nodesLine.MatchString(l) {
			t.Fatalf("bad NODES line %q", l)
		}
	}
	if !strings.HasPrefix(lines[0], c.MyID()+" ") || !strings.Contains(lines[0], " myself") || !strings.HasSuffix(lines[0], " 0 0 connected") {
		t.Fatalf("first NODES line is not this node: %q", lines[0])
	}
	return lines
}

func infoField(c *Cluster, k string) string {
	for _, l := range strings.Split(c.InfoText(), "\r\n") {
		if v, ok := strings.CutPrefix(l, k+":"); ok {
			return v
		}
	}
	return ""
}

// TestMembership runs the upstream scenario on five in-process nodes:
// chained MEET -> full mesh; a node closed -> fail? then fail on the
// others; restarted from its config file -> flags clear; LEAVING
// propagates; FORGET with its blacklist; RESET SOFT and HARD.
func TestMembership(t *testing.T) {
	const N = 5
	const timeout = time.Second
	const blacklist = 1500 * time.Millisecond
	dir := t.TempDir()
	ns := make([]*testNode, N)
	for i := range ns {
		ns[i] = startNode(t, dir, i, timeout, func(o *Options) { o.ForgetBlacklist = blacklist })
	}
	defer func() {
		for _, n := range ns {
			_ = n.c.Close()
		}
	}()
	ids := make([]NodeID, N)
	for i, n := range ns {
		ids[i] = n.c.Self()
		if got := n.c.Hello(); len(got) != 1 || got[0].IP != "" || got[0].Priority != 1 || got[0].Port != n.opts.Port {
			t.Fatalf("lonely node HELLO %+v", got)
		}
	}

	// 1. Chained MEET converges to a full mesh.
	start := time.Now()
	for i := 0; i+1 < N; i++ {
		if err := ns[i].c.Meet("127.0.0.1", ns[i+1].opts.Port); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "full mesh", func() bool {
		for _, n := range ns {
			if len(n.c.View().Reachable) != N-1 {
				return false
			}
		}
		return true
	})
	t.Logf("full mesh of %d nodes after %v", N, time.Since(start).Round(time.Millisecond))
	// The checks run until they all hold at once (a loaded machine may
	// suspect a node for a moment).
	var why string
	meshOK := func() bool {
		for i, n := range ns {
			if infoField(n.c, "cluster_reachable_nodes") != "4" || infoField(n.c, "cluster_size") != "5" ||
				infoField(n.c, "cluster_known_nodes") != "5" || infoField(n.c, "cluster_state") != "ok" {
				why = fmt.Sprintf("node %d CLUSTER INFO:\n%s", i, n.c.InfoText())
				return false
			}
			lines := checkNodesText(t, n.c, N)
			for _, l := range lines[1:] {
				if !strings.HasSuffix(l, " connected") || !strings.Contains(l, " noflags ") || !strings.Contains(l, " 127.0.0.1:") {
					why = fmt.Sprintf("node %d NODES line %q", i, l)
					return false
				}
			}
			h := n.c.Hello()
			if len(h) != N || h[0].ID != ids[i] || h[0].IP != "127.0.0.1" {
				why = fmt.Sprintf("node %d HELLO %+v", i, h)
				return false
			}
			for _, e := range h {
				if e.Priority != 1 {
					why = fmt.Sprintf("node %d HELLO priority %+v", i, h)
					return false
				}
			}
			v := n.c.View()
			if v.Size != N || v.ReachableCount != N-1 {
				why = fmt.Sprintf("view size %d reachable %d", v.Size, v.ReachableCount)
				return false
			}
			for j := range ns {
				if got, ok := v.ByPrefix(ids[j].Prefix()); !ok || got.ID != ids[j] {
					why = fmt.Sprintf("ByPrefix(%d) = %v %v", j, got.ID, ok)
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !meshOK() {
		if time.Now().After(deadline) {
			t.Fatal(why)
		}
		time.Sleep(20 * time.Millisecond)
	}
	info := ns[0].c.InfoText()
	if !regexp.MustCompile(`^cluster_state:ok\r\ncluster_known_nodes:5\r\ncluster_reachable_nodes:\d\r\ncluster_size:5\r\ncluster_stats_messages_sent:\d+\r\ncluster_stats_messages_received:\d+\r\n$`).MatchString(info) {
		t.Fatalf("CLUSTER INFO format:\n%q", info)
	}

	// 2. Close node 4: the others flag it fail? then fail (majority).
	victim := ns[N-1]
	vid := ids[N-1]
	_ = victim.c.Close()
	start = time.Now()
	sawPFail := false
	waitFor(t, 15*time.Second, "node 4 flagged fail everywhere", func() bool {
		all := true
		for _, n := range ns[:N-1] {
			f, _ := flagsOf(n.c, vid)
			if f&NodePFail != 0 {
				sawPFail = true
			}
			if f&NodeFail == 0 {
				all = false
			}
		}
		return all
	})
	t.Logf("fail on all 4 survivors after %v (saw fail? on the way: %v)", time.Since(start).Round(time.Millisecond), sawPFail)
	// (Under heavy load a survivor may be suspected for a moment: wait.)
	waitFor(t, 15*time.Second, "survivors see 3 reachable nodes", func() bool {
		for _, n := range ns[:N-1] {
			if n.c.View().IsReachable(vid) || helloPrio(n.c, vid) != 100 || !strings.Contains(n.c.NodesText(), vid.String()+" 127.0.0.1:") ||
				infoField(n.c, "cluster_reachable_nodes") != "3" || infoField(n.c, "cluster_size") != "5" {
				return false
			}
		}
		return true
	})

	// 3. Restart it from its config file (same ID, no MEET): flags clear.
	victim.start(t)
	if victim.c.Self() != vid {
		t.Fatalf("restarted with ID %v, want %v", victim.c.Self(), vid)
	}
	start = time.Now()
	waitFor(t, 10*time.Second, "restarted node rejoined", func() bool {
		for _, n := range ns {
			if len(n.c.View().Reachable) != N-1 {
				return false
			}
		}
		return true
	})
	t.Logf("restarted node reachable everywhere after %v", time.Since(start).Round(time.Millisecond))
	for _, n := range ns[:N-1] {
		if f, _ := flagsOf(n.c, vid); f&(NodePFail|NodeFail) != 0 {
			t.Fatalf("flags not cleared: %v", f)
		}
	}

	// 4. LEAVING propagates (priority 100 everywhere, out of Reachable) and reverts.
	victim.c.SetLeaving(true)
	if !victim.c.Leaving() || helloPrio(victim.c, vid) != 100 {
		t.Fatal("own leaving state")
	}
	waitFor(t, 5*time.Second, "leaving propagated", func() bool {
		for _, n := range ns[:N-1] {
			if helloPrio(n.c, vid) != 100 || n.c.View().IsReachable(vid) || !strings.Contains(n.c.NodesText(), " leaving ") {
				return false
			}
		}
		return true
	})
	for _, n := range ns[:N-1] {
		if infoField(n.c, "cluster_reachable_nodes") != "3" {
			t.Fatal("leaving node counted reachable")
		}
	}
	victim.c.SetLeaving(false)
	waitFor(t, 5*time.Second, "leaving cleared", func() bool {
		for _, n := range ns[:N-1] {
			if helloPrio(n.c, vid) != 1 || !n.c.View().IsReachable(vid) {
				return false
			}
		}
		return true
	})

	// 5. FORGET on node 0 only: the blacklist keeps gossip from re-adding it...
	if err := ns[0].c.Forget(vid.String()); err != nil {
		t.Fatal(err)
	}
	forgotAt := time.Now()
	if _, ok := ns[0].c.View().Node(vid); ok {
		t.Fatal("still known right after FORGET")
	}
	for time.Since(forgotAt) < blacklist-300*time.Millisecond {
		if _, ok := ns[0].c.View().Node(vid); ok {
			t.Fatalf("re-added by gossip %v after FORGET (blacklist %v)", time.Since(forgotAt), blacklist)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ... and after it expires, the others' gossip brings it back.
	waitFor(t, 5*time.Second, "re-added after the blacklist", func() bool { return ns[0].c.View().IsReachable(vid) })
	t.Logf("re-added by gossip %v after FORGET", time.Since(forgotAt).Round(time.Millisecond))

	// FORGET on every other node: gone for good (it does not MEET again).
	for _, n := range ns[:N-1] {
		if err := n.c.Forget(vid.String()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(blacklist + time.Second)
	for i, n := range ns[:N-1] {
		if _, ok := n.c.View().Node(vid); ok {
			t.Fatalf("node %d knows the forgotten node again", i)
		}
	}
	waitFor(t, 10*time.Second, "3 reachable nodes after FORGET", func() bool {
		for _, n := range ns[:N-1] {
			if len(n.c.View().Reachable) != N-2 || len(n.c.View().Nodes) != N-1 {
				return false
			}
		}
		return true
	})
	_ = victim.c.Close()

	// 6. RESET SOFT keeps the ID and the leaving flag; HARD changes the ID.
	ns[3].c.SetLeaving(true)
	ns[3].c.Reset(false)
	if ns[3].c.Self() != ids[3] || !ns[3].c.Leaving() || len(ns[3].c.View().Nodes) != 1 {
		t.Fatalf("RESET SOFT: id %v leaving %v nodes %d", ns[3].c.Self(), ns[3].c.Leaving(), len(ns[3].c.View().Nodes))
	}
	checkNodesText(t, ns[3].c, 1)
	if infoField(ns[3].c, "cluster_known_nodes") != "1" || infoField(ns[3].c, "cluster_size") != "1" {
		t.Fatal(ns[3].c.InfoText())
	}
	ns[2].c.Reset(true)
	if ns[2].c.Self() == ids[2] || len(ns[2].c.View().Nodes) != 1 || ns[2].c.MyID() != ns[2].c.Self().String() {
		t.Fatal("RESET HARD did not change the ID")
	}
	checkNodesText(t, ns[2].c, 1)
	// The reset nodes persist their new state.
	if err := ns[2].c.SaveConfig(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(ns[2].opts.ConfigFile)
	if err != nil || !strings.Contains(string(data), ns[2].c.MyID()+" 127.0.0.1:") || strings.Count(string(data), "\n") != 2 {
		t.Fatalf("config after RESET HARD:\n%s", data)
	}
}

func TestCommandErrors(t *testing.T) {
	c, err := New(Options{Port: 7711})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		ip   string
		port int
		want string
	}{
		{"localhost", 7711, "Invalid node address specified: localhost:7711"},
		{"127.0.0.1", 0, "Invalid node address specified: 127.0.0.1:0"},
		{"127.0.0.1", 55536, "Invalid node address specified: 127.0.0.1:55536"},
		{"127.0.0.1", -1, "Invalid node address specified: 127.0.0.1:-1"},
		{"1.2.3", 7711, "Invalid node address specified: 1.2.3:7711"},
	} {
		if err := c.Meet(tc.ip, tc.port); err == nil || err.Error() != tc.want {
			t.Fatalf("Meet(%q, %d) = %v, want %q", tc.ip, tc.port, err, tc.want)
		}
	}
	if err := c.Meet("::1", 7712); err != nil {
		t.Fatal(err)
	}
	if err := c.Meet("::1", 7712); err != nil { // already in progress: still OK
		t.Fatal(err)
	}
	if got := infoField(c, "cluster_known_nodes"); got != "2" {
		t.Fatalf("handshake entries: known %s", got)
	}
	if got := infoField(c, "cluster_size"); got != "1" {
		t.Fatalf("size with a handshake entry: %s", got)
	}
	lines := checkNodesText(t, c, -1)
	if len(lines) != 2 || !strings.Contains(lines[1], " ::1:7712 handshake ") {
		t.Fatalf("NODES with a handshake entry:\n%s", c.NodesText())
	}
	if h := c.Hello(); len(h) != 1 {
		t.Fatalf("HELLO lists handshake entries: %+v", h)
	}
	for _, tc := range []struct{ id, want string }{
		{"abc", "Invalid node identifier"},
		{strings.Repeat("0", 40), "Unknown node " + strings.Repeat("0", 40)},
		{strings.Repeat("Z", 40), "Unknown node " + strings.Repeat("Z", 40)},
		{c.MyID(), "I tried hard but I can't forget myself..."},
	} {
		if err := c.Forget(tc.id); err == nil || err.Error() != tc.want {
			t.Fatalf("Forget(%q) = %v, want %q", tc.id, err, tc.want)
		}
	}
	if err := c.SaveConfig(); err != nil { // no config file: nothing to do
		t.Fatal(err)
	}
}
