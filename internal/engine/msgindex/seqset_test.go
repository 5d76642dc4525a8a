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
	var s seqSet
	model := map[uint64]*Entry{}
	next := uint64(1)
	for step := range 200_000 {
		switch op := rng.IntN(10); {
		case op < 5 || len(model) == 0: // put a new seq, mostly consecutive
			seq := next
			if rng.IntN(8) == 0 {
				seq = rng.Uint64N(1 << 40)
			}
			next++
			e := &Entry{seq: seq}
			s.put(e)
			model[seq] = e
		case op < 9: // remove a present or absent seq
			seq := rng.Uint64N(next + 10)
			require.Same(t, model[seq], s.remove(seq), "step %d: remove %d", step, seq)
			delete(model, seq)
		default: // drain most of the table, to make it shrink
			for seq, e := range model {
				if rng.IntN(10) != 0 {
					require.Same(t, e, s.remove(seq))
					delete(model, seq)
				}
			}
		}
		require.Equal(t, len(model), s.len())
		if step%1000 == 0 {
			for seq, e := range model {
				require.Same(t, e, s.get(seq), "step %d: get %d", step, seq)
			}
			n := 0
			s.each(func(e *Entry) { require.Same(t, model[e.seq], e); n++ })
			require.Equal(t, len(model), n)
		}
	}
	require.Nil(t, s.get(1<<50), "an absent seq is not found")
}
