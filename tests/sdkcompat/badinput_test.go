package sdkcompat

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"
)

// rawResult is what a client sees of an error response in either protocol.
type rawResult struct {
	status    int
	code      string // query: <Code>; JSON: x-amzn-query-error code
	jsonType  string // JSON: __type
	message   string
	requestID string
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func postJSON(t *testing.T, endpoint, action, body string) rawResult {
	t.Helper()
	req, err := http.NewRequest("POST", endpoint+"/", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := rawResult{status: resp.StatusCode, requestID: resp.Header.Get("x-amzn-RequestId")}
	if qe := resp.Header.Get("x-amzn-query-error"); qe != "" {
		r.code, _, _ = strings.Cut(qe, ";")
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if resp.StatusCode != 200 {
		require.NoError(t, json.Unmarshal(b, &e), "error body must be JSON: %s", b)
	}
	r.jsonType, r.message = e.Type, e.Message
	return r
}

func postQuery(t *testing.T, endpoint, path, body string) rawResult {
	t.Helper()
	req, err := http.NewRequest("POST", endpoint+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := rawResult{status: resp.StatusCode}
	if resp.StatusCode != 200 {
		var e struct {
			Error struct {
				Type    string `xml:"Type"`
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
			RequestID string `xml:"RequestId"`
		}
		require.NoError(t, xml.Unmarshal(b, &e), "error body must be XML: %s", b)
		r.code, r.message, r.requestID = e.Error.Code, e.Error.Message, e.RequestID
		require.Equal(t, "Sender", e.Error.Type)
	}
	return r
}

// TestBadInput sends malformed and hostile requests in both protocols and checks that each gets
// the exact SQS error (never a 500, a panic or a hang) and that a message stored before is still
// there afterwards.
func TestBadInput(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		qurl := b.create(t, "victim", nil)
		b.send(t, qurl, "precious")
		ep := b.srv.URL
		huge := strings.Repeat("x", 6<<20)
		bigEntry := strings.Repeat("y", 900<<10)

		jsonCases := []struct {
			name, action, body string
			status             int
			code               string
		}{
			{"malformed json", "CreateQueue", `{"QueueName":`, 400, "SerializationException"},
			{"json array", "CreateQueue", `[1,2]`, 400, "SerializationException"},
			{"wrong type", "CreateQueue", `{"QueueName":5}`, 400, "SerializationException"},
			{"wrong type int", "ReceiveMessage", `{"QueueUrl":"` + qurl + `","MaxNumberOfMessages":"ten"}`, 400, "SerializationException"},
			{"trailing garbage", "ListQueues", `{} {}`, 400, "SerializationException"},
			{"unknown action", "FooBar", `{}`, 400, "UnknownOperationException"},
			{"missing name", "CreateQueue", `{}`, 400, "MissingParameter"},
			{"missing url", "SendMessage", `{"MessageBody":"x"}`, 400, "MissingParameter"},
			{"missing body", "SendMessage", `{"QueueUrl":"` + qurl + `"}`, 400, "MissingParameter"},
			{"unknown queue", "SendMessage", `{"QueueUrl":"http://x/000000000000/nope","MessageBody":"x"}`, 400, "AWS.SimpleQueueService.NonExistentQueue"},
			{"garbage url", "SendMessage", `{"QueueUrl":"::::","MessageBody":"x"}`, 400, "AWS.SimpleQueueService.NonExistentQueue"},
			{"out of range", "ReceiveMessage", `{"QueueUrl":"` + qurl + `","MaxNumberOfMessages":0}`, 400, "InvalidParameterValue"},
			{"negative wait", "ReceiveMessage", `{"QueueUrl":"` + qurl + `","WaitTimeSeconds":-1}`, 400, "InvalidParameterValue"},
			{"huge int", "ReceiveMessage", `{"QueueUrl":"` + qurl + `","MaxNumberOfMessages":99999999999999999999}`, 400, "SerializationException"},
			{"bad handle", "DeleteMessage", `{"QueueUrl":"` + qurl + `","ReceiptHandle":"AAAA"}`, 400, "ReceiptHandleIsInvalid"},
			{"missing vis", "ChangeMessageVisibility", `{"QueueUrl":"` + qurl + `","ReceiptHandle":"AAAA"}`, 400, "ReceiptHandleIsInvalid"},
			{"bad binary attr", "SendMessage", `{"QueueUrl":"` + qurl + `","MessageBody":"x","MessageAttributes":{"b":{"DataType":"Binary","BinaryValue":"!!!"}}}`, 400, "SerializationException"},
			{"several MiB body", "SendMessage", `{"QueueUrl":"` + qurl + `","MessageBody":"` + huge + `"}`, 400, "InvalidParameterValue"},
			{"several MiB batch", "SendMessageBatch", `{"QueueUrl":"` + qurl + `","Entries":[{"Id":"a","MessageBody":"` + huge + `"}]}`, 400, "AWS.SimpleQueueService.BatchRequestTooLong"},
			{"batch just over 1 MiB", "SendMessageBatch", `{"QueueUrl":"` + qurl + `","Entries":[{"Id":"a","MessageBody":"` + bigEntry + `"},{"Id":"b","MessageBody":"` + bigEntry + `"}]}`, 400, "AWS.SimpleQueueService.BatchRequestTooLong"},
			{"empty batch", "DeleteMessageBatch", `{"QueueUrl":"` + qurl + `","Entries":[]}`, 400, "AWS.SimpleQueueService.EmptyBatchRequest"},
			{"null entries", "SendMessageBatch", `{"QueueUrl":"` + qurl + `","Entries":null}`, 400, "AWS.SimpleQueueService.EmptyBatchRequest"},
			{"bad attribute names", "GetQueueAttributes", `{"QueueUrl":"` + qurl + `","AttributeNames":["Nope"]}`, 400, "InvalidAttributeName"},
		}
		for _, tc := range jsonCases {
			r := postJSON(t, ep, tc.action, tc.body)
			require.Equal(t, tc.status, r.status, "json %s: %+v", tc.name, r)
			require.Equal(t, tc.code, r.code, "json %s: %+v", tc.name, r)
			require.NotEmpty(t, r.jsonType, tc.name)
			require.NotEmpty(t, r.requestID, tc.name)
		}

		queuePath := "/000000000000/victim"
		form := func(kv ...string) string {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Add(kv[i], kv[i+1])
			}
			return v.Encode()
		}
		queryCases := []struct {
			name, path, body string
			status           int
			code             string
		}{
			{"unknown action", "/", form("Action", "FooBar"), 400, "InvalidAction"},
			{"no action", "/", form("QueueName", "x"), 400, "InvalidAction"},
			{"create on queue url", queuePath, form("Action", "CreateQueue", "QueueName", "x"), 400, "InvalidAction"},
			{"form-breaking body", "/", "Action=CreateQueue&QueueName=%zz", 400, "MalformedQueryString"},
			{"not a number", queuePath, form("Action", "ReceiveMessage", "MaxNumberOfMessages", "abc"), 400, "InvalidParameterValue"},
			{"out of range", queuePath, form("Action", "ReceiveMessage", "MaxNumberOfMessages", "11"), 400, "InvalidParameterValue"},
			{"missing body", queuePath, form("Action", "SendMessage"), 400, "MissingParameter"},
			{"bad base64", queuePath, form("Action", "SendMessage", "MessageBody", "x", "MessageAttribute.1.Name", "b",
				"MessageAttribute.1.Value.DataType", "Binary", "MessageAttribute.1.Value.BinaryValue", "!!!"), 400, "InvalidParameterValue"},
			{"bad chars", queuePath, form("Action", "SendMessage", "MessageBody", "a\x00b"), 400, "InvalidMessageContents"},
			{"unknown queue", "/000000000000/nope", form("Action", "SendMessage", "MessageBody", "x"), 400, "AWS.SimpleQueueService.NonExistentQueue"},
			{"too many entries", queuePath, form("Action", "DeleteMessageBatch",
				"DeleteMessageBatchRequestEntry.1.Id", "a", "DeleteMessageBatchRequestEntry.1.ReceiptHandle", "h",
				"DeleteMessageBatchRequestEntry.11.Id", "b", "DeleteMessageBatchRequestEntry.11.ReceiptHandle", "h",
				"DeleteMessageBatchRequestEntry.2.Id", "a", "DeleteMessageBatchRequestEntry.2.ReceiptHandle", "h"), 400, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"},
			{"several MiB", queuePath, form("Action", "SendMessage", "MessageBody", huge), 400, "InvalidParameterValue"},
			{"several MiB batch", queuePath, form("Action", "SendMessageBatch", "SendMessageBatchRequestEntry.1.Id", "a",
				"SendMessageBatchRequestEntry.1.MessageBody", huge), 400, "AWS.SimpleQueueService.BatchRequestTooLong"},
		}
		for _, tc := range queryCases {
			r := postQuery(t, ep, tc.path, tc.body)
			require.Equal(t, tc.status, r.status, "query %s: %+v", tc.name, r)
			require.Equal(t, tc.code, r.code, "query %s: %+v", tc.name, r)
			require.NotEmpty(t, r.requestID, tc.name)
		}

		// XML-breaking content round-trips through the query protocol.
		nasty := `]]></Body><Body>evil</Body>"'&<x>` + "\r\n"
		r := postQuery(t, ep, queuePath, form("Action", "SendMessage", "MessageBody", nasty))
		require.Equal(t, 200, r.status)
		resp, err := httpClient.Post(ep+queuePath, "application/x-www-form-urlencoded",
			bytes.NewBufferString(form("Action", "ReceiveMessage", "MaxNumberOfMessages", "10", "VisibilityTimeout", "0")))
		require.NoError(t, err)
		defer resp.Body.Close()
		var rr struct {
			Messages []struct {
				Body string `xml:"Body"`
			} `xml:"ReceiveMessageResult>Message"`
		}
		require.NoError(t, xml.NewDecoder(resp.Body).Decode(&rr))
		var bodies []string
		for _, m := range rr.Messages {
			bodies = append(bodies, m.Body)
		}
		require.ElementsMatch(t, []string{"precious", nasty}, bodies)

		// Nothing stored was lost.
		requireCounts(t, b, qurl, 2, 0, 0)
		out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(qurl), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Len(t, out.Messages, 2)
	})
}
