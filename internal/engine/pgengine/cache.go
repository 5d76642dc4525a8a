package pgengine

import (
	"errors"
	"sync"
	"time"

	"sluice/internal/clock"
	"sluice/internal/engine"
)

// queueCache keeps the queues QueueGet read for a short time, so that the requests of a busy
// queue do not each read its row (every SQS request names its queue by URL). A change made
// through this process replaces or drops the entry at once; one made through another node is
// seen within the TTL, as SQS itself documents that attribute changes and deletions take time to
// propagate. A message operation on a queue another node deleted fails in SQL (SL001) whatever
// the cache says, and drops the entry.
type queueCache struct {
	ttl time.Duration // <= 0: no caching
	clk clock.Clock

	mu sync.Mutex
	m  map[engine.QueueKey]cachedQueue
}

type cachedQueue struct {
	q  *engine.Queue
	at time.Time
}

// get returns a copy of the cached queue, or nil.
func (c *queueCache) get(k engine.QueueKey) *engine.Queue {
	if c.ttl <= 0 {
		return nil
	}
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil
	}
	if age := now.Sub(e.at); age >= c.ttl || age < 0 {
		delete(c.m, k)
		return nil
	}
	return e.q.Clone()
}

// put caches a copy of q.
func (c *queueCache) put(q *engine.Queue) {
	if c.ttl <= 0 || q == nil {
		return
	}
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[engine.QueueKey]cachedQueue)
	}
	if len(c.m) >= 10000 {
		for k, e := range c.m {
			if now.Sub(e.at) >= c.ttl {
				delete(c.m, k)
			}
		}
	}
	c.m[q.Key] = cachedQueue{q: q.Clone(), at: now}
}

// drop forgets a queue by name.
func (c *queueCache) drop(k engine.QueueKey) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// dropID forgets a queue by id (rare: a message operation found it gone).
func (c *queueCache) dropID(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.q.ID == id {
			delete(c.m, k)
		}
	}
}

// gone passes err through, and when it says that queue id does not exist (another node deleted
// it), drops the queue from the cache so that the next request sees that.
func (e *Engine) gone(id uint64, err error) error {
	if errors.Is(err, engine.ErrQueueNotFound) {
		e.queues.dropID(id)
	}
	return err
}
