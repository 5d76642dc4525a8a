// Package sdkcompat proves compatibility with a real client: every SQS action Sluice supports,
// driven through aws-sdk-go-v2 (JSON protocol) against an in-process server on each engine.
package sdkcompat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

type testBundle struct {
	srv *sluicetest.Server
	c   *sqs.Client
	ctx context.Context
}

// forEachEngine runs fn against a fresh server on every engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, b *testBundle)) {
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			srv := sluicetest.NewServer(t, sluicetest.Options{Engine: f.Open(t)})
			fn(t, &testBundle{srv: srv, c: srv.Client, ctx: context.Background()})
		})
	}
}

func (b *testBundle) create(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := b.c.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	require.NoError(t, err)
	return *out.QueueUrl
}

// requireCode checks the error code a user of the SDK sees (the legacy query code, which the
// SDK takes from the x-amzn-query-error header).
func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "not an API error: %v", err)
	require.Equal(t, code, ae.ErrorCode(), "message: %s", ae.ErrorMessage())
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "orders", map[string]string{"VisibilityTimeout": "45"})
		require.Equal(t, b.srv.QueueURL("orders"), url)

		// Same attributes: the existing URL. No attributes: always succeeds.
		require.Equal(t, url, b.create(t, "orders", map[string]string{"VisibilityTimeout": "45"}))
		require.Equal(t, url, b.create(t, "orders", nil))
		_, err := b.c.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders"),
			Attributes: map[string]string{"VisibilityTimeout": "46"}})
		requireCode(t, err, "QueueAlreadyExists")
		var qne *types.QueueNameExists
		require.ErrorAs(t, err, &qne)

		got, err := b.c.GetQueueUrl(b.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
		require.NoError(t, err)
		require.Equal(t, url, *got.QueueUrl)
		_, err = b.c.GetQueueUrl(b.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
		requireCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
		var qdne *types.QueueDoesNotExist
		require.ErrorAs(t, err, &qdne)

		_, err = b.c.DeleteQueue(b.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
		require.NoError(t, err)
		_, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url)})
		requireCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")

		// The name stays taken for 60 seconds.
		_, err = b.c.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders")})
		requireCode(t, err, "AWS.SimpleQueueService.QueueDeletedRecently")
		b.srv.Clock.Advance(61 * time.Second)
		b.create(t, "orders", nil)
	})
}

func TestCreateQueueValidation(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		for _, tc := range []struct {
			name  string
			attrs map[string]string
			code  string
		}{
			{"has/slash", nil, "InvalidParameterValue"},
			{"x" + string(make([]byte, 80)), nil, "InvalidParameterValue"},
			{"a.fifo", nil, "InvalidParameterValue"},
			{"plain", map[string]string{"FifoQueue": "true"}, "InvalidParameterValue"},
			{"plain", map[string]string{"FifoQueue": "false"}, "InvalidAttributeName"},
			{"plain", map[string]string{"Bogus": "1"}, "InvalidAttributeName"},
			{"plain", map[string]string{"VisibilityTimeout": "43201"}, "InvalidAttributeValue"},
			{"plain", map[string]string{"DelaySeconds": "-1"}, "InvalidAttributeValue"},
			{"plain", map[string]string{"MaximumMessageSize": "1023"}, "InvalidAttributeValue"},
			{"plain", map[string]string{"MessageRetentionPeriod": "59"}, "InvalidAttributeValue"},
			{"plain", map[string]string{"ReceiveMessageWaitTimeSeconds": "21"}, "InvalidAttributeValue"},
			{"plain", map[string]string{"ContentBasedDeduplication": "true"}, "InvalidAttributeName"},
			{"plain", map[string]string{"RedrivePolicy": `{"maxReceiveCount":3}`}, "InvalidParameterValue"},
			{"plain", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:missing","maxReceiveCount":3}`}, "InvalidParameterValue"},
		} {
			_, err := b.c.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String(tc.name), Attributes: tc.attrs})
			requireCode(t, err, tc.code)
		}
		list, err := b.c.ListQueues(b.ctx, &sqs.ListQueuesInput{})
		require.NoError(t, err)
		require.Empty(t, list.QueueUrls, "a rejected CreateQueue must not create a queue")
	})
}

func TestQueueAttributes(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "attrs", nil)
		out, err := b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		require.NoError(t, err)
		created := strconv.FormatInt(sluicetest.Start.Unix(), 10)
		require.Equal(t, map[string]string{
			"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0",
			"ApproximateNumberOfMessagesDelayed": "0", "CreatedTimestamp": created, "LastModifiedTimestamp": created,
			"DelaySeconds": "0", "MaximumMessageSize": "1048576", "MessageRetentionPeriod": "345600",
			"QueueArn": "arn:aws:sqs:us-east-1:000000000000:attrs", "ReceiveMessageWaitTimeSeconds": "0",
			"SqsManagedSseEnabled": "true", "VisibilityTimeout": "30",
		}, out.Attributes)

		// No names: no attributes.
		out, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url})
		require.NoError(t, err)
		require.Empty(t, out.Attributes)
		_, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"Foobar"}})
		requireCode(t, err, "InvalidAttributeName")

		b.srv.Clock.Advance(10 * time.Second)
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{
			"VisibilityTimeout": "60", "DelaySeconds": "5", "Policy": `{"Version":"2012-10-17"}`,
		}})
		require.NoError(t, err)
		out, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url,
			AttributeNames: []types.QueueAttributeName{"VisibilityTimeout", "DelaySeconds", "Policy", "LastModifiedTimestamp"}})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"VisibilityTimeout": "60", "DelaySeconds": "5", "Policy": `{"Version":"2012-10-17"}`,
			"LastModifiedTimestamp": strconv.FormatInt(sluicetest.Start.Unix()+10, 10)}, out.Attributes)

		for attrs, code := range map[string]string{
			`{"VisibilityTimeout":"x"}`: "InvalidAttributeValue",
			`{"FifoQueue":"true"}`:      "InvalidAttributeName",
			`{"QueueArn":"x"}`:          "InvalidAttributeName",
		} {
			m := map[string]string{}
			require.NoError(t, jsonUnmarshal(attrs, &m))
			_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: m})
			requireCode(t, err, code)
		}
		// An empty Policy removes it.
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{"Policy": ""}})
		require.NoError(t, err)
		out, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"All"}})
		require.NoError(t, err)
		require.NotContains(t, out.Attributes, "Policy")

		// A redrive policy to an existing queue of the same type is accepted and stored with a numeric count.
		dlq := b.create(t, "attrs-dlq", nil)
		_ = dlq
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url, Attributes: map[string]string{
			"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:attrs-dlq","maxReceiveCount":"5"}`}})
		require.NoError(t, err)
		out, err = b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{"RedrivePolicy"}})
		require.NoError(t, err)
		require.JSONEq(t, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:attrs-dlq","maxReceiveCount":5}`, out.Attributes["RedrivePolicy"])
	})
}

func TestListQueues(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		for i := range 5 {
			b.create(t, fmt.Sprintf("list-%d", i), nil)
		}
		b.create(t, "other", nil)
		out, err := b.c.ListQueues(b.ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("list-")})
		require.NoError(t, err)
		require.Len(t, out.QueueUrls, 5)
		require.Nil(t, out.NextToken, "no NextToken without MaxResults")

		var all []string
		p := sqs.NewListQueuesPaginator(b.c, &sqs.ListQueuesInput{MaxResults: aws.Int32(2)})
		for p.HasMorePages() {
			page, err := p.NextPage(b.ctx)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.QueueUrls), 2)
			all = append(all, page.QueueUrls...)
		}
		require.Len(t, all, 6)
		require.Equal(t, b.srv.QueueURL("list-0"), all[0])
		require.Equal(t, b.srv.QueueURL("other"), all[5])

		_, err = b.c.ListQueues(b.ctx, &sqs.ListQueuesInput{MaxResults: aws.Int32(1001)})
		requireCode(t, err, "InvalidParameterValue")
	})
}

func TestTags(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		out, err := b.c.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String("tagged"), Tags: map[string]string{"team": "a"}})
		require.NoError(t, err)
		url := out.QueueUrl
		_, err = b.c.TagQueue(b.ctx, &sqs.TagQueueInput{QueueUrl: url, Tags: map[string]string{"env": "dev", "Team": "b", "empty": ""}})
		require.NoError(t, err)
		tags, err := b.c.ListQueueTags(b.ctx, &sqs.ListQueueTagsInput{QueueUrl: url})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"team": "a", "Team": "b", "env": "dev", "empty": ""}, tags.Tags)
		_, err = b.c.UntagQueue(b.ctx, &sqs.UntagQueueInput{QueueUrl: url, TagKeys: []string{"team", "unknown"}})
		require.NoError(t, err)
		tags, err = b.c.ListQueueTags(b.ctx, &sqs.ListQueueTagsInput{QueueUrl: url})
		require.NoError(t, err)
		require.Equal(t, map[string]string{"Team": "b", "env": "dev", "empty": ""}, tags.Tags)
		_, err = b.c.UntagQueue(b.ctx, &sqs.UntagQueueInput{QueueUrl: url, TagKeys: []string{"Team", "env", "empty"}})
		require.NoError(t, err)
		tags, err = b.c.ListQueueTags(b.ctx, &sqs.ListQueueTagsInput{QueueUrl: url})
		require.NoError(t, err)
		require.Empty(t, tags.Tags)
	})
}

func TestSendReceiveDelete(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "work", nil)
		body := "héllo \"world\" <&>\r\n😀"
		sent, err := b.c.SendMessage(b.ctx, &sqs.SendMessageInput{
			QueueUrl: &url, MessageBody: aws.String(body),
			MessageAttributes: map[string]types.MessageAttributeValue{
				"s":  {DataType: aws.String("String"), StringValue: aws.String("v")},
				"n":  {DataType: aws.String("Number.int"), StringValue: aws.String("42")},
				"b":  {DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2, 255}},
				"cs": {DataType: aws.String("String.json"), StringValue: aws.String(`{"a":1}`)},
			},
			MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
				"AWSTraceHeader": {DataType: aws.String("String"), StringValue: aws.String("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")},
			},
		})
		require.NoError(t, err)
		require.Equal(t, queue.MD5OfBody(body), *sent.MD5OfMessageBody)
		require.Equal(t, "5ae4d5d7636402d80f4eb6d213245a88", *sent.MD5OfMessageSystemAttributes)
		require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`, *sent.MessageId)

		rcv, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"All"},
		})
		require.NoError(t, err)
		require.Len(t, rcv.Messages, 1)
		m := rcv.Messages[0]
		require.Equal(t, body, *m.Body)
		require.Equal(t, *sent.MessageId, *m.MessageId)
		require.Equal(t, *sent.MD5OfMessageAttributes, *m.MD5OfMessageAttributes)
		require.Equal(t, md5OfSDKAttributes(m.MessageAttributes), *m.MD5OfMessageAttributes)
		require.Equal(t, []byte{0, 1, 2, 255}, m.MessageAttributes["b"].BinaryValue)
		require.Equal(t, "42", *m.MessageAttributes["n"].StringValue)
		require.Equal(t, "Number.int", *m.MessageAttributes["n"].DataType)
		require.Equal(t, map[string]string{
			"SenderId": "AKIDTEST", "SentTimestamp": strconv.FormatInt(sluicetest.Start.UnixMilli(), 10),
			"ApproximateReceiveCount": "1", "ApproximateFirstReceiveTimestamp": strconv.FormatInt(sluicetest.Start.UnixMilli(), 10),
			"AWSTraceHeader": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		}, m.Attributes)

		// In flight: not received again, counted as not visible.
		again, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
		require.NoError(t, err)
		require.Empty(t, again.Messages)
		requireCounts(t, b, url, 0, 1, 0)

		_, err = b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
		require.NoError(t, err)
		// Deleting again succeeds.
		_, err = b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
		require.NoError(t, err)
		requireCounts(t, b, url, 0, 0, 0)
		b.srv.Clock.Advance(time.Minute)
		again, err = b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url})
		require.NoError(t, err)
		require.Empty(t, again.Messages, "a deleted message must not come back")

		_, err = b.c.DeleteMessage(b.ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("garbage")})
		requireCode(t, err, "ReceiptHandleIsInvalid")
		require.Contains(t, err.Error(), `The input receipt handle "garbage" is not a valid receipt handle.`)
	})
}

func requireCounts(t *testing.T, b *testBundle, url string, visible, notVisible, delayed int) {
	t.Helper()
	out, err := b.c.GetQueueAttributes(b.ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []types.QueueAttributeName{
		"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(notVisible),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
	}, out.Attributes)
}
