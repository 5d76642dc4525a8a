package enginetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
)

func exerciseSendReceive(t *testing.T, open opener) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		sentAt := at(123 * time.Millisecond)

		full := newMessage("héllo, 世界 🚀\r\n\ttabs\rand carriage returns\r\n", sentAt)
		full.Attributes = map[string]engine.MessageAttribute{
			"str":       {DataType: "String", StringValue: "value ✓ \r\n"},
			"num":       {DataType: "Number", StringValue: "-42.5e3"},
			"bin":       {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 0xfe, 0xff}, IsBinary: true},
			"custom":    {DataType: "String.custom-type", StringValue: "c"},
			"binCustom": {DataType: "Binary.jpeg", BinaryValue: []byte{0xff, 0xd8}, IsBinary: true},
			"numCustom": {DataType: "Number.float", StringValue: "3.14"},
		}
		full.SystemAttributes = map[string]engine.MessageAttribute{
			"AWSTraceHeader": {DataType: "String", StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"},
		}
		full.SenderID = "AIDAIENQZJOLO23YVJ4VO"
		full.GroupID = "group-1"
		full.DeduplicationID = "dedup-1"

		bare := newMessage("", sentAt)
		big := newMessage(strings.Repeat("0123456789abcdéf", 16*1024), sentAt) // 272 KiB of UTF-8

		_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{
			QueueID: q.ID, Now: sentAt,
			Entries: []engine.MessageSendEntry{
				{Message: full, VisibleAt: sentAt},
				{Message: bare, VisibleAt: sentAt},
				{Message: big, VisibleAt: sentAt},
			},
		})
		require.NoError(t, err)

		now := at(time.Second)
		res := b.receive(t, q, now, 10, at(time.Minute))
		require.Len(t, res.Messages, 3)
		for i, want := range []*engine.Message{full, bare, big} {
			got := res.Messages[i]
			requireMessage(t, want, got.Message)
			require.Equal(t, 1, got.ReceiveCount)
			requireTime(t, now, got.FirstReceiveAt, "FirstReceiveAt")
			require.Equal(t, q.ID, got.Receipt.QueueID)
		}
		require.NotEqual(t, res.Messages[0].Receipt, res.Messages[1].Receipt)
		require.NotEqual(t, res.Messages[1].Receipt, res.Messages[2].Receipt)
	})

	t.Run("DuplicateMessageIDs", func(t *testing.T) {
		// Messages are identified by the engine's receipts, not by their IDs: two messages with
		// the same MessageId are two messages.
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		m1 := newMessage("one", base)
		m2 := *m1
		m2.Body = "two"
		_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{
			QueueID: q.ID, Now: base,
			Entries: []engine.MessageSendEntry{{Message: m1, VisibleAt: base}, {Message: &m2, VisibleAt: base}},
		})
		require.NoError(t, err)
		res := b.receive(t, q, base, 10, at(time.Minute))
		require.Len(t, res.Messages, 2)
		require.Equal(t, "one", res.Messages[0].Message.Body)
		require.Equal(t, "two", res.Messages[1].Message.Body)
		require.NotEqual(t, res.Messages[0].Receipt.Seq, res.Messages[1].Receipt.Seq)
	})

	t.Run("ReceiveMax", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		sent := b.send(t, q, base, "1", "2", "3", "4", "5")

		r1 := b.receive(t, q, base, 3, at(time.Minute))
		require.Len(t, r1.Messages, 3)
		r2 := b.receive(t, q, base, 3, at(time.Minute))
		require.Len(t, r2.Messages, 2)
		b.receiveNone(t, q, base)
		require.ElementsMatch(t, msgIDs(sent), append(ids(r1.Messages), ids(r2.Messages)...),
			"each message received once")

		one := b.receive(t, q, at(time.Minute), 1, at(2*time.Minute))
		require.Len(t, one.Messages, 1)
	})

	t.Run("OrderOldestFirst", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		var want []string
		for i := range 12 {
			now := at(time.Duration(i) * time.Millisecond)
			if i%3 == 0 {
				// Mix single sends and batches.
				sent := b.send(t, q, now, fmt.Sprint(i, "a"), fmt.Sprint(i, "b"), fmt.Sprint(i, "c"))
				want = append(want, msgIDs(sent)...)
				continue
			}
			want = append(want, b.send(t, q, now, fmt.Sprint(i))[0].ID)
		}
		now := at(time.Second)
		var got []string
		got = append(got, ids(b.receive(t, q, now, 1, at(time.Hour)).Messages)...)
		got = append(got, ids(b.receive(t, q, now, 4, at(time.Hour)).Messages)...)
		for len(got) < len(want) {
			res := b.receive(t, q, now, 10, at(time.Hour))
			require.NotEmpty(t, res.Messages)
			got = append(got, ids(res.Messages)...)
		}
		require.Equal(t, want, got)
	})

	t.Run("ReceiveEmpty", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		res := b.receiveNone(t, q, base)
		require.True(t, res.NextVisibleAt.IsZero(), "nothing will become visible: NextVisibleAt %v", res.NextVisibleAt)
	})

	t.Run("InvisibleUntilVisibleAt", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		sent := b.send(t, q, base, "m")[0]

		first := b.receiveOne(t, q, at(time.Second), at(31*time.Second))
		require.Equal(t, sent.ID, first.Message.ID)
		require.Equal(t, 1, first.ReceiveCount)
		requireTime(t, at(time.Second), first.FirstReceiveAt, "FirstReceiveAt")

		res := b.receiveNone(t, q, at(31*time.Second-time.Millisecond))
		requireTime(t, at(31*time.Second), res.NextVisibleAt, "NextVisibleAt")

		second := b.receiveOne(t, q, at(31*time.Second), at(61*time.Second))
		require.Equal(t, sent.ID, second.Message.ID)
		requireMessage(t, sent, second.Message)
		require.Equal(t, 2, second.ReceiveCount)
		requireTime(t, at(time.Second), second.FirstReceiveAt, "FirstReceiveAt is kept from the first receive")
		require.Equal(t, first.Receipt.Seq, second.Receipt.Seq, "same message, same Seq")
		require.NotEqual(t, first.Receipt.Token, second.Receipt.Token, "each receive issues a new token")

		third := b.receiveOne(t, q, at(2*time.Minute), at(3*time.Minute))
		require.Equal(t, 3, third.ReceiveCount)
		requireTime(t, at(time.Second), third.FirstReceiveAt, "FirstReceiveAt")
		require.NotEqual(t, first.Receipt.Token, third.Receipt.Token)
		require.NotEqual(t, second.Receipt.Token, third.Receipt.Token)
	})

	t.Run("VisibleAtNow", func(t *testing.T) {
		// A zero visibility timeout: the message may be received again at once.
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "m")
		r1 := b.receiveOne(t, q, base, base)
		r2 := b.receiveOne(t, q, base, base)
		require.Equal(t, r1.Message.ID, r2.Message.ID)
		require.Equal(t, 2, r2.ReceiveCount)
		require.NotEqual(t, r1.Receipt, r2.Receipt)
	})

	t.Run("Delayed", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		delayed := b.sendDelayed(t, q, base, at(10*time.Second), "delayed")
		now := b.send(t, q, base, "now")[0]

		b.requireStats(t, q, base, 1, 0, 1)
		res := b.receive(t, q, base, 10, at(30*time.Second))
		require.Equal(t, []string{now.ID}, ids(res.Messages), "a delayed message is not receivable")
		b.requireStats(t, q, base, 0, 1, 1)

		empty := b.receiveNone(t, q, at(10*time.Second-time.Millisecond))
		requireTime(t, at(10*time.Second), empty.NextVisibleAt, "NextVisibleAt is the delayed message's VisibleAt")
		b.requireStats(t, q, at(10*time.Second-time.Millisecond), 0, 1, 1)

		b.requireStats(t, q, at(10*time.Second), 1, 1, 0)
		got := b.receiveOne(t, q, at(10*time.Second), at(time.Hour))
		requireMessage(t, delayed, got.Message)
		require.Equal(t, 1, got.ReceiveCount)
		requireTime(t, at(10*time.Second), got.FirstReceiveAt, "FirstReceiveAt")
		b.requireStats(t, q, at(10*time.Second), 0, 2, 0)

		empty = b.receiveNone(t, q, at(20*time.Second))
		requireTime(t, at(30*time.Second), empty.NextVisibleAt, "NextVisibleAt is the earliest in-flight deadline")
	})

	t.Run("QueuesIsolated", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q1 := b.createQueue(t, "q1")
		q2 := b.createQueue(t, "q2")
		m1 := b.send(t, q1, base, "for q1")[0]
		b.receiveNone(t, q2, base)
		b.requireStats(t, q2, base, 0, 0, 0)
		got := b.receiveOne(t, q1, base, at(time.Minute))
		require.Equal(t, m1.ID, got.Message.ID)
	})

	t.Run("InFlightLimit", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		q := b.createQueue(t, "q")
		b.send(t, q, base, "1", "2", "3", "4")
		recv := func(now time.Time, max int) (*engine.MessageReceiveResult, error) {
			return b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{
				QueueID: q.ID, Now: now, Max: max, VisibleAt: now.Add(30 * time.Second), MaxInFlight: 2,
			})
		}
		res, err := recv(base, 2)
		require.NoError(t, err)
		require.Len(t, res.Messages, 2)
		_, err = recv(base, 1)
		require.ErrorIs(t, err, engine.ErrInFlightLimit)
		b.requireStats(t, q, base, 2, 2, 0)

		// Deleting one frees a slot.
		require.NoError(t, b.deleteOne(t, q, base, res.Messages[0].Receipt, false))
		res2, err := recv(base, 1)
		require.NoError(t, err)
		require.Len(t, res2.Messages, 1)
		_, err = recv(base, 1)
		require.ErrorIs(t, err, engine.ErrInFlightLimit)

		// Messages whose visibility expired no longer count.
		res3, err := recv(at(30*time.Second), 2)
		require.NoError(t, err)
		require.Len(t, res3.Messages, 2)
	})

	t.Run("SendToMissingQueue", func(t *testing.T) {
		t.Parallel()
		b := setup(t, open)
		_, err := b.eng.MessageSend(b.ctx, &engine.MessageSendParams{
			QueueID: missingQueueID, Now: base,
			Entries: []engine.MessageSendEntry{{Message: newMessage("x", base), VisibleAt: base}},
		})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
		_, err = b.eng.MessageReceive(b.ctx, &engine.MessageReceiveParams{QueueID: missingQueueID, Now: base, Max: 1, VisibleAt: base})
		require.ErrorIs(t, err, engine.ErrQueueNotFound)
	})
}
