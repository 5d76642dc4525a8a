package diskengine_test

import (
	"context"
	"strings"
	"time"

	"testing"

	"sluice/internal/engine"
	"sluice/internal/engine/diskengine"
	"sluice/internal/engine/enginetest"
)

// openFresh opens a disk engine in a new temporary directory; the suite closes it.
func openFresh(tb testing.TB, opts diskengine.Options) engine.Engine {
	tb.Helper()
	opts.Dir = tb.TempDir()
	e, err := diskengine.Open(tb.Context(), opts)
	if err != nil {
		tb.Fatalf("diskengine.Open: %v", err)
	}
	return e
}

func TestConformance(t *testing.T) {
	enginetest.Exercise(t, func(t *testing.T) engine.Engine { return openFresh(t, diskengine.Options{}) })
}

func TestFair(t *testing.T) {
	enginetest.ExerciseFair(t, func(t *testing.T) engine.Engine { return openFresh(t, diskengine.Options{}) })
}

func TestConformanceSyncInterval(t *testing.T) {
	enginetest.Exercise(t, func(t *testing.T) engine.Engine {
		return openFresh(t, diskengine.Options{Sync: diskengine.SyncInterval})
	})
}

func BenchmarkEngine(b *testing.B) {
	b.Run("SyncAlways", func(b *testing.B) {
		enginetest.Benchmark(b, func(tb testing.TB) engine.Engine { return openFresh(tb, diskengine.Options{}) })
	})
	b.Run("SyncInterval", func(b *testing.B) {
		enginetest.Benchmark(b, func(tb testing.TB) engine.Engine {
			return openFresh(tb, diskengine.Options{Sync: diskengine.SyncInterval})
		})
	})
}

// BenchmarkParallelSend sends single messages from many goroutines with SyncAlways: with group
// commit, throughput exceeds what one fsync per send would allow.
func BenchmarkParallelSend(b *testing.B) {
	e := openFresh(b, diskengine.Options{})
	defer e.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	res, err := e.QueueCreate(b.Context(), &engine.QueueCreateParams{
		Key: engine.QueueKey{Account: "000000000000", Name: "bench"}, Now: now,
	})
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 256)
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := e.MessageSend(context.Background(), &engine.MessageSendParams{
				QueueID: res.Queue.ID, Now: now,
				Entries: []engine.MessageSendEntry{{Message: &engine.Message{ID: "id", Body: body, SentAt: now}, VisibleAt: now}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
