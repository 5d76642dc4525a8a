package msgindex

// seqSet is the index's table of records by seq: an open-addressing hash table with linear
// probing that stores only 32-bit record ids (a record carries its own seq). It costs about 7
// bytes per message where a map[uint64]*Entry costs about 37, which matters at tens of millions
// of messages, and holds no pointer for the collector to scan. Seqs of a queue are mostly
// consecutive; Fibonacci hashing spreads them evenly.
type seqSet struct {
	recs  *slab
	slots []uint32 // record ids (0: empty); len is 0 or a power of two
	n     int
	shift uint // 64 - log2(len(slots))
}

const (
	seqSetMin = 16
	fibonacci = 0x9E3779B97F4A7C15
)

func (s *seqSet) home(seq uint64) int { return int((seq * fibonacci) >> s.shift) }

func (s *seqSet) len() int { return s.n }

func (s *seqSet) seqOf(id uint32) uint64 { return s.recs.at(id).seq }

// get returns the record id of seq, or 0.
func (s *seqSet) get(seq uint64) uint32 {
	if s.n == 0 {
		return 0
	}
	mask := len(s.slots) - 1
	for i := s.home(seq); ; i = (i + 1) & mask {
		id := s.slots[i]
		if id == 0 || s.seqOf(id) == seq {
			return id
		}
	}
}

// put stores record id under its seq, replacing the record of the same seq if there is one.
func (s *seqSet) put(id uint32) {
	if (s.n+1)*4 > len(s.slots)*3 {
		s.resize(max(len(s.slots)*2, seqSetMin))
	}
	mask := len(s.slots) - 1
	seq := s.seqOf(id)
	for i := s.home(seq); ; i = (i + 1) & mask {
		c := s.slots[i]
		if c == 0 {
			s.slots[i] = id
			s.n++
			return
		}
		if s.seqOf(c) == seq {
			s.slots[i] = id
			return
		}
	}
}

// remove deletes seq and returns its record id (0 if absent). It shifts the ids after the hole
// back instead of leaving a tombstone, so lookups never slow down as messages come and go.
func (s *seqSet) remove(seq uint64) uint32 {
	if s.n == 0 {
		return 0
	}
	mask := len(s.slots) - 1
	i := s.home(seq)
	for ; ; i = (i + 1) & mask {
		id := s.slots[i]
		if id == 0 {
			return 0
		}
		if s.seqOf(id) == seq {
			break
		}
	}
	out := s.slots[i]
	s.slots[i] = 0
	s.n--
	for j := (i + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
		// The id at j may move into the hole at i unless its home lies cyclically in (i, j].
		k := s.home(s.seqOf(s.slots[j]))
		if (i < j && i < k && k <= j) || (i > j && (k > i || k <= j)) {
			continue
		}
		s.slots[i], s.slots[j] = s.slots[j], 0
		i = j
	}
	if len(s.slots) > seqSetMin && s.n*16 < len(s.slots) {
		s.resize(len(s.slots) / 4)
	}
	return out
}

// each calls f for every record id, in no particular order.
func (s *seqSet) each(f func(uint32)) {
	for _, id := range s.slots {
		if id != 0 {
			f(id)
		}
	}
}

func (s *seqSet) resize(size int) {
	old := s.slots
	s.slots = make([]uint32, size)
	s.n = 0
	s.shift = 64
	for v := size; v > 1; v >>= 1 {
		s.shift--
	}
	for _, id := range old {
		if id != 0 {
			s.put(id)
		}
	}
}
