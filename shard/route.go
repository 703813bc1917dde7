package shard

import "github.com/cespare/xxhash/v2"

// Routing: every queue lives in exactly one slot, every slot in exactly one
// shard of a node.
//
//	slot  = xxhash64(tenant ‖ 0x00 ‖ queue) & 4095   (plain xxhash.Sum64, no seed)
//	shard = slot % shards
//
// The slot space is fixed and cluster-wide; the shard count is per node. Job
// IDs carry the slot of their queue (engine/job/id.go), so any node routes a
// command or a bus message naming a job to the owning shard without a
// lookup, whatever its core count. This is the only file that computes
// slots; TestSlotGolden pins values so IDs stay routable across versions.
// (Checksums of bus frames may use xxhash too; that is not routing.)

// NumSlots is the size of the slot space.
const NumSlots = 4096

// Slot returns the routing slot of queue in tenant's namespace. It does not
// allocate.
func Slot(tenant string, queue []byte) uint16 {
	var d xxhash.Digest
	d.Reset()
	_, _ = d.WriteString(tenant)
	_, _ = d.Write(zero[:])
	_, _ = d.Write(queue)
	return uint16(d.Sum64() & (NumSlots - 1))
}

var zero = [1]byte{0}

// Of returns the shard owning slot on a node with n shards.
func Of(slot uint16, n int) int { return int(slot) % n }
