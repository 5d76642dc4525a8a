package sdkcompat

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

func (b *testBundle) sendFIFO(t *testing.T, url, body, group, dedup string) *sqs.SendMessageOutput {
	t.Helper()
	in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body, MessageGroupId: &group}
	if dedup != "" {
		in.MessageDeduplicationId = &dedup
	}
	out, err := b.c.SendMessage(b.ctx, in)
	require.NoError(t, err)
	return out
}

func TestFIFOCreateAndValidation(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "orders.fifo", map[string]string{"FifoQueue": "true"})
		out, err := b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
		require.NoError(t, err)
		require.Equal(t, "true", out.Attributes["FifoQueue"])
		require.Equal(t, "false", out.Attributes["ContentBasedDeduplication"])
		require.Equal(t, "queue", out.Attributes["DeduplicationScope"])
		require.Equal(t, "perQueue", out.Attributes["FifoThroughputLimit"])

		_, err = b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageDeduplicationId: aws.String("d")})
		requireCode(t, err, "MissingParameter")
		require.Contains(t, err.Error(), "The request must contain the parameter MessageGroupId.")
		_, err = b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("g")})
		requireCode(t, err, "InvalidParameterValue")
		require.Contains(t, err.Error(), "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		_, err = b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("g"),
			MessageDeduplicationId: aws.String("d"), DelaySeconds: 2})
		requireCode(t, err, "InvalidParameterValue")
		require.Contains(t, err.Error(), "Value 2 for parameter DelaySeconds is invalid. Reason: The request include parameter that is not valid for this queue type.")
		_, err = b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageGroupId: aws.String("bad group"),
			MessageDeduplicationId: aws.String("d")})
		requireCode(t, err, "InvalidParameterValue")

		// In a batch, a missing group id fails the whole request.
		_, err = b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String("x"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("1")},
			{Id: aws.String("b"), MessageBody: aws.String("y"), MessageDeduplicationId: aws.String("2")},
		}})
		requireCode(t, err, "InvalidParameterValue")
		requireCounts(t, b, url, 0, 0, 0)

		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"FifoQueue": "false"}})
		requireCode(t, err, "InvalidAttributeValue")
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{
			"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId", "ContentBasedDeduplication": "True"}})
		require.NoError(t, err)
		out, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"ContentBasedDeduplication"}})
		require.NoError(t, err)
		require.Equal(t, "true", out.Attributes["ContentBasedDeduplication"])
	})
}

func TestFIFODeduplication(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "dedup.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
		first := b.sendFIFO(t, url, "pay 10", "acct-1", "")
		again := b.sendFIFO(t, url, "pay 10", "acct-1", "")
		require.Equal(t, *first.MessageId, *again.MessageId, "a duplicate returns the original MessageId")
		require.Equal(t, *first.SequenceNumber, *again.SequenceNumber)
		explicit := b.sendFIFO(t, url, "pay 10", "acct-1", "other-id")
		require.NotEqual(t, *first.MessageId, *explicit.MessageId, "an explicit id overrides the content hash")
		requireCounts(t, b, url, 2, 0, 0)

		// Remembered after delete, within the window.
		rcv, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
		require.NoError(t, err)
		require.Len(t, rcv.Messages, 2)
		sum := sha256.Sum256([]byte("pay 10"))
		require.Equal(t, hex.EncodeToString(sum[:]), rcv.Messages[0].Attributes["MessageDeduplicationId"])
		require.Equal(t, "acct-1", rcv.Messages[0].Attributes["MessageGroupId"])
		require.Equal(t, *first.SequenceNumber, rcv.Messages[0].Attributes["SequenceNumber"])
		for _, m := range rcv.Messages {
			_, err := b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
		b.srv.Clock.Advance(4 * time.Minute)
		require.Equal(t, *first.MessageId, *b.sendFIFO(t, url, "pay 10", "acct-1", "").MessageId)
		requireCounts(t, b, url, 0, 0, 0)
		// After the five-minute window the same content is accepted again.
		b.srv.Clock.Advance(61 * time.Second)
		later := b.sendFIFO(t, url, "pay 10", "acct-1", "")
		require.NotEqual(t, *first.MessageId, *later.MessageId)
		require.Greater(t, *later.SequenceNumber, *first.SequenceNumber)
		requireCounts(t, b, url, 1, 0, 0)

		// Purge clears the deduplication ids.
		_, err = b.c.PurgeQueue(b.ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
		require.NoError(t, err)
		require.NotEqual(t, *later.MessageId, *b.sendFIFO(t, url, "pay 10", "acct-1", "").MessageId)
	})
}

func TestFIFODeduplicationScope(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		q := b.create(t, "scope-q.fifo", map[string]string{"FifoQueue": "true"})
		g := b.create(t, "scope-g.fifo", map[string]string{"FifoQueue": "true", "DeduplicationScope": "messageGroup"})
		a := b.sendFIFO(t, q, "x", "g1", "same")
		require.Equal(t, *a.MessageId, *b.sendFIFO(t, q, "x", "g2", "same").MessageId, "queue scope: other group, same id is a duplicate")
		c := b.sendFIFO(t, g, "x", "g1", "same")
		require.NotEqual(t, *c.MessageId, *b.sendFIFO(t, g, "x", "g2", "same").MessageId, "group scope: other group is not a duplicate")
		requireCounts(t, b, q, 1, 0, 0)
		requireCounts(t, b, g, 2, 0, 0)
	})
}

func TestFIFOGroupOrderingAndBlocking(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "order.fifo", map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"})
		for i := 1; i <= 3; i++ {
			b.sendFIFO(t, url, fmt.Sprintf("g1-m%d", i), "g1", fmt.Sprintf("g1-%d", i))
		}
		b.sendFIFO(t, url, "g2-m1", "g2", "g2-1")
		// One receive fills its batch from one group first, in order.
		got := bodies(b.receive(t, url, 3))
		require.Equal(t, []string{"g1-m1", "g1-m2", "g1-m3"}, got)
		// g1 is in flight: only g2 is served.
		got = bodies(b.receive(t, url, 10))
		require.Equal(t, []string{"g2-m1"}, got)
		b.sendFIFO(t, url, "g1-m4", "g1", "g1-4")
		require.Empty(t, b.receive(t, url, 10), "g1 stays blocked while its messages are in flight")
		// Visibility expiry unblocks the group, from its oldest message again.
		b.srv.Clock.Advance(31 * time.Second)
		msgs := b.receive(t, url, 2)
		require.Equal(t, []string{"g1-m1", "g1-m2"}, bodies(msgs))
		for _, m := range msgs {
			_, err := b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
		// The batch fills from the group with the oldest message, then from the next group.
		got = bodies(b.receive(t, url, 10))
		require.Equal(t, []string{"g1-m3", "g1-m4", "g2-m1"}, got)

		// An expired handle no longer deletes on a FIFO queue.
		b.srv.Clock.Advance(31 * time.Second)
		_, err := b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msgs[0].ReceiptHandle})
		require.NoError(t, err, "already deleted: success")
		stale := b.receive(t, url, 10)
		require.NotEmpty(t, stale)
		b.srv.Clock.Advance(31 * time.Second)
		_, err = b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: stale[0].ReceiptHandle})
		requireCode(t, err, "InvalidParameterValue")
		require.Contains(t, err.Error(), "The receipt handle has expired.")
	})
}

func bodies(ms []types.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, *m.Body)
	}
	return out
}

func TestFIFOReceiveRequestAttemptId(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "attempt.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
		for i := range 3 {
			b.sendFIFO(t, url, fmt.Sprint("m", i), "g", "")
		}
		recv := func(id string) []types.Message {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 2, ReceiveRequestAttemptId: &id})
			require.NoError(t, err)
			return out.Messages
		}
		first := recv("attempt-1")
		require.Len(t, first, 2)
		b.srv.Clock.Advance(10 * time.Second)
		retry := recv("attempt-1")
		require.Equal(t, first, retry, "a retried attempt returns the same messages and receipt handles")
		// The retry reset the visibility timeout: 25 s after the retry they are still in flight.
		b.srv.Clock.Advance(25 * time.Second)
		require.Empty(t, recv("attempt-2"))
		// Once one is deleted, the old attempt id no longer replays.
		_, err := b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle})
		require.NoError(t, err)
		b.srv.Clock.Advance(10 * time.Second)
		next := recv("attempt-1")
		require.Equal(t, []string{"m1", "m2"}, bodies(next))
		require.NotEqual(t, *first[1].ReceiptHandle, *next[0].ReceiptHandle)
	})
}

func TestFIFOBatchSend(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "batch.fifo", map[string]string{"FifoQueue": "true"})
		out, err := b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String("1"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d1")},
			{Id: aws.String("b"), MessageBody: aws.String("2"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d2")},
			{Id: aws.String("c"), MessageBody: aws.String("1 again"), MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d1")},
		}})
		require.NoError(t, err)
		require.Len(t, out.Successful, 3)
		require.Equal(t, *out.Successful[0].MessageId, *out.Successful[2].MessageId, "a duplicate within one batch")
		require.Less(t, *out.Successful[0].SequenceNumber, *out.Successful[1].SequenceNumber)
		require.Equal(t, []string{"1", "2"}, bodies(b.receive(t, url, 10)))
	})
}

// TestFIFOProducerRetry repeats the same send from several goroutines, with an explicit
// deduplication id and with content-based deduplication: exactly one copy is delivered.
func TestFIFOProducerRetry(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "retry.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
		var wg sync.WaitGroup
		ids := make(chan string, 40)
		for i := range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dedup := ""
				if i%2 == 0 {
					dedup = "payment-7"
				}
				body := "charge 7"
				if dedup != "" {
					body = fmt.Sprint("charge 7, attempt ", i) // the explicit id wins over the body
				}
				in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body, MessageGroupId: aws.String("acct")}
				if dedup != "" {
					in.MessageDeduplicationId = &dedup
				}
				out, err := b.c.SendMessage(b.ctx, in)
				if err == nil {
					ids <- *out.MessageId
				}
			}()
		}
		wg.Wait()
		close(ids)
		distinct := map[string]int{}
		for id := range ids {
			distinct[id]++
		}
		require.Len(t, distinct, 2, "one message per deduplication id")
		for _, n := range distinct {
			require.Equal(t, 20, n)
		}
		got := b.receive(t, url, 10)
		require.Len(t, got, 2)
		requireCounts(t, b, url, 0, 2, 0)
	})
}

// TestFIFOOrderingUnderLoad: 20 groups × 500 messages, several consumers that sometimes let the
// visibility time out; every group is delivered in order, never with a later message in flight
// while an earlier one is, and nothing is lost.
func TestFIFOOrderingUnderLoad(t *testing.T) {
	t.Parallel()
	const groups, perGroup, consumers = 20, 500, 4
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "load.fifo", map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"})
		for i := range perGroup {
			var entries []types.SendMessageBatchRequestEntry
			for g := range groups {
				if len(entries) == 10 {
					_, err := b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
					require.NoError(t, err)
					entries = nil
				}
				entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", g)),
					MessageBody: aws.String(strconv.Itoa(i)), MessageGroupId: aws.String(fmt.Sprint("g", g)),
					MessageDeduplicationId: aws.String(fmt.Sprintf("g%d-%d", g, i))})
			}
			_, err := b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
			require.NoError(t, err)
		}

		// The fake clock moves only between consumers' receive-to-delete cycles (they hold
		// cycle shared, the clock keeper exclusively), so a delete never finds its receipt
		// expired, and abandoned batches come back only when the keeper advances time.
		var cycle sync.RWMutex
		tick := make(chan struct{}, 1)
		stop := make(chan struct{})
		keeperDone := make(chan struct{})
		go func() {
			defer close(keeperDone)
			for {
				select {
				case <-stop:
					return
				case <-tick:
					cycle.Lock()
					b.srv.Clock.Advance(31 * time.Second)
					cycle.Unlock()
				}
			}
		}()
		var mu sync.Mutex
		next := map[string]int{} // group -> next body expected
		finished := func() bool {
			mu.Lock()
			defer mu.Unlock()
			for g := range groups {
				if next[fmt.Sprint("g", g)] != perGroup {
					return false
				}
			}
			return true
		}
		var wg sync.WaitGroup
		errs := make(chan error, consumers)
		for w := range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for range 100000 {
					if finished() {
						return
					}
					if err := func() error {
						cycle.RLock()
						defer cycle.RUnlock()
						out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
							MessageSystemAttributeNames: []types.MessageSystemAttributeName{"MessageGroupId"}})
						if err != nil {
							return err
						}
						if len(out.Messages) == 0 {
							select { // everything visible is blocked or taken: let time pass
							case tick <- struct{}{}:
							default:
							}
							return nil
						}
						abandon := rng.IntN(10) == 0
						mu.Lock()
						expect := map[string]int{}
						for _, m := range out.Messages {
							g := m.Attributes["MessageGroupId"]
							n, _ := strconv.Atoi(*m.Body)
							want, ok := expect[g]
							if !ok {
								want = next[g]
							}
							if n != want {
								mu.Unlock()
								return fmt.Errorf("group %s: got %d, expected %d", g, n, want)
							}
							expect[g] = n + 1
						}
						if !abandon {
							for g, n := range expect {
								next[g] = n
							}
						}
						mu.Unlock()
						if abandon {
							return nil // let the visibility time out
						}
						var del []types.DeleteMessageBatchRequestEntry
						for i, m := range out.Messages {
							del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
						}
						res, err := b.c.DeleteMessageBatch(b.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: del})
						if err != nil || len(res.Failed) > 0 {
							return fmt.Errorf("delete: %v %+v", err, res.Failed)
						}
						return nil
					}(); err != nil {
						errs <- err
						return
					}
				}
				errs <- fmt.Errorf("consumer %d gave up", w)
			}()
		}
		wg.Wait()
		close(stop)
		<-keeperDone
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		for g := range groups {
			require.Equal(t, perGroup, next[fmt.Sprint("g", g)])
		}
		requireCounts(t, b, url, 0, 0, 0)
	})
}
