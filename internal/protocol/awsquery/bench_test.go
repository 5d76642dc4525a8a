package awsquery

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

// BenchmarkDecodeSendMessageBatch decodes a full batch of ten entries with two attributes each.
func BenchmarkDecodeSendMessageBatch(b *testing.B) {
	form := url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {testQueueURL}}
	for i := 1; i <= 10; i++ {
		e := fmt.Sprintf("SendMessageBatchRequestEntry.%d.", i)
		form.Set(e+"Id", fmt.Sprint("m", i))
		form.Set(e+"MessageBody", "a message body of modest size, as most are")
		form.Set(e+"MessageAttribute.1.Name", "s")
		form.Set(e+"MessageAttribute.1.Value.DataType", "String")
		form.Set(e+"MessageAttribute.1.Value.StringValue", "value")
		form.Set(e+"MessageAttribute.2.Name", "n")
		form.Set(e+"MessageAttribute.2.Value.DataType", "Number")
		form.Set(e+"MessageAttribute.2.Value.StringValue", "42")
	}
	body := []byte(form.Encode())
	r := newRequest(http.MethodPost, "/", "")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := (Codec{}).Decode(r, body, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeReceiveMessage encodes a receive of ten messages with attributes.
func BenchmarkEncodeReceiveMessage(b *testing.B) {
	out := &queue.ReceiveMessageOutput{}
	for i := range 10 {
		out.Messages = append(out.Messages, queue.Message{
			MessageId: fmt.Sprint("5fea7756-0ea4-451a-a703-a558b933e27", i), ReceiptHandle: "AQEBhandlehandlehandlehandlehandle==",
			MD5OfBody: "5d41402abc4b2a76b9719d911017c592", Body: "a message body of modest size, as most are",
			Attributes:             map[string]string{"SentTimestamp": "1700000000000", "ApproximateReceiveCount": "1"},
			MD5OfMessageAttributes: "235c5c510d26fb653d073faed50ae77c",
			MessageAttributes:      map[string]queue.MessageAttributeValue{"s": {DataType: "String", StringValue: new("value")}},
		})
	}
	a := protocol.Actions["ReceiveMessage"]
	b.ReportAllocs()
	for b.Loop() {
		Codec{}.Encode(httptest.NewRecorder(), testRequestID, a, out)
	}
}
