package sdkcompat

import (
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"
)

// TestBadCharacters sends a NUL byte, invalid UTF-8 and an encoded lone surrogate in every
// string a client controls, over the query protocol (which carries raw bytes; the JSON SDKs
// replace invalid UTF-8 before sending) and, for NUL, through the SDK: each gets the SQS error
// the queue package gives on every engine — never a 503 from a store that cannot hold the
// bytes (PostgreSQL's text holds neither NUL nor invalid UTF-8) — and nothing stored is lost.
func TestBadCharacters(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		qurl := b.create(t, "victim", nil)
		furl := b.create(t, "victim.fifo", map[string]string{"FifoQueue": "true", "ContentBasedDeduplication": "true"})
		b.send(t, qurl, "precious")
		u, err := url.Parse(qurl)
		require.NoError(t, err)
		f, err := url.Parse(furl)
		require.NoError(t, err)
		for _, bad := range []string{"a%00b", "a%FFb", "a%ED%A0%80b"} {
			policy := "%7B%22x%22%3A%22" + bad + "%22%7D" // {"x":"<bad>"}
			cases := []struct {
				name, path, body string
				status           int
				code             string
			}{
				{"CreateQueue Policy", "/", "Action=CreateQueue&QueueName=p1&Attribute.1.Name=Policy&Attribute.1.Value=" + policy, 400, "InvalidAttributeValue"},
				{"CreateQueue tag value", "/", "Action=CreateQueue&QueueName=p2&Tag.1.Key=k&Tag.1.Value=" + bad, 400, "InvalidParameterValue"},
				{"CreateQueue tag key", "/", "Action=CreateQueue&QueueName=p3&Tag.1.Key=" + bad + "&Tag.1.Value=v", 400, "InvalidParameterValue"},
				{"CreateQueue name", "/", "Action=CreateQueue&QueueName=" + bad, 400, "InvalidParameterValue"},
				{"SetQueueAttributes Policy", u.Path, "Action=SetQueueAttributes&Attribute.1.Name=Policy&Attribute.1.Value=" + policy, 400, "InvalidAttributeValue"},
				{"SetQueueAttributes KmsMasterKeyId", u.Path, "Action=SetQueueAttributes&Attribute.1.Name=KmsMasterKeyId&Attribute.1.Value=" + bad, 400, "InvalidAttributeValue"},
				{"TagQueue value", u.Path, "Action=TagQueue&Tag.1.Key=k&Tag.1.Value=" + bad, 400, "InvalidParameterValue"},
				{"TagQueue key", u.Path, "Action=TagQueue&Tag.1.Key=" + bad + "&Tag.1.Value=v", 400, "InvalidParameterValue"},
				{"UntagQueue key", u.Path, "Action=UntagQueue&TagKey.1=" + bad, 400, "InvalidParameterValue"},
				{"SendMessage body", u.Path, "Action=SendMessage&MessageBody=" + bad, 400, "InvalidMessageContents"},
				{"SendMessage attribute value", u.Path, "Action=SendMessage&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=" + bad, 400, "InvalidParameterValue"},
				{"SendMessage attribute name", u.Path, "Action=SendMessage&MessageBody=x&MessageAttribute.1.Name=" + bad + "&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v", 400, "InvalidParameterValue"},
				{"SendMessage attribute type", u.Path, "Action=SendMessage&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=String." + bad + "&MessageAttribute.1.Value.StringValue=v", 400, "InvalidParameterValue"},
				{"SendMessage AWSTraceHeader", u.Path, "Action=SendMessage&MessageBody=x&MessageSystemAttribute.1.Name=AWSTraceHeader&MessageSystemAttribute.1.Value.DataType=String&MessageSystemAttribute.1.Value.StringValue=" + bad, 400, "InvalidParameterValue"},
				{"SendMessage MessageGroupId", f.Path, "Action=SendMessage&MessageBody=x&MessageGroupId=" + bad, 400, "InvalidParameterValue"},
				{"SendMessage MessageDeduplicationId", f.Path, "Action=SendMessage&MessageBody=x&MessageGroupId=g&MessageDeduplicationId=" + bad, 400, "InvalidParameterValue"},
				{"ReceiveMessage ReceiveRequestAttemptId", f.Path, "Action=ReceiveMessage&ReceiveRequestAttemptId=" + bad, 400, "InvalidParameterValue"},
				{"DeleteMessage receipt", u.Path, "Action=DeleteMessage&ReceiptHandle=" + bad, 400, "ReceiptHandleIsInvalid"},
				{"GetQueueUrl name", "/", "Action=GetQueueUrl&QueueName=" + bad, 400, "AWS.SimpleQueueService.NonExistentQueue"},
				{"GetQueueUrl owner", "/", "Action=GetQueueUrl&QueueName=victim&QueueOwnerAWSAccountId=" + bad, 400, "AWS.SimpleQueueService.NonExistentQueue"},
				{"QueueUrl", "/", "Action=SendMessage&MessageBody=x&QueueUrl=http://x/000000000000/" + bad, 400, "AWS.SimpleQueueService.NonExistentQueue"},
				{"ListQueues prefix", "/", "Action=ListQueues&QueueNamePrefix=" + bad, 200, ""},
				{"AddPermission label", u.Path, "Action=AddPermission&Label=" + bad + "&AWSAccountId.1=111111111111&ActionName.1=SendMessage", 400, "InvalidParameterValue"},
				{"StartMessageMoveTask", "/", "Action=StartMessageMoveTask&SourceArn=arn:aws:sqs:us-east-1:000000000000:" + bad, 404, "ResourceNotFoundException"},
				{"ListMessageMoveTasks", "/", "Action=ListMessageMoveTasks&SourceArn=arn:aws:sqs:us-east-1:000000000000:" + bad, 404, "ResourceNotFoundException"},
				{"CancelMessageMoveTask", "/", "Action=CancelMessageMoveTask&TaskHandle=" + bad, 400, "InvalidParameterValue"},
			}
			for _, c := range cases {
				r := postQuery(t, b.srv.URL, c.path, c.body)
				require.Equal(t, c.status, r.status, "%s with %s: %s %s", c.name, bad, r.code, r.message)
				require.Equal(t, c.code, r.code, "%s with %s: %s", c.name, bad, r.message)
			}
		}

		// Through the SDK (JSON): NUL, which JSON carries as \u0000.
		ctx := context.Background()
		_, err = b.c.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &qurl, Tags: map[string]string{"k": "a\x00b"}})
		requireCode(t, err, "InvalidParameterValue")
		_, err = b.c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &qurl, Attributes: map[string]string{"KmsMasterKeyId": "a\x00b"}})
		requireCode(t, err, "InvalidAttributeValue")
		_, err = b.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("a\x00b")})
		requireCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
		_, err = b.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &qurl, MessageBody: aws.String("a\x00b")})
		requireCode(t, err, "InvalidMessageContents")

		// Nothing stored was lost or changed.
		got := b.receive(t, qurl, 10)
		require.Len(t, got, 1)
		require.Equal(t, "precious", *got[0].Body)
		tags, err := b.c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &qurl})
		require.NoError(t, err)
		require.Empty(t, tags.Tags)
	})
}
