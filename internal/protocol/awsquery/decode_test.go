package awsquery

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"sluice/internal/protocol"
	"sluice/internal/queue"
)

const (
	testQueueURL = "http://localhost:9324/000000000000/q1"
	// qu is testQueueURL form-encoded.
	qu = "QueueUrl=http%3A%2F%2Flocalhost%3A9324%2F000000000000%2Fq1"
)

// decodeCase is one request and the input it decodes to.
type decodeCase struct {
	name   string
	method string
	// target is the request path and query string; "" means POST /.
	target string
	body   string
	// pathURL is what the server passes for a request to a queue URL.
	pathURL string
	action  string
	want    any
}

// decodeCases has a representative request for every action, and then some.
func decodeCases() []decodeCase {
	msgAttrs := map[string]queue.MessageAttributeValue{
		"s":   {DataType: "String", StringValue: new("v \" & <x>")},
		"n":   {DataType: "Number.int", StringValue: new("42")},
		"bin": {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 0xff, 0xff}},
	}
	const msgAttrForm = "&MessageAttribute.1.Name=s&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v+%22+%26+%3Cx%3E" +
		"&MessageAttribute.2.Name=n&MessageAttribute.2.Value.DataType=Number.int&MessageAttribute.2.Value.StringValue=42" +
		"&MessageAttribute.5.Name=bin&MessageAttribute.5.Value.DataType=Binary&MessageAttribute.5.Value.BinaryValue=AAEC%2F%2F8%3D"
	return []decodeCase{{
		name:   "CreateQueue",
		body:   "Action=CreateQueue&Version=2012-11-05&QueueName=q1.fifo&Attribute.1.Name=FifoQueue&Attribute.1.Value=true&Attribute.3.Name=VisibilityTimeout&Attribute.3.Value=60&Tag.1.Key=team&Tag.1.Value=core&Tag.2.Key=empty&Tag.2.Value=",
		action: "CreateQueue",
		want: &queue.CreateQueueInput{QueueName: "q1.fifo",
			Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "60"},
			Tags:       map[string]string{"team": "core", "empty": ""}},
	}, {
		name:   "GetQueueUrl",
		body:   "Action=GetQueueUrl&Version=2012-11-05&QueueName=q1&QueueOwnerAWSAccountId=000000000000",
		action: "GetQueueUrl",
		want:   &queue.GetQueueUrlInput{QueueName: "q1", QueueOwnerAWSAccountId: "000000000000"},
	}, {
		name:   "ListQueues",
		body:   "Action=ListQueues&Version=2012-11-05&QueueNamePrefix=q&MaxResults=10&NextToken=abc%3D%3D",
		action: "ListQueues",
		want:   &queue.ListQueuesInput{QueueNamePrefix: "q", MaxResults: new(int32(10)), NextToken: "abc=="},
	}, {
		name:   "DeleteQueue",
		body:   "Action=DeleteQueue&Version=2012-11-05&" + qu,
		action: "DeleteQueue",
		want:   &queue.QueueUrlInput{QueueUrl: testQueueURL},
	}, {
		name:   "GetQueueAttributes",
		body:   "Action=GetQueueAttributes&" + qu + "&AttributeName.2=VisibilityTimeout&AttributeName.1=All",
		action: "GetQueueAttributes",
		want:   &queue.GetQueueAttributesInput{QueueUrl: testQueueURL, AttributeNames: []string{"All", "VisibilityTimeout"}},
	}, {
		name: "SetQueueAttributes",
		body: "Action=SetQueueAttributes&" + qu + "&Attribute.1.Name=DelaySeconds&Attribute.1.Value=5" +
			"&Attribute.2.Name=RedrivePolicy&Attribute.2.Value=" + url.QueryEscape(`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}`) +
			"&Attribute.3.Name=Policy&Attribute.3.Value=",
		action: "SetQueueAttributes",
		want: &queue.SetQueueAttributesInput{QueueUrl: testQueueURL, Attributes: map[string]string{
			"DelaySeconds":  "5",
			"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:dlq","maxReceiveCount":"3"}`,
			"Policy":        "",
		}},
	}, {
		name:   "PurgeQueue",
		body:   "Action=PurgeQueue&" + qu,
		action: "PurgeQueue",
		want:   &queue.QueueUrlInput{QueueUrl: testQueueURL},
	}, {
		name:   "TagQueue",
		body:   "Action=TagQueue&" + qu + "&Tags.1.Key=a&Tags.1.Value=1&Tags.2.Key=MyTag&Tags.2.Value=",
		action: "TagQueue",
		want:   &queue.TagQueueInput{QueueUrl: testQueueURL, Tags: map[string]string{"a": "1", "MyTag": ""}},
	}, {
		// AWS's documentation examples send Tag.N; the model's Tags.N wins on conflict.
		name:   "TagQueue with Tag.N",
		body:   "Action=TagQueue&" + qu + "&Tag.1.Key=a&Tag.1.Value=alias&Tag.2.Key=b&Tag.2.Value=2&Tags.1.Key=a&Tags.1.Value=model",
		action: "TagQueue",
		want:   &queue.TagQueueInput{QueueUrl: testQueueURL, Tags: map[string]string{"a": "model", "b": "2"}},
	}, {
		name:   "UntagQueue",
		body:   "Action=UntagQueue&" + qu + "&TagKey.1=a&TagKey.2=MyTag",
		action: "UntagQueue",
		want:   &queue.UntagQueueInput{QueueUrl: testQueueURL, TagKeys: []string{"a", "MyTag"}},
	}, {
		name:   "ListQueueTags",
		body:   "Action=ListQueueTags&" + qu,
		action: "ListQueueTags",
		want:   &queue.QueueUrlInput{QueueUrl: testQueueURL},
	}, {
		name: "SendMessage",
		body: "Action=SendMessage&Version=2012-11-05&" + qu + "&MessageBody=hello%0D%0Aworld+%F0%9F%98%80&DelaySeconds=5" + msgAttrForm +
			"&MessageSystemAttribute.1.Name=AWSTraceHeader&MessageSystemAttribute.1.Value.DataType=String&MessageSystemAttribute.1.Value.StringValue=Root%3D1-abc" +
			"&MessageGroupId=g1&MessageDeduplicationId=d1",
		action: "SendMessage",
		want: &queue.SendMessageInput{QueueUrl: testQueueURL, MessageBody: new("hello\r\nworld 😀"), DelaySeconds: new(int32(5)),
			MessageAttributes:       msgAttrs,
			MessageSystemAttributes: map[string]queue.MessageAttributeValue{"AWSTraceHeader": {DataType: "String", StringValue: new("Root=1-abc")}},
			MessageGroupId:          new("g1"), MessageDeduplicationId: new("d1")},
	}, {
		name:   "SendMessage with empty body",
		body:   "Action=SendMessage&" + qu + "&MessageBody=",
		action: "SendMessage",
		want:   &queue.SendMessageInput{QueueUrl: testQueueURL, MessageBody: new("")},
	}, {
		// Entries ordered by N numerically (10 after 3), with gaps.
		name: "SendMessageBatch",
		body: "Action=SendMessageBatch&" + qu +
			"&SendMessageBatchRequestEntry.10.Id=c&SendMessageBatchRequestEntry.10.MessageBody=third&SendMessageBatchRequestEntry.10.MessageGroupId=g" +
			"&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=first&SendMessageBatchRequestEntry.1.DelaySeconds=0" +
			strings.ReplaceAll(msgAttrForm, "&MessageAttribute.", "&SendMessageBatchRequestEntry.1.MessageAttribute.") +
			"&SendMessageBatchRequestEntry.3.Id=b&SendMessageBatchRequestEntry.3.MessageBody=second&SendMessageBatchRequestEntry.3.MessageDeduplicationId=d" +
			"&SendMessageBatchRequestEntry.3.MessageSystemAttribute.1.Name=AWSTraceHeader&SendMessageBatchRequestEntry.3.MessageSystemAttribute.1.Value.DataType=String&SendMessageBatchRequestEntry.3.MessageSystemAttribute.1.Value.StringValue=t",
		action: "SendMessageBatch",
		want: &queue.SendMessageBatchInput{QueueUrl: testQueueURL, Entries: []queue.SendMessageBatchRequestEntry{
			{Id: "a", MessageBody: new("first"), DelaySeconds: new(int32(0)), MessageAttributes: msgAttrs},
			{Id: "b", MessageBody: new("second"), MessageDeduplicationId: new("d"),
				MessageSystemAttributes: map[string]queue.MessageAttributeValue{"AWSTraceHeader": {DataType: "String", StringValue: new("t")}}},
			{Id: "c", MessageBody: new("third"), MessageGroupId: new("g")},
		}},
	}, {
		name: "ReceiveMessage",
		body: "Action=ReceiveMessage&" + qu + "&AttributeName.1=All&MessageSystemAttributeName.1=SentTimestamp&MessageSystemAttributeName.2=SenderId" +
			"&MessageAttributeName.1=All&MaxNumberOfMessages=10&VisibilityTimeout=0&WaitTimeSeconds=20&ReceiveRequestAttemptId=x-1",
		action: "ReceiveMessage",
		want: &queue.ReceiveMessageInput{QueueUrl: testQueueURL, AttributeNames: []string{"All"},
			MessageSystemAttributeNames: []string{"SentTimestamp", "SenderId"}, MessageAttributeNames: []string{"All"},
			MaxNumberOfMessages: new(int32(10)), VisibilityTimeout: new(int32(0)), WaitTimeSeconds: new(int32(20)),
			ReceiveRequestAttemptId: new("x-1")},
	}, {
		name:   "DeleteMessage",
		body:   "Action=DeleteMessage&" + qu + "&ReceiptHandle=AQEB%2Bx%2F%3D%3D",
		action: "DeleteMessage",
		want:   &queue.DeleteMessageInput{QueueUrl: testQueueURL, ReceiptHandle: "AQEB+x/=="},
	}, {
		name: "DeleteMessageBatch",
		body: "Action=DeleteMessageBatch&" + qu + "&DeleteMessageBatchRequestEntry.2.Id=b&DeleteMessageBatchRequestEntry.2.ReceiptHandle=h2" +
			"&DeleteMessageBatchRequestEntry.1.Id=a&DeleteMessageBatchRequestEntry.1.ReceiptHandle=h1",
		action: "DeleteMessageBatch",
		want: &queue.DeleteMessageBatchInput{QueueUrl: testQueueURL, Entries: []queue.DeleteMessageBatchRequestEntry{
			{Id: "a", ReceiptHandle: "h1"}, {Id: "b", ReceiptHandle: "h2"}}},
	}, {
		name:   "ChangeMessageVisibility",
		body:   "Action=ChangeMessageVisibility&" + qu + "&ReceiptHandle=h1&VisibilityTimeout=43200",
		action: "ChangeMessageVisibility",
		want:   &queue.ChangeMessageVisibilityInput{QueueUrl: testQueueURL, ReceiptHandle: "h1", VisibilityTimeout: new(int32(43200))},
	}, {
		name: "ChangeMessageVisibilityBatch",
		body: "Action=ChangeMessageVisibilityBatch&" + qu +
			"&ChangeMessageVisibilityBatchRequestEntry.1.Id=a&ChangeMessageVisibilityBatchRequestEntry.1.ReceiptHandle=h1&ChangeMessageVisibilityBatchRequestEntry.1.VisibilityTimeout=0" +
			"&ChangeMessageVisibilityBatchRequestEntry.7.Id=b&ChangeMessageVisibilityBatchRequestEntry.7.ReceiptHandle=h2",
		action: "ChangeMessageVisibilityBatch",
		want: &queue.ChangeMessageVisibilityBatchInput{QueueUrl: testQueueURL, Entries: []queue.ChangeMessageVisibilityBatchRequestEntry{
			{Id: "a", ReceiptHandle: "h1", VisibilityTimeout: new(int32(0))}, {Id: "b", ReceiptHandle: "h2"}}},
	}, {
		// AWSAccountId.N and ActionName.N, not the model's member names.
		name: "AddPermission",
		body: "Action=AddPermission&Version=2012-11-05&" + qu + "&Label=perm-1" +
			"&AWSAccountId.2=222222222222&AWSAccountId.1=111111111111&ActionName.1=SendMessage&ActionName.2=%2A",
		action: "AddPermission",
		want: &queue.AddPermissionInput{QueueUrl: testQueueURL, Label: "perm-1",
			AWSAccountIds: []string{"111111111111", "222222222222"}, Actions: []string{"SendMessage", "*"}},
	}, {
		name:   "RemovePermission",
		body:   "Action=RemovePermission&" + qu + "&Label=perm-1",
		action: "RemovePermission",
		want:   &queue.RemovePermissionInput{QueueUrl: testQueueURL, Label: "perm-1"},
	}, {
		name:   "ListDeadLetterSourceQueues",
		body:   "Action=ListDeadLetterSourceQueues&" + qu + "&MaxResults=2&NextToken=cTE",
		action: "ListDeadLetterSourceQueues",
		want:   &queue.ListDeadLetterSourceQueuesInput{QueueUrl: testQueueURL, MaxResults: new(int32(2)), NextToken: "cTE"},
	}, {
		name:    "ListDeadLetterSourceQueues on its queue URL",
		method:  http.MethodGet,
		target:  "/000000000000/q1?Action=ListDeadLetterSourceQueues",
		pathURL: testQueueURL,
		action:  "ListDeadLetterSourceQueues",
		want:    &queue.ListDeadLetterSourceQueuesInput{QueueUrl: testQueueURL},
	}, {
		name: "StartMessageMoveTask",
		body: "Action=StartMessageMoveTask&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Adlq" +
			"&DestinationArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq1&MaxNumberOfMessagesPerSecond=50",
		action: "StartMessageMoveTask",
		want: &queue.StartMessageMoveTaskInput{SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq",
			DestinationArn: "arn:aws:sqs:us-east-1:000000000000:q1", MaxNumberOfMessagesPerSecond: new(int32(50))},
	}, {
		name:   "CancelMessageMoveTask",
		body:   "Action=CancelMessageMoveTask&TaskHandle=eyJ0YXNrSWQiOiJ4In0",
		action: "CancelMessageMoveTask",
		want:   &queue.CancelMessageMoveTaskInput{TaskHandle: "eyJ0YXNrSWQiOiJ4In0"},
	}, {
		name:   "ListMessageMoveTasks",
		body:   "Action=ListMessageMoveTasks&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Adlq&MaxResults=10",
		action: "ListMessageMoveTasks",
		want:   &queue.ListMessageMoveTasksInput{SourceArn: "arn:aws:sqs:us-east-1:000000000000:dlq", MaxResults: new(int32(10))},
	}, {
		name:    "GET of a queue URL",
		method:  http.MethodGet,
		target:  "/000000000000/q1?Action=ReceiveMessage&MaxNumberOfMessages=2",
		pathURL: testQueueURL,
		action:  "ReceiveMessage",
		want:    &queue.ReceiveMessageInput{QueueUrl: testQueueURL, MaxNumberOfMessages: new(int32(2))},
	}, {
		name:    "explicit QueueUrl beats the path",
		target:  "/000000000000/q1",
		body:    "Action=DeleteQueue&QueueUrl=http%3A%2F%2Flocalhost%3A9324%2F000000000000%2Fother",
		pathURL: testQueueURL,
		action:  "DeleteQueue",
		want:    &queue.QueueUrlInput{QueueUrl: "http://localhost:9324/000000000000/other"},
	}, {
		name:   "POST with parameters in the URL and the body; the body wins",
		target: "/?Action=SendMessage&MessageBody=from-url&DelaySeconds=3&" + qu,
		body:   "MessageBody=from-body",
		action: "SendMessage",
		want:   &queue.SendMessageInput{QueueUrl: testQueueURL, MessageBody: new("from-body"), DelaySeconds: new(int32(3))},
	}, {
		name: "unknown and malformed parameters are ignored",
		body: "Action=GetQueueAttributes&" + qu + "&Signature=abc&AWSAccessKeyId=AKID&Foo.1=x&AttributeName=bare&AttributeName.0=zero" +
			"&AttributeName.01=lead&AttributeName.-1=neg&AttributeName.x=x&AttributeName.1.=trail&AttributeName.2.Sub=s&AttributeName.3=ok",
		action: "GetQueueAttributes",
		want:   &queue.GetQueueAttributesInput{QueueUrl: testQueueURL, AttributeNames: []string{"ok"}},
	}, {
		name: "map entries without a name are dropped; a repeated name keeps the highest N",
		body: "Action=SetQueueAttributes&" + qu + "&Attribute.1.Value=orphan&Attribute.2.Name=DelaySeconds&Attribute.2.Value=1" +
			"&Attribute.9.Name=DelaySeconds&Attribute.9.Value=9&Attribute.4.Name=NoValue",
		action: "SetQueueAttributes",
		want: &queue.SetQueueAttributesInput{QueueUrl: testQueueURL,
			Attributes: map[string]string{"DelaySeconds": "9", "NoValue": ""}},
	}, {
		name: "a repeated parameter: the first counts",
		body: "Action=SendMessage&" + qu + "&MessageBody=first&MessageBody=second&DelaySeconds=1&DelaySeconds=x" +
			"&MessageAttribute.1.Name=a&MessageAttribute.1.Name=b&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.DataType=Number",
		action: "SendMessage",
		want: &queue.SendMessageInput{QueueUrl: testQueueURL, MessageBody: new("first"), DelaySeconds: new(int32(1)),
			MessageAttributes: map[string]queue.MessageAttributeValue{"a": {DataType: "String"}}},
	}, {
		name: "message attribute without a value",
		body: "Action=SendMessage&" + qu + "&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.2.Name=b&MessageAttribute.2.Value.BinaryValue=" +
			"&MessageAttribute.3.Name=c&MessageAttribute.3.Value.DataType=Binary&MessageAttribute.3.Value.BinaryValue=AAE",
		action: "SendMessage",
		want: &queue.SendMessageInput{QueueUrl: testQueueURL, MessageBody: new("x"), MessageAttributes: map[string]queue.MessageAttributeValue{
			"a": {}, "b": {BinaryValue: []byte{}}, "c": {DataType: "Binary", BinaryValue: []byte{0, 1}}}},
	}}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{}
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method, target := tc.method, tc.target
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = "/"
			}
			a, in, err := Codec{}.Decode(newRequest(method, target, tc.body), []byte(tc.body), tc.pathURL)
			require.NoError(t, err)
			require.Equal(t, tc.action, a.Name)
			require.Equal(t, tc.want, in)
		})
		covered[tc.action] = true
	}
	for name := range protocol.Actions {
		require.True(t, covered[name], "no decode case for %s", name)
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		method  string
		target  string
		body    string
		pathURL string
		kind    error
		message string
	}{
		{name: "unknown action", body: "Action=FooBar", kind: protocol.ErrInvalidAction,
			message: "The action FooBar is not valid for this endpoint."},
		{name: "unknown action on a queue URL", target: "/000000000000/q1", body: "Action=FooBar", pathURL: testQueueURL,
			kind: protocol.ErrInvalidAction, message: "The action FooBar is not valid for this endpoint."},
		{name: "CreateQueue on a queue URL", target: "/000000000000/q1", body: "Action=CreateQueue&QueueName=x", pathURL: testQueueURL,
			kind: protocol.ErrInvalidAction, message: "The action CreateQueue is not valid for this endpoint."},
		{name: "ListQueues on a queue URL", method: http.MethodGet, target: "/000000000000/q1?Action=ListQueues", pathURL: testQueueURL,
			kind: protocol.ErrInvalidAction, message: "The action ListQueues is not valid for this endpoint."},
		{name: "GetQueueUrl on a queue URL", target: "/000000000000/q1", body: "Action=GetQueueUrl&QueueName=q1", pathURL: testQueueURL,
			kind: protocol.ErrInvalidAction, message: "The action GetQueueUrl is not valid for this endpoint."},
		{name: "missing Action", body: "QueueName=x", kind: protocol.ErrInvalidAction,
			message: "The request must contain the parameter Action."},
		{name: "empty Action", body: "Action=&QueueName=x", kind: protocol.ErrInvalidAction,
			message: "The request must contain the parameter Action."},
		{name: "POST to a queue URL without Action", target: "/000000000000/q1", pathURL: testQueueURL,
			kind: protocol.ErrInvalidAction, message: "The request must contain the parameter Action."},
		{name: "GET of a queue URL without Action", method: http.MethodGet, target: "/000000000000/q1", pathURL: testQueueURL,
			kind: errNoAction},
		{name: "ListMessageMoveTasks on a queue URL", target: "/000000000000/q1", pathURL: testQueueURL,
			body: "Action=ListMessageMoveTasks&SourceArn=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq1",
			kind: protocol.ErrInvalidAction, message: "The action ListMessageMoveTasks is not valid for this endpoint."},
		{name: "malformed body", body: "Action=ListQueues&QueueNamePrefix=%zz", kind: protocol.ErrMalformedQueryString,
			message: `The request body is not a valid form-encoded query string: invalid URL escape "%zz"`},
		{name: "malformed URL query", method: http.MethodGet, target: "/?Action=ListQueues&QueueNamePrefix=%zz", kind: protocol.ErrMalformedQueryString,
			message: `The query string of the request URL is malformed: invalid URL escape "%zz"`},
		{name: "too many parameters", body: "Action=ListQueues&" + strings.Repeat("a=1&", maxParams), kind: protocol.ErrMalformedQueryString,
			message: "The request body is not a valid form-encoded query string: more than 100000 parameters"},
		{name: "semicolon", body: "Action=ListQueues;QueueNamePrefix=a", kind: protocol.ErrMalformedQueryString,
			message: "The request body is not a valid form-encoded query string: a semicolon is not a valid separator"},
		{name: "non-integer", body: "Action=SendMessage&" + qu + "&MessageBody=x&DelaySeconds=abc", kind: queue.ErrInvalidParameterValue,
			message: "Value abc for parameter DelaySeconds is invalid. Reason: Must be an integer."},
		{name: "integer out of range", body: "Action=ReceiveMessage&" + qu + "&WaitTimeSeconds=2147483648", kind: queue.ErrInvalidParameterValue,
			message: "Value 2147483648 for parameter WaitTimeSeconds is invalid. Reason: Must be an integer between -2147483648 and 2147483647."},
		{name: "non-integer in a batch entry", body: "Action=ChangeMessageVisibilityBatch&" + qu +
			"&ChangeMessageVisibilityBatchRequestEntry.2.Id=a&ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout=1.5",
			kind:    queue.ErrInvalidParameterValue,
			message: "Value 1.5 for parameter ChangeMessageVisibilityBatchRequestEntry.2.VisibilityTimeout is invalid. Reason: Must be an integer."},
		{name: "invalid base64", body: "Action=SendMessage&" + qu + "&MessageBody=x&MessageAttribute.1.Name=b&MessageAttribute.1.Value.DataType=Binary&MessageAttribute.1.Value.BinaryValue=%21%21",
			kind:    queue.ErrInvalidParameterValue,
			message: "The value of parameter MessageAttribute.1.Value.BinaryValue is invalid. Reason: Must be base64-encoded binary data."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			method, target := tc.method, tc.target
			if method == "" {
				method = http.MethodPost
			}
			if target == "" {
				target = "/"
			}
			_, in, err := Codec{}.Decode(newRequest(method, target, tc.body), []byte(tc.body), tc.pathURL)
			require.Nil(t, in)
			require.ErrorIs(t, err, tc.kind)
			requireWireError(t, err)
			if tc.message != "" {
				_, msg := protocol.Lookup(err)
				require.Equal(t, tc.message, msg)
			}
		})
	}
}

// requireWireError checks that err is one of the error types the protocol can describe.
func requireWireError(t *testing.T, err error) {
	t.Helper()
	var qe *queue.Error
	var pe *protocol.Error
	require.True(t, errors.As(err, &qe) || errors.As(err, &pe), "error %v (%T) is neither *queue.Error nor *protocol.Error", err, err)
}

// TestDecodeEveryMember builds, for every action, a request that sets every tagged member of
// its input (recursively) and checks each one arrives: the tags and the decoder agree for all
// input types, including members added later.
func TestDecodeEveryMember(t *testing.T) {
	t.Parallel()
	for name, a := range protocol.Actions {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{"Action": {name}}
			fillForm(t, form, reflect.TypeOf(a.NewInput()).Elem(), "")
			body := form.Encode()
			_, in, err := Codec{}.Decode(newRequest(http.MethodPost, "/", body), []byte(body), "")
			require.NoError(t, err)
			requireAllSet(t, reflect.ValueOf(in).Elem(), name)
		})
	}
}

// fillForm adds parameters that set every member of t (two entries for lists and maps).
func fillForm(t *testing.T, form url.Values, typ reflect.Type, prefix string) {
	for _, f := range fields(typ) {
		ft := typ.Field(f.index).Type
		name := prefix + f.name
		switch {
		case ft.Kind() == reflect.Map:
			for _, n := range []string{"1", "2"} {
				e := name + "." + n + "."
				form.Set(e+f.key, "k"+n)
				fillScalarOrStruct(t, form, ft.Elem(), e+f.value)
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8:
			for _, n := range []string{"1", "2"} {
				fillScalarOrStruct(t, form, ft.Elem(), name+"."+n)
			}
		default:
			fillScalarOrStruct(t, form, ft, name)
		}
	}
}

func fillScalarOrStruct(t *testing.T, form url.Values, typ reflect.Type, name string) {
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch typ.Kind() {
	case reflect.Struct:
		fillForm(t, form, typ, name+".")
	case reflect.String:
		form.Set(name, "s")
	case reflect.Int32:
		form.Set(name, "7")
	case reflect.Bool:
		form.Set(name, "true")
	case reflect.Slice:
		require.Equal(t, reflect.Uint8, typ.Elem().Kind(), name)
		form.Set(name, "AQ==")
	default:
		t.Fatalf("input member %s has a type (%s) the test does not know", name, typ)
	}
}

// requireAllSet checks that every tagged member of v is non-zero, and every list and map has
// two entries.
func requireAllSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	for _, f := range fields(v.Type()) {
		fv := v.Field(f.index)
		p := path + "." + f.name
		require.False(t, fv.IsZero(), "%s was not decoded", p)
		switch {
		case fv.Kind() == reflect.Map:
			require.Equal(t, 2, fv.Len(), p)
			for _, k := range fv.MapKeys() {
				requireElemSet(t, fv.MapIndex(k), p+"["+k.String()+"]")
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.Uint8:
			require.Equal(t, 2, fv.Len(), p)
			for i := range fv.Len() {
				requireElemSet(t, fv.Index(i), p+"["+strconv.Itoa(i)+"]")
			}
		default:
			requireElemSet(t, fv, p)
		}
	}
}

func requireElemSet(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	if v.Kind() == reflect.Pointer {
		require.False(t, v.IsNil(), path)
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		requireAllSet(t, v, path)
		return
	}
	require.False(t, v.IsZero(), "%s was not decoded", path)
}
