package diskengine

import (
	"context"
	"time"

	dto "github.com/prometheus/client_model/go"

	"sluice/internal/engine"
)

// syncBounds are the upper bounds reported for the WAL fsync latency. Pebble's own histogram has
// 100 buckets; these are the ones of its bounds nearest below each (a subset of cumulative
// buckets is still exact).
var syncBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2 * time.Millisecond, 4 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 10 * time.Second,
}

// StorageStats implements engine.StorageReporter: the store's size on disk and the latency of
// the write-ahead log's fsyncs, from Pebble's metrics.
func (s *Store) StorageStats(_ context.Context) (*engine.StorageStats, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, engine.ErrClosed
	}
	m := s.db.Metrics()
	st := &engine.StorageStats{SizeBytes: int64(m.DiskSpaceUsage())}
	if h := m.LogWriter.FsyncLatency; h != nil {
		var pm dto.Metric
		if err := h.Write(&pm); err == nil && pm.Histogram != nil {
			st.SyncLatency = convertHistogram(pm.Histogram)
		}
	}
	return st, nil
}

// convertHistogram turns Pebble's histogram (observed in nanoseconds) into an
// engine.Histogram over syncBounds.
func convertHistogram(h *dto.Histogram) *engine.Histogram {
	out := &engine.Histogram{Count: h.GetSampleCount(), Sum: time.Duration(h.GetSampleSum())}
	bs := h.GetBucket()
	for _, want := range syncBounds {
		// The largest of Pebble's bounds at most want, and its cumulative count.
		var best *dto.Bucket
		for _, b := range bs {
			if time.Duration(b.GetUpperBound()) <= want {
				best = b
			}
		}
		if best == nil {
			continue
		}
		ub := time.Duration(best.GetUpperBound())
		if n := len(out.Buckets); n > 0 && out.Buckets[n-1].UpperBound == ub {
			continue
		}
		out.Buckets = append(out.Buckets, engine.HistogramBucket{UpperBound: ub, Count: best.GetCumulativeCount()})
	}
	return out
}
