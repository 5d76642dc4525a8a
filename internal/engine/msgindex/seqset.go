package msgindex

// seqSet is the index's table of entries by seq: an open-addressing hash table with linear
// probing that stores only the entry pointers (an entry carries its own seq). It costs about 14
// bytes per entry where a map[uint64]*Entry costs about 37, which matters at tens of millions of
// messages. Seqs of a queue are mostly consecutive; Fibonacci hashing spreads them evenly.
type seqSet struct {
	slots []*Entry // len is 0 or a power of two
	n     int
	shift uint // 64 - log2(len(slots))
}

const (
	seqSetMin = 16
	fibonacci = 0x9E3779B97F4A7C15
)

func (s *seqSet) home(seq uint64) int { return int((seq * fibonacci) >> s.shift) }

func (s *seqSet) len() int { return s.n }

// get returns the entry of seq, or nil.
func (s *seqSet) get(seq uint64) *Entry {
	if s.n == 0 {
		return nil
	}
	mask := len(s.slots) - 1
	for i := s.home(seq); ; i = (i + 1) & mask {
		e := s.slots[i]
		if e == nil || e.seq == seq {
			return e
		}
	}
}

// put stores e, replacing the entry of the same seq if there is one.
func (s *seqSet) put(e *Entry) {
	if (s.n+1)*4 > len(s.slots)*3 {
		s.resize(max(len(s.slots)*2, seqSetMin))
	}
	mask := len(s.slots) - 1
	for i := s.home(e.seq); ; i = (i + 1) & mask {
		c := s.slots[i]
		if c == nil {
			s.slots[i] = e
			s.n++
			return
		}
		if c.seq == e.seq {
			s.slots[i] = e
			return
		}
	}
}

// remove deletes the entry of seq and returns it (nil if absent). It shifts the entries after
// the hole back instead of leaving a tombstone, so lookups never slow down as entries come and go.
func (s *seqSet) remove(seq uint64) *Entry {
	if s.n == 0 {
		return nil
	}
	mask := len(s.slots) - 1
	i := s.home(seq)
	for ; ; i = (i + 1) & mask {
		e := s.slots[i]
		if e == nil {
			return nil
		}
		if e.seq == seq {
			break
		}
	}
	out := s.slots[i]
	s.slots[i] = nil
	s.n--
	for j := (i + 1) & mask; s.slots[j] != nil; j = (j + 1) & mask {
		// The entry at j may move into the hole at i unless its home lies cyclically in (i, j].
		k := s.home(s.slots[j].seq)
		if (i < j && i < k && k <= j) || (i > j && (k > i || k <= j)) {
			continue
		}
		s.slots[i], s.slots[j] = s.slots[j], nil
		i = j
	}
	if len(s.slots) > seqSetMin && s.n*16 < len(s.slots) {
		s.resize(len(s.slots) / 4)
	}
	return out
}

// each calls f for every entry, in no particular order.
func (s *seqSet) each(f func(*Entry)) {
	for _, e := range s.slots {
		if e != nil {
			f(e)
		}
	}
}

func (s *seqSet) resize(size int) {
	old := s.slots
	s.slots = make([]*Entry, size)
	s.n = 0
	s.shift = 64
	for v := size; v > 1; v >>= 1 {
		s.shift--
	}
	for _, e := range old {
		if e != nil {
			s.put(e)
		}
	}
}
