package msgindex

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSeqSetAgainstMap drives the table and a map with the same random puts and removes (dense
// and scattered seqs, so that probe runs wrap around the end and the table grows and shrinks) and
// checks that they always agree.
func TestSeqSetAgainstMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	recs := newSlab()
	s := seqSet{recs: recs}
	model := map[uint64]uint32{}
	next := uint64(1)
	for step := range 200_000 {
		switch op := rng.IntN(10); {
		case op < 5 || len(model) == 0: // put a new seq, mostly consecutive
			seq := next
			if rng.IntN(8) == 0 {
				seq = rng.Uint64N(1 << 40)
			}
			next++
			id, r := recs.alloc()
			r.seq = seq
			s.put(id)
			if old, ok := model[seq]; ok {
				recs.release(old) // replaced by put
			}
			model[seq] = id
		case op < 9: // remove a present or absent seq
			seq := rng.Uint64N(next + 10)
			require.Equal(t, model[seq], s.remove(seq), "step %d: remove %d", step, seq)
			if id, ok := model[seq]; ok {
				recs.release(id)
			}
			delete(model, seq)
		default: // drain most of the table, to make it shrink
			for seq, id := range model {
				if rng.IntN(10) != 0 {
					require.Equal(t, id, s.remove(seq))
					recs.release(id)
					delete(model, seq)
				}
			}
		}
		require.Equal(t, len(model), s.len())
		if step%1000 == 0 {
			for seq, id := range model {
				require.Equal(t, id, s.get(seq), "step %d: get %d", step, seq)
			}
			n := 0
			s.each(func(id uint32) { require.Equal(t, model[recs.at(id).seq], id); n++ })
			require.Equal(t, len(model), n)
		}
	}
	require.Zero(t, s.get(1<<50), "an absent seq is not found")
}
