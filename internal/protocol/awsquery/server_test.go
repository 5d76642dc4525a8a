package awsquery_test

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

// post sends a query request to target on s and returns the status and body.
func post(t *testing.T, s *sluicetest.Server, target string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.Post(s.URL+target, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// forEachEngine runs fn against a server on each engine (the golden files of encode_test.go test
// the encoding alone, which no engine touches; these tests run whole requests).
func forEachEngine(t *testing.T, fn func(t *testing.T, s *sluicetest.Server)) {
	for _, f := range sluicetest.Engines() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, sluicetest.NewServer(t, sluicetest.Options{Engine: f.Open(t)}))
		})
	}
}

// TestServerRoundTrip runs query requests through a real server: a message sent over the query
// protocol comes back intact over both protocols, with the MD5s a client checks.
func TestServerRoundTrip(t *testing.T) {
	t.Parallel()
	forEachEngine(t, testServerRoundTrip)
}

func testServerRoundTrip(t *testing.T, s *sluicetest.Server) {
	status, body := post(t, s, "/", url.Values{"Action": {"CreateQueue"}, "Version": {"2012-11-05"}, "QueueName": {"q1"},
		"Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"0"}, "Tag.1.Key": {"team"}, "Tag.1.Value": {"core"}})
	require.Equal(t, http.StatusOK, status, body)
	qurl := s.QueueURL("q1")
	require.Contains(t, body, "<QueueUrl>"+qurl+"</QueueUrl>")

	msgBody := "say \"hi\" & <bye>\r\nline 2\r😀"
	status, body = post(t, s, "/", url.Values{"Action": {"SendMessage"}, "QueueUrl": {qurl}, "MessageBody": {msgBody},
		"MessageAttribute.1.Name": {"bin"}, "MessageAttribute.1.Value.DataType": {"Binary"}, "MessageAttribute.1.Value.BinaryValue": {"AAEC//8="},
		"MessageAttribute.2.Name": {"s"}, "MessageAttribute.2.Value.DataType": {"String"}, "MessageAttribute.2.Value.StringValue": {"v"}})
	require.Equal(t, http.StatusOK, status, body)
	var sent struct {
		Result struct {
			MD5OfMessageBody       string
			MD5OfMessageAttributes string
		} `xml:"SendMessageResult"`
	}
	require.NoError(t, xml.Unmarshal([]byte(body), &sent))
	require.Equal(t, queue.MD5OfBody(msgBody), sent.Result.MD5OfMessageBody)

	// Receive over the query protocol, posting to the queue URL.
	status, body = post(t, s, "/"+sluicetest.Account+"/q1", url.Values{"Action": {"ReceiveMessage"},
		"MessageAttributeName.1": {"All"}, "AttributeName.1": {"All"}})
	require.Equal(t, http.StatusOK, status, body)
	var recv struct {
		Result struct {
			Messages []struct {
				Body                   string
				MD5OfBody              string
				MD5OfMessageAttributes string
				Attributes             []struct{ Name, Value string } `xml:"Attribute"`
				MessageAttributes      []struct {
					Name  string
					Value struct{ DataType, StringValue, BinaryValue string }
				} `xml:"MessageAttribute"`
			} `xml:"Message"`
		} `xml:"ReceiveMessageResult"`
	}
	require.NoError(t, xml.Unmarshal([]byte(body), &recv))
	require.Len(t, recv.Result.Messages, 1)
	m := recv.Result.Messages[0]
	require.Equal(t, msgBody, m.Body)
	require.Equal(t, sent.Result.MD5OfMessageBody, m.MD5OfBody)
	require.Equal(t, sent.Result.MD5OfMessageAttributes, m.MD5OfMessageAttributes)
	require.Len(t, m.MessageAttributes, 2)
	require.Equal(t, "bin", m.MessageAttributes[0].Name)
	require.Equal(t, "AAEC//8=", m.MessageAttributes[0].Value.BinaryValue)
	require.NotEmpty(t, m.Attributes)

	// The same message over JSON (visibility timeout 0 makes it visible again).
	out, err := s.Client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(qurl),
		MessageAttributeNames: []string{"All"}})
	require.NoError(t, err)
	require.Len(t, out.Messages, 1)
	require.Equal(t, msgBody, aws.ToString(out.Messages[0].Body))
	require.Equal(t, []byte{0, 1, 2, 0xff, 0xff}, out.Messages[0].MessageAttributes["bin"].BinaryValue)

	tags, err := s.Client.ListQueueTags(context.Background(), &sqs.ListQueueTagsInput{QueueUrl: aws.String(qurl)})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"team": "core"}, tags.Tags)
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	forEachEngine(t, testServerErrors)
}

func testServerErrors(t *testing.T, s *sluicetest.Server) {

	status, body := post(t, s, "/", url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"missing"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>")
	require.Contains(t, body, "<Message>The specified queue does not exist for this wsdl version.</Message>")

	status, body = post(t, s, "/"+sluicetest.Account+"/q1", url.Values{"Action": {"CreateQueue"}, "QueueName": {"q1"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "<Type>Sender</Type><Code>InvalidAction</Code><Message>The action CreateQueue is not valid for this endpoint.</Message>")

	resp, err := http.Get(s.URL + "/" + sluicetest.Account + "/q1")
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.Equal(t, "<UnknownOperationException/>", string(b))
}
