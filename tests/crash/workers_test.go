package crash

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

const (
	// visibility is the visibility timeout of every receive during the load phase: short, so
	// that messages not deleted come back within the run.
	visibility = 3 * time.Second
	// extendTo is what ChangeMessageVisibility extends a timeout to. It is never shorter than
	// visibility, so an extension never makes a handle expire sooner than its receive implied.
	extendTo = 5 * time.Second
	// handleMargin is taken off a handle's validity (receive start + visibility) to absorb the
	// server's millisecond rounding of deadlines.
	handleMargin = 200 * time.Millisecond
	// callTimeout bounds every call (plus the long-poll wait for receives), SDK retries included.
	callTimeout = 5 * time.Second
	// Backlog caps keep producers from outrunning consumers, so the drain stays short.
	stdBacklog  = 2000
	fifoBacklog = 600
	fifoGroups  = 4
)

// newClient returns an SDK client for the nodes with SDK retries on (aws-sdk-go-v2 can lose a
// response against a fast local server with retries off: see shared/DESIGN.md), a short backoff
// so that calls made while the server restarts get through, and no retry quota, which the
// stream of connection errors during the many restarts would otherwise exhaust. Each request,
// retries included, goes to a node picked at random among those running, as a load balancer
// would send it; with one node, to that node.
func newClient(nodes []*server) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + nodes[0].addr),
		Credentials:  credentials.NewStaticCredentialsProvider("crash", "harness", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 4
			o.MaxBackoff = 300 * time.Millisecond
			o.RateLimiter = ratelimit.None
		}),
		HTTPClient: &http.Client{Transport: &balancer{nodes: nodes,
			next: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}}},
	})
}

// balancer sends each request to a running node picked at random (any node if none runs).
type balancer struct {
	nodes []*server
	next  http.RoundTripper
}

func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(b.nodes) == 1 {
		return b.next.RoundTrip(req)
	}
	up := make([]*server, 0, len(b.nodes))
	for _, n := range b.nodes {
		if n.running() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		up = b.nodes
	}
	r := req.Clone(req.Context())
	r.URL.Host = up[rand.IntN(len(up))].addr
	r.Host = r.URL.Host
	return b.next.RoundTrip(r)
}

// harness drives the load.
type harness struct {
	c    *sqs.Client
	led  *ledger
	urls [2]string
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// stdProducer sends unique ids to the standard queue, singly and in batches. A failed send is
// not repeated: its id is optional (it may or may not have been stored).
func (h *harness) stdProducer(ctx context.Context, p int, rng *rand.Rand) {
	n := 0
	for ctx.Err() == nil {
		if h.led.backlog(std) > stdBacklog {
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		k := 1
		if rng.IntN(2) == 0 {
			k = 2 + rng.IntN(9)
		}
		ids := make([]string, k)
		for i := range ids {
			ids[i] = fmt.Sprintf("s%d-%d", p, n)
			n++
			h.led.attempt(std, ids[i], "", 0)
		}
		if !h.send(ctx, std, ids, "") {
			sleepCtx(ctx, time.Duration(10+rng.IntN(40))*time.Millisecond)
		}
	}
}

// fifoProducer sends one group's ids in order, strictly one call at a time, repeating a call
// (same deduplication ids) until it is acknowledged, as a FIFO producer should. So the group's
// send order is the counter order.
func (h *harness) fifoProducer(ctx context.Context, g int, rng *rand.Rand) {
	group := fmt.Sprintf("g%d", g)
	n := 0
	for ctx.Err() == nil {
		if h.led.backlog(fifo) > fifoBacklog {
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		k := 1
		if rng.IntN(2) == 0 {
			k = 2 + rng.IntN(9)
		}
		ids := make([]string, k)
		for i := range ids {
			ids[i] = fmt.Sprintf("f%d-%d", g, n+i)
		}
		for ctx.Err() == nil {
			for i, id := range ids {
				h.led.attempt(fifo, id, group, n+i)
			}
			if h.send(ctx, fifo, ids, group) {
				break
			}
			h.led.count("FIFO sends repeated", 1)
			sleepCtx(ctx, time.Duration(10+rng.IntN(40))*time.Millisecond)
		}
		n += k
	}
}

// send sends ids (one: SendMessage; more: SendMessageBatch) and records what was acknowledged.
// It reports whether every id was.
func (h *harness) send(ctx context.Context, k kind, ids []string, group string) bool {
	url := h.urls[k]
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var dedup func(string) *string
	var gid *string
	if k == fifo {
		dedup = func(id string) *string { return aws.String(id) }
		gid = aws.String(group)
	} else {
		dedup = func(string) *string { return nil }
	}
	if len(ids) == 1 {
		h.led.count(k.String()+" SendMessage calls", 1)
		out, err := h.c.SendMessage(cctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body(ids[0])),
			MessageGroupId: gid, MessageDeduplicationId: dedup(ids[0])})
		if err != nil {
			h.led.opError(ctx, "SendMessage", err)
			return false
		}
		h.led.sendAcked(ids[0], deref(out.MessageId), deref(out.SequenceNumber), time.Now())
		return true
	}
	entries := make([]types.SendMessageBatchRequestEntry, len(ids))
	for i, id := range ids {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(body(id)),
			MessageGroupId: gid, MessageDeduplicationId: dedup(id)}
	}
	h.led.count(k.String()+" SendMessageBatch calls", 1)
	out, err := h.c.SendMessageBatch(cctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil {
		h.led.opError(ctx, "SendMessageBatch", err)
		return false
	}
	at := time.Now()
	for _, e := range out.Successful {
		i, err := strconv.Atoi(deref(e.Id))
		if err != nil || i < 0 || i >= len(ids) {
			h.led.count("bad batch entry ids", 1)
			continue
		}
		h.led.sendAcked(ids[i], deref(e.MessageId), deref(e.SequenceNumber), at)
	}
	for _, e := range out.Failed {
		h.led.entryError("SendMessageBatch", e)
	}
	return len(out.Failed) == 0 && len(out.Successful) == len(ids)
}

// lateDelete is a delete a slow consumer makes after its handle's visibility timeout.
type lateDelete struct {
	h   held
	due time.Time
}

// consumer receives from one queue (long polling some of the time, several messages at a
// time) and, per message, deletes it (singly or in a batch), extends its visibility and then
// deletes it, releases it (visibility 0), abandons it, or deletes it too late.
func (h *harness) consumer(ctx context.Context, k kind, w int, rng *rand.Rand) {
	url := h.urls[k]
	var late []lateDelete
	attempt := 0
	for ctx.Err() == nil {
		now := time.Now()
		var due []held
		keep := late[:0]
		for _, l := range late {
			if now.After(l.due) {
				due = append(due, l.h)
			} else {
				keep = append(keep, l)
			}
		}
		late = keep
		h.delete(ctx, k, due, rng)

		wait := rng.IntN(3) // 0, 1 or 2 s
		in := &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: int32(1 + rng.IntN(10)),
			WaitTimeSeconds: int32(wait), VisibilityTimeout: int32(visibility / time.Second)}
		if k == fifo && rng.IntN(2) == 0 {
			attempt++
			in.ReceiveRequestAttemptId = aws.String(fmt.Sprintf("c%d-%d", w, attempt))
		}
		if k == fifo {
			in.MessageSystemAttributeNames = []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSequenceNumber}
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout+time.Duration(wait)*time.Second)
		life, start := h.led.currentLife(), time.Now()
		out, err := h.c.ReceiveMessage(cctx, in)
		end := time.Now()
		cancel()
		if err != nil {
			h.led.opError(ctx, "ReceiveMessage", err)
			sleepCtx(ctx, time.Duration(10+rng.IntN(40))*time.Millisecond)
			continue
		}
		got := h.led.received(k, start, life, end, visibility, out.Messages, false)
		// Percentages of the fates of a message. An abandoned or late FIFO message holds its
		// whole group back for the visibility timeout, so FIFO consumers rarely do that.
		pct := [4]int{82, 7, 5, 3} // delete, extend then delete, release, abandon; the rest: late delete
		if k == fifo {
			pct = [4]int{89, 5, 5, 1}
		}
		var dels, extend, release []held
		for _, m := range got {
			r := rng.IntN(100)
			switch {
			case r < pct[0]:
				dels = append(dels, m)
			case r < pct[0]+pct[1]:
				extend = append(extend, m)
			case r < pct[0]+pct[1]+pct[2]:
				release = append(release, m)
			case r < pct[0]+pct[1]+pct[2]+pct[3]:
				// abandoned: it comes back after the visibility timeout
			default:
				late = append(late, lateDelete{h: m, due: start.Add(visibility + 500*time.Millisecond)})
			}
		}
		if rng.IntN(8) == 0 {
			sleepCtx(ctx, time.Duration(rng.IntN(30))*time.Millisecond) // "work"
		}
		// Whether or not the extension was acknowledged, the handle stays valid at least until
		// its receive's deadline, so the message is deleted either way.
		h.changeVisibility(ctx, k, extend, extendTo, rng)
		h.changeVisibility(ctx, k, release, 0, rng)
		h.delete(ctx, k, append(dels, extend...), rng)
	}
}

// delete deletes hs, singly or in batches, and records each acknowledged delete.
func (h *harness) delete(ctx context.Context, k kind, hs []held, rng *rand.Rand) {
	url := h.urls[k]
	for len(hs) > 0 && ctx.Err() == nil {
		if len(hs) == 1 || rng.IntN(2) == 0 {
			m := hs[0]
			hs = hs[1:]
			h.led.using([]held{m})
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			h.led.count(k.String()+" DeleteMessage calls", 1)
			_, err := h.c.DeleteMessage(cctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: &m.handle})
			cancel()
			if err != nil {
				h.led.opError(ctx, k.String()+" DeleteMessage", err)
				h.led.refused(ctx, "DeleteMessage", []held{m}, err)
				continue
			}
			h.led.deleted(m, time.Now())
			continue
		}
		n := min(len(hs), 10)
		batch := hs[:n]
		hs = hs[n:]
		entries := make([]types.DeleteMessageBatchRequestEntry, n)
		for i, m := range batch {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.handle)}
		}
		h.led.using(batch)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		h.led.count(k.String()+" DeleteMessageBatch calls", 1)
		out, err := h.c.DeleteMessageBatch(cctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: entries})
		cancel()
		if err != nil {
			h.led.opError(ctx, k.String()+" DeleteMessageBatch", err)
			h.led.refused(ctx, "DeleteMessageBatch", batch, err)
			continue
		}
		at := time.Now()
		for _, e := range out.Successful {
			if i, err := strconv.Atoi(deref(e.Id)); err == nil && i >= 0 && i < n {
				h.led.deleted(batch[i], at)
			}
		}
		for _, e := range out.Failed {
			h.led.entryError(k.String()+" DeleteMessageBatch", e)
			h.led.entryRefused("DeleteMessageBatch", batch, e, at)
		}
	}
}

// changeVisibility sets the visibility timeout of hs to d, singly or in a batch.
func (h *harness) changeVisibility(ctx context.Context, k kind, hs []held, d time.Duration, rng *rand.Rand) {
	if len(hs) == 0 {
		return
	}
	url := h.urls[k]
	secs := int32(d / time.Second)
	h.led.using(hs)
	// A refused extension while the handle is current means the receive was forgotten. A
	// release may be refused legitimately: an SDK retry of a release that was applied, after
	// which another consumer received the message.
	refused := func(op string, hs []held, err error) {
		if d > 0 {
			h.led.refused(ctx, op, hs, err)
		}
	}
	entryRefused := func(op string, e types.BatchResultErrorEntry, at time.Time) {
		if d > 0 {
			h.led.entryRefused(op, hs, e, at)
		}
	}
	if len(hs) == 1 || rng.IntN(2) == 0 {
		for _, m := range hs {
			cctx, cancel := context.WithTimeout(ctx, callTimeout)
			h.led.count(k.String()+" ChangeMessageVisibility calls", 1)
			_, err := h.c.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: &m.handle, VisibilityTimeout: secs})
			cancel()
			if err != nil {
				h.led.opError(ctx, k.String()+" ChangeMessageVisibility", err)
				refused("ChangeMessageVisibility", []held{m}, err)
			}
		}
		return
	}
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(hs))
	for i, m := range hs {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.handle), VisibilityTimeout: secs}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	h.led.count(k.String()+" ChangeMessageVisibilityBatch calls", 1)
	out, err := h.c.ChangeMessageVisibilityBatch(cctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url, Entries: entries})
	if err != nil {
		h.led.opError(ctx, k.String()+" ChangeMessageVisibilityBatch", err)
		refused("ChangeMessageVisibilityBatch", hs, err)
		return
	}
	at := time.Now()
	for _, e := range out.Failed {
		h.led.entryError(k.String()+" ChangeMessageVisibilityBatch", e)
		entryRefused("ChangeMessageVisibilityBatch", e, at)
	}
}
