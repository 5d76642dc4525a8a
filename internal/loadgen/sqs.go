package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"
)

// SQSTarget drives an SQS endpoint through aws-sdk-go-v2, configured as a user would: static
// (dummy) credentials, a region and the endpoint URL. SDK retries stay on (the standard
// retryer, without its client-side retry quota): with retries off, the SDK has a known race
// that can drop a response against a fast local server (aws-sdk-go-v2 #1825, #2737).
type SQSTarget struct {
	endpoint string
	null     bool
	client   *sqs.Client
	// clients are one per endpoint when the target names several (nodes of one cluster behind
	// no load balancer): producers and consumers are spread over them in turn.
	clients []*sqs.Client
	next    atomic.Int64
	closeFn func() error
	retries errorCounts // SDK retries by operation and cause: the first attempt may have acted
}

// NewSQSTarget returns a target for the SQS endpoint at url, or for several endpoints given as a
// comma-separated list (the nodes of one cluster: the queue is created through the first, and
// producers and consumers are spread over all of them). null marks a null server (its canned
// messages carry no ids, so loss and duplicate checks are off).
func NewSQSTarget(url string, null bool) *SQSTarget {
	urls := strings.Split(url, ",")
	t := &SQSTarget{endpoint: url, null: null}
	for _, u := range urls {
		t.clients = append(t.clients, newSQSClient(u))
	}
	t.client = t.clients[0]
	return t
}

func newSQSClient(url string) *sqs.Client {
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 1024
	})
	client := sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("sluicebench", "sluicebench", ""),
		HTTPClient:   hc,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.RateLimiter = ratelimit.None
		}),
	})
	return client
}

// Kind implements Target.
func (t *SQSTarget) Kind() string {
	if t.null {
		return "null"
	}
	return "sqs"
}

// Endpoint implements Target.
func (t *SQSTarget) Endpoint() string { return t.endpoint }

// Durability implements Target.
func (t *SQSTarget) Durability() string { return sqsDurability(t.null) }

// sqsDurability is the durability of an SQS endpoint, or of a null server.
func sqsDurability(null bool) string {
	if null {
		return "none (null server: canned responses, nothing stored)"
	}
	return "as configured on the server (sluice serve: --storage, --sync)"
}

// Close implements Target.
func (t *SQSTarget) Close() error {
	if t.closeFn != nil {
		return t.closeFn()
	}
	return nil
}

// CreateQueue implements Target.
func (t *SQSTarget) CreateQueue(ctx context.Context, spec QueueSpec) (Queue, error) {
	name := spec.Name
	attrs := map[string]string{}
	if spec.Visibility > 0 {
		attrs["VisibilityTimeout"] = strconv.Itoa(int(spec.Visibility / time.Second))
	}
	if spec.FIFO {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
	}
	out, err := t.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return nil, fmt.Errorf("creating queue %s: %w", name, err)
	}
	return &sqsQueue{c: t.client, t: t, url: aws.ToString(out.QueueUrl), fifo: spec.FIFO}, nil
}

// Retries returns the SDK's retries so far, by operation and cause of the failed attempt. A
// retried call may have acted the first time (a ReceiveMessage whose response was lost leaves
// its messages in flight until their visibility timeout; a SendMessageBatch sends twice).
func (t *SQSTarget) Retries() map[string]int64 { return t.retries.snapshot() }

// noteAttempts records the retries of one call.
func (t *SQSTarget) noteAttempts(op string, md middleware.Metadata) {
	res, ok := retry.GetAttemptResults(md)
	if !ok {
		return
	}
	for _, a := range res.Results {
		if a.Err != nil {
			t.retries.add(op+":"+errorCode(a.Err), 1)
		}
	}
}

type sqsQueue struct {
	c    *sqs.Client
	t    *SQSTarget
	url  string
	fifo bool
}

func (q *sqsQueue) NewProducer(context.Context) (Producer, error) { return q.onNextClient(), nil }
func (q *sqsQueue) NewConsumer(context.Context) (Consumer, error) { return q.onNextClient(), nil }

// onNextClient returns the queue as seen through the target's next endpoint.
func (q *sqsQueue) onNextClient() *sqsQueue {
	if len(q.t.clients) < 2 {
		return q
	}
	c := *q
	c.c = nextOf(q.t.clients, &q.t.next)
	return &c
}
func (q *sqsQueue) Close() error { return nil }

func (q *sqsQueue) Delete(ctx context.Context) error {
	if _, err := q.c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &q.url}); err != nil {
		return fmt.Errorf("deleting queue %s: %w", q.url, err)
	}
	return nil
}

// Depth returns the queue's visible and in-flight message counts, as the server reports them.
func (q *sqsQueue) Depth(ctx context.Context) (visible, inFlight int64, err error) {
	out, err := q.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &q.url, AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return 0, 0, err
	}
	visible, _ = strconv.ParseInt(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
	inFlight, _ = strconv.ParseInt(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)], 10, 64)
	return visible, inFlight, nil
}

func (q *sqsQueue) SendBatch(ctx context.Context, msgs []OutMsg) ([]error, error) {
	entries := make([]types.SendMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(m.Body))}
		if q.fifo || m.Group != "" { // on a standard queue, a group id names a fair-queue tenant
			entries[i].MessageGroupId = aws.String(m.Group)
		}
		if q.fifo {
			entries[i].MessageDeduplicationId = aws.String(m.DedupID)
		}
	}
	out, err := q.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.url, Entries: entries})
	if err == nil {
		q.t.noteAttempts("send", out.ResultMetadata)
	}
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(msgs))
	for _, f := range out.Failed {
		i, err := strconv.Atoi(aws.ToString(f.Id))
		if err != nil || i < 0 || i >= len(msgs) {
			return nil, fmt.Errorf("SendMessageBatch: unknown entry id %q in Failed", aws.ToString(f.Id))
		}
		errs[i] = &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message)}
	}
	if len(out.Successful)+len(out.Failed) != len(msgs) {
		return nil, fmt.Errorf("SendMessageBatch: %d entries sent, %d answered", len(msgs), len(out.Successful)+len(out.Failed))
	}
	return errs, nil
}

func (q *sqsQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]InMsg, error) {
	out, err := q.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: &q.url, MaxNumberOfMessages: int32(max), WaitTimeSeconds: int32(wait / time.Second),
	})
	if err != nil {
		return nil, err
	}
	q.t.noteAttempts("receive", out.ResultMetadata)
	msgs := make([]InMsg, len(out.Messages))
	for i, m := range out.Messages {
		msgs[i] = InMsg{Body: []byte(aws.ToString(m.Body)), handle: aws.ToString(m.ReceiptHandle)}
	}
	return msgs, nil
}

func (q *sqsQueue) Ack(ctx context.Context, msgs []InMsg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	entries := make([]types.DeleteMessageBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(m.handle.(string))}
	}
	out, err := q.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: entries})
	if err != nil {
		return 0, err
	}
	q.t.noteAttempts("delete", out.ResultMetadata)
	if len(out.Failed) > 0 {
		f := out.Failed[0]
		return len(out.Successful), &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message)}
	}
	return len(out.Successful), nil
}

func (q *sqsQueue) SendOne(ctx context.Context, m OutMsg) error {
	in := &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: aws.String(string(m.Body))}
	if q.fifo {
		in.MessageGroupId, in.MessageDeduplicationId = aws.String(m.Group), aws.String(m.DedupID)
	}
	_, err := q.c.SendMessage(ctx, in)
	return err
}

func (q *sqsQueue) ReceiveOne(ctx context.Context, wait time.Duration) (*InMsg, error) {
	out, err := q.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: &q.url, MaxNumberOfMessages: 1, WaitTimeSeconds: int32(wait / time.Second),
	})
	if err != nil || len(out.Messages) == 0 {
		return nil, err
	}
	m := out.Messages[0]
	return &InMsg{Body: []byte(aws.ToString(m.Body)), handle: aws.ToString(m.ReceiptHandle)}, nil
}

func (q *sqsQueue) DeleteOne(ctx context.Context, m InMsg) error {
	_, err := q.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.url, ReceiptHandle: aws.String(m.handle.(string))})
	return err
}

// EntryError is the failure of one entry of a batch call.
type EntryError struct {
	Code    string
	Message string
}

func (e *EntryError) Error() string { return e.Code + ": " + e.Message }

// errorCode classifies an error for the report: the API error code when there is one.
func errorCode(err error) string {
	var ee *EntryError
	var api interface{ ErrorCode() string }
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case errors.As(err, &api):
		return api.ErrorCode()
	case errors.Is(err, context.DeadlineExceeded):
		return "Timeout"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}
