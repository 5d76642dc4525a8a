package sdkcompat

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

// TestAccountIsolation: Bob tries every action on Alice's queue and is refused each time;
// each account lists only its own queues; nothing of Alice's changes.
func TestAccountIsolation(t *testing.T) {
	t.Parallel()
	forEachEngineAuth(t, func(t *testing.T, b *authBundle) {
		ctx := b.ctx
		q, err := b.alice.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("private")})
		require.NoError(t, err)
		dlq, err := b.alice.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("private-dlq")})
		require.NoError(t, err)
		url := q.QueueUrl
		_, err = b.alice.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("secret")})
		require.NoError(t, err)
		missing := aws.String(b.srv.URL + "/" + aliceAccount + "/no-such-queue")
		arn := "arn:aws:sqs:us-east-1:" + aliceAccount + ":private-dlq"

		denied := map[string]func() error{
			"SendMessage": func() error {
				_, err := b.bob.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("x")})
				return err
			},
			"SendMessage to a missing queue": func() error {
				_, err := b.bob.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: missing, MessageBody: aws.String("x")})
				return err
			},
			"SendMessageBatch": func() error {
				_, err := b.bob.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url,
					Entries: []types.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("x")}}})
				return err
			},
			"ReceiveMessage": func() error {
				_, err := b.bob.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url})
				return err
			},
			"DeleteMessage": func() error {
				_, err := b.bob.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String("AAAA")})
				return err
			},
			"DeleteMessageBatch": func() error {
				_, err := b.bob.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: url,
					Entries: []types.DeleteMessageBatchRequestEntry{{Id: aws.String("1"), ReceiptHandle: aws.String("AAAA")}}})
				return err
			},
			"ChangeMessageVisibility": func() error {
				_, err := b.bob.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: aws.String("AAAA")})
				return err
			},
			"ChangeMessageVisibilityBatch": func() error {
				_, err := b.bob.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: url,
					Entries: []types.ChangeMessageVisibilityBatchRequestEntry{{Id: aws.String("1"), ReceiptHandle: aws.String("AAAA")}}})
				return err
			},
			"DeleteQueue": func() error {
				_, err := b.bob.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: url})
				return err
			},
			"PurgeQueue": func() error {
				_, err := b.bob.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: url})
				return err
			},
			"GetQueueAttributes": func() error {
				_, err := b.bob.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []types.QueueAttributeName{"All"}})
				return err
			},
			"SetQueueAttributes": func() error {
				_, err := b.bob.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url, Attributes: map[string]string{"VisibilityTimeout": "1"}})
				return err
			},
			"GetQueueUrl": func() error {
				_, err := b.bob.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("private"), QueueOwnerAWSAccountId: aws.String(aliceAccount)})
				return err
			},
			"TagQueue": func() error {
				_, err := b.bob.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: url, Tags: map[string]string{"a": "b"}})
				return err
			},
			"UntagQueue": func() error {
				_, err := b.bob.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: url, TagKeys: []string{"a"}})
				return err
			},
			"ListQueueTags": func() error {
				_, err := b.bob.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: url})
				return err
			},
			"AddPermission": func() error {
				_, err := b.bob.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: url, Label: aws.String("mine"),
					AWSAccountIds: []string{bobAccount}, Actions: []string{"ReceiveMessage"}})
				return err
			},
			"RemovePermission": func() error {
				_, err := b.bob.RemovePermission(ctx, &sqs.RemovePermissionInput{QueueUrl: url, Label: aws.String("x")})
				return err
			},
			"ListDeadLetterSourceQueues": func() error {
				_, err := b.bob.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: dlq.QueueUrl})
				return err
			},
		}
		for name, call := range denied {
			t.Run(name, func(t *testing.T) { requireCode(t, call(), "AccessDenied") })
		}
		// Move tasks name queues by ARN: another account's are not found.
		_, err = b.bob.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arn)})
		requireCode(t, err, "ResourceNotFoundException")
		_, err = b.bob.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(arn)})
		requireCode(t, err, "ResourceNotFoundException")
		// A redrive policy cannot point into another account.
		_, err = b.bob.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("src"), Attributes: map[string]string{
			"RedrivePolicy": `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":3}`}})
		requireCode(t, err, "InvalidParameterValue")

		// Namespaces: the same name is another queue in Bob's account; lists are per account.
		bq, err := b.bob.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("private")})
		require.NoError(t, err)
		require.Equal(t, b.srv.URL+"/"+bobAccount+"/private", *bq.QueueUrl)
		bl, err := b.bob.ListQueues(ctx, &sqs.ListQueuesInput{})
		require.NoError(t, err)
		require.Equal(t, []string{*bq.QueueUrl}, bl.QueueUrls)
		al, err := b.alice.ListQueues(ctx, &sqs.ListQueuesInput{})
		require.NoError(t, err)
		require.ElementsMatch(t, []string{*url, *dlq.QueueUrl}, al.QueueUrls)
		own, err := b.bob.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("private")})
		require.NoError(t, err)
		require.Equal(t, *bq.QueueUrl, *own.QueueUrl)

		// Alice's message is still there, untouched.
		out, err := b.alice.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Len(t, out.Messages, 1)
		require.Equal(t, "secret", *out.Messages[0].Body)
	})
}

// TestCrossAccountPermission: AddPermission lets Bob send to Alice's queue (and nothing more);
// RemovePermission takes it back.
func TestCrossAccountPermission(t *testing.T) {
	t.Parallel()
	forEachEngineAuth(t, func(t *testing.T, b *authBundle) {
		ctx := b.ctx
		q, err := b.alice.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("inbox")})
		require.NoError(t, err)
		url := q.QueueUrl
		_, err = b.alice.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: url, Label: aws.String("bob-sends"),
			AWSAccountIds: []string{bobAccount}, Actions: []string{"SendMessage", "GetQueueUrl"}})
		require.NoError(t, err)

		got, err := b.bob.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("inbox"), QueueOwnerAWSAccountId: aws.String(aliceAccount)})
		require.NoError(t, err)
		require.Equal(t, *url, *got.QueueUrl)
		_, err = b.bob.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("from bob")})
		require.NoError(t, err)
		_, err = b.bob.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url,
			Entries: []types.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("batch from bob")}}})
		require.NoError(t, err, "SendMessage covers SendMessageBatch")
		_, err = b.bob.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url})
		requireCode(t, err, "AccessDenied")
		_, err = b.bob.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: url})
		requireCode(t, err, "AccessDenied")

		out, err := b.alice.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{"SenderId"}})
		require.NoError(t, err)
		require.Len(t, out.Messages, 2)
		for _, m := range out.Messages {
			require.Equal(t, bob.AccessKeyID, m.Attributes["SenderId"])
		}

		// "*" grants every action AddPermission can grant, receive included.
		_, err = b.alice.AddPermission(ctx, &sqs.AddPermissionInput{QueueUrl: url, Label: aws.String("bob-all"),
			AWSAccountIds: []string{bobAccount}, Actions: []string{"*"}})
		require.NoError(t, err)
		_, err = b.bob.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url})
		require.NoError(t, err)
		_, err = b.bob.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url, Attributes: map[string]string{"VisibilityTimeout": "1"}})
		requireCode(t, err, "AccessDenied")

		for _, l := range []string{"bob-sends", "bob-all"} {
			_, err = b.alice.RemovePermission(ctx, &sqs.RemovePermissionInput{QueueUrl: url, Label: aws.String(l)})
			require.NoError(t, err)
		}
		_, err = b.bob.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("again")})
		requireCode(t, err, "AccessDenied")

		// A policy set directly with an explicit Deny wins over an Allow.
		policy := `{"Version":"2012-10-17","Statement":[` +
			`{"Effect":"Allow","Principal":"*","Action":"sqs:*","Resource":"*"},` +
			`{"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::` + bobAccount + `:root"]},"Action":"SQS:SendMessage"}]}`
		_, err = b.alice.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url, Attributes: map[string]string{"Policy": policy}})
		require.NoError(t, err)
		_, err = b.bob.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String("denied")})
		requireCode(t, err, "AccessDenied")
		_, err = b.bob.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url})
		require.NoError(t, err, "the Allow still grants what the Deny does not name")
	})
}
