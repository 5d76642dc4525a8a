package sdkcompat

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

func (b *testBundle) send(t *testing.T, url, body string) string {
	t.Helper()
	out, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: &body})
	require.NoError(t, err)
	return *out.MessageId
}

func (b *testBundle) receive(t *testing.T, url string, max int32) []types.Message {
	t.Helper()
	out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: max,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}})
	require.NoError(t, err)
	return out.Messages
}

func TestVisibilityTimeout(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "vis", map[string]string{"VisibilityTimeout": "30"})
		id := b.send(t, url, "m")
		first := b.receive(t, url, 1)
		require.Len(t, first, 1)
		b.srv.Clock.Advance(29 * time.Second)
		require.Empty(t, b.receive(t, url, 1))
		b.srv.Clock.Advance(2 * time.Second)
		second := b.receive(t, url, 1)
		require.Len(t, second, 1)
		require.Equal(t, id, *second[0].MessageId)
		require.Equal(t, "2", second[0].Attributes["ApproximateReceiveCount"])
		require.NotEqual(t, *first[0].ReceiptHandle, *second[0].ReceiptHandle, "a new receipt handle on every receive")

		// The superseded handle cannot change visibility; the current one can extend it.
		_, err := b.c.ChangeMessageVisibility(b.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: first[0].ReceiptHandle, VisibilityTimeout: 100})
		requireCode(t, err, "InvalidParameterValue")
		_, err = b.c.ChangeMessageVisibility(b.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 100})
		require.NoError(t, err)
		b.srv.Clock.Advance(99 * time.Second)
		require.Empty(t, b.receive(t, url, 1), "extended visibility counts from the call")
		// Back to 0: visible at once.
		_, err = b.c.ChangeMessageVisibility(b.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: second[0].ReceiptHandle, VisibilityTimeout: 0})
		require.NoError(t, err)
		third := b.receive(t, url, 1)
		require.Len(t, third, 1)
		require.Equal(t, "3", third[0].Attributes["ApproximateReceiveCount"])

		// Over 12 hours since the receive: rejected.
		_, err = b.c.ChangeMessageVisibility(b.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 43201})
		requireCode(t, err, "InvalidParameterValue")
		b.srv.Clock.Advance(time.Hour)
		_, err = b.c.ChangeMessageVisibility(b.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 43200})
		requireCode(t, err, "InvalidParameterValue")

		// A handle whose timeout expired (not re-received) still deletes on a standard queue.
		b.srv.Clock.Advance(time.Minute)
		_, err = b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle})
		require.NoError(t, err)
		require.Empty(t, b.receive(t, url, 1))
		_, err = b.c.ChangeMessageVisibility(b.ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &url, ReceiptHandle: third[0].ReceiptHandle, VisibilityTimeout: 10})
		requireCode(t, err, "InvalidParameterValue")
		require.Contains(t, err.Error(), "Message does not exist or is not available for visibility timeout change.")

		_, err = b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, VisibilityTimeout: 43201})
		requireCode(t, err, "InvalidParameterValue")
	})
}

func TestDelay(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "delay", map[string]string{"DelaySeconds": "10", "VisibilityTimeout": "300"})
		b.send(t, url, "queue-delay")
		_, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("msg-delay"), DelaySeconds: 60})
		require.NoError(t, err)
		requireCounts(t, b, url, 0, 0, 2)
		require.Empty(t, b.receive(t, url, 10))
		b.srv.Clock.Advance(10 * time.Second)
		got := b.receive(t, url, 10)
		require.Len(t, got, 1)
		require.Equal(t, "queue-delay", *got[0].Body)
		requireCounts(t, b, url, 0, 1, 1)
		b.srv.Clock.Advance(50 * time.Second)
		got = b.receive(t, url, 10)
		require.Len(t, got, 1)
		require.Equal(t, "msg-delay", *got[0].Body)

		_, err = b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), DelaySeconds: 901})
		requireCode(t, err, "InvalidParameterValue")
	})
}

func TestBatches(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "batch", map[string]string{"MaximumMessageSize": "1024"})
		out, err := b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{
			{Id: aws.String("a"), MessageBody: aws.String("one")},
			{Id: aws.String("b"), MessageBody: aws.String(strings.Repeat("x", 1025))},
			{Id: aws.String("c"), MessageBody: aws.String("bad\u0000char")},
			{Id: aws.String("d"), MessageBody: aws.String("two"), DelaySeconds: 5},
			{Id: aws.String("e"), MessageBody: aws.String("three"), MessageAttributes: map[string]types.MessageAttributeValue{"k": str("String", "v")}},
		}})
		require.NoError(t, err)
		require.Len(t, out.Successful, 3)
		require.Len(t, out.Failed, 2)
		fails := map[string]types.BatchResultErrorEntry{}
		for _, f := range out.Failed {
			fails[*f.Id] = f
		}
		require.Equal(t, "InvalidParameterValue", *fails["b"].Code)
		require.True(t, fails["b"].SenderFault)
		require.Equal(t, "One or more parameters cannot be validated. Reason: Message must be shorter than 1024 bytes.", *fails["b"].Message)
		require.Equal(t, "InvalidMessageContents", *fails["c"].Code)
		for _, s := range out.Successful {
			if *s.Id == "e" {
				require.Equal(t, md5OfSDKAttributes(map[string]types.MessageAttributeValue{"k": str("String", "v")}), *s.MD5OfMessageAttributes)
			}
		}
		requireCounts(t, b, url, 2, 0, 1)

		// Whole-request errors.
		entries := func(n int) []types.SendMessageBatchRequestEntry {
			var es []types.SendMessageBatchRequestEntry
			for i := range n {
				es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("id", i)), MessageBody: aws.String("x")})
			}
			return es
		}
		_, err = b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries(11)})
		requireCode(t, err, "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
		require.Contains(t, err.Error(), "Maximum number of entries per request are 10. You have sent 11.")
		_, err = b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: []types.SendMessageBatchRequestEntry{}})
		requireCode(t, err, "AWS.SimpleQueueService.EmptyBatchRequest")
		dup := entries(2)
		dup[1].Id = dup[0].Id
		_, err = b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: dup})
		requireCode(t, err, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
		bad := entries(1)
		bad[0].Id = aws.String("invalid:id")
		_, err = b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: bad})
		requireCode(t, err, "AWS.SimpleQueueService.InvalidBatchEntryId")
		big := entries(2)
		big[0].MessageBody = aws.String(strings.Repeat("x", 600000))
		big[1].MessageBody = aws.String(strings.Repeat("x", 600000))
		_, err = b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: big})
		requireCode(t, err, "AWS.SimpleQueueService.BatchRequestTooLong")

		// Receive, then delete and change visibility in batches, with per-entry failures.
		b.srv.Clock.Advance(5 * time.Second)
		msgs := b.receive(t, url, 10)
		require.Len(t, msgs, 3)
		cv, err := b.c.ChangeMessageVisibilityBatch(b.ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url, Entries: []types.ChangeMessageVisibilityBatchRequestEntry{
			{Id: aws.String("x"), ReceiptHandle: msgs[0].ReceiptHandle, VisibilityTimeout: 0},
			{Id: aws.String("y"), ReceiptHandle: aws.String("garbage"), VisibilityTimeout: 5},
		}})
		require.NoError(t, err)
		require.Len(t, cv.Successful, 1)
		require.Equal(t, "x", *cv.Successful[0].Id)
		require.Len(t, cv.Failed, 1)
		require.Equal(t, "ReceiptHandleIsInvalid", *cv.Failed[0].Code)
		again := b.receive(t, url, 10)
		require.Len(t, again, 1)
		require.Equal(t, *msgs[0].MessageId, *again[0].MessageId)

		del, err := b.c.DeleteMessageBatch(b.ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &url, Entries: []types.DeleteMessageBatchRequestEntry{
			{Id: aws.String("1"), ReceiptHandle: again[0].ReceiptHandle},
			{Id: aws.String("2"), ReceiptHandle: msgs[1].ReceiptHandle},
			{Id: aws.String("3"), ReceiptHandle: msgs[2].ReceiptHandle},
			{Id: aws.String("4"), ReceiptHandle: aws.String("nonsense")},
		}})
		require.NoError(t, err)
		require.Len(t, del.Successful, 3)
		require.Len(t, del.Failed, 1)
		require.Equal(t, "4", *del.Failed[0].Id)
		requireCounts(t, b, url, 0, 0, 0)
	})
}

func TestMessageValidation(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "valid", nil)
		limit := queue.MaxMessageSize
		for _, tc := range []struct {
			name  string
			body  string
			attrs map[string]types.MessageAttributeValue
			code  string
			msg   string
		}{
			{"empty body", "", nil, "MissingParameter", "The request must contain the parameter MessageBody."},
			{"too big", strings.Repeat("x", limit+1), nil, "InvalidParameterValue", "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes."},
			{"attrs count toward size", strings.Repeat("x", limit-len("k"+"String"+"x")+1), map[string]types.MessageAttributeValue{"k": str("String", "x")}, "InvalidParameterValue", "Message must be shorter than 1048576 bytes."},
			{"nul", "a\u0000b", nil, "InvalidMessageContents", ""},
			{"U+FFFF", "a\uffffb", nil, "InvalidMessageContents", ""},
			{"attr reserved name", "x", map[string]types.MessageAttributeValue{"AWS.x": str("String", "v")}, "InvalidParameterValue", ""},
			{"attr bad type", "x", map[string]types.MessageAttributeValue{"k": str("Integer", "1")}, "InvalidParameterValue", ""},
			{"attr empty", "x", map[string]types.MessageAttributeValue{"ErrorDetails": str("String", "")}, "InvalidParameterValue", "Message (user) attribute 'ErrorDetails' must contain a non-empty value of type 'String'."},
			{"attr nan", "x", map[string]types.MessageAttributeValue{"n": str("Number", "abc")}, "InvalidParameterValue", ""},
			{"attr bad chars", "x", map[string]types.MessageAttributeValue{"k": str("String", "a\u0001")}, "InvalidParameterValue", ""},
		} {
			_, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(tc.body), MessageAttributes: tc.attrs})
			requireCode(t, err, tc.code)
			require.Contains(t, err.Error(), tc.msg, tc.name)
		}
		eleven := map[string]types.MessageAttributeValue{}
		for i := range 11 {
			eleven[fmt.Sprint("a", i)] = str("String", "v")
		}
		_, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("x"), MessageAttributes: eleven})
		requireCode(t, err, "InvalidParameterValue")

		// Exactly at the limit is accepted, and the unicode range edges pass.
		_, err = b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strings.Repeat("x", limit))})
		require.NoError(t, err)
		b.send(t, url, "\t\n\r \ud7ff\ue000\ufffd\U00010000\U0010ffff")
		requireCounts(t, b, url, 2, 0, 0)

		for _, tc := range []struct {
			in   *sqs.ReceiveMessageInput
			text string
		}{
			{&sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11}, "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."},
			{&sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: -1}, "Value -1 for parameter MaxNumberOfMessages is invalid."},
			{&sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 21}, "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."},
		} {
			_, err := b.c.ReceiveMessage(b.ctx, tc.in)
			requireCode(t, err, "InvalidParameterValue")
			require.Contains(t, err.Error(), tc.text)
		}
	})
}

func TestPurgeQueue(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "purge", nil)
		b.send(t, url, "visible")
		b.send(t, url, "in flight")
		_, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("delayed"), DelaySeconds: 30})
		require.NoError(t, err)
		require.Len(t, b.receive(t, url, 1), 1)
		requireCounts(t, b, url, 1, 1, 1)
		_, err = b.c.PurgeQueue(b.ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
		require.NoError(t, err)
		requireCounts(t, b, url, 0, 0, 0)
		_, err = b.c.PurgeQueue(b.ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
		requireCode(t, err, "AWS.SimpleQueueService.PurgeQueueInProgress")
		require.Contains(t, err.Error(), "Only one PurgeQueue operation on purge is allowed every 60 seconds.")
		b.send(t, url, "after")
		b.srv.Clock.Advance(61 * time.Second)
		got := b.receive(t, url, 10)
		require.Len(t, got, 1)
		require.Equal(t, "after", *got[0].Body)
		_, err = b.c.PurgeQueue(b.ctx, &sqs.PurgeQueueInput{QueueUrl: &url})
		require.NoError(t, err)
	})
}

func TestRetention(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "retain", map[string]string{"MessageRetentionPeriod": "60", "VisibilityTimeout": "120"})
		b.send(t, url, "old")
		got := b.receive(t, url, 1)
		require.Len(t, got, 1)
		b.srv.Clock.Advance(30 * time.Second)
		b.send(t, url, "young")
		b.srv.Clock.Advance(31 * time.Second)
		// "old" expired although in flight; its handle deletes without error.
		requireCounts(t, b, url, 1, 0, 0)
		_, err := b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: got[0].ReceiptHandle})
		require.NoError(t, err)
		got = b.receive(t, url, 10)
		require.Len(t, got, 1)
		require.Equal(t, "young", *got[0].Body)
	})
}

func TestLongPolling(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "poll", map[string]string{"ReceiveMessageWaitTimeSeconds": "20"})

		// A waiting receive returns as soon as a message is sent, long before the wait ends.
		res := make(chan []types.Message, 1)
		go func() {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 3})
			if err != nil {
				res <- nil
				return
			}
			res <- out.Messages
		}()
		waitParked(t, b.srv, 1)
		b.send(t, url, "wake")
		got := <-res
		require.Len(t, got, 1)
		require.Equal(t, "wake", *got[0].Body)

		// With nothing sent, it returns empty when the wait ends.
		go func() {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 5})
			if err != nil {
				res <- nil
				return
			}
			res <- out.Messages
		}()
		waitParked(t, b.srv, 1)
		b.srv.Clock.Advance(5 * time.Second)
		require.Empty(t, <-res)

		// A delayed message wakes the waiter when its delay ends.
		_, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String("later"), DelaySeconds: 3})
		require.NoError(t, err)
		go func() {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, WaitTimeSeconds: 10})
			if err != nil {
				res <- nil
				return
			}
			res <- out.Messages
		}()
		waitParked(t, b.srv, 1)
		b.srv.Clock.Advance(3 * time.Second)
		got = <-res
		require.Len(t, got, 1)
		require.Equal(t, "later", *got[0].Body)
	})
}

// waitParked waits until n long polls are parked on the fake clock. It polls the clock's timer
// count, not the passage of time.
func waitParked(t *testing.T, s *sluicetest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Clock.Waiters() < n {
		if time.Now().After(deadline) {
			t.Fatalf("no long poll parked")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestOverLimit(t *testing.T) {
	t.Parallel()
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			srv := sluicetest.NewServer(t, sluicetest.Options{Engine: f.Open(t), Service: queue.Options{MaxInFlight: 2}})
			b := &testBundle{srv: srv, c: srv.Client, ctx: t.Context()}
			url := b.create(t, "limit", nil)
			for range 3 {
				b.send(t, url, "m")
			}
			require.Len(t, b.receive(t, url, 2), 2)
			_, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
			requireCode(t, err, "OverLimit")
		})
	}
}

// TestRetentionSweep expires a backlog larger than what receives expire inline: the sweeper
// removes all of it, and the queue keeps serving meanwhile.
func TestRetentionSweep(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "sweep", map[string]string{"MessageRetentionPeriod": "60"})
		const n = 3000
		for i := 0; i < n; i += 10 {
			var es []types.SendMessageBatchRequestEntry
			for j := range 10 {
				es = append(es, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", j)), MessageBody: aws.String("old")})
			}
			_, err := b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: es})
			require.NoError(t, err)
		}
		b.srv.Clock.Advance(61 * time.Second)
		b.send(t, url, "new")
		// A receive expires only a bounded number itself and never delivers an expired message.
		for _, m := range b.receive(t, url, 10) {
			require.Equal(t, "new", *m.Body)
		}
		removed := b.srv.Service.Sweep(b.ctx)
		require.Positive(t, removed, "the sweeper removes what receives left")
		require.Zero(t, b.srv.Service.Sweep(b.ctx), "nothing left to expire")
		out, err := b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
		require.NoError(t, err)
		total, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
		inFlight, _ := strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
		require.Equal(t, 1, total+inFlight, "only the new message is left")
	})
}
