package diskengine

import (
	"sync/atomic"
	"time"
)

// DefaultGapWaiters is the default Options.GapWaiters.
const DefaultGapWaiters = 4

// syncPacer decides the gap between two fsyncs of the log (Pebble's WALMinSyncInterval, asked
// right after each sync): the configured gap while more than a few writes wait for durability,
// none otherwise. With many clients writing at once, a short wait lets more of them share the
// next fsync, which saves its CPU (and the disk's work) with little added latency; with a few,
// it would only add to their latency, as there is nobody else to wait for.
type syncPacer struct {
	gap     time.Duration
	waiters int64        // more waiting writes than this turn the gap on
	waiting atomic.Int64 // synced writes committed and not yet told they are durable
}

// next returns the gap to keep before the next fsync.
func (p *syncPacer) next() time.Duration {
	if p.gap > 0 && p.waiting.Load() > p.waiters {
		return p.gap
	}
	return 0
}
