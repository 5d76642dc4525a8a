package sdkcompat

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"sluice/internal/sluicetest"
)

// TestRestart sends messages with attributes to the disk engine, receives some, stops the
// server and its engine, starts them again on the same data dir, and receives every message
// exactly once with its body, attributes and receive count intact.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 50
	srv := sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenDisk(t, dir), KeepEngine: true})
	b := &testBundle{srv: srv, c: srv.Client, ctx: t.Context()}
	url := b.create(t, "durable", map[string]string{"VisibilityTimeout": "10"})
	_, err := b.c.TagQueue(b.ctx, &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"k": "v"}})
	require.NoError(t, err)
	sent := map[string]string{}
	for i := range n {
		body := fmt.Sprintf("message %d", i)
		out, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"i":   str("Number", fmt.Sprint(i)),
				"bin": {DataType: aws.String("Binary"), BinaryValue: []byte{byte(i), 0xff}},
			}})
		require.NoError(t, err)
		sent[*out.MessageId] = body
	}
	// Receive ten (receive count 1) and delete five of them.
	first, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10})
	require.NoError(t, err)
	require.Len(t, first.Messages, 10)
	for _, m := range first.Messages[:5] {
		_, err := b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
		require.NoError(t, err)
		delete(sent, *m.MessageId)
	}
	inFlight := map[string]bool{}
	for _, m := range first.Messages[5:] {
		inFlight[*m.MessageId] = true
	}
	srv.Close()
	require.NoError(t, srv.Engine.Close())

	srv2 := sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenDisk(t, dir)})
	b2 := &testBundle{srv: srv2, c: srv2.Client, ctx: t.Context()}
	tags, err := b2.c.ListQueueTags(b2.ctx, &sqs.ListQueueTagsInput{QueueUrl: aws.String(srv2.QueueURL("durable"))})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"k": "v"}, tags.Tags)
	url2 := srv2.QueueURL("durable")
	// The in-flight five are still invisible until their timeout passes.
	requireCounts(t, b2, url2, n-10, 5, 0)
	srv2.Clock.Advance(11 * time.Second)

	got := map[string]bool{}
	for {
		out, err := b2.c.ReceiveMessage(b2.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url2, MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"ApproximateReceiveCount"}})
		require.NoError(t, err)
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			require.False(t, got[*m.MessageId], "received twice: %s", *m.MessageId)
			got[*m.MessageId] = true
			require.Equal(t, sent[*m.MessageId], *m.Body)
			var i int
			_, err := fmt.Sscan(*m.MessageAttributes["i"].StringValue, &i)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("message %d", i), *m.Body)
			require.Equal(t, []byte{byte(i), 0xff}, m.MessageAttributes["bin"].BinaryValue)
			require.Equal(t, md5OfSDKAttributes(m.MessageAttributes), *m.MD5OfMessageAttributes)
			wantCount := "1"
			if inFlight[*m.MessageId] {
				wantCount = "2"
			}
			require.Equal(t, wantCount, m.Attributes["ApproximateReceiveCount"], "receive count of %s", *m.Body)
		}
	}
	require.Len(t, got, len(sent))
}

// TestRestartFIFO checks that a FIFO queue's deduplication window, group order and group
// blocking survive a restart of the disk engine.
func TestRestartFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenDisk(t, dir), KeepEngine: true})
	b := &testBundle{srv: srv, c: srv.Client, ctx: t.Context()}
	url := b.create(t, "pay.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
	first := b.sendFIFO(t, url, "a-1", "a", "")
	b.sendFIFO(t, url, "a-2", "a", "")
	b.sendFIFO(t, url, "b-1", "b", "")
	inFlight := b.receive(t, url, 1) // a-1: group a blocked
	require.Equal(t, []string{"a-1"}, bodies(inFlight))
	srv.Close()
	require.NoError(t, srv.Engine.Close())

	srv2 := sluicetest.NewServer(t, sluicetest.Options{Engine: sluicetest.OpenDisk(t, dir)})
	b2 := &testBundle{srv: srv2, c: srv2.Client, ctx: t.Context()}
	url2 := srv2.QueueURL("pay.fifo")
	again := b2.sendFIFO(t, url2, "a-1", "a", "")
	require.Equal(t, *first.MessageId, *again.MessageId, "the deduplication window survives a restart")
	require.Equal(t, []string{"b-1"}, bodies(b2.receive(t, url2, 10)), "group a is still blocked by its in-flight message")
	srv2.Clock.Advance(31 * time.Second)
	require.Equal(t, []string{"a-1", "a-2", "b-1"}, bodies(b2.receive(t, url2, 10)), "group order survives a restart")
	next := b2.sendFIFO(t, url2, "a-3", "a", "")
	require.Greater(t, *next.SequenceNumber, *first.SequenceNumber)
}
