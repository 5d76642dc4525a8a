package loadgen

import (
	"sync"
	"sync/atomic"
)

// tracker records which ids were accepted by the target and how often each was received, to
// count lost and duplicated messages after a final drain. One shard per producer: a producer's
// ids are consecutive, so slices index them.
type tracker struct {
	shards []trackerShard
	sent   atomic.Int64 // ids accepted
	unique atomic.Int64 // ids received at least once
	dups   atomic.Int64 // receives beyond the first
	alien  atomic.Int64 // receives of ids this run never sent (or a producer saw fail)
}

type trackerShard struct {
	mu   sync.Mutex
	sent []bool  // guarded by mu
	recv []uint8 // guarded by mu; saturates at 255
}

func newTracker(producers int) *tracker { return &tracker{shards: make([]trackerShard, producers)} }

func (t *tracker) markSent(id uint64) {
	s, i := t.shard(id)
	if s == nil {
		return
	}
	s.mu.Lock()
	for len(s.sent) <= i {
		s.sent = append(s.sent, false)
	}
	s.sent[i] = true
	s.mu.Unlock()
	t.sent.Add(1)
}

// markRecv records a receive; it reports whether the id had been received before.
func (t *tracker) markRecv(id uint64) (dup bool) {
	s, i := t.shard(id)
	if s == nil {
		t.alien.Add(1)
		return false
	}
	s.mu.Lock()
	for len(s.recv) <= i {
		s.recv = append(s.recv, 0)
	}
	n := s.recv[i]
	if n < 255 {
		s.recv[i]++
	}
	s.mu.Unlock()
	if n == 0 {
		t.unique.Add(1)
		return false
	}
	t.dups.Add(1)
	return true
}

func (t *tracker) shard(id uint64) (*trackerShard, int) {
	p := int(id >> 32)
	if p < 0 || p >= len(t.shards) {
		return nil, 0
	}
	return &t.shards[p], int(uint32(id))
}

// final counts, after the drain, accepted ids never received and received ids never accepted
// (a send that failed on the client yet reached the queue, as a retried request can).
func (t *tracker) final() (lost, unexpected int64) {
	for p := range t.shards {
		s := &t.shards[p]
		s.mu.Lock()
		for i, ok := range s.sent {
			if ok && (i >= len(s.recv) || s.recv[i] == 0) {
				lost++
			}
		}
		for i, n := range s.recv {
			if n > 0 && (i >= len(s.sent) || !s.sent[i]) {
				unexpected++
			}
		}
		s.mu.Unlock()
	}
	return lost, unexpected + t.alien.Load()
}

// sentBy returns how many ids producer p had accepted.
func (t *tracker) sentBy(p int) int64 {
	if p < 0 || p >= len(t.shards) {
		return 0
	}
	s := &t.shards[p]
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, ok := range s.sent {
		if ok {
			n++
		}
	}
	return n
}
