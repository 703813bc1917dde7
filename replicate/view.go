package replicate

// Node describes one known node in a View.
type Node struct {
	ID        NodeID
	IP        string // "" while unknown (this node, until a peer connects to it)
	Port      int    // client port; the bus listens on Port+10000
	Flags     NodeFlags
	Connected bool // an outbound bus link is open (always true for this node)
}

// Usable reports whether the node may receive replicas: not this node, not
// in handshake, not leaving, not PFAIL/FAIL, with an open link.
func (n *Node) Usable() bool {
	return n.Flags&(NodeMyself|NodeHandshake|NodeLeaving|NodePFail|NodeFail) == 0 && n.Connected
}

// View is an immutable snapshot of the membership, published (atomically)
// after every change of nodes, flags, addresses or links. Never modify it.
type View struct {
	Seq     uint64 // increases with every publication
	Self    NodeID // this node (changes on CLUSTER RESET HARD)
	SelfIP  string // this node's IP as learned from peers ("" until then)
	Leaving bool   // this node is leaving

	// Nodes are all known nodes, this node and handshake entries included,
	// sorted by ID.
	Nodes []Node

	// Reachable are the other nodes usable for replication now: not in
	// handshake, not leaving, not PFAIL/FAIL, with an open link. Sorted.
	Reachable []NodeID

	// ReachableCount is the spec's cluster_reachable_nodes: like Reachable
	// but without the open-link condition (a node between two connections
	// still counts). Use it for ADDJOB feasibility as upstream does; send
	// copies only to Reachable.
	ReachableCount int

	// Size is the spec's cluster size: known nodes not in handshake, this
	// node and failing nodes included.
	Size int

	byID     map[NodeID]int
	byPrefix map[[4]byte]int
}

// Node returns the node with this ID.
func (v *View) Node(id NodeID) (Node, bool) {
	if i, ok := v.byID[id]; ok {
		return v.Nodes[i], true
	}
	return Node{}, false
}

// ByPrefix returns a (non-handshake) node whose ID starts with the 4-byte
// prefix a job ID carries (job.ID.NodePrefix, or ParsePrefix of the text
// form): the job's creator. On a prefix collision, the node with the
// lowest ID wins.
func (v *View) ByPrefix(p [4]byte) (Node, bool) {
	if i, ok := v.byPrefix[p]; ok {
		return v.Nodes[i], true
	}
	return Node{}, false
}

// IsReachable reports whether id is in Reachable.
func (v *View) IsReachable(id NodeID) bool {
	i, ok := v.byID[id]
	return ok && v.Nodes[i].Usable()
}

func (v *View) index() {
	v.byID = make(map[NodeID]int, len(v.Nodes))
	v.byPrefix = make(map[[4]byte]int, len(v.Nodes))
	for i := range v.Nodes {
		n := &v.Nodes[i]
		v.byID[n.ID] = i
		if n.Flags&NodeHandshake == 0 {
			if _, dup := v.byPrefix[n.ID.Prefix()]; !dup {
				v.byPrefix[n.ID.Prefix()] = i
			}
		}
	}
}
