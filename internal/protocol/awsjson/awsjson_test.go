package awsjson

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

func decode(target, body string) (*protocol.Action, any, error) {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("X-Amz-Target", target)
	return Codec{}.Decode(r, []byte(body), "")
}

func TestDecode(t *testing.T) {
	t.Parallel()
	a, in, err := decode("AmazonSQS.SendMessage", `{"QueueUrl":"u","MessageBody":"b","DelaySeconds":5,
		"MessageAttributes":{"k":{"DataType":"Binary","BinaryValue":"AAE="}}}`)
	require.NoError(t, err)
	require.Equal(t, "SendMessage", a.Name)
	sm := in.(*queue.SendMessageInput)
	require.Equal(t, "u", sm.QueueUrl)
	require.Equal(t, "b", *sm.MessageBody)
	require.Equal(t, int32(5), *sm.DelaySeconds)
	require.Equal(t, []byte{0, 1}, sm.MessageAttributes["k"].BinaryValue)

	_, in, err = decode("AmazonSQS.CreateQueue", `{"QueueName":"q","tags":{"a":"b"}}`)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "b"}, in.(*queue.CreateQueueInput).Tags)
}

func TestDecodeRefusesBadJSON(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`{"QueueUrl":"u"} {"QueueUrl":"v"}`: "The request body is not valid JSON.",
		`{"QueueUrl":"u"} x`:                "The request body is not valid JSON.",
		`{"QueueUrl":`:                      "The request body is not valid JSON.",
		`{"MaxNumberOfMessages":"ten"}`:     "Value of MaxNumberOfMessages has the wrong type: expected int32, got a JSON string.",
	} {
		_, _, err := decode("AmazonSQS.ReceiveMessage", body)
		var pe *protocol.Error
		require.ErrorAs(t, err, &pe, body)
		require.Equal(t, protocol.ErrSerialization, pe.Kind, body)
		require.Equal(t, want, pe.Message, body)
	}
	_, in, err := decode("AmazonSQS.ReceiveMessage", " {\"QueueUrl\":\"u\"}\n ")
	require.NoError(t, err, "white space around the document is fine")
	require.Equal(t, "u", in.(*queue.ReceiveMessageInput).QueueUrl)
}

func TestEncodeError(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	Codec{}.EncodeError(w, "rid", &queue.Error{Kind: queue.ErrQueueDoesNotExist, Message: "The specified queue does not exist."})
	require.Equal(t, 400, w.Code)
	require.Equal(t, "AWS.SimpleQueueService.NonExistentQueue;Sender", w.Header().Get("x-amzn-query-error"))
	require.JSONEq(t, `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`, w.Body.String())

	// Unexpected errors do not leak their text.
	w = httptest.NewRecorder()
	Codec{}.EncodeError(w, "rid", errors.New("disk on fire at /secret/path"))
	require.Equal(t, 500, w.Code)
	require.NotContains(t, w.Body.String(), "secret")
	require.Equal(t, "InternalError;Receiver", w.Header().Get("x-amzn-query-error"))
}

func FuzzDecode(f *testing.F) {
	f.Add("SendMessage", `{"QueueUrl":"u","MessageBody":"b"}`)
	f.Add("ReceiveMessage", `{"MaxNumberOfMessages":"x"}`)
	f.Add("SendMessageBatch", `{"Entries":[{"Id":"a","MessageAttributes":{"k":{"DataType":"Binary","BinaryValue":"@@"}}}]}`)
	f.Add("Nope", `[]`)
	f.Fuzz(func(t *testing.T, action, body string) {
		_, in, err := decode("AmazonSQS."+action, body)
		if err != nil {
			var qe *queue.Error
			var pe *protocol.Error
			if !errors.As(err, &qe) && !errors.As(err, &pe) {
				t.Fatalf("decode error of unexpected type %T: %v", err, err)
			}
			return
		}
		if in == nil {
			t.Fatal("no input and no error")
		}
	})
}
