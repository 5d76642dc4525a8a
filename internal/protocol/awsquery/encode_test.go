package awsquery

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

const testRequestID = "00000000-0000-4000-8000-000000000001"

// encodeCase is a representative output of an action.
type encodeCase struct {
	name   string
	action string
	out    any
}

func encodeCases() []encodeCase {
	const url2 = "http://localhost:9324/000000000000/q2.fifo"
	return []encodeCase{
		{"CreateQueue", "CreateQueue", &queue.CreateQueueOutput{QueueUrl: testQueueURL}},
		{"GetQueueUrl", "GetQueueUrl", &queue.GetQueueUrlOutput{QueueUrl: testQueueURL}},
		{"ListQueues", "ListQueues", &queue.ListQueuesOutput{QueueUrls: []string{testQueueURL, url2}, NextToken: "dG9rZW4="}},
		{"ListQueues_empty", "ListQueues", &queue.ListQueuesOutput{}},
		{"DeleteQueue", "DeleteQueue", &queue.Empty{}},
		{"GetQueueAttributes", "GetQueueAttributes", &queue.GetQueueAttributesOutput{Attributes: map[string]string{
			"VisibilityTimeout":           "30",
			"QueueArn":                    "arn:aws:sqs:us-east-1:000000000000:q1",
			"RedrivePolicy":               `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":3}`,
			"ApproximateNumberOfMessages": "0",
		}}},
		{"SetQueueAttributes", "SetQueueAttributes", &queue.Empty{}},
		{"PurgeQueue", "PurgeQueue", &queue.Empty{}},
		{"TagQueue", "TagQueue", &queue.Empty{}},
		{"UntagQueue", "UntagQueue", &queue.Empty{}},
		{"ListQueueTags", "ListQueueTags", &queue.ListQueueTagsOutput{Tags: map[string]string{"team": "core", "empty": ""}}},
		{"SendMessage", "SendMessage", &queue.SendMessageOutput{
			MD5OfMessageBody:             "5d41402abc4b2a76b9719d911017c592",
			MD5OfMessageAttributes:       "235c5c510d26fb653d073faed50ae77c",
			MD5OfMessageSystemAttributes: "f0e5b5e2f5a5a0bc63a2c5c8a1a0b0b1",
			MessageId:                    "5fea7756-0ea4-451a-a703-a558b933e274",
			SequenceNumber:               "18849496460467696128",
		}},
		{"SendMessageBatch", "SendMessageBatch", &queue.SendMessageBatchOutput{
			Successful: []queue.SendMessageBatchResultEntry{
				{Id: "a", MessageId: "5fea7756-0ea4-451a-a703-a558b933e274", MD5OfMessageBody: "5d41402abc4b2a76b9719d911017c592",
					MD5OfMessageAttributes: "235c5c510d26fb653d073faed50ae77c"},
				{Id: "c", MessageId: "6fea7756-0ea4-451a-a703-a558b933e274", MD5OfMessageBody: "7d793037a0760186574b0282f2f435e7"},
			},
			Failed: []queue.BatchResultErrorEntry{{Id: "b", SenderFault: true, Code: "InvalidParameterValue",
				Message: "One or more parameters cannot be validated. Reason: Message must be shorter than 1024 bytes."}},
		}},
		{"ReceiveMessage", "ReceiveMessage", &queue.ReceiveMessageOutput{Messages: []queue.Message{{
			MessageId:     "5fea7756-0ea4-451a-a703-a558b933e274",
			ReceiptHandle: "AQEB+x/Zn==",
			MD5OfBody:     "a0ae7bd4e5fbb4e5c6a3f1c4cbb2b0b4",
			Body:          "say \"hi\" & <bye>\r\n\ttab 😀",
			Attributes: map[string]string{"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1",
				"SenderId": "AIDAEXAMPLE", "MessageGroupId": "g1"},
			MD5OfMessageAttributes: "235c5c510d26fb653d073faed50ae77c",
			MessageAttributes: map[string]queue.MessageAttributeValue{
				"s":   {DataType: "String", StringValue: new("v")},
				"n":   {DataType: "Number", StringValue: new("1493147359900")},
				"bin": {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 0xff, 0xff}},
			},
		}, {
			MessageId:     "6fea7756-0ea4-451a-a703-a558b933e274",
			ReceiptHandle: "AQEBsecond",
			MD5OfBody:     "7d793037a0760186574b0282f2f435e7",
			Body:          "plain",
		}}}},
		{"ReceiveMessage_empty", "ReceiveMessage", &queue.ReceiveMessageOutput{}},
		{"DeleteMessage", "DeleteMessage", &queue.Empty{}},
		{"DeleteMessageBatch", "DeleteMessageBatch", &queue.DeleteMessageBatchOutput{
			Successful: []queue.DeleteMessageBatchResultEntry{{Id: "a"}, {Id: "c"}},
			Failed: []queue.BatchResultErrorEntry{{Id: "b", SenderFault: true, Code: "ReceiptHandleIsInvalid",
				Message: `The input receipt handle "garbage" is not a valid receipt handle.`}},
		}},
		{"ChangeMessageVisibility", "ChangeMessageVisibility", &queue.Empty{}},
		{"AddPermission", "AddPermission", &queue.Empty{}},
		{"RemovePermission", "RemovePermission", &queue.Empty{}},
		// Flattened QueueUrl elements, like ListQueues.
		{"ListDeadLetterSourceQueues", "ListDeadLetterSourceQueues", &queue.ListDeadLetterSourceQueuesOutput{
			QueueUrls: []string{testQueueURL, "http://localhost:9324/000000000000/q3"}, NextToken: "cTM"}},
		// The service returns an empty, non-nil list (JSON needs "queueUrls":[]); the query
		// encoding of nil and empty is the same <ListDeadLetterSourceQueuesResult/>, and nil is
		// what reads back.
		{"ListDeadLetterSourceQueues_empty", "ListDeadLetterSourceQueues", &queue.ListDeadLetterSourceQueuesOutput{}},
		{"StartMessageMoveTask", "StartMessageMoveTask", &queue.StartMessageMoveTaskOutput{TaskHandle: "eyJ0YXNrSWQiOiJ4In0"}},
		{"CancelMessageMoveTask", "CancelMessageMoveTask", &queue.CancelMessageMoveTaskOutput{ApproximateNumberOfMessagesMoved: 3}},
		// Flattened result entries; members absent for a finished task are omitted.
		{"ListMessageMoveTasks", "ListMessageMoveTasks", &queue.ListMessageMoveTasksOutput{Results: []queue.ListMessageMoveTasksResultEntry{{
			TaskHandle: "eyJ0YXNrSWQiOiJ4In0", Status: "RUNNING", SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq",
			DestinationArn: "arn:aws:sqs:us-east-1:000000000000:q1", MaxNumberOfMessagesPerSecond: new(int32(50)),
			ApproximateNumberOfMessagesMoved: 10, ApproximateNumberOfMessagesToMove: new(int64(100)), StartedTimestamp: 1700000000123,
		}, {
			Status: "FAILED", SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq",
			ApproximateNumberOfMessagesToMove: new(int64(2)), FailureReason: "AWS.SimpleQueueService.NonExistentQueue",
			StartedTimestamp: 1690000000000,
		}}}},
		{"ListMessageMoveTasks_empty", "ListMessageMoveTasks", &queue.ListMessageMoveTasksOutput{}},
		{"ChangeMessageVisibilityBatch", "ChangeMessageVisibilityBatch", &queue.ChangeMessageVisibilityBatchOutput{
			Successful: []queue.ChangeMessageVisibilityBatchResultEntry{{Id: "a"}},
			Failed:     []queue.BatchResultErrorEntry{{Id: "b", SenderFault: false, Code: "InternalError", Message: "We encountered an internal error. Please try again."}},
		}},
	}
}

// encode runs Encode for action and returns the recorded response.
func encode(t *testing.T, action string, out any) *httptest.ResponseRecorder {
	t.Helper()
	a := protocol.Actions[action]
	require.NotNil(t, a, action)
	w := httptest.NewRecorder()
	Codec{}.Encode(w, testRequestID, a, out)
	return w
}

func TestEncode(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, tc := range encodeCases() {
		covered[tc.action] = true
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := encode(t, tc.action, tc.out)
			require.Equal(t, http.StatusOK, w.Code)
			require.Equal(t, "text/xml", w.Header().Get("Content-Type"))
			require.Equal(t, testRequestID, w.Header().Get("x-amzn-RequestId"))
			golden(t, "encode/"+tc.name+".xml", w.Body.Bytes())

			// The XML parses, and reads back (by the tags, with an independent parser) into
			// what was encoded.
			root, err := parseXML(w.Body.Bytes())
			require.NoError(t, err)
			require.Equal(t, tc.action+"Response", root.name)
			meta := root.child("ResponseMetadata")
			require.NotNil(t, meta)
			require.Equal(t, testRequestID, meta.child("RequestId").text)
			result := root.child(tc.action + "Result")
			if _, empty := tc.out.(*queue.Empty); empty {
				require.Nil(t, result, "an action without output has no Result element")
				return
			}
			require.NotNil(t, result)
			got := reflect.New(reflect.TypeOf(tc.out).Elem())
			fillFromXML(t, got.Elem(), result)
			require.Equal(t, tc.out, got.Interface())
		})
	}
	for name := range protocol.Actions {
		require.True(t, covered[name], "no encode case for %s", name)
	}
}

func TestEncodeNamespace(t *testing.T) {
	t.Parallel()
	w := encode(t, "GetQueueUrl", &queue.GetQueueUrlOutput{QueueUrl: testQueueURL})
	var resp struct {
		XMLName xml.Name `xml:"http://queue.amazonaws.com/doc/2012-11-05/ GetQueueUrlResponse"`
		Result  struct {
			QueueUrl string `xml:"QueueUrl"`
		} `xml:"GetQueueUrlResult"`
	}
	require.NoError(t, xml.Unmarshal(w.Body.Bytes(), &resp))
	require.Equal(t, testQueueURL, resp.Result.QueueUrl)
}

// TestEncodeEscaping checks SQS's escaping and that bodies survive an XML parser unchanged.
func TestEncodeEscaping(t *testing.T) {
	t.Parallel()
	bodies := []string{
		"say \"hi\" & <bye>",
		"line1\rline2\r\nline3\n\tend\r",
		"emoji 😀 and ünïcödé and 中文",
		"]]> <![CDATA[ x ]]> &amp; &#xD; 'single'",
		"\r",
		" leading and trailing spaces ",
	}
	for _, body := range bodies {
		w := encode(t, "ReceiveMessage", &queue.ReceiveMessageOutput{Messages: []queue.Message{{MessageId: "m", Body: body}}})
		raw := w.Body.String()
		require.NotContains(t, raw, "\r", "CR must be written as &#xD;")
		if strings.Contains(body, `"`) {
			require.Contains(t, raw, "&quot;")
		}
		require.Equal(t, body, receivedBody(t, w.Body.Bytes()))
	}
	w := encode(t, "ReceiveMessage", &queue.ReceiveMessageOutput{Messages: []queue.Message{{Body: "a\"b\rc<d>&e\nf"}}})
	require.Contains(t, w.Body.String(), "<Body>a&quot;b&#xD;c&lt;d&gt;&amp;e\nf</Body>")
}

// TestEncodeInvalidCharacters checks that text XML cannot carry (which only error messages and
// such could hold; the domain rejects it in bodies) still yields a well-formed document.
func TestEncodeInvalidCharacters(t *testing.T) {
	t.Parallel()
	w := encode(t, "ReceiveMessage", &queue.ReceiveMessageOutput{Messages: []queue.Message{{Body: "a\x00b\xffc\x1bd\uFFFEe"}}})
	require.Equal(t, "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe", receivedBody(t, w.Body.Bytes()))
}

// receivedBody parses a ReceiveMessage response with encoding/xml and returns the first body.
func receivedBody(t *testing.T, data []byte) string {
	t.Helper()
	var resp struct {
		Result struct {
			Messages []struct {
				Body string `xml:"Body"`
			} `xml:"Message"`
		} `xml:"ReceiveMessageResult"`
	}
	require.NoError(t, xml.Unmarshal(data, &resp), string(data))
	require.Len(t, resp.Result.Messages, 1)
	return resp.Result.Messages[0].Body
}

func TestEncodeError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		err    error
		status int
		header string
	}{
		{"NonExistentQueue", &queue.Error{Kind: queue.ErrQueueDoesNotExist, Message: "The specified queue does not exist."},
			400, "AWS.SimpleQueueService.NonExistentQueue;Sender"},
		{"PurgeQueueInProgress", &queue.Error{Kind: queue.ErrPurgeQueueInProgress, Message: "Only one PurgeQueue operation on q1 is allowed every 60 seconds."},
			403, "AWS.SimpleQueueService.PurgeQueueInProgress;Sender"},
		{"InvalidParameterValue", &queue.Error{Kind: queue.ErrInvalidParameterValue,
			Message: "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."},
			400, "InvalidParameterValue;Sender"},
		{"InvalidAction", invalidAction("FooBar"), 400, "InvalidAction;Sender"},
		{"MalformedQueryString", &protocol.Error{Kind: protocol.ErrMalformedQueryString, Message: "The request body is not a valid form-encoded query string."},
			400, "MalformedQueryString;Sender"},
		{"ServiceUnavailable", &queue.Error{Kind: queue.ErrServiceUnavailable, Message: "The service is shutting down.", Cause: errors.New("engine closed")},
			503, "ServiceUnavailable;Receiver"},
		{"Internal", fmt.Errorf("reading segment 7: %w", errors.New("secret disk detail /var/lib/x")), 500, "InternalError;Receiver"},
		{"ResourceNotFound", &queue.Error{Kind: queue.ErrResourceNotFound, Message: "The resource that you specified for the SourceArn parameter doesn't exist."},
			404, "ResourceNotFoundException;Sender"},
		{"EscapedMessage", &queue.Error{Kind: queue.ErrReceiptHandleIsInvalid, Message: `The input receipt handle "<&>" is not a valid receipt handle.`},
			400, "ReceiptHandleIsInvalid;Sender"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			Codec{}.EncodeError(w, testRequestID, tc.err)
			require.Equal(t, tc.status, w.Code)
			require.Equal(t, "text/xml", w.Header().Get("Content-Type"))
			require.Equal(t, testRequestID, w.Header().Get("x-amzn-RequestId"))
			require.Equal(t, tc.header, w.Header().Get("x-amzn-query-error"))
			require.NotContains(t, w.Body.String(), "secret")
			require.NotContains(t, w.Body.String(), "engine closed")
			golden(t, "errors/"+tc.name+".xml", w.Body.Bytes())

			var resp struct {
				XMLName xml.Name `xml:"http://queue.amazonaws.com/doc/2012-11-05/ ErrorResponse"`
				Error   struct {
					Type    string    `xml:"Type"`
					Code    string    `xml:"Code"`
					Message string    `xml:"Message"`
					Detail  *struct{} `xml:"Detail"`
				} `xml:"Error"`
				RequestID string `xml:"RequestId"`
			}
			require.NoError(t, xml.Unmarshal(w.Body.Bytes(), &resp))
			spec, msg := protocol.Lookup(tc.err)
			require.Equal(t, spec.QueryCode, resp.Error.Code)
			require.Equal(t, testRequestID, resp.RequestID)
			require.NotNil(t, resp.Error.Detail)
			if tc.name == "NonExistentQueue" {
				require.Equal(t, "The specified queue does not exist for this wsdl version.", resp.Error.Message)
			} else {
				require.Equal(t, msg, resp.Error.Message)
			}
		})
	}
}

func TestEncodeErrorNoActionOnQueueURL(t *testing.T) {
	t.Parallel()
	r := newRequest(http.MethodGet, "/000000000000/q1", "")
	_, _, err := Codec{}.Decode(r, nil, testQueueURL)
	require.Error(t, err)
	w := httptest.NewRecorder()
	Codec{}.EncodeError(w, testRequestID, err)
	require.Equal(t, http.StatusNotFound, w.Code)
	require.Equal(t, "<UnknownOperationException/>", w.Body.String())
	// The server logs decode errors by protocol.Lookup: this one is a client error.
	spec, _ := protocol.Lookup(err)
	require.True(t, spec.Sender)
	require.Less(t, spec.Status, 500)
}

func TestMatches(t *testing.T) {
	t.Parallel()
	require.True(t, Matches(newRequest(http.MethodPost, "/", "Action=ListQueues")))
	require.True(t, Matches(newRequest(http.MethodGet, "/000000000000/q1?Action=ReceiveMessage", "")))
	r := newRequest(http.MethodPost, "/", "{}")
	r.Header.Set("Content-Type", "application/x-amz-json-1.0")
	require.False(t, Matches(r))
}
