package msgindex

import (
	"cmp"
	"slices"
)

// Peek returns up to max entries that a receive would take now, in the order it would take
// them, without changing anything (call Promote first). Entries sent before cutoff (Unix
// milliseconds; 0 for none) are left out. A standard queue gives its visible messages oldest
// first (a fair queue too: peeking shows what is waiting, not the tenants' turns); a FIFO queue gives the visible messages of its available groups, group by group, the
// group with the oldest message first, as a receive fills its batch. The cost is
// O(max·log(max)) plus the expired entries and stale ring slots skipped, whatever the queue's
// size.
func (x *Index) Peek(max int, cutoff int64) []*Entry {
	var out []*Entry
	if max <= 0 {
		return nil
	}
	take := func(id uint32) bool {
		if x.recs.at(id).sentAt >= cutoff {
			out = append(out, x.entry(id))
		}
		return len(out) < max
	}
	if !x.fifo {
		// The oldest max of each structure, then the oldest max of both.
		var fromHeap, fromRing []uint32
		heapWalk(len(x.ready.ids), x.ready.lessAt, func(i int) bool {
			if id := x.ready.ids[i]; x.recs.at(id).sentAt >= cutoff {
				fromHeap = append(fromHeap, id)
			}
			return len(fromHeap) < max
		})
		q := &x.fresh
		for i := q.first; i < len(q.ids) && len(fromRing) < max; i++ {
			id := q.ids[i]
			if r := x.recs.at(id); r.hidx == ringCode(q.base+uint64(i)) && r.sentAt >= cutoff {
				fromRing = append(fromRing, id)
			}
		}
		// The tenants of a fair queue: the oldest max over all of them.
		var fromTenants []uint32
		bySeqOf := func(a, b uint32) int { return cmp.Compare(x.recs.at(a).seq, x.recs.at(b).seq) }
		heapWalk(len(x.available), x.available.Less, func(i int) bool {
			g := x.available[i]
			// Tenants come oldest head first: once one starts after the max-th kept, all do.
			if len(fromTenants) >= max && x.recs.at(g.queue.ids[0]).seq > x.recs.at(fromTenants[max-1]).seq {
				return false
			}
			n := 0
			heapWalk(len(g.queue.ids), g.queue.lessAt, func(j int) bool {
				if id := g.queue.ids[j]; x.recs.at(id).sentAt >= cutoff {
					fromTenants = append(fromTenants, id)
					n++
				}
				return n < max
			})
			slices.SortFunc(fromTenants, bySeqOf)
			fromTenants = fromTenants[:min(len(fromTenants), max)]
			return true
		})
		lists := [][]uint32{fromHeap, fromRing, fromTenants}
		for len(out) < max {
			best := -1
			for k, l := range lists {
				if len(l) > 0 && (best < 0 || x.recs.at(l[0]).seq < x.recs.at(lists[best][0]).seq) {
					best = k
				}
			}
			if best < 0 {
				break
			}
			take(lists[best][0])
			lists[best] = lists[best][1:]
		}
		return out
	}
	heapWalk(len(x.available), x.available.Less, func(i int) bool {
		g := x.available[i]
		heapWalk(len(g.queue.ids), g.queue.lessAt, func(j int) bool {
			id := g.queue.ids[j]
			if pending(x.recs.at(id)) {
				return false // a delayed message holds back the rest of its group
			}
			return take(id)
		})
		return len(out) < max
	})
	return out
}

// heapWalk visits the positions of a binary heap of n items in increasing order (less compares
// two positions) until visit returns false. It keeps a frontier of the children of the
// positions visited, so visiting k items costs O(k²) comparisons at most, independent of n.
func heapWalk(n int, less func(i, j int) bool, visit func(i int) bool) {
	if n == 0 {
		return
	}
	frontier := []int{0}
	for len(frontier) > 0 {
		b := 0
		for k := 1; k < len(frontier); k++ {
			if less(frontier[k], frontier[b]) {
				b = k
			}
		}
		i := frontier[b]
		frontier[b] = frontier[len(frontier)-1]
		frontier = frontier[:len(frontier)-1]
		if !visit(i) {
			return
		}
		for _, c := range [2]int{2*i + 1, 2*i + 2} {
			if c < n {
				frontier = append(frontier, c)
			}
		}
	}
}
