package enginetest

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseConcurrency(t *testing.T, open opener) {
	t.Run("SendReceiveDelete", func(t *testing.T) {
		// Senders and receivers run at once; with a visibility timeout longer than the test,
		// every message is received exactly once: no duplicate, no loss.
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		const (
			senders   = 4
			receivers = 4
			batches   = 50 // per sender
			batchSize = 10
			total     = senders * batches * batchSize
		)
		now := at(time.Second)
		deadline := at(24 * time.Hour)

		var (
			mu       sync.Mutex
			received = make(map[string]int, total)
			sent     = make(map[string]bool, total)
		)
		var sendersDone atomic.Bool
		var sendWG, recvWG sync.WaitGroup
		for s := range senders {
			sendWG.Go(func() {
				for i := range batches {
					entries := make([]engine.MessageSendEntry, batchSize)
					for j := range entries {
						m := newMessage(fmt.Sprintf("s%d-b%d-m%d", s, i, j), now)
						entries[j] = engine.MessageSendEntry{Message: m, VisibleAt: now}
					}
					if _, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{QueueID: q.ID, Now: now, Entries: entries}); err != nil {
						t.Errorf("send: %v", err)
						return
					}
					mu.Lock()
					for _, e := range entries {
						sent[e.Message.ID] = true
					}
					mu.Unlock()
				}
			})
		}
		for range receivers {
			recvWG.Go(func() {
				for {
					// Read the flag before receiving: an empty receive after every send
					// returned means the queue is drained.
					done := sendersDone.Load()
					res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
						QueueID: q.ID, Now: now, Max: batchSize, VisibleAt: deadline,
					})
					if err != nil {
						t.Errorf("receive: %v", err)
						return
					}
					if len(res.Messages) == 0 {
						if done {
							return
						}
						runtime.Gosched()
						continue
					}
					mu.Lock()
					for _, m := range res.Messages {
						received[m.Message.ID]++
					}
					mu.Unlock()
					errs, err := b.eng.MessageDelete(b.ctx, &engine.MessageDeleteParams{
						QueueID: q.ID, Now: now, Receipts: receipts(res.Messages), RequireInFlight: true,
					})
					if err != nil {
						t.Errorf("delete: %v", err)
						return
					}
					for i, e := range errs {
						if e != nil {
							t.Errorf("delete of %s: %v", res.Messages[i].Message.ID, e)
						}
					}
				}
			})
		}
		sendWG.Wait()
		sendersDone.Store(true)
		recvWG.Wait()
		if t.Failed() {
			return
		}

		require.Len(t, sent, total)
		for id, n := range received {
			require.True(t, sent[id], "received unknown message %s", id)
			require.Equal(t, 1, n, "message %s received %d times", id, n)
		}
		require.Len(t, received, total, "messages lost")
		b.requireStats(t, q, deadline.Add(time.Hour), 0, 0, 0)
	})

	t.Run("ReceiveRace", func(t *testing.T) {
		// Receivers racing for the same messages never get the same one twice.
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		const total = 500
		var bodies []string
		for i := range total {
			bodies = append(bodies, fmt.Sprint(i))
		}
		for i := 0; i < total; i += 10 {
			b.send(t, q, base, bodies[i:i+10]...)
		}

		var (
			mu   sync.Mutex
			seen = map[string]engine.Receipt{}
			wg   sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				for {
					res, err := b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
						QueueID: q.ID, Now: at(time.Second), Max: 7, VisibleAt: at(time.Hour),
					})
					if err != nil {
						t.Errorf("receive: %v", err)
						return
					}
					if len(res.Messages) == 0 {
						return
					}
					mu.Lock()
					for _, m := range res.Messages {
						if prev, dup := seen[m.Message.ID]; dup {
							t.Errorf("message %s received twice (receipts %+v and %+v)", m.Message.ID, prev, m.Receipt)
						}
						seen[m.Message.ID] = m.Receipt
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, total)
		b.requireStats(t, q, at(time.Second), 0, total, 0)
	})
}
