package replicate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCreateAndReload(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "nodes.conf")
	want := strings.Repeat("ab", 20)
	c, err := New(Options{Port: 7711, ConfigFile: name, MyID: want})
	if err != nil {
		t.Fatal(err)
	}
	if c.MyID() != want {
		t.Fatalf("MyID %s", c.MyID())
	}
	data, _ := os.ReadFile(name)
	if string(data) != configHeader+"\n"+want+" :7711 myself 0 0 connected\n" {
		t.Fatalf("new config file:\n%s", data)
	}

	// A second instance on the same file is refused while the first holds it.
	if _, err := New(Options{Port: 7712, ConfigFile: name}); err == nil || !strings.Contains(err.Error(), "in use by another disq process") {
		t.Fatalf("second open: %v", err)
	}

	c.SetLeaving(true)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// Reload: same ID, leaving kept, port from the options.
	c, err = New(Options{Port: 7799, ConfigFile: name})
	if err != nil {
		t.Fatal(err)
	}
	if c.MyID() != want || !c.Leaving() {
		t.Fatalf("reloaded id %s leaving %v", c.MyID(), c.Leaving())
	}
	if h := c.Hello(); h[0].Port != 7799 || h[0].Priority != 100 {
		t.Fatalf("HELLO %+v", h)
	}
	_ = c.Close()

	// MyID conflicting with the file is an error.
	if _, err := New(Options{Port: 7711, ConfigFile: name, MyID: strings.Repeat("cd", 20)}); err == nil || !strings.Contains(err.Error(), "holds node ID") {
		t.Fatalf("conflicting MyID: %v", err)
	}
	if _, err := New(Options{Port: 7711, MyID: "xyz"}); err == nil {
		t.Fatal("invalid MyID accepted")
	}
	if _, err := New(Options{Port: 55536}); err == nil {
		t.Fatal("port 55536 accepted")
	}
}

func TestConfigKnownNodes(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "nodes.conf")
	self, a, b := strings.Repeat("11", 20), strings.Repeat("22", 20), strings.Repeat("33", 20)
	text := configHeader + "\n" +
		self + " 10.0.0.1:7711 myself,leaving 0 0 connected\n" +
		a + " 10.0.0.2:7712 fail 1 2 disconnected\n" +
		b + " 10.0.0.3:7713 fail?,leaving 0 0 connected\n"
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Port: 7711, ConfigFile: name})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v := c.View()
	if v.Size != 3 || len(v.Reachable) != 0 || !v.Leaving || v.SelfIP != "10.0.0.1" {
		t.Fatalf("view %+v", v)
	}
	idA, _ := ParseNodeID(a)
	idB, _ := ParseNodeID(b)
	if n, _ := v.Node(idA); n.Flags != NodeFail || n.IP != "10.0.0.2" || n.Port != 7712 || n.Connected {
		t.Fatalf("node a %+v", n)
	}
	if n, _ := v.Node(idB); n.Flags != NodeLeaving { // fail? is not kept across restarts
		t.Fatalf("node b %+v", n)
	}
	if got := infoField(c, "cluster_reachable_nodes"); got != "0" {
		t.Fatal(got)
	}
	hello := c.Hello()
	if len(hello) != 3 || hello[1].Priority != 100 || hello[2].Priority != 100 {
		t.Fatalf("HELLO %+v", hello)
	}
}

func TestConfigRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	for i, body := range []string{
		// an upstream Disque nodes.conf line
		strings.Repeat("ab", 20) + " 127.0.0.1:7711 myself - 0 0 connected\nvars currentEpoch 0\n",
		"hello world\n",
	} {
		name := filepath.Join(dir, "f"+string(rune('0'+i)))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := New(Options{Port: 7711, ConfigFile: name})
		if err == nil || !strings.Contains(err.Error(), "was not written by disq") {
			t.Fatalf("foreign file %d: %v", i, err)
		}
	}
	for i, body := range []string{
		configHeader + "\n" + "zz 127.0.0.1:7711 myself 0 0 connected\n",
		configHeader + "\n" + strings.Repeat("ab", 20) + " 127.0.0.1:7711 bogus 0 0 connected\n",
		configHeader + "\n" + strings.Repeat("ab", 20) + " 127.0.0.1:7711 noflags 0 0 connected\n", // no myself
		configHeader + "\n" + strings.Repeat("ab", 20) + " 127.0.0.1:99999 myself 0 0 connected\n",
		configHeader + "\n" + strings.Repeat("ab", 20) + " nonsense:7711 myself 0 0 connected\n",
	} {
		name := filepath.Join(dir, "bad"+string(rune('0'+i)))
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Options{Port: 7711, ConfigFile: name}); err == nil {
			t.Fatalf("malformed file %d accepted", i)
		}
	}
	// An empty file is a new one.
	name := filepath.Join(dir, "empty")
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Port: 7711, ConfigFile: name})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

func TestSaveConfigError(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "sub", "nodes.conf")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Port: 7711, ConfigFile: name})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.RemoveAll(filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	err = c.SaveConfig()
	if err == nil || err.Error() != "no such file or directory" {
		t.Fatalf("SaveConfig: %v", err)
	}
}
