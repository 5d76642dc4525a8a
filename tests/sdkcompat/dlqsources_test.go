package sdkcompat

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"
)

func redriveTo(dlq string) string {
	return `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:` + dlq + `","maxReceiveCount":3}`
}

// rawPost posts a request and returns the status and body.
func rawPost(t *testing.T, endpoint, contentType, target, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", endpoint+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestListDeadLetterSourceQueues(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		dlq := b.create(t, "dlq", nil)
		other := b.create(t, "dlq-other", nil)
		for _, n := range []string{"src-c", "src-a", "src-b"} {
			b.create(t, n, map[string]string{"RedrivePolicy": redriveTo("dlq")})
		}
		b.create(t, "plain", nil)
		b.create(t, "src-x", map[string]string{"RedrivePolicy": redriveTo("dlq-other")})
		// A policy set after creation counts too.
		late := b.create(t, "src-d", nil)
		_, err := b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &late,
			Attributes: map[string]string{"RedrivePolicy": redriveTo("dlq")}})
		require.NoError(t, err)

		out, err := b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq})
		require.NoError(t, err)
		require.Equal(t, []string{b.srv.QueueURL("src-a"), b.srv.QueueURL("src-b"), b.srv.QueueURL("src-c"), b.srv.QueueURL("src-d")}, out.QueueUrls)
		require.Nil(t, out.NextToken, "no NextToken without MaxResults")

		out, err = b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &other})
		require.NoError(t, err)
		require.Equal(t, []string{b.srv.QueueURL("src-x")}, out.QueueUrls)

		// Pagination.
		var pages [][]string
		p := sqs.NewListDeadLetterSourceQueuesPaginator(b.c, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq, MaxResults: aws.Int32(3)})
		for p.HasMorePages() {
			page, err := p.NextPage(b.ctx)
			require.NoError(t, err)
			pages = append(pages, page.QueueUrls)
		}
		require.Equal(t, [][]string{
			{b.srv.QueueURL("src-a"), b.srv.QueueURL("src-b"), b.srv.QueueURL("src-c")},
			{b.srv.QueueURL("src-d")},
		}, pages)
		first, err := b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq, MaxResults: aws.Int32(2)})
		require.NoError(t, err)
		require.Len(t, first.QueueUrls, 2)
		require.NotNil(t, first.NextToken)
		exact, err := b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq, MaxResults: aws.Int32(4)})
		require.NoError(t, err)
		require.Len(t, exact.QueueUrls, 4)
		require.Nil(t, exact.NextToken, "no NextToken when nothing remains")

		for _, n := range []int32{0, -1, 1001} {
			_, err = b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq, MaxResults: aws.Int32(n)})
			requireCode(t, err, "InvalidParameterValue")
		}
		_, err = b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq, NextToken: aws.String("!!!")})
		requireCode(t, err, "InvalidParameterValue")
		_, err = b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: aws.String(b.srv.QueueURL("nope"))})
		requireCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")

		// Removing a redrive policy, or deleting the source, takes the queue off the list.
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &late,
			Attributes: map[string]string{"RedrivePolicy": ""}})
		require.NoError(t, err)
		_, err = b.c.DeleteQueue(b.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(b.srv.QueueURL("src-b"))})
		require.NoError(t, err)
		out, err = b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlq})
		require.NoError(t, err)
		require.Equal(t, []string{b.srv.QueueURL("src-a"), b.srv.QueueURL("src-c")}, out.QueueUrls)

		// A queue nothing targets: an empty list, and queueUrls is still present on the wire.
		plain := b.srv.QueueURL("plain")
		out, err = b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &plain})
		require.NoError(t, err)
		require.Empty(t, out.QueueUrls)
		status, body := rawPost(t, b.srv.URL, "application/x-amz-json-1.0", "AmazonSQS.ListDeadLetterSourceQueues", `{"QueueUrl":"`+plain+`"}`)
		require.Equal(t, 200, status, body)
		require.JSONEq(t, `{"queueUrls":[]}`, body)
		status, body = rawPost(t, b.srv.URL, "application/x-amz-json-1.0", "AmazonSQS.ListDeadLetterSourceQueues",
			`{"QueueUrl":"`+dlq+`","MaxResults":1}`)
		require.Equal(t, 200, status, body)
		require.Contains(t, body, `"queueUrls":["`+b.srv.QueueURL("src-a")+`"]`)
		require.Contains(t, body, `"NextToken":`)

		// Query: flattened QueueUrl elements.
		status, body = rawPost(t, b.srv.URL, "application/x-www-form-urlencoded", "",
			url.Values{"Action": {"ListDeadLetterSourceQueues"}, "QueueUrl": {dlq}}.Encode())
		require.Equal(t, 200, status, body)
		require.Contains(t, body, "<ListDeadLetterSourceQueuesResult><QueueUrl>"+b.srv.QueueURL("src-a")+"</QueueUrl><QueueUrl>"+
			b.srv.QueueURL("src-c")+"</QueueUrl></ListDeadLetterSourceQueuesResult>")
	})
}

func TestRedriveAllowPolicy(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		const arn = "arn:aws:sqs:us-east-1:000000000000:"
		b.create(t, "dlq-deny", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"denyAll"}`})
		b.create(t, "dlq-by", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"byQueue","sourceQueueArns":["` +
			arn + `allowed-new","` + arn + `allowed-old"]}`})
		b.create(t, "dlq-all", map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"allowAll"}`})
		b.create(t, "dlq-none", nil)
		b.create(t, "allowed-old", nil)
		b.create(t, "plain", nil)

		const reason = "Reason: Dead-letter queue's redrive allow policy doesn't allow this source queue."
		for _, tc := range []struct {
			dlq, source string
			ok          bool
		}{
			{"dlq-deny", "plain", false},
			{"dlq-by", "plain", false},
			{"dlq-by", "allowed-old", true},
			{"dlq-all", "plain", true},
			{"dlq-none", "plain", true},
		} {
			// SetQueueAttributes on an existing queue.
			qurl := b.srv.QueueURL(tc.source)
			_, err := b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &qurl,
				Attributes: map[string]string{"RedrivePolicy": redriveTo(tc.dlq)}})
			if tc.ok {
				require.NoError(t, err, "%s -> %s", tc.source, tc.dlq)
				_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &qurl,
					Attributes: map[string]string{"RedrivePolicy": ""}})
				require.NoError(t, err)
			} else {
				requireMessage(t, err, "InvalidParameterValue", "Value "+redriveTo(tc.dlq)+" for parameter RedrivePolicy is invalid. "+reason)
			}
		}

		// CreateQueue.
		for _, tc := range []struct {
			dlq, source string
			ok          bool
		}{
			{"dlq-deny", "new-1", false},
			{"dlq-by", "new-2", false},
			{"dlq-by", "allowed-new", true},
			{"dlq-all", "new-3", true},
			{"dlq-none", "new-4", true},
		} {
			_, err := b.c.CreateQueue(b.ctx, &sqs.CreateQueueInput{QueueName: aws.String(tc.source),
				Attributes: map[string]string{"RedrivePolicy": redriveTo(tc.dlq)}})
			if tc.ok {
				require.NoError(t, err, "%s -> %s", tc.source, tc.dlq)
				continue
			}
			requireMessage(t, err, "InvalidParameterValue", reason)
			_, err = b.c.GetQueueUrl(b.ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(tc.source)})
			requireCode(t, err, "AWS.SimpleQueueService.NonExistentQueue")
		}

		// The policy is checked when a source names its dead-letter queue, not afterwards: a
		// source already configured keeps working when the DLQ's policy tightens.
		dlqAll := b.srv.QueueURL("dlq-all")
		_, err := b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &dlqAll,
			Attributes: map[string]string{"RedriveAllowPolicy": `{"redrivePermission":"denyAll"}`}})
		require.NoError(t, err)
		src := b.srv.QueueURL("new-3")
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &src,
			Attributes: map[string]string{"VisibilityTimeout": "10"}})
		require.NoError(t, err)
		out, err := b.c.ListDeadLetterSourceQueues(b.ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlqAll})
		require.NoError(t, err)
		require.Equal(t, []string{src}, out.QueueUrls)
		// Setting the same redrive policy again is checked like a new one.
		_, err = b.c.SetQueueAttributes(b.ctx, &sqs.SetQueueAttributesInput{QueueUrl: &src,
			Attributes: map[string]string{"RedrivePolicy": redriveTo("dlq-all")}})
		requireMessage(t, err, "InvalidParameterValue", reason)
	})
}
