package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// runSingle runs unbatched calls: each of Producers workers loops SendMessage,
// ReceiveMessage (of one) and DeleteMessage, and the latency of each call is reported.
func runSingle(ctx context.Context, t Target, cfg Config, r *Result) error {
	return withQueue(ctx, t, cfg, QueueSpec{Visibility: cfg.Visibility, Batch: 1}, func(q Queue) error {
		u, ok := q.(Unbatched)
		if !ok {
			return ErrNotSupported
		}
		var track *tracker
		if !isNull(t) {
			track = newTracker(cfg.Producers)
		}
		ops := map[string]*samples{"send": {}, "receive": {}, "delete": {}}
		var errs errorCounts
		var sent, recv, del atomic.Int64
		workCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
		cpu := startCPU(cfg.ServerPIDs)
		start := time.Now()
		var wg sync.WaitGroup
		for w := range cfg.Producers {
			wg.Go(func() {
				var seq uint32
				buf := make([]byte, 0, cfg.Size+64)
				for workCtx.Err() == nil {
					h := header{id: makeID(w, seq), sent: time.Now()}
					seq++
					buf = encodeBody(buf[:0], cfg.Size, h)
					t0 := time.Now()
					if err := u.SendOne(ctx, OutMsg{Body: buf}); err != nil {
						errs.add("send:"+errorCode(err), 1)
						continue
					}
					ops["send"].add(time.Since(t0))
					sent.Add(1)
					if track != nil {
						track.markSent(h.id)
					}
					receiveAndDelete(ctx, u, track, ops, &errs, &recv, &del)
				}
			})
		}
		wg.Wait()
		window := time.Since(start)
		cpu.stop(float64(sent.Load()+recv.Load()+del.Load())/3, r)
		// Drain what other workers' receives left behind.
		deadline := time.Now().Add(cfg.DrainTimeout)
		for track != nil && track.unique.Load() < track.sent.Load() && time.Now().Before(deadline) && ctx.Err() == nil {
			receiveAndDelete(ctx, u, track, ops, &errs, &recv, &del)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.WindowSec = window.Seconds()
		r.Sent, r.Received, r.Deleted = sent.Load(), recv.Load(), del.Load()
		r.SendRate = float64(r.Sent) / window.Seconds()
		r.DeleteRate = float64(r.Deleted) / window.Seconds()
		r.Ops = map[string]*Percentiles{}
		for op, s := range ops {
			r.Ops[op] = s.percentiles()
		}
		r.Errors = errs.snapshot()
		if track != nil {
			lost, unexpected := track.final()
			dups := track.dups.Load()
			r.Lost, r.Duplicates, r.Unexpected = &lost, &dups, &unexpected
		}
		return nil
	})
}

func receiveAndDelete(ctx context.Context, u Unbatched, track *tracker, ops map[string]*samples, errs *errorCounts, recv, del *atomic.Int64) {
	t0 := time.Now()
	m, err := u.ReceiveOne(ctx, time.Second)
	if err != nil {
		errs.add("receive:"+errorCode(err), 1)
		return
	}
	ops["receive"].add(time.Since(t0))
	if m == nil {
		return
	}
	recv.Add(1)
	if h, ok := parseBody(m.Body); ok && track != nil {
		track.markRecv(h.id)
	}
	t0 = time.Now()
	if err := u.DeleteOne(ctx, *m); err != nil {
		errs.add("delete:"+errorCode(err), 1)
		return
	}
	ops["delete"].add(time.Since(t0))
	del.Add(1)
}

// runWake measures how fast a waiting long poll returns once a message is sent: a receiver
// waits (up to 20 s), a producer sends one message 50 ms later, and the time from the start of
// the send to the return of the receive is one sample. Rounds repeat for the duration.
func runWake(ctx context.Context, t Target, cfg Config, r *Result) error {
	return withQueue(ctx, t, cfg, QueueSpec{Visibility: cfg.Visibility, Batch: 1}, func(q Queue) error {
		prod, err := q.NewProducer(ctx)
		if err != nil {
			return fmt.Errorf("opening producer: %w", err)
		}
		defer prod.Close()
		cons, err := q.NewConsumer(ctx)
		if err != nil {
			return fmt.Errorf("opening consumer: %w", err)
		}
		defer cons.Close()
		var wake, send samples
		var errs errorCounts
		var rounds, lost int64
		start := time.Now()
		buf := make([]byte, 0, cfg.Size+64)
		for seq := uint32(0); time.Since(start) < cfg.Duration && ctx.Err() == nil; seq++ {
			type got struct {
				msgs []InMsg
				err  error
				at   time.Time
			}
			ch := make(chan got, 1)
			go func() {
				msgs, err := cons.Receive(ctx, 1, 20*time.Second)
				ch <- got{msgs, err, time.Now()}
			}()
			time.Sleep(50 * time.Millisecond) // let the receive reach the server and wait
			buf = encodeBody(buf[:0], cfg.Size, header{id: makeID(0, seq), sent: time.Now()})
			t0 := time.Now()
			errsOut, err := prod.SendBatch(ctx, []OutMsg{{Body: buf}})
			send.add(time.Since(t0))
			if err == nil {
				err = errors.Join(errsOut...)
			}
			if err != nil {
				errs.add("send:"+errorCode(err), 1)
			}
			g := <-ch
			switch {
			case g.err != nil:
				errs.add("receive:"+errorCode(g.err), 1)
			case len(g.msgs) == 0:
				lost++
			default:
				wake.add(g.at.Sub(t0))
				if _, err := cons.Ack(ctx, g.msgs); err != nil {
					errs.add("delete:"+errorCode(err), 1)
				}
			}
			rounds++
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r.WindowSec = time.Since(start).Seconds()
		r.Sent, r.Received, r.Deleted = rounds, int64(len(wake.d)), int64(len(wake.d))
		r.Wake = wake.percentiles()
		r.Ops = map[string]*Percentiles{"send": send.percentiles()}
		r.Errors = errs.snapshot()
		r.Lost = &lost
		r.Notes = append(r.Notes, "wake: a receive that returned empty after waiting 20 s counts as lost")
		return nil
	})
}
