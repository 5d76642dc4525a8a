package indexed

import (
	"context"
	"errors"
	"fmt"

	"sluice/internal/engine"
)

// MessagePeek implements engine.Engine. It reads the index under the queue's lock and the
// message bodies after releasing it; a message deleted in between is left out.
func (e *Engine) MessagePeek(ctx context.Context, p *engine.MessagePeekParams) ([]engine.PeekedMessage, error) {
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	qs, err := e.queueByID(p.QueueID)
	if err != nil {
		return nil, err
	}
	qs.mu.Lock()
	if qs.deleted {
		qs.mu.Unlock()
		return nil, fmt.Errorf("queue id %d: %w", p.QueueID, engine.ErrQueueNotFound)
	}
	qs.idx.Promote(ms(p.Now))
	entries := qs.idx.Peek(p.Max, ms(p.RetentionCutoff))
	out := make([]engine.PeekedMessage, 0, len(entries))
	for _, ent := range entries {
		out = append(out, engine.PeekedMessage{Seq: ent.Seq(), ReceiveCount: int(ent.ReceiveCount())})
	}
	qs.mu.Unlock()
	kept := out[:0]
	for _, pm := range out {
		m, err := e.store.Message(ctx, qs.id, pm.Seq)
		if errors.Is(err, engine.ErrMessageNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading message %d: %w", pm.Seq, err)
		}
		pm.Message = m
		kept = append(kept, pm)
	}
	return kept, nil
}

// StorageStats implements engine.StorageReporter when the store does; otherwise it returns nil.
func (e *Engine) StorageStats(ctx context.Context) (*engine.StorageStats, error) {
	r, ok := e.store.(engine.StorageReporter)
	if !ok {
		return nil, nil
	}
	done, err := e.begin()
	if err != nil {
		return nil, err
	}
	defer done()
	return r.StorageStats(ctx)
}
