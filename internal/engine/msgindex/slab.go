package msgindex

import (
	"runtime"
	"unsafe"
)

// rec is the index's fixed-size record of one message: 48 bytes without a single Go pointer.
// Records live in a slab outside the Go heap, and every structure of the index refers to them by
// a 32-bit id, so that a backlog of tens of millions of messages costs the garbage collector
// nothing to scan and does not inflate the heap it paces itself by.
type rec struct {
	seq          uint64 // 0 while the slot is free
	sentAt       int64
	visibleAt    int64 // 0: visible
	token        uint64
	hidx         int32  // position in the ready or pending heap
	gidx         int32  // FIFO: position in its group's queue (when not in flight)
	group        uint32 // FIFO: the group's id in Index.groupList (0: none)
	receiveCount uint32
}

const (
	chunkBits = 13
	chunkLen  = 1 << chunkBits // records per chunk: 8192 × 48 B = 384 KiB
	chunkMask = chunkLen - 1
)

// slab stores records in chunks of chunkLen, allocated outside the Go heap (see chunk_unix.go)
// and touched page by page, so an index of a few messages costs a few pages. Ids start at 1;
// freed ids are reused.
type slab struct {
	chunks [][]rec
	free   []uint32
	next   uint32 // the lowest id never handed out
	live   int
	// owner holds the chunks for the cleanup that returns them when the slab is dropped.
	owner *chunkOwner
}

type chunkOwner struct{ chunks [][]rec }

func newSlab() *slab {
	s := &slab{next: 1, owner: &chunkOwner{}}
	o := s.owner
	runtime.AddCleanup(s, func(o *chunkOwner) {
		for _, c := range o.chunks {
			freeChunk(c)
		}
	}, o)
	return s
}

// at returns the record of id (1 <= id < next).
func (s *slab) at(id uint32) *rec { return &s.chunks[id>>chunkBits][id&chunkMask] }

// alloc returns a free id and its (zeroed) record.
func (s *slab) alloc() (uint32, *rec) {
	s.live++
	if n := len(s.free); n > 0 {
		id := s.free[n-1]
		s.free = s.free[:n-1]
		r := s.at(id)
		*r = rec{}
		return id, r
	}
	id := s.next
	if int(id>>chunkBits) == len(s.chunks) {
		s.chunks = append(s.chunks, newChunk())
		s.owner.chunks = s.chunks
	}
	s.next++
	return id, s.at(id)
}

// release frees id. When no record is left it gives back every chunk but the first, so the
// memory of a drained backlog returns to the system.
func (s *slab) release(id uint32) {
	s.at(id).seq = 0
	s.live--
	if s.live > 0 {
		s.free = append(s.free, id)
		return
	}
	for _, c := range s.chunks[1:] {
		freeChunk(c)
	}
	s.chunks = s.chunks[:1]
	s.owner.chunks = s.chunks
	s.free = nil
	s.next = 1
}

// freeAll unmaps every chunk; the slab must not be used afterwards.
func (s *slab) freeAll() {
	for _, c := range s.chunks {
		freeChunk(c)
	}
	s.chunks, s.owner.chunks, s.free, s.live = nil, nil, nil, 0
}

// recSize is checked by a test: the slab layout assumes records without Go pointers.
const recSize = unsafe.Sizeof(rec{})
