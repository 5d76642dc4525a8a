package enginetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

// ExerciseFair checks fair queues: on a standard queue, MessageGroupId names a tenant, and a
// tenant's flood must not hold back the others (docs/fair-queues.md). It is apart from Exercise
// while not every engine schedules fairly yet (the PostgreSQL engine does not); an engine that
// does runs both.
func ExerciseFair(t *testing.T, open func(t *testing.T) engine.Engine) {
	t.Run("QuietTenantsAreNotStuckBehindAFlood", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "fair")
		const flood = 100_000
		sendTenant := func(tenant string, n int, now time.Time) {
			for sent := 0; sent < n; {
				var entries []engine.MessageSendEntry
				for ; sent < n && len(entries) < 500; sent++ {
					m := newMessage(fmt.Sprintf("%s-%d", tenant, sent), now)
					m.GroupID = tenant
					entries = append(entries, engine.MessageSendEntry{Message: m, VisibleAt: now})
				}
				_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{QueueID: q.ID, Now: now, Entries: entries})
				require.NoError(t, err)
			}
		}
		sendTenant("A", flood, base)
		for _, tenant := range []string{"B", "C", "D", "E"} {
			sendTenant(tenant, 100, at(time.Second))
		}
		got := map[string]int{}
		rounds := 0
		for ; got["B"]+got["C"]+got["D"]+got["E"] < 400; rounds++ {
			require.Less(t, rounds, 60, "the quiet tenants' 400 messages are received within 60 receives of 10; got %v", got)
			res := b.receive(t, q, at(2*time.Second), 10, at(time.Hour))
			require.Len(t, res.Messages, 10)
			for _, m := range res.Messages {
				got[strings.SplitN(m.Message.Body, "-", 2)[0]]++
			}
		}
		require.GreaterOrEqual(t, rounds, 40, "400 messages take at least 40 receives of 10")
		require.GreaterOrEqual(t, got["A"], rounds, "the flooding tenant still progresses: about one message in ten (%v)", got)
		b.requireStats(t, q, at(2*time.Second), int64(flood+400-10*rounds), int64(10*rounds), 0)
		st := b.stats(t, q, at(2*time.Second))
		require.Equal(t, int64(1), st.Tenants, "only A has visible messages left")
		require.Equal(t, int64(flood+400-10*rounds), st.LargestTenant)
	})

	t.Run("WithoutGroupIdsOldestFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "plain")
		var bodies []string
		for i := range 50 {
			bodies = append(bodies, fmt.Sprintf("m%02d", i))
		}
		b.send(t, q, base, bodies...)
		var got []string
		for len(got) < 50 {
			got = append(got, receivedBodies(b.receive(t, q, base, 10, at(time.Hour)))...)
		}
		require.Equal(t, bodies, got, "a standard queue without group ids keeps its order")
	})

	t.Run("TenantMessagesAllDelivered", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "mixed")
		for i := range 40 {
			m := newMessage(fmt.Sprintf("g%d", i), base)
			if i%2 == 0 {
				m.GroupID = "even"
			}
			_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{QueueID: q.ID, Now: base,
				Entries: []engine.MessageSendEntry{{Message: m, VisibleAt: base}}})
			require.NoError(t, err)
		}
		seen := map[string]bool{}
		for range 4 {
			res := b.receive(t, q, base, 10, at(time.Hour))
			require.Len(t, res.Messages, 10, "a tenant's messages are delivered in parallel, never blocked like a FIFO group")
			for _, m := range res.Messages {
				require.False(t, seen[m.Message.Body], "delivered twice: %s", m.Message.Body)
				seen[m.Message.Body] = true
			}
		}
		b.receiveNone(t, q, base)
		b.requireStats(t, q, base, 0, 40, 0)
	})
}
