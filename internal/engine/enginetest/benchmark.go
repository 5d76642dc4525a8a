package enginetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"sluice/internal/engine"
)

// Benchmark runs the engine benchmarks against engines made by open; open returns a fresh, empty
// engine each call (the benchmark closes it).
func Benchmark(b *testing.B, open func(b testing.TB) engine.Engine) {
	b.Run("MessageSendBatch10", func(b *testing.B) {
		eng, q := benchSetup(b, open)
		body := strings.Repeat("x", 256)
		b.ReportAllocs()
		for b.Loop() {
			benchSend(b, eng, q, body)
		}
		reportMessages(b)
	})

	b.Run("MessageReceiveDeleteBatch10", func(b *testing.B) {
		eng, q := benchSetup(b, open)
		body := strings.Repeat("x", 256)
		const refill = 500 // batches sent, untimed, whenever the queue runs dry
		left := 0
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if left == 0 {
				b.StopTimer()
				for range refill {
					benchSend(b, eng, q, body)
				}
				left = refill
				b.StartTimer()
			}
			benchReceiveDelete(b, eng, q)
			left--
		}
		reportMessages(b)
	})

	b.Run("SendReceiveDeleteBatch10", func(b *testing.B) {
		eng, q := benchSetup(b, open)
		body := strings.Repeat("x", 256)
		b.ReportAllocs()
		for b.Loop() {
			benchSend(b, eng, q, body)
			benchReceiveDelete(b, eng, q)
		}
		reportMessages(b)
	})
}

func benchSetup(b *testing.B, open func(b testing.TB) engine.Engine) (engine.Engine, *engine.Queue) {
	b.Helper()
	eng := open(b)
	b.Cleanup(func() {
		if err := eng.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
			b.Errorf("closing engine: %v", err)
		}
	})
	res, err := eng.QueueCreate(context.Background(), &engine.QueueCreateParams{Key: key("bench"), Now: base})
	if err != nil {
		b.Fatal(err)
	}
	return eng, res.Queue
}

func benchSend(b *testing.B, eng engine.Engine, q *engine.Queue, body string) {
	entries := make([]engine.MessageSendEntry, 10)
	for i := range entries {
		entries[i] = engine.MessageSendEntry{Message: newMessage(body, base), VisibleAt: base}
	}
	if _, err := eng.MessageSend(context.Background(), &engine.MessageSendParams{QueueID: q.ID, Now: base, Entries: entries}); err != nil {
		b.Fatal(err)
	}
}

func benchReceiveDelete(b *testing.B, eng engine.Engine, q *engine.Queue) {
	ctx := context.Background()
	res, err := eng.MessageReceive(ctx, &engine.MessageReceiveParams{
		QueueID: q.ID, Now: base, Max: 10, VisibleAt: base.Add(time.Hour),
	})
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Messages) != 10 {
		b.Fatalf("received %d messages, want 10", len(res.Messages))
	}
	errs, err := eng.MessageDelete(ctx, &engine.MessageDeleteParams{QueueID: q.ID, Now: base, Receipts: receipts(res.Messages)})
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			b.Fatal(e)
		}
	}
}

func reportMessages(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)*10/s, "msg/s")
	}
}
