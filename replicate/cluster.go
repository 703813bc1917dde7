package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

const (
	// BusPortOffset: the bus listens on the client port + 10000.
	BusPortOffset = 10000
	maxClientPort = 65535 - BusPortOffset

	// DefaultNodeTimeout is cluster-node-timeout's default.
	DefaultNodeTimeout = 15 * time.Second
	// DefaultForgetBlacklist is how long CLUSTER FORGET keeps gossip from
	// re-adding a node.
	DefaultForgetBlacklist = 60 * time.Second

	cronPeriod     = 100 * time.Millisecond
	randomPingTick = 10 // random PING every 10 cron ticks (~1 s)
	maxConns       = 1024
	readBufSize    = 64 << 10
)

// Options configure a Cluster.
type Options struct {
	// MyID is the node ID (40 lowercase hex) to use when the config file
	// does not exist yet (or when there is no config file). If the file
	// exists with another ID, New fails. Empty: a fresh random ID.
	MyID string
	// Addr is the IP the bus listens on ("" = all interfaces).
	Addr string
	// Port is the client port (1..55535); the bus listens on Port+10000,
	// and this is the port advertised to other nodes.
	Port int
	// ConfigFile is the cluster config file ("" = none: nothing persisted).
	ConfigFile string
	// NodeTimeout is cluster-node-timeout (default 15 s).
	NodeTimeout time.Duration
	// Compression enables S2 compression of frames (repl-compression).
	Compression bool
	// Logger receives link and membership events (default: discarded).
	Logger *slog.Logger
	// Handler receives job messages and membership changes (may be nil).
	Handler Handler
	// Clock returns the current time for membership timestamps (tests).
	Clock func() time.Time
	// ForgetBlacklist is how long a forgotten node cannot be re-added by
	// gossip (default 60 s).
	ForgetBlacklist time.Duration
	// MaxFrameSize bounds a frame on the wire, both ways (default 16 MiB,
	// clamped to 64 KiB..1 GiB). The largest message Send accepts is a bit
	// smaller (MaxMessageSize); size it after the largest job body.
	MaxFrameSize int
	// MaxOutbox bounds the bytes queued for one peer; Send drops beyond it
	// (default 4 x MaxFrameSize).
	MaxOutbox int
}

// Handler receives what the bus delivers. Both methods run on package
// goroutines and must not block for long; they may call any Cluster method
// (Send and Broadcast never block).
type Handler interface {
	// OnMessages is called on the sending peer's reader goroutine with the
	// job messages of one frame, in the order the peer sent them (a frame
	// mixing membership and job messages gives several calls). The slice
	// and everything the messages point to (byte slices, Holders, Jobs,
	// Raw: each job message's received encoding)
	// are reused after the call returns: copy what you keep. Messages from
	// nodes this node does not know (forgotten, or not met yet) are dropped.
	OnMessages(from NodeID, msgs []Msg)
	// OnMembership is called after membership changes with the newest View,
	// from one goroutine, never concurrently; views may be skipped when
	// changes come in bursts (the last call always has the latest view).
	OnMembership(v *View)
}

// node is the membership state of one known node (guarded by Cluster.mu).
type node struct {
	id         NodeID
	ip         string
	port       int
	flags      NodeFlags
	ctime      time.Time // creation (handshake timeout)
	pingSent   time.Time // zero: no PING in flight; else when the first unanswered PING was sent
	pingQueued time.Time // last PING queued
	pongRecv   time.Time
	failTime   time.Time
	reports    map[NodeID]time.Time // PFAIL/FAIL reports: reporter -> when
	gossip     bool                 // handshake started by gossip (blacklist applies)

	peer     *peer    // nil for this node and handshake entries
	out      *outLink // our outbound link, nil when down
	dialing  bool
	nextDial time.Time
}

// peer is what Send needs of a known node; stable until the node is
// forgotten.
type peer struct {
	id  NodeID
	box *outbox
	m   *peerMetrics
}

// outLink is our connection to a peer: we write, the peer only reads.
type outLink struct {
	conn      net.Conn
	ctime     time.Time
	lastWrite atomic.Int64 // unix ns when the last frame was written
	closed    chan struct{}
	once      sync.Once
}

func (l *outLink) close() {
	l.once.Do(func() {
		close(l.closed)
		_ = l.conn.Close()
	})
}

// inLink is a connection a peer opened to us: we only read (after the
// handshake PONG).
type inLink struct {
	id       NodeID
	conn     net.Conn
	lastRecv atomic.Int64 // unix ns of the last frame
}

// Cluster is one node's membership and bus. Create it with New, then Start.
type Cluster struct {
	opts        Options
	log         *slog.Logger
	set         *metrics.Set
	tot         totals
	timeout     time.Duration
	hsTimeout   time.Duration
	idleTimeout time.Duration
	writeTO     time.Duration
	redial      time.Duration
	maxFrame    int
	maxMsg      int
	lockFile    *os.File

	mu        sync.Mutex
	myID      NodeID
	self      *node
	nodes     map[NodeID]*node
	inbound   map[NodeID][]*inLink // by sender; usually one (a new one may overlap an old one shortly)
	blacklist map[NodeID]time.Time
	nconns    int
	started   bool
	closed    bool
	ln        net.Listener
	scratch   []byte
	gsend     gossipMsg
	ticks     int
	viewSeq   uint64
	dirtyView bool
	dirtySave bool
	saveErr   string

	peers atomic.Pointer[map[NodeID]*peer]
	view  atomic.Pointer[View]

	saveMu    sync.Mutex
	kick      chan struct{}
	saveSig   chan struct{}
	notifySig chan struct{}
	done      chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New validates opts, takes the config file's lock and loads it (creating
// it with a new node ID if it does not exist). Nothing listens before Start.
func New(opts Options) (*Cluster, error) {
	if opts.Port <= 0 || opts.Port > maxClientPort {
		return nil, fmt.Errorf("replicate: client port %d out of range 1..%d (the bus uses port+%d)", opts.Port, maxClientPort, BusPortOffset)
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = DefaultNodeTimeout
	}
	if opts.ForgetBlacklist <= 0 {
		opts.ForgetBlacklist = DefaultForgetBlacklist
	}
	if opts.MaxFrameSize <= 0 {
		opts.MaxFrameSize = DefaultMaxFrameSize
	}
	opts.MaxFrameSize = min(max(opts.MaxFrameSize, minMaxFrameSize), maxMaxFrameSize)
	if opts.MaxOutbox <= 0 {
		opts.MaxOutbox = 4 * opts.MaxFrameSize
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var given NodeID
	if opts.MyID != "" {
		var ok bool
		if given, ok = ParseNodeID(opts.MyID); !ok {
			return nil, fmt.Errorf("replicate: invalid node ID %q: want 40 lowercase hex characters", opts.MyID)
		}
	}
	t := opts.NodeTimeout
	c := &Cluster{
		opts:        opts,
		log:         opts.Logger,
		set:         metrics.NewSet(),
		timeout:     t,
		hsTimeout:   max(t, time.Second),
		idleTimeout: 2*t + 2*time.Second,
		writeTO:     max(2*t, 5*time.Second),
		redial:      min(max(t/10, 100*time.Millisecond), time.Second),
		maxFrame:    opts.MaxFrameSize,
		maxMsg:      opts.MaxFrameSize - frameHeaderLen - 10,
		nodes:       make(map[NodeID]*node),
		inbound:     make(map[NodeID][]*inLink),
		blacklist:   make(map[NodeID]time.Time),
		kick:        make(chan struct{}, 1),
		saveSig:     make(chan struct{}, 1),
		notifySig:   make(chan struct{}, 1),
		done:        make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	empty := map[NodeID]*peer{}
	c.peers.Store(&empty)

	var loaded []configNode
	create := true
	if name := opts.ConfigFile; name != "" {
		lf, err := lockConfig(name)
		if err != nil {
			return nil, err
		}
		c.lockFile = lf
		data, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			_ = lf.Close()
			return nil, fmt.Errorf("cluster config file %q: %w", name, err)
		}
		if loaded, err = parseConfig(name, data); err != nil {
			_ = lf.Close()
			return nil, err
		}
		create = loaded == nil
	}
	now := opts.Clock()
	if create {
		id := given
		if id.IsZero() {
			id = randomID()
		}
		loaded = []configNode{{id: id, port: opts.Port, flags: NodeMyself}}
	}
	for _, cn := range loaded {
		n := &node{id: cn.id, ip: cn.ip, port: cn.port, flags: cn.flags, ctime: now}
		if cn.flags&NodeMyself != 0 {
			if !given.IsZero() && given != cn.id {
				_ = c.lockFile.Close()
				return nil, fmt.Errorf("cluster config file %q holds node ID %s, but %s was requested", opts.ConfigFile, cn.id, given)
			}
			n.port = opts.Port
			n.flags = NodeMyself | cn.flags&NodeLeaving
			c.self, c.myID = n, n.id
		}
		c.addNodeLocked(n)
	}
	c.publishLocked()
	c.dirtyView, c.dirtySave = false, false
	if opts.ConfigFile != "" {
		if err := c.saveConfig(); err != nil {
			_ = c.lockFile.Close()
			return nil, fmt.Errorf("cluster config file %q: %w", opts.ConfigFile, err)
		}
	}
	c.set.NewGauge("disq_bus_known_nodes", func() float64 { return float64(len(c.view.Load().Nodes)) })
	c.set.NewGauge("disq_bus_reachable_nodes", func() float64 { return float64(len(c.view.Load().Reachable)) })
	return c, nil
}

// Start listens on the bus port and starts the background work: accepting
// peers, connecting to every known node (so a node restarted with its
// config file rejoins without MEET), PINGs and failure detection, config
// saves and membership notifications.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("replicate: Start after Close")
	}
	if c.started {
		return errors.New("replicate: already started")
	}
	addr := net.JoinHostPort(c.opts.Addr, strconv.Itoa(c.opts.Port+BusPortOffset))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("replicate: cluster bus: %w", err)
	}
	c.ln, c.started = ln, true
	c.log.Info("cluster bus listening", "addr", ln.Addr().String(), "node", c.myID.String(), "known_nodes", len(c.nodes))
	c.wg.Add(4)
	go c.acceptLoop(ln)
	go c.cronLoop()
	go c.saveLoop()
	go c.notifyLoop()
	return nil
}

// Close stops the listener, every link and goroutine, waits for them
// (including running Handler calls), saves the config file a last time and
// releases its lock.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.cancel()
	if c.ln != nil {
		_ = c.ln.Close()
	}
	for _, n := range c.nodes {
		if n.out != nil {
			n.out.close()
		}
	}
	for _, ins := range c.inbound {
		for _, in := range ins {
			_ = in.conn.Close()
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
	var err error
	if c.opts.ConfigFile != "" {
		err = c.saveConfig()
		_ = c.lockFile.Close()
	}
	return err
}

func (c *Cluster) now() time.Time { return c.opts.Clock() }

// MyID returns this node's ID in text form.
func (c *Cluster) MyID() string { return c.Self().String() }

// Self returns this node's ID.
func (c *Cluster) Self() NodeID { return c.view.Load().Self }

// View returns the current membership snapshot (lock-free).
func (c *Cluster) View() *View { return c.view.Load() }

// BusAddr returns the listener's address ("" before Start).
func (c *Cluster) BusAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		return ""
	}
	return c.ln.Addr().String()
}

// MaxMessageSize is the largest message Send accepts.
func (c *Cluster) MaxMessageSize() int { return c.maxMsg }

// Send queues one encoded message (AppendMsg) for the peer and reports
// whether it was queued. It never blocks: the message is copied into the
// peer's outbox and the peer's writer sends everything queued since its
// last write as one frame. It returns false, and the message is dropped,
// when the peer is unknown, has no open link, its outbox is full, or the
// message is empty or larger than MaxMessageSize. Messages to one peer are
// delivered in Send order (per calling goroutine, and globally in the
// order the Sends were serialized); a lost link drops what is queued.
// msg may be reused as soon as Send returns.
func (c *Cluster) Send(to NodeID, msg []byte) bool {
	p := (*c.peers.Load())[to]
	if p == nil {
		c.tot.msgsDropped.Add(1)
		return false
	}
	if len(msg) == 0 || len(msg) > c.maxMsg || !p.box.push(msg) {
		p.m.msgsDropped.Inc()
		c.tot.msgsDropped.Add(1)
		return false
	}
	return true
}

// ObserveReplLatency records the confirmations of one GOTJOB/GOTJOBS
// message from a peer: n copies whose REPLJOBs were sent sum ago in all.
// The histogram takes the message's mean (one sample per message keeps
// the cost per message, not per copy); the mean in Stats weighs every
// copy.
func (c *Cluster) ObserveReplLatency(from NodeID, sum time.Duration, n int) {
	if n <= 0 {
		return
	}
	c.tot.replSum.Add(int64(sum))
	c.tot.replN.Add(int64(n))
	if p := (*c.peers.Load())[from]; p != nil {
		p.m.replLat.Update((sum / time.Duration(n)).Seconds())
		p.m.replSum.Add(int64(sum))
		p.m.replN.Add(int64(n))
	}
}

// Broadcast queues msg for every peer with an open link (handshake entries
// excluded, failing and leaving nodes included) and returns how many
// accepted it.
func (c *Cluster) Broadcast(msg []byte) int {
	if len(msg) == 0 || len(msg) > c.maxMsg {
		return 0
	}
	k := 0
	for _, p := range *c.peers.Load() {
		if p.box.push(msg) {
			k++
		}
	}
	return k
}

// Connected reports whether Send to id would currently be queued (the peer
// is known and its link is open).
func (c *Cluster) Connected(id NodeID) bool {
	p := (*c.peers.Load())[id]
	return p != nil && p.box.isOpen()
}

// Stats returns the bus statistics (totals and per known peer).
func (c *Cluster) Stats() Stats {
	s := Stats{Total: c.tot.stats()}
	for _, p := range *c.peers.Load() {
		s.Peers = append(s.Peers, p.m.stats(p.id))
	}
	slices.SortFunc(s.Peers, func(a, b PeerStats) int { return compareIDs(a.ID, b.ID) })
	return s
}

func compareIDs(a, b NodeID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// ---- membership state (all *Locked methods need c.mu) ----

func (c *Cluster) touch(save bool) {
	c.dirtyView = true
	if save {
		c.dirtySave = true
	}
}

// flushLocked publishes the view and schedules a config save if the state
// changed since the last flush.
func (c *Cluster) flushLocked() {
	if c.dirtyView {
		c.dirtyView = false
		c.publishLocked()
	}
	if c.dirtySave {
		c.dirtySave = false
		if c.opts.ConfigFile != "" {
			select {
			case c.saveSig <- struct{}{}:
			default:
			}
		}
	}
}

func (c *Cluster) unlock() {
	c.flushLocked()
	c.mu.Unlock()
}

func (c *Cluster) publishLocked() {
	c.viewSeq++
	v := &View{Seq: c.viewSeq, Self: c.myID, SelfIP: c.self.ip, Leaving: c.self.flags&NodeLeaving != 0}
	v.Nodes = make([]Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		v.Nodes = append(v.Nodes, Node{ID: n.id, IP: n.ip, Port: n.port, Flags: c.displayFlagsLocked(n),
			Connected: n == c.self || n.out != nil})
		if n.flags&NodeHandshake == 0 {
			v.Size++
			if n.flags&(NodeMyself|NodeLeaving|NodePFail|NodeFail) == 0 {
				v.ReachableCount++
			}
		}
	}
	slices.SortFunc(v.Nodes, func(a, b Node) int { return compareIDs(a.ID, b.ID) })
	for i := range v.Nodes {
		if v.Nodes[i].Usable() {
			v.Reachable = append(v.Reachable, v.Nodes[i].ID)
		}
	}
	v.index()
	c.view.Store(v)
	select {
	case c.notifySig <- struct{}{}:
	default:
	}
}

func (c *Cluster) rebuildPeersLocked() {
	m := make(map[NodeID]*peer, len(c.nodes))
	for _, n := range c.nodes {
		if n.peer != nil {
			m[n.id] = n.peer
		}
	}
	c.peers.Store(&m)
}

// addNodeLocked adds a node; real (non-handshake, non-self) nodes get a
// peer (outbox + metrics).
func (c *Cluster) addNodeLocked(n *node) {
	c.nodes[n.id] = n
	if n.flags&(NodeMyself|NodeHandshake) == 0 {
		c.makePeerLocked(n)
	}
	c.touch(n.flags&NodeHandshake == 0)
}

func (c *Cluster) makePeerLocked(n *node) {
	n.peer = &peer{id: n.id, box: newOutbox(c.opts.MaxOutbox), m: newPeerMetrics(c.set, n.id)}
	c.rebuildPeersLocked()
}

func (c *Cluster) removeNodeLocked(n *node) {
	if c.nodes[n.id] != n {
		return
	}
	delete(c.nodes, n.id)
	if n.out != nil {
		n.out.close()
		n.out = nil
	}
	if n.peer != nil {
		n.peer.box.setOpen(false)
		n.peer.m.unregister(c.set)
		c.rebuildPeersLocked()
	}
	for _, o := range c.nodes {
		delete(o.reports, n.id)
	}
	c.touch(n.flags&NodeHandshake == 0)
}

// startHandshakeLocked creates a handshake entry for ip:port unless one is
// in progress for that address. The cron dials it with a MEET.
func (c *Cluster) startHandshakeLocked(ip string, port int, gossip bool) {
	for _, n := range c.nodes {
		if n.flags&NodeHandshake != 0 && n.ip == ip && n.port == port {
			return
		}
	}
	n := &node{id: randomID(), ip: ip, port: port, flags: NodeHandshake | nodeMeet, ctime: c.now(), gossip: gossip}
	c.addNodeLocked(n)
	c.kickCron()
}

func (c *Cluster) kickCron() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Cluster) blacklistedLocked(id NodeID) bool {
	exp, ok := c.blacklist[id]
	return ok && c.now().Before(exp)
}

// buildGossipLocked fills c.gsend for a PING/PONG/MEET to node `to`:
// max(3, N/10) entries about other nodes, failing nodes first.
func (c *Cluster) buildGossipLocked(typ MsgType, to NodeID) *gossipMsg {
	g := &c.gsend
	g.typ, g.sender, g.port, g.flags = typ, c.myID, c.opts.Port, c.self.flags&wireNodeFlags
	g.entries = g.entries[:0]
	wanted := max(3, len(c.nodes)/10)
	var failing, others []*node
	for _, n := range c.nodes {
		if n == c.self || n.id == to || n.flags&(NodeHandshake|NodeNoAddr) != 0 || n.ip == "" {
			continue
		}
		if n.flags&(NodePFail|NodeFail) != 0 {
			failing = append(failing, n)
		} else {
			others = append(others, n)
		}
	}
	rand.Shuffle(len(failing), func(i, j int) { failing[i], failing[j] = failing[j], failing[i] })
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	pick := failing[:min(len(failing), wanted)]
	pick = append(pick, others[:min(len(others), max(0, wanted-len(pick)))]...)
	for _, n := range pick {
		g.entries = append(g.entries, gossipEntry{
			id: n.id, ip: []byte(n.ip), port: n.port, flags: n.flags & wireNodeFlags,
			pingSent: unixMs(n.pingSent), pongRecv: unixMs(n.pongRecv),
		})
	}
	return g
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// sendGossipLocked queues a PING or PONG for n on its link.
func (c *Cluster) sendGossipLocked(n *node, typ MsgType) {
	if n.peer == nil || n.out == nil {
		return
	}
	c.scratch = appendGossip(c.scratch[:0], c.buildGossipLocked(typ, n.id))
	if n.peer.box.pushCtrl(c.scratch) && typ == MsgPing {
		now := c.now()
		n.pingQueued = now
		if n.pingSent.IsZero() {
			n.pingSent = now
		}
	}
}

// onGossipLocked processes a PING, PONG or MEET from sender s (a known
// node). reply: answer a PING with a PONG on our link.
func (c *Cluster) onGossipLocked(s *node, g *gossipMsg, reply bool) {
	if s == nil || s.flags&NodeHandshake != 0 || s == c.self {
		return
	}
	now := c.now()
	if (s.flags^g.flags)&NodeLeaving != 0 {
		s.flags ^= NodeLeaving
		c.log.Info("cluster node leaving state changed", "node", s.id.String(), "leaving", s.flags&NodeLeaving != 0)
		c.touch(true)
	}
	if g.port != s.port && g.port > 0 && g.port <= maxClientPort {
		c.log.Info("cluster node changed port", "node", s.id.String(), "old", s.port, "new", g.port)
		s.port = g.port
		if s.out != nil {
			s.out.close()
		}
		c.touch(true)
	}
	if g.typ == MsgPong {
		if !s.pingSent.IsZero() && s.peer != nil {
			rtt := now.Sub(s.pingSent)
			s.peer.m.lastRTT.Store(int64(rtt))
			s.peer.m.rtt.Update(rtt.Seconds())
		}
		s.pongRecv, s.pingSent = now, time.Time{}
		if s.flags&(NodePFail|NodeFail) != 0 {
			c.log.Info("cluster node is reachable again", "node", s.id.String(), "was", (s.flags & (NodePFail | NodeFail)).String())
			s.flags &^= NodePFail | NodeFail
			s.reports = nil
			c.touch(true)
		}
	} else if reply {
		c.sendGossipLocked(s, MsgPong)
	}
	for i := range g.entries {
		c.gossipEntryLocked(s, &g.entries[i], now)
	}
}

func (c *Cluster) gossipEntryLocked(s *node, e *gossipEntry, now time.Time) {
	if e.id == c.myID {
		return
	}
	if n := c.nodes[e.id]; n != nil {
		if n.flags&NodeHandshake != 0 || s.flags&(NodePFail|NodeFail) != 0 {
			return
		}
		if e.flags&(NodePFail|NodeFail) != 0 {
			if n.reports == nil {
				n.reports = make(map[NodeID]time.Time)
			}
			n.reports[s.id] = now
			c.markFailingLocked(n, now)
		} else {
			delete(n.reports, s.id)
		}
		return
	}
	if e.flags&(NodeNoAddr|NodeHandshake) != 0 || c.blacklistedLocked(e.id) {
		return
	}
	a, err := netip.ParseAddr(string(e.ip))
	if err != nil || e.port <= 0 || e.port > maxClientPort {
		return
	}
	c.startHandshakeLocked(a.Unmap().String(), e.port, true)
}

// markFailingLocked turns PFAIL into FAIL when a majority (size/2+1,
// counting our own view) agrees, and broadcasts FAIL.
func (c *Cluster) markFailingLocked(n *node, now time.Time) {
	if n.flags&NodePFail == 0 || n.flags&NodeFail != 0 {
		return
	}
	failures := 1
	for id, t := range n.reports {
		if now.Sub(t) > 2*c.timeout {
			delete(n.reports, id)
			continue
		}
		failures++
	}
	size := 0
	for _, o := range c.nodes {
		if o.flags&NodeHandshake == 0 {
			size++
		}
	}
	if failures < size/2+1 {
		return
	}
	n.flags = n.flags&^NodePFail | NodeFail
	n.failTime = now
	c.log.Warn("cluster node marked as failing", "node", n.id.String(), "reports", failures, "size", size)
	c.touch(true)
	c.scratch = appendFail(c.scratch[:0], n.id)
	for _, o := range c.nodes {
		if o.peer != nil && o.out != nil {
			o.peer.box.pushCtrl(c.scratch)
		}
	}
}

func (c *Cluster) onFailLocked(from, id NodeID) {
	s := c.nodes[from]
	n := c.nodes[id]
	if s == nil || s.flags&NodeHandshake != 0 || n == nil || n == c.self || n.flags&(NodeHandshake|NodeFail) != 0 {
		return
	}
	n.flags = n.flags&^NodePFail | NodeFail
	n.failTime = c.now()
	c.log.Warn("cluster node marked as failing by another node", "node", n.id.String(), "reporter", from.String())
	c.touch(true)
}

// ---- cron: dials, PINGs, failure detection ----

func (c *Cluster) cronLoop() {
	defer c.wg.Done()
	t := time.NewTicker(cronPeriod)
	defer t.Stop()
	for {
		tick := false
		select {
		case <-t.C:
			tick = true
		case <-c.kick:
		case <-c.done:
			return
		}
		c.mu.Lock()
		if !c.closed {
			c.cronLocked(tick)
		}
		c.unlock()
	}
}

func (c *Cluster) cronLocked(tick bool) {
	now := c.now()
	if tick {
		c.ticks++
	}
	for id, exp := range c.blacklist {
		if !now.Before(exp) {
			delete(c.blacklist, id)
		}
	}
	for _, n := range c.nodes {
		if n.flags&NodeHandshake != 0 && now.Sub(n.ctime) > c.hsTimeout {
			c.log.Debug("cluster handshake timed out", "addr", net.JoinHostPort(n.ip, strconv.Itoa(n.port)))
			c.removeNodeLocked(n)
		}
	}
	for _, n := range c.nodes {
		if n == c.self || n.out != nil || n.dialing || now.Before(n.nextDial) {
			continue
		}
		if n.ip == "" {
			if n.pingSent.IsZero() && n.flags&NodeHandshake == 0 {
				n.pingSent = now
			}
			continue
		}
		n.dialing = true
		c.wg.Add(1)
		go c.dial(n, net.JoinHostPort(n.ip, strconv.Itoa(n.port+BusPortOffset)), n.flags&nodeMeet != 0)
	}
	if tick && c.ticks%randomPingTick == 0 {
		var cands []*node
		for _, n := range c.nodes {
			if n != c.self && n.out != nil && n.pingSent.IsZero() && n.flags&NodeHandshake == 0 {
				cands = append(cands, n)
			}
		}
		var best *node
		for i := 0; i < 5 && len(cands) > 0; i++ {
			n := cands[rand.IntN(len(cands))]
			if best == nil || n.pongRecv.Before(best.pongRecv) {
				best = n
			}
		}
		if best != nil {
			c.sendGossipLocked(best, MsgPing)
		}
	}
	half := c.timeout / 2
	for _, n := range c.nodes {
		if n == c.self || n.flags&NodeHandshake != 0 {
			continue
		}
		if l := n.out; l != nil {
			waiting := !n.pingSent.IsZero()
			switch {
			case waiting && now.Sub(l.ctime) > c.timeout && now.Sub(n.pingSent) > half &&
				now.Sub(c.lastRecvLocked(n)) > half && now.Sub(time.Unix(0, l.lastWrite.Load())) > half:
				// No PONG for timeout/2 and no traffic at all (nothing
				// received from the node, and our writes are not
				// progressing either): maybe the connection is broken
				// while the node is alive.
				c.log.Debug("cluster link timed out, reconnecting", "node", n.id.String())
				l.close()
			case !waiting && now.Sub(n.pongRecv) > half:
				c.sendGossipLocked(n, MsgPing)
			case waiting && now.Sub(n.pingQueued) > c.timeout/4:
				// The PONG travels on the peer's own link, which may have
				// been down when our PING arrived: ask again (pingSent
				// keeps the age of the first unanswered PING).
				c.sendGossipLocked(n, MsgPing)
			}
		}
		if !n.pingSent.IsZero() && now.Sub(n.pingSent) > c.timeout && n.flags&(NodePFail|NodeFail) == 0 {
			c.log.Info("cluster node possibly failing", "node", n.id.String(), "ping_age", now.Sub(n.pingSent).String())
			n.flags |= NodePFail
			c.touch(true)
		}
	}
	for _, n := range c.nodes {
		if n.flags&NodePFail != 0 {
			c.markFailingLocked(n, now)
		}
	}
}

func (c *Cluster) lastRecvLocked(n *node) time.Time {
	var last int64
	for _, in := range c.inbound[n.id] {
		last = max(last, in.lastRecv.Load())
	}
	if last == 0 {
		return time.Time{}
	}
	return time.Unix(0, last)
}

// ---- config saving and notifications ----

func (c *Cluster) saveLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.saveSig:
			if err := c.saveConfig(); err != nil {
				c.mu.Lock()
				report := err.Error() != c.saveErr
				c.saveErr = err.Error()
				c.mu.Unlock()
				if report {
					c.log.Error("cannot save the cluster config file", "file", c.opts.ConfigFile, "err", err)
				}
			}
		case <-c.done:
			return
		}
	}
}

// saveConfig writes the config file now (serialized with other saves).
func (c *Cluster) saveConfig() error {
	if c.opts.ConfigFile == "" {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	text := append([]byte(configHeader+"\n"), c.appendNodesLocked(nil, false)...)
	c.mu.Unlock()
	return writeFileAtomic(c.opts.ConfigFile, text)
}

func (c *Cluster) notifyLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.notifySig:
			if h := c.opts.Handler; h != nil {
				h.OnMembership(c.view.Load())
			}
		case <-c.done:
			return
		}
	}
}
