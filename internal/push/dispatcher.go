package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"sluice/internal/clock"
	"sluice/internal/queue"
)

// Headers of a delivery request (see docs/push.md).
const (
	HeaderMessageID    = "X-Sluice-Message-Id"
	HeaderReceiveCount = "X-Sluice-Receive-Count"
	HeaderSentTime     = "X-Sluice-Sent-Timestamp"
	HeaderGroupID      = "X-Sluice-Group-Id"
	HeaderQueue        = "X-Sluice-Queue"
	// HeaderAttributes carries the message attributes as the JSON object SQS's JSON protocol
	// uses for MessageAttributes ({"name":{"DataType":"String","StringValue":"v"}}).
	HeaderAttributes = "X-Sluice-Message-Attributes"
)

// visibilityMargin is added to the per-attempt timeout as the visibility timeout of a receive,
// so that a message is not received again while its delivery may still be running.
const visibilityMargin = 5 * time.Second

// Status is a subscription with its delivery state.
type Status struct {
	Subscription
	// CurrentRate is the effective rate now (lower than Rate after 429/503 answers).
	CurrentRate float64 `json:"current_rate"`
	// PausedUntil is the end of a pause asked by Retry-After, if one is in effect.
	PausedUntil *time.Time `json:"paused_until,omitempty"`
	InFlight    int64      `json:"in_flight"`
	Delivered   int64      `json:"delivered"`
	Failed      int64      `json:"failed"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// Standby is set on a process that does not lead, on an engine several processes share:
	// the leading process delivers the subscription, and the counts here stay still.
	Standby bool `json:"standby,omitempty"`
}

// dispatcher delivers one subscription's messages until its context is cancelled.
type dispatcher struct {
	sub    Subscription
	svc    *queue.Service
	caller *queue.Caller
	url    string // the queue's URL
	clk    clock.Clock
	client *http.Client
	log    *slog.Logger
	lim    *limiter
	slots  chan struct{} // one element per request in flight
	// lead, when set (an engine several processes share), reports whether this process leads;
	// the dispatcher receives nothing while it does not.
	lead func() bool
	// standby is set when the dispatcher was made on a process that did not lead.
	standby bool

	gone      atomic.Bool // the queue no longer exists; run has returned
	inFlight  atomic.Int64
	delivered atomic.Int64
	failed    atomic.Int64

	mu          sync.Mutex
	lastErr     string    // guarded by mu
	lastErrTime time.Time // guarded by mu

	// cancelPoll ends the receive waiting now, if any (guarded by mu). Neither a FIFO group
	// unblocked by a delivery nor a visibility changed to a backoff wakes a long poll, so the
	// dispatcher ends its own.
	cancelPoll context.CancelFunc

	wg sync.WaitGroup // deliveries running
}

func (d *dispatcher) fifo() bool { return strings.HasSuffix(d.sub.Queue, ".fifo") }

// wakePoll ends a waiting receive so that the next one sees a group just unblocked.
func (d *dispatcher) wakePoll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancelPoll != nil {
		d.cancelPoll()
	}
}

func (d *dispatcher) status() Status {
	st := Status{Subscription: d.sub, InFlight: d.inFlight.Load(), Delivered: d.delivered.Load(), Failed: d.failed.Load(),
		Standby: d.standby}
	eff, until := d.lim.state()
	st.CurrentRate = eff
	if until.After(d.clk.Now()) {
		st.PausedUntil = &until
	}
	d.mu.Lock()
	st.LastError = d.lastErr
	if !d.lastErrTime.IsZero() {
		t := d.lastErrTime
		st.LastErrorAt = &t
	}
	d.mu.Unlock()
	return st
}

func (d *dispatcher) recordErr(msg string) {
	d.failed.Add(1)
	d.mu.Lock()
	d.lastErr = msg
	d.lastErrTime = d.clk.Now()
	d.mu.Unlock()
}

// run is the dispatch loop: take a slot and a token, receive as many messages as there are
// free slots and tokens (at most 10), deliver them, repeat.
func (d *dispatcher) run(ctx context.Context) {
	defer d.wg.Wait()
	for ctx.Err() == nil {
		select {
		case d.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if err := d.lim.wait(ctx); err != nil {
			<-d.slots
			return
		}
		if d.lead != nil && !d.lead() {
			// The lead moved: the process that leads now dispatches. The Manager restarts
			// this dispatcher if the lead comes back.
			<-d.slots
			d.lim.refund(1)
			d.log.Info("push: the lead moved; this process stops delivering", "queue", d.sub.Queue)
			return
		}
		n := 1
		for n < 10 {
			select {
			case d.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		if extra := d.lim.take(n - 1); extra < n-1 {
			for range n - 1 - extra {
				<-d.slots
			}
			n = 1 + extra
		}
		msgs, err := d.receive(ctx, n)
		if unused := n - len(msgs); unused > 0 {
			for range unused {
				<-d.slots
			}
			// A token spent on an empty receive is given back, except the one taken first,
			// which paces the polling.
			if len(msgs) > 0 {
				d.lim.refund(unused)
			} else if unused > 1 {
				d.lim.refund(unused - 1)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, queue.ErrQueueDoesNotExist) {
				d.gone.Store(true)
				return
			}
			d.log.Warn("push receive failed", "queue", d.sub.Queue, "err", err)
			d.recordErr(fmt.Sprintf("receive: %v", err))
			d.failed.Add(-1) // not a failed delivery
			if !d.sleep(ctx, time.Second) {
				return
			}
			continue
		}
		d.start(ctx, msgs)
	}
}

// sleep waits d on the clock; it reports false if ctx ended first.
func (d *dispatcher) sleep(ctx context.Context, dur time.Duration) bool {
	t := d.clk.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

func (d *dispatcher) receive(ctx context.Context, n int) ([]queue.Message, error) {
	vis := int32(math.Ceil((time.Duration(d.sub.Timeout) + visibilityMargin).Seconds()))
	max := int32(n)
	wait := int32(20)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	d.cancelPoll = cancel
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.cancelPoll = nil
		d.mu.Unlock()
	}()
	out, err := d.svc.ReceiveMessage(rctx, d.caller, &queue.ReceiveMessageInput{
		QueueUrl:                    d.url,
		MaxNumberOfMessages:         &max,
		VisibilityTimeout:           &vis,
		WaitTimeSeconds:             &wait,
		MessageSystemAttributeNames: []string{"All"},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, nil // woken by wakePoll
		}
		return nil, fmt.Errorf("receiving from %s: %w", d.sub.Queue, err)
	}
	return out.Messages, nil
}

// start delivers msgs, each holding one slot. Messages of one FIFO group are delivered one
// after the other, in the order received; the others concurrently.
func (d *dispatcher) start(ctx context.Context, msgs []queue.Message) {
	var order []string
	groups := map[string][]queue.Message{}
	for _, m := range msgs {
		g, ok := m.Attributes["MessageGroupId"]
		if !ok {
			g = "\x00" + m.MessageId // no group: a group of its own
		}
		if _, seen := groups[g]; !seen {
			order = append(order, g)
		}
		groups[g] = append(groups[g], m)
	}
	for _, g := range order {
		batch := groups[g]
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if d.fifo() {
				defer d.wakePoll() // the group is unblocked once its batch is settled
			}
			for i, m := range batch {
				if ctx.Err() != nil {
					for range batch[i:] {
						<-d.slots
					}
					return // the rest become visible again after their visibility timeout
				}
				ok := d.deliver(ctx, m)
				<-d.slots
				if !ok {
					// Keep the group's order: the later messages must not overtake this one.
					d.releaseGroup(ctx, batch[i+1:])
					for range batch[i+1:] {
						<-d.slots
					}
					return
				}
			}
		}()
	}
}

// releaseGroup makes messages received behind a failed one of their group visible again at
// once, without a delivery attempt. SQS keeps the group blocked until the failed message is
// deleted or delivered, so the order holds.
func (d *dispatcher) releaseGroup(ctx context.Context, msgs []queue.Message) {
	for _, m := range msgs {
		d.changeVisibility(ctx, m, 0)
	}
}

// deliver POSTs m to the endpoint and settles it: delete on 2xx, back off otherwise. It reports
// whether the message was delivered.
func (d *dispatcher) deliver(ctx context.Context, m queue.Message) bool {
	d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	count, _ := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	code, retryAfter, err := d.post(ctx, m)
	if ctx.Err() != nil {
		return false
	}
	if err == nil && code >= 200 && code < 300 {
		d.lim.succeeded()
		if _, err := d.svc.DeleteMessage(ctx, d.caller, &queue.DeleteMessageInput{QueueUrl: d.url, ReceiptHandle: m.ReceiptHandle}); err != nil {
			d.log.Warn("push delete failed", "queue", d.sub.Queue, "message", m.MessageId, "err", err)
			d.recordErr(fmt.Sprintf("delete %s: %v", m.MessageId, err))
			return false
		}
		d.delivered.Add(1)
		return true
	}
	delay := d.sub.backoff(count)
	var msg string
	switch {
	case err != nil:
		msg = fmt.Sprintf("message %s: %v", m.MessageId, err)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		msg = fmt.Sprintf("message %s: HTTP %d", m.MessageId, code)
		until := d.clk.Now().Add(delay)
		if retryAfter > 0 {
			until = d.clk.Now().Add(retryAfter)
			delay = retryAfter
		}
		d.lim.throttled(until)
	default:
		msg = fmt.Sprintf("message %s: HTTP %d", m.MessageId, code)
	}
	d.recordErr(msg)
	d.log.Debug("push delivery failed", "queue", d.sub.Queue, "err", msg, "retry_in", delay)
	d.changeVisibility(ctx, m, delay)
	// A long poll waiting now was timed by the message's former visibility timeout: end it, so
	// that the next one waits for the backoff instead.
	d.wakePoll()
	return false
}

func (d *dispatcher) changeVisibility(ctx context.Context, m queue.Message, delay time.Duration) {
	secs := int32(min(math.Ceil(delay.Seconds()), 43200))
	if _, err := d.svc.ChangeMessageVisibility(ctx, d.caller, &queue.ChangeMessageVisibilityInput{
		QueueUrl: d.url, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: &secs,
	}); err != nil {
		d.log.Warn("push visibility change failed", "queue", d.sub.Queue, "message", m.MessageId, "err", err)
	}
}

// post sends one delivery request and returns the status code and the Retry-After delay.
func (d *dispatcher) post(ctx context.Context, m queue.Message) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d.sub.Timeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.sub.Endpoint, bytes.NewReader([]byte(m.Body)))
	if err != nil {
		return 0, 0, fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("User-Agent", "sluice-push")
	req.Header.Set(HeaderMessageID, m.MessageId)
	req.Header.Set(HeaderQueue, d.sub.Queue)
	if v := m.Attributes["ApproximateReceiveCount"]; v != "" {
		req.Header.Set(HeaderReceiveCount, v)
	}
	if v := m.Attributes["SentTimestamp"]; v != "" {
		req.Header.Set(HeaderSentTime, v)
	}
	if v := m.Attributes["MessageGroupId"]; v != "" {
		req.Header.Set(HeaderGroupID, v)
	}
	if len(m.MessageAttributes) > 0 {
		b, err := json.Marshal(m.MessageAttributes)
		if err != nil {
			return 0, 0, fmt.Errorf("encoding message attributes: %w", err)
		}
		req.Header.Set(HeaderAttributes, string(b))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("POST %s: %w", d.sub.Endpoint, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, d.retryAfter(resp.Header.Get("Retry-After")), nil
}

// retryAfter parses a Retry-After value (seconds or an HTTP date); 0 if absent or bad.
func (d *dispatcher) retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return min(time.Duration(n)*time.Second, 12*time.Hour)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(d.clk.Now()), 0), 12*time.Hour)
	}
	return 0
}
