package engine

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"time"

	"disq/replicate"
	"disq/tenant"
)

// Tenant definitions across the cluster. Every node holds every tenant
// definition (tenant.Registry.Export: a version per tenant, tombstones for
// deletions) and the newest wins (tenant.Registry.ApplyAll). Three paths
// carry them over the bus as TENANT messages (replicate.MsgTenant; each
// entry holds the definition's tenants-file JSON, password hash included,
// never a password):
//
//   - a change made on this node (admin API, disq-admin) is broadcast at
//     once to every peer with an open link, by the registry watcher. Only
//     the node where the change was made sends it: a node that applies a
//     peer's definition never forwards it, so nothing loops;
//   - when this node's link to a peer comes up (MEET, a restart of either
//     node, a reconnection after a failure or a partition) it sends the
//     peer all its definitions;
//   - every tenantDigestEvery it sends each peer a digest (name, version,
//     fingerprint per definition); the peer answers with the definitions
//     the digest shows missing, older or different. This heals what the
//     other two missed (a broadcast dropped with a link, link flaps too
//     quick to be seen).
//
// Received messages are handled on one goroutine (tenantSync.run), off the
// bus reader, since applying a definition writes the tenants-file. The
// built-in default tenant at version 0 (never changed) is not exchanged.
// Nothing here is on the command path.

// tenantDigestEvery is the digest period (a variable for the tests).
var tenantDigestEvery = 5 * time.Second

const (
	tenantMsgBytes = 256 << 10 // a TENANT message stops growing past this
	tenantInbox    = 256       // received TENANT messages waiting (beyond: dropped, the digest heals)
)

type tenantSync struct {
	e     *Engine
	c     *replicate.Cluster
	in    chan tenantIn
	sig   chan struct{} // membership changed
	stop  chan struct{}
	done  chan struct{}
	links map[replicate.NodeID]bool // peers with an open link at the last look
}

type tenantIn struct {
	from replicate.NodeID
	msg  []byte // the encoded message (a copy)
}

// tenantEnc is one local definition ready to send.
type tenantEnc struct {
	name    string
	version uint64
	sum     uint64
	def     []byte // JSON
}

func newTenantSync(e *Engine, c *replicate.Cluster) *tenantSync {
	return &tenantSync{e: e, c: c, in: make(chan tenantIn, tenantInbox), sig: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}), links: map[replicate.NodeID]bool{}}
}

func (ts *tenantSync) close() {
	close(ts.stop)
	<-ts.done
}

// watch is the registry watcher: it broadcasts changes made on this node
// (it runs under the registry's lock; Broadcast never blocks).
func (ts *tenantSync) watch(c tenant.Change) {
	if c.FromPeer {
		return
	}
	enc, ok := encodeTenant(&c.Def)
	if !ok {
		ts.e.log.Error("tenant definition too large to send to the cluster", "tenant", c.Def.Name)
		return
	}
	m := replicate.Msg{Type: replicate.MsgTenant, Tenants: []replicate.TenantDef{enc.entry(true)}}
	ts.c.Broadcast(replicate.AppendMsg(nil, &m))
}

// receive queues a TENANT message from the bus (runs on a bus reader).
func (ts *tenantSync) receive(from replicate.NodeID, m *replicate.Msg) {
	select {
	case ts.in <- tenantIn{from: from, msg: replicate.AppendMsg(nil, m)}:
	default:
		ts.e.log.Warn("tenant message from a peer dropped: too many waiting", "node", from.String())
	}
}

// kick tells the loop that the membership changed.
func (ts *tenantSync) kick() {
	select {
	case ts.sig <- struct{}{}:
	default:
	}
}

func (ts *tenantSync) run() {
	defer close(ts.done)
	tick := time.NewTicker(tenantDigestEvery)
	defer tick.Stop()
	for {
		select {
		case <-ts.stop:
			return
		case in := <-ts.in:
			ts.handle(in)
		case <-ts.sig:
			ts.checkLinks()
		case <-tick.C:
			ts.checkLinks()
			ts.sendDigests()
		}
	}
}

// peers returns the nodes this node has an open link to.
func (ts *tenantSync) peers() map[replicate.NodeID]bool {
	out := map[replicate.NodeID]bool{}
	for _, n := range ts.c.View().Nodes {
		if n.Flags&(replicate.NodeMyself|replicate.NodeHandshake) == 0 && n.Connected {
			out[n.ID] = true
		}
	}
	return out
}

// checkLinks sends every definition to each peer whose link came up since
// the last look.
func (ts *tenantSync) checkLinks() {
	now := ts.peers()
	var local []tenantEnc
	for id := range now {
		if ts.links[id] {
			continue
		}
		if local == nil {
			local = ts.local()
		}
		ts.send(id, local, false)
	}
	ts.links = now
}

func (ts *tenantSync) sendDigests() {
	peers := ts.peers()
	if len(peers) == 0 {
		return
	}
	local := ts.local()
	for id := range peers {
		ts.send(id, local, true)
	}
}

// local returns this node's definitions to exchange, sorted by name.
func (ts *tenantSync) local() []tenantEnc {
	defs := ts.e.reg.Export()
	out := make([]tenantEnc, 0, len(defs))
	for i := range defs {
		if defs[i].Version == 0 {
			continue // the built-in default, never changed
		}
		if enc, ok := encodeTenant(&defs[i]); ok {
			out = append(out, enc)
		}
	}
	return out
}

// send sends defs (sorted) to a peer as definitions or as a digest, in
// messages of at most tenantMsgBytes; a digest always ends with a
// MsgDigestEnd message (so an empty one says "I have none").
func (ts *tenantSync) send(to replicate.NodeID, defs []tenantEnc, digest bool) {
	for _, m := range tenantMsgs(defs, digest, tenantMsgBytes) {
		if !ts.c.Send(to, replicate.AppendMsg(nil, &m)) {
			ts.e.log.Debug("tenant definitions not sent: no link", "node", to.String())
			return
		}
	}
}

// tenantMsgs splits defs (sorted by name) into TENANT messages of about
// maxBytes at most.
func tenantMsgs(defs []tenantEnc, digest bool, maxBytes int) []replicate.Msg {
	var out []replicate.Msg
	var after []byte
	for len(defs) > 0 || (digest && len(out) == 0) {
		m := replicate.Msg{Type: replicate.MsgTenant}
		size := 0
		for len(defs) > 0 && len(m.Tenants) < replicate.MaxTenantEntries {
			sz := len(defs[0].name) + 20 // name, version and sum with their lengths
			if !digest {
				sz += len(defs[0].def)
			}
			if size > 0 && size+sz > maxBytes {
				break
			}
			size += sz
			m.Tenants = append(m.Tenants, defs[0].entry(!digest))
			defs = defs[1:]
		}
		if digest {
			m.Flags = replicate.MsgDigest
			m.Tenant = after
			if len(defs) == 0 {
				m.Flags |= replicate.MsgDigestEnd
			} else {
				after = m.Tenants[len(m.Tenants)-1].Name
			}
		}
		out = append(out, m)
	}
	return out
}

func (e *tenantEnc) entry(withDef bool) replicate.TenantDef {
	d := replicate.TenantDef{Name: []byte(e.name), Version: e.version, Sum: e.sum}
	if withDef {
		d.Def = e.def
	}
	return d
}

// encodeTenant encodes a definition for the bus: its JSON and fingerprint.
func encodeTenant(d *tenant.Definition) (tenantEnc, bool) {
	js, err := json.Marshal(d)
	if err != nil || len(js) > replicate.MaxTenantDef || len(d.Name) > replicate.MaxTenantName {
		return tenantEnc{}, false
	}
	h := fnv.New64a()
	_, _ = h.Write(js)
	return tenantEnc{name: d.Name, version: d.Version, sum: h.Sum64(), def: js}, true
}

// decodeTenant decodes a definition from a peer (strictly, as the
// tenants-file: unknown fields or a name or version differing from the
// entry's refuse it; the registry validates the rest).
func decodeTenant(e *replicate.TenantDef) (tenant.Definition, bool) {
	var d tenant.Definition
	dec := json.NewDecoder(bytes.NewReader(e.Def))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil || dec.More() {
		return d, false
	}
	return d, d.Name == string(e.Name) && d.Version == e.Version && d.Version > 0
}

// handle processes one TENANT message from a peer.
func (ts *tenantSync) handle(in tenantIn) {
	var m replicate.Msg
	if _, err := m.Decode(in.msg); err != nil {
		return // checked by the bus reader
	}
	if m.Flags&replicate.MsgDigest != 0 {
		if want := digestMissing(ts.local(), &m); len(want) > 0 {
			ts.send(in.from, want, false)
		}
		return
	}
	defs := make([]tenant.Definition, 0, len(m.Tenants))
	for i := range m.Tenants {
		d, ok := decodeTenant(&m.Tenants[i])
		if !ok {
			ts.e.log.Warn("malformed tenant definition from a peer; ignored", "node", in.from.String(), "tenant", string(m.Tenants[i].Name))
			continue
		}
		defs = append(defs, d)
	}
	if _, err := ts.e.reg.ApplyAll(defs); err != nil {
		ts.e.log.Warn("tenant definitions from a peer not applied", "node", in.from.String(), "err", err)
	}
}

// digestMissing returns the local definitions (sorted) that a peer's
// digest shows it lacks: inside the digest's range of names and absent
// from it, older, or different at the same version (the registry of the
// peer then picks the winner).
func digestMissing(local []tenantEnc, dg *replicate.Msg) []tenantEnc {
	have := make(map[string]*replicate.TenantDef, len(dg.Tenants))
	for i := range dg.Tenants {
		have[string(dg.Tenants[i].Name)] = &dg.Tenants[i]
	}
	after, end := string(dg.Tenant), dg.Flags&replicate.MsgDigestEnd != 0
	last := ""
	if n := len(dg.Tenants); n > 0 {
		last = string(dg.Tenants[n-1].Name)
	}
	var out []tenantEnc
	for _, l := range local {
		if l.name <= after || (!end && l.name > last) {
			continue
		}
		if p := have[l.name]; p == nil || p.Version < l.version || (p.Version == l.version && p.Sum != l.sum) {
			out = append(out, l)
		}
	}
	return out
}
