package sdkcompat

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"sluice/internal/sluicetest"
)

// Message move tasks run in steps on the server's fake clock: one step at once, then one per
// second of fake time. The tests below wait for a step by polling ListMessageMoveTasks (a
// goroutine's progress), and make the next one happen by advancing the clock.

func arnOf(name string) string { return "arn:aws:sqs:us-east-1:" + sluicetest.Account + ":" + name }

func redrivePolicy(dlq string, maxReceiveCount int) string {
	return fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, arnOf(dlq), maxReceiveCount)
}

// latestTask returns the most recent move task of a source queue.
func (b *testBundle) latestTask(t *testing.T, source string) types.ListMessageMoveTasksResultEntry {
	t.Helper()
	out, err := b.c.ListMessageMoveTasks(b.ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(arnOf(source))})
	require.NoError(t, err)
	require.Len(t, out.Results, 1)
	return out.Results[0]
}

// waitTask polls until the most recent task of source satisfies ok, without advancing the clock.
func (b *testBundle) waitTask(t *testing.T, source string, ok func(types.ListMessageMoveTasksResultEntry) bool) types.ListMessageMoveTasksResultEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e := b.latestTask(t, source)
		if ok(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("move task of %s: still %s, %d moved", source, *e.Status, e.ApproximateNumberOfMessagesMoved)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitMoved waits until the most recent task of source has moved n messages.
func (b *testBundle) waitMoved(t *testing.T, source string, n int64) types.ListMessageMoveTasksResultEntry {
	t.Helper()
	return b.waitTask(t, source, func(e types.ListMessageMoveTasksResultEntry) bool { return e.ApproximateNumberOfMessagesMoved == n })
}

// finishTask advances the fake clock a second at a time until the most recent task of source is
// no longer running, and returns it.
func (b *testBundle) finishTask(t *testing.T, source string) types.ListMessageMoveTasksResultEntry {
	t.Helper()
	for range 100 {
		// Wait for the worker's step to be over (its timer for the next one is then set).
		e := b.waitTask(t, source, func(e types.ListMessageMoveTasksResultEntry) bool {
			return *e.Status != "RUNNING" || b.srv.Clock.Waiters() > 0
		})
		if *e.Status != "RUNNING" {
			return e
		}
		b.srv.Clock.Advance(time.Second)
	}
	t.Fatalf("the move task of %s did not end", source)
	return types.ListMessageMoveTasksResultEntry{}
}

func (b *testBundle) startMove(t *testing.T, in *sqs.StartMessageMoveTaskInput) string {
	t.Helper()
	out, err := b.c.StartMessageMoveTask(b.ctx, in)
	require.NoError(t, err)
	require.NotEmpty(t, *out.TaskHandle)
	return *out.TaskHandle
}

func (b *testBundle) sendN(t *testing.T, url string, n int) {
	t.Helper()
	for i := range n {
		b.send(t, url, fmt.Sprintf("m%d", i))
	}
}

// handleFor builds a task handle as the server encodes them (base64url of JSON).
func handleFor(taskID, sourceArn string) string {
	b, _ := json.Marshal(map[string]string{"taskId": taskID, "sourceArn": sourceArn})
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestMoveTaskRedrive is the redrive scenario of SQS's documentation: a poison message is
// received maxReceiveCount times, lands in the dead-letter queue with its identity intact, and a
// move task without a destination brings it back to its source queue.
func TestMoveTaskRedrive(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		// Visibility 0: received messages are visible again at once (the SDK does not send a
		// VisibilityTimeout of 0 on ReceiveMessage, so it is the queues' default).
		dlq := b.create(t, "dlq", map[string]string{"VisibilityTimeout": "0"})
		src := b.create(t, "src", map[string]string{"RedrivePolicy": redrivePolicy("dlq", 2), "VisibilityTimeout": "0"})
		attrs := map[string]types.MessageAttributeValue{
			"kind": str("String", "poison"),
			"bin":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 0xff}},
		}
		sent, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &src, MessageBody: aws.String("poison body"),
			MessageAttributes: attrs,
			MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
				"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793")},
			}})
		require.NoError(t, err)

		receive := func(url string) []types.Message {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
				MessageAttributeNames:       []string{"All"},
				MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"}})
			require.NoError(t, err)
			return out.Messages
		}
		for i := 1; i <= 2; i++ {
			got := receive(src)
			require.Len(t, got, 1)
			require.Equal(t, fmt.Sprint(i), got[0].Attributes["ApproximateReceiveCount"])
		}
		require.Empty(t, receive(src), "the third delivery goes to the dead-letter queue")
		requireCounts(t, b, src, 0, 0, 0)
		requireCounts(t, b, dlq, 1, 0, 0)

		dead := receive(dlq) // it stays visible for the move task
		require.Len(t, dead, 1)
		d := dead[0]
		require.Equal(t, *sent.MessageId, *d.MessageId)
		require.Equal(t, "poison body", *d.Body)
		require.Equal(t, attrs["kind"].StringValue, d.MessageAttributes["kind"].StringValue)
		require.Equal(t, attrs["bin"].BinaryValue, d.MessageAttributes["bin"].BinaryValue)
		require.Equal(t, *sent.MD5OfMessageAttributes, *d.MD5OfMessageAttributes)
		require.Equal(t, "3", d.Attributes["ApproximateReceiveCount"], "the receive count continues")
		require.Equal(t, arnOf("src"), d.Attributes["DeadLetterQueueSourceArn"])
		require.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793", d.Attributes["AWSTraceHeader"])

		started := b.srv.Clock.Now()
		b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq"))})
		task := b.finishTask(t, "dlq")
		require.Equal(t, "COMPLETED", *task.Status)
		require.Equal(t, int64(1), task.ApproximateNumberOfMessagesMoved)
		require.Equal(t, int64(1), *task.ApproximateNumberOfMessagesToMove)
		require.Equal(t, arnOf("dlq"), *task.SourceArn)
		require.Nil(t, task.TaskHandle, "only a running task shows its handle")
		require.Nil(t, task.DestinationArn, "no destination was given")
		require.Nil(t, task.MaxNumberOfMessagesPerSecond, "no rate was given")
		require.Nil(t, task.FailureReason)
		require.Equal(t, started.UnixMilli(), task.StartedTimestamp)

		requireCounts(t, b, dlq, 0, 0, 0)
		requireCounts(t, b, src, 1, 0, 0)
		back := receive(src)
		require.Len(t, back, 1)
		m := back[0]
		require.Equal(t, *sent.MessageId, *m.MessageId)
		require.Equal(t, "poison body", *m.Body)
		require.Equal(t, *sent.MD5OfMessageBody, *m.MD5OfBody)
		require.Equal(t, *sent.MD5OfMessageAttributes, *m.MD5OfMessageAttributes)
		require.Equal(t, md5OfSDKAttributes(m.MessageAttributes), *m.MD5OfMessageAttributes)
		require.Equal(t, attrs["bin"].BinaryValue, m.MessageAttributes["bin"].BinaryValue)
		require.Equal(t, "Root=1-5759e988-bd862e3fe1be46a994272793", m.Attributes["AWSTraceHeader"])
		require.NotContains(t, m.Attributes, "DeadLetterQueueSourceArn", "back in its source, it is no longer dead-lettered")
	})
}

// TestMoveTaskDestination moves a dead-letter queue's messages to a queue of the caller's
// choosing, and wakes a long poll waiting there.
func TestMoveTaskDestination(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		dlq := b.create(t, "dlq", nil)
		b.create(t, "src", map[string]string{"RedrivePolicy": redrivePolicy("dlq", 3)})
		dst := b.create(t, "dst", nil)
		b.sendN(t, dlq, 3) // sent directly: only an explicit destination can take them

		polled := make(chan []types.Message, 1)
		go func() {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &dst, MaxNumberOfMessages: 10, WaitTimeSeconds: 20})
			if err != nil {
				polled <- nil
				return
			}
			polled <- out.Messages
		}()
		waitParked(t, b.srv, 1)

		b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq")), DestinationArn: aws.String(arnOf("dst"))})
		select {
		case got := <-polled:
			require.Len(t, got, 3, "the long poll wakes when the messages arrive, without the clock moving")
		case <-time.After(10 * time.Second):
			t.Fatal("the long poll on the destination was not woken by the move")
		}
		task := b.waitTask(t, "dlq", func(e types.ListMessageMoveTasksResultEntry) bool { return *e.Status != "RUNNING" })
		require.Equal(t, "COMPLETED", *task.Status)
		require.Equal(t, int64(3), task.ApproximateNumberOfMessagesMoved)
		require.Equal(t, int64(3), *task.ApproximateNumberOfMessagesToMove)
		require.Equal(t, arnOf("dst"), *task.DestinationArn)
		requireCounts(t, b, dlq, 0, 0, 0)
		requireCounts(t, b, dst, 0, 3, 0)
	})
}

// TestMoveTaskRate checks MaxNumberOfMessagesPerSecond: each second of fake time moves at most
// that many messages.
func TestMoveTaskRate(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		dlq := b.create(t, "dlq", nil)
		b.create(t, "src", map[string]string{"RedrivePolicy": redrivePolicy("dlq", 3)})
		dst := b.create(t, "dst", nil)
		b.sendN(t, dlq, 5)
		b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq")), DestinationArn: aws.String(arnOf("dst")),
			MaxNumberOfMessagesPerSecond: aws.Int32(2)})

		task := b.waitMoved(t, "dlq", 2)
		require.Equal(t, "RUNNING", *task.Status)
		require.NotNil(t, task.TaskHandle)
		require.Equal(t, int32(2), *task.MaxNumberOfMessagesPerSecond)
		require.Equal(t, int64(5), *task.ApproximateNumberOfMessagesToMove)
		requireCounts(t, b, dlq, 3, 0, 0)
		requireCounts(t, b, dst, 2, 0, 0)

		b.srv.Clock.Advance(time.Second)
		task = b.waitMoved(t, "dlq", 4)
		require.Equal(t, "RUNNING", *task.Status)
		requireCounts(t, b, dst, 4, 0, 0)

		b.srv.Clock.Advance(time.Second)
		task = b.waitTask(t, "dlq", func(e types.ListMessageMoveTasksResultEntry) bool { return *e.Status != "RUNNING" })
		require.Equal(t, "COMPLETED", *task.Status)
		require.Equal(t, int64(5), task.ApproximateNumberOfMessagesMoved)
		requireCounts(t, b, dlq, 0, 0, 0)
		requireCounts(t, b, dst, 5, 0, 0)
	})
}

// TestMoveTaskCancel cancels a running task, then starts another that finishes the job.
func TestMoveTaskCancel(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		dlq := b.create(t, "dlq", nil)
		b.create(t, "src", map[string]string{"RedrivePolicy": redrivePolicy("dlq", 3)})
		dst := b.create(t, "dst", nil)
		b.sendN(t, dlq, 5)
		handle := b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq")),
			DestinationArn: aws.String(arnOf("dst")), MaxNumberOfMessagesPerSecond: aws.Int32(2)})
		b.waitMoved(t, "dlq", 2)

		_, err := b.c.StartMessageMoveTask(b.ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq"))})
		requireMessage(t, err, "InvalidParameterValue",
			"There is already a task running. Only one active task is allowed for a source queue arn at a given time.")

		out, err := b.c.CancelMessageMoveTask(b.ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: &handle})
		require.NoError(t, err)
		require.Equal(t, int64(2), out.ApproximateNumberOfMessagesMoved)
		task := b.latestTask(t, "dlq")
		require.Equal(t, "CANCELLED", *task.Status)
		require.Nil(t, task.TaskHandle)
		require.Equal(t, int64(2), task.ApproximateNumberOfMessagesMoved)

		// Nothing moves any more.
		b.srv.Clock.Advance(5 * time.Second)
		requireCounts(t, b, dlq, 3, 0, 0)
		requireCounts(t, b, dst, 2, 0, 0)
		_, err = b.c.CancelMessageMoveTask(b.ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: &handle})
		requireCode(t, err, "InvalidParameterValue")

		// A new task may start now, and takes what is left.
		b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq")), DestinationArn: aws.String(arnOf("dst"))})
		task = b.finishTask(t, "dlq")
		require.Equal(t, "COMPLETED", *task.Status)
		require.Equal(t, int64(3), task.ApproximateNumberOfMessagesMoved)
		require.Equal(t, int64(3), *task.ApproximateNumberOfMessagesToMove)
		requireCounts(t, b, dlq, 0, 0, 0)
		requireCounts(t, b, dst, 5, 0, 0)

		// Most recent first; MaxResults defaults to 1.
		all, err := b.c.ListMessageMoveTasks(b.ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(arnOf("dlq")), MaxResults: aws.Int32(10)})
		require.NoError(t, err)
		require.Len(t, all.Results, 2)
		require.Equal(t, "COMPLETED", *all.Results[0].Status)
		require.Equal(t, "CANCELLED", *all.Results[1].Status)
		require.Greater(t, all.Results[0].StartedTimestamp, all.Results[1].StartedTimestamp)
	})
}

// TestMoveTaskFailures checks the tasks that cannot finish: a message whose source queue is gone,
// a destination deleted while the task runs, a message that was never dead-lettered.
func TestMoveTaskFailures(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		t.Run("SourceQueueGone", func(t *testing.T) {
			dlq := b.create(t, "dlq1", nil)
			gone := b.create(t, "gone", map[string]string{"RedrivePolicy": redrivePolicy("dlq1", 1)})
			b.create(t, "still", map[string]string{"RedrivePolicy": redrivePolicy("dlq1", 1)})
			b.send(t, gone, "orphan")
			require.Len(t, b.receive(t, gone, 1), 1)
			b.srv.Clock.Advance(31 * time.Second) // past the visibility timeout
			require.Empty(t, b.receive(t, gone, 1))
			requireCounts(t, b, dlq, 1, 0, 0)
			_, err := b.c.DeleteQueue(b.ctx, &sqs.DeleteQueueInput{QueueUrl: &gone})
			require.NoError(t, err)

			b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq1"))})
			task := b.finishTask(t, "dlq1")
			require.Equal(t, "FAILED", *task.Status)
			require.Equal(t, "AWS.SimpleQueueService.NonExistentQueue", *task.FailureReason)
			require.Zero(t, task.ApproximateNumberOfMessagesMoved)
			require.Nil(t, task.TaskHandle)
			requireCounts(t, b, dlq, 1, 0, 0)
		})
		t.Run("DestinationDeleted", func(t *testing.T) {
			dlq := b.create(t, "dlq2", nil)
			b.create(t, "src2", map[string]string{"RedrivePolicy": redrivePolicy("dlq2", 3)})
			dst := b.create(t, "dst2", nil)
			b.sendN(t, dlq, 3)
			b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq2")),
				DestinationArn: aws.String(arnOf("dst2")), MaxNumberOfMessagesPerSecond: aws.Int32(1)})
			b.waitMoved(t, "dlq2", 1)
			_, err := b.c.DeleteQueue(b.ctx, &sqs.DeleteQueueInput{QueueUrl: &dst})
			require.NoError(t, err)
			task := b.finishTask(t, "dlq2")
			require.Equal(t, "FAILED", *task.Status)
			require.Equal(t, "AWS.SimpleQueueService.NonExistentQueue", *task.FailureReason)
			require.Equal(t, int64(1), task.ApproximateNumberOfMessagesMoved)
			requireCounts(t, b, dlq, 2, 0, 0)
		})
		t.Run("NotDeadLettered", func(t *testing.T) {
			dlq := b.create(t, "dlq3", nil)
			b.create(t, "src3", map[string]string{"RedrivePolicy": redrivePolicy("dlq3", 3)})
			b.send(t, dlq, "sent directly")
			b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq3"))})
			task := b.finishTask(t, "dlq3")
			require.Equal(t, "FAILED", *task.Status)
			require.Equal(t, "CouldNotDetermineMessageSource", *task.FailureReason)
			requireCounts(t, b, dlq, 1, 0, 0)
		})
	})
}

// TestMoveTaskErrors checks the exact error of every invalid request.
func TestMoveTaskErrors(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		dlq := b.create(t, "dlq", nil)
		b.create(t, "src", map[string]string{"RedrivePolicy": redrivePolicy("dlq", 3)})
		b.create(t, "plain", nil)
		b.create(t, "dst.fifo", map[string]string{"FifoQueue": "true"})
		const (
			noSource = "The resource that you specified for the SourceArn parameter doesn't exist."
			noDest   = "The resource that you specified for the DestinationArn parameter doesn't exist."
			badRate  = "Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and 500."
		)
		start := func(source, dest string, rate *int32) error {
			in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(source), MaxNumberOfMessagesPerSecond: rate}
			if dest != "" {
				in.DestinationArn = aws.String(dest)
			}
			_, err := b.c.StartMessageMoveTask(b.ctx, in)
			return err
		}
		notFound := func(err error, message string) {
			t.Helper()
			requireMessage(t, err, "ResourceNotFoundException", message)
			require.Equal(t, http.StatusNotFound, httpStatus(err))
			var rnf *types.ResourceNotFoundException
			require.ErrorAs(t, err, &rnf)
		}

		requireMessage(t, start("", "", nil), "MissingParameter", "The request must contain the parameter SourceArn.")
		notFound(start(arnOf("missing"), "", nil), noSource)
		notFound(start("not-an-arn", "", nil), noSource)
		requireMessage(t, start(arnOf("plain"), "", nil), "InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.")
		notFound(start(arnOf("dlq"), arnOf("missing"), nil), noDest)
		requireMessage(t, start(arnOf("dlq"), "", aws.Int32(0)), "InvalidParameterValue", badRate)
		requireMessage(t, start(arnOf("dlq"), "", aws.Int32(501)), "InvalidParameterValue", badRate)
		requireMessage(t, start(arnOf("dlq"), arnOf("dlq"), nil), "InvalidParameterValue", "Source queue arn and destination queue arn cannot be the same.")
		requireMessage(t, start(arnOf("dlq"), arnOf("dst.fifo"), nil), "InvalidParameterValue", "The source queue and destination queue must be of the same queue type.")

		// Both protocols, on the wire.
		raw := postJSON(t, b.srv.URL, "StartMessageMoveTask", `{"SourceArn":"`+arnOf("missing")+`"}`)
		require.Equal(t, rawResult{status: 404, code: "ResourceNotFoundException", jsonType: "com.amazonaws.sqs#ResourceNotFoundException",
			message: noSource, requestID: raw.requestID}, raw)
		raw = postQuery(t, b.srv.URL, "/", "Action=ListMessageMoveTasks&SourceArn="+url.QueryEscape(arnOf("missing")))
		require.Equal(t, 404, raw.status)
		require.Equal(t, "ResourceNotFoundException", raw.code)
		require.Equal(t, noSource, raw.message)

		list := func(source string, max *int32) ([]types.ListMessageMoveTasksResultEntry, error) {
			out, err := b.c.ListMessageMoveTasks(b.ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(source), MaxResults: max})
			if err != nil {
				return nil, err
			}
			return out.Results, nil
		}
		got, err := list(arnOf("dlq"), nil)
		require.NoError(t, err)
		require.Empty(t, got)
		_, err = list("", nil)
		requireMessage(t, err, "MissingParameter", "The request must contain the parameter SourceArn.")
		_, err = list(arnOf("missing"), nil)
		notFound(err, noSource)
		for _, n := range []int32{0, 11} {
			_, err = list(arnOf("dlq"), aws.Int32(n))
			requireMessage(t, err, "InvalidParameterValue",
				fmt.Sprintf("Value %d for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.", n))
		}

		cancel := func(handle string) error {
			_, err := b.c.CancelMessageMoveTask(b.ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: aws.String(handle)})
			return err
		}
		requireMessage(t, cancel(""), "MissingParameter", "The request must contain the parameter TaskHandle.")
		requireMessage(t, cancel("garbage!"), "InvalidParameterValue", "Value for parameter TaskHandle is invalid.")
		requireMessage(t, cancel(base64.RawURLEncoding.EncodeToString([]byte("not json"))), "InvalidParameterValue",
			"Value for parameter TaskHandle is invalid.")
		notFound(cancel(handleFor("0190a5f0-0000-7000-8000-000000000000", arnOf("missing"))), noSource)
		notFound(cancel(handleFor("0190a5f0-0000-7000-8000-000000000000", arnOf("dlq"))), "Task does not exist.")

		// A finished task cannot be cancelled.
		b.send(t, dlq, "x")
		handle := b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq")), DestinationArn: aws.String(arnOf("plain"))})
		require.Equal(t, "COMPLETED", *b.finishTask(t, "dlq").Status)
		requireCode(t, cancel(handle), "InvalidParameterValue")
	})
}

// TestMoveTaskResumesAfterRestart stops the server while a task runs, and checks that it picks
// up where it left off on the same data directory, moving every message exactly once.
func TestMoveTaskResumesAfterRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenDisk(t, dir), KeepEngine: true})
	b := &testBundle{srv: srv, c: srv.Client, ctx: t.Context()}
	dlq := b.create(t, "dlq", nil)
	b.create(t, "src", map[string]string{"RedrivePolicy": redrivePolicy("dlq", 3)})
	dst := b.create(t, "dst", nil)
	b.sendN(t, dlq, 5)
	handle := b.startMove(t, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arnOf("dlq")),
		DestinationArn: aws.String(arnOf("dst")), MaxNumberOfMessagesPerSecond: aws.Int32(2)})
	b.waitMoved(t, "dlq", 2)
	srv.Close() // stops the task's worker
	require.NoError(t, srv.Engine.Close())

	srv2 := sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenDisk(t, dir)})
	b2 := &testBundle{srv: srv2, c: srv2.Client, ctx: t.Context()}
	// The resumed worker takes a step at once, then one a second.
	task := b2.waitMoved(t, "dlq", 4)
	require.Equal(t, "RUNNING", *task.Status)
	require.Equal(t, handle, *task.TaskHandle)
	require.Equal(t, int64(5), *task.ApproximateNumberOfMessagesToMove)
	task = b2.finishTask(t, "dlq")
	require.Equal(t, "COMPLETED", *task.Status)
	require.Equal(t, int64(5), task.ApproximateNumberOfMessagesMoved)
	requireCounts(t, b2, dlq, 0, 0, 0)
	requireCounts(t, b2, dst, 5, 0, 0)
}
