package loadgen

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"
)

// LeanTarget drives an SQS endpoint with a lean client: the SQS AWS JSON 1.0 protocol spoken
// directly over net/http, with the same requests on the wire as SQSTarget's SDK calls (the
// same actions, members and values; the X-Amz-Target, Content-Type and X-Amzn-Query-Mode
// headers) and the same MD5 checks of sent and received bodies. It exists for capacity runs on
// small machines, where the SDK's own CPU per message exceeds the server's; every table that
// shows a lean run also shows the run with the SDK.
//
// What it skips: SigV4 signing (it works against servers with authentication off, which is how
// benchmarks run them), retries (a failed call is reported as an error; the SDK target keeps
// its retries on) and the SDK's middleware (endpoint resolution, user agent, invocation ids).
type LeanTarget struct {
	endpoint  string
	endpoints []string // one per node when the spec names several
	next      atomic.Int64
	hc        *http.Client
	bufs      sync.Pool // *bytes.Buffer for request and response bodies
	null      bool      // the endpoint is a null server
}

// leanMaxConns is the lean client's idle connection cap per host: every producer and consumer
// the configuration allows (4096 each) keeps its connection, plus a few for queue calls.
const leanMaxConns = 2*4096 + 16

// NewLeanTarget returns a lean target for the SQS endpoint at url, or for several endpoints
// given as a comma-separated list (the nodes of one cluster: the queue is created through the
// first, and producers and consumers are spread over all of them), as NewSQSTarget does.
func NewLeanTarget(url string) *LeanTarget {
	return newLeanTarget(url, false)
}

// NewLeanNullTarget returns a lean target for a null server (NullServer) at url: its canned
// messages carry no ids, so scenarios do not check them.
func NewLeanNullTarget(url string) *LeanTarget {
	return newLeanTarget(url, true)
}

func newLeanTarget(url string, null bool) *LeanTarget {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = leanMaxConns
	tr.MaxIdleConnsPerHost = leanMaxConns
	t := &LeanTarget{endpoint: url, endpoints: strings.Split(url, ","), hc: &http.Client{Transport: tr}, null: null}
	t.bufs.New = func() any { return new(bytes.Buffer) }
	return t
}

// Kind implements Target.
func (t *LeanTarget) Kind() string {
	if t.null {
		return "null-lean"
	}
	return "sqs-lean"
}

// Endpoint implements Target.
func (t *LeanTarget) Endpoint() string { return t.endpoint }

// Durability implements Target.
func (t *LeanTarget) Durability() string { return sqsDurability(t.null) }

// Close implements Target.
func (t *LeanTarget) Close() error {
	t.hc.CloseIdleConnections()
	return nil
}

// CreateQueue implements Target, with the attributes SQSTarget sets.
func (t *LeanTarget) CreateQueue(ctx context.Context, spec QueueSpec) (Queue, error) {
	name := spec.Name
	attrs := map[string]string{}
	if spec.Visibility > 0 {
		attrs["VisibilityTimeout"] = strconv.Itoa(int(spec.Visibility / time.Second))
	}
	if spec.FIFO {
		name += ".fifo"
		attrs["FifoQueue"] = "true"
	}
	in := struct {
		Attributes map[string]string `json:"Attributes"`
		QueueName  string            `json:"QueueName"`
	}{attrs, name}
	var out struct{ QueueUrl string }
	if err := t.call(ctx, t.endpoints[0], "CreateQueue", &in, &out); err != nil {
		return nil, fmt.Errorf("creating queue %s: %w", name, err)
	}
	if out.QueueUrl == "" {
		return nil, fmt.Errorf("creating queue %s: the response has no QueueUrl", name)
	}
	return &leanQueue{t: t, endpoint: t.endpoints[0], url: out.QueueUrl, fifo: spec.FIFO}, nil
}

// LeanError is an error response of the SQS JSON protocol: a non-200 status with
// {"__type": "com.amazonaws.sqs#Code", "message": ...}.
type LeanError struct {
	Status int
	// Code is the code the SDK would report: the X-Amzn-Query-Error header's code when the
	// server sends one (SQS's query-compatible code, e.g.
	// AWS.SimpleQueueService.NonExistentQueue), else the error type without its namespace.
	Code    string
	Message string
}

// ErrorCode returns the code, as the SDK's API errors do (errorCode reads it).
func (e *LeanError) ErrorCode() string { return e.Code }

func (e *LeanError) Error() string {
	return fmt.Sprintf("HTTP %d: %s: %s", e.Status, e.Code, e.Message)
}

// checksumError is an MD5 mismatch between a body and the digest the server returned for it;
// the SDK fails the whole call on one, and so does the lean client.
type checksumError struct {
	op, id   string
	got, exp string
}

// ErrorCode names the failure in reports.
func (e *checksumError) ErrorCode() string { return "MD5Mismatch" }

func (e *checksumError) Error() string {
	return fmt.Sprintf("%s: message %s: MD5 of body %s, server returned %s", e.op, e.id, e.exp, e.got)
}

// checkMD5 compares the MD5 of body with the hex digest the server returned; an empty digest
// is not checked (the SDK skips absent ones).
func checkMD5(op, id string, body []byte, got string) error {
	if got == "" {
		return nil
	}
	sum := md5.Sum(body)
	var exp [2 * md5.Size]byte
	hex.Encode(exp[:], sum[:])
	if string(exp[:]) != got {
		return &checksumError{op: op, id: id, got: got, exp: string(exp[:])}
	}
	return nil
}

// call posts one action to endpoint, encoding in as its JSON body, and decodes a 200
// response into out (nil: the body is discarded). Any other status is a *LeanError.
func (t *LeanTarget) call(ctx context.Context, endpoint, action string, in, out any) error {
	req := t.bufs.Get().(*bytes.Buffer)
	defer t.putBuf(req)
	req.Reset()
	enc := json.NewEncoder(req)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(in); err != nil {
		return fmt.Errorf("%s: encoding the request: %w", action, err)
	}
	req.Truncate(req.Len() - 1) // Encode's newline: the SDK sends none
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(req.Bytes()))
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	hreq.Header.Set("Content-Type", "application/x-amz-json-1.0")
	hreq.Header.Set("X-Amz-Target", "AmazonSQS."+action)
	hreq.Header.Set("X-Amzn-Query-Mode", "true") // as the SDK sends it: SQS is query-compatible
	hreq.Header.Set("User-Agent", "sluice-bench-lean")
	resp, err := t.hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	defer resp.Body.Close()
	body := t.bufs.Get().(*bytes.Buffer)
	defer t.putBuf(body)
	body.Reset()
	if resp.ContentLength > 0 {
		body.Grow(int(resp.ContentLength))
	}
	if _, err := body.ReadFrom(resp.Body); err != nil {
		return fmt.Errorf("%s: reading the response: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %w", action, leanError(resp, body.Bytes()))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body.Bytes(), out); err != nil {
		return fmt.Errorf("%s: decoding the response: %w", action, err)
	}
	return nil
}

// putBuf returns a buffer to the pool, unless a large body made it too big to keep.
func (t *LeanTarget) putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		t.bufs.Put(b)
	}
}

// leanError decodes an error response as the SDK does: the error type from the
// X-Amzn-ErrorType header, else the body's __type (or code), without its namespace and any
// ":..." suffix; the X-Amzn-Query-Error header's code, when present, overrides it.
func leanError(resp *http.Response, body []byte) *LeanError {
	var info struct {
		Type    string `json:"__type"`
		Code    string `json:"code"`    // matches Code too
		Message string `json:"message"` // matches Message too
	}
	_ = json.Unmarshal(body, &info) // an undecodable body leaves the code unknown
	code := resp.Header.Get("X-Amzn-ErrorType")
	for _, c := range []string{info.Type, info.Code} {
		if code == "" {
			code = c
		}
	}
	code, _, _ = strings.Cut(code, ":")
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if q, _, _ := strings.Cut(resp.Header.Get("X-Amzn-Query-Error"), ";"); q != "" {
		code = q
	}
	if code == "" {
		code = "UnknownError"
	}
	msg := info.Message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return &LeanError{Status: resp.StatusCode, Code: code, Message: msg}
}

// leanQueue is one queue seen through one endpoint; it is its own producer and consumer, as
// sqsQueue is (it holds no per-goroutine state).
type leanQueue struct {
	t        *LeanTarget
	endpoint string
	url      string
	fifo     bool
}

func (q *leanQueue) NewProducer(context.Context) (Producer, error) { return q.onNextEndpoint(), nil }
func (q *leanQueue) NewConsumer(context.Context) (Consumer, error) { return q.onNextEndpoint(), nil }

// onNextEndpoint returns the queue as seen through the target's next endpoint.
func (q *leanQueue) onNextEndpoint() *leanQueue {
	if len(q.t.endpoints) < 2 {
		return q
	}
	c := *q
	c.endpoint = nextOf(q.t.endpoints, &q.t.next)
	return &c
}

func (q *leanQueue) Close() error { return nil }

func (q *leanQueue) Delete(ctx context.Context) error {
	in := struct {
		QueueUrl string `json:"QueueUrl"`
	}{q.url}
	if err := q.t.call(ctx, q.endpoint, "DeleteQueue", &in, nil); err != nil {
		return fmt.Errorf("deleting queue %s: %w", q.url, err)
	}
	return nil
}

// Depth returns the queue's visible and in-flight message counts, as the server reports them.
func (q *leanQueue) Depth(ctx context.Context) (visible, inFlight int64, err error) {
	in := struct {
		AttributeNames []string `json:"AttributeNames"`
		QueueUrl       string   `json:"QueueUrl"`
	}{[]string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}, q.url}
	var out struct{ Attributes map[string]string }
	if err := q.t.call(ctx, q.endpoint, "GetQueueAttributes", &in, &out); err != nil {
		return 0, 0, err
	}
	visible, _ = strconv.ParseInt(out.Attributes["ApproximateNumberOfMessages"], 10, 64)
	inFlight, _ = strconv.ParseInt(out.Attributes["ApproximateNumberOfMessagesNotVisible"], 10, 64)
	return visible, inFlight, nil
}

// leanSendEntry is a SendMessageBatch entry; nil members are left out, as the SDK leaves out
// unset ones (a FIFO queue's empty group or deduplication id is sent, as the SDK sends it).
type leanSendEntry struct {
	Id                     string  `json:"Id"`
	MessageBody            string  `json:"MessageBody"`
	MessageDeduplicationId *string `json:"MessageDeduplicationId,omitempty"`
	MessageGroupId         *string `json:"MessageGroupId,omitempty"`
}

type leanBatchError struct {
	Id, Code, Message string
	SenderFault       bool
}

func (q *leanQueue) SendBatch(ctx context.Context, msgs []OutMsg) ([]error, error) {
	entries := make([]leanSendEntry, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		entries[i] = leanSendEntry{Id: strconv.Itoa(i), MessageBody: string(m.Body)}
		if q.fifo || m.Group != "" { // on a standard queue, a group id names a fair-queue tenant
			entries[i].MessageGroupId = &m.Group
		}
		if q.fifo {
			entries[i].MessageDeduplicationId = &m.DedupID
		}
	}
	in := struct {
		Entries  []leanSendEntry `json:"Entries"`
		QueueUrl string          `json:"QueueUrl"`
	}{entries, q.url}
	var out struct {
		Successful []struct{ Id, MessageId, MD5OfMessageBody string }
		Failed     []leanBatchError
	}
	if err := q.t.call(ctx, q.endpoint, "SendMessageBatch", &in, &out); err != nil {
		return nil, err
	}
	for _, s := range out.Successful {
		i, err := strconv.Atoi(s.Id)
		if err != nil || i < 0 || i >= len(msgs) {
			return nil, fmt.Errorf("SendMessageBatch: unknown entry id %q in Successful", s.Id)
		}
		if err := checkMD5("SendMessageBatch", s.MessageId, msgs[i].Body, s.MD5OfMessageBody); err != nil {
			return nil, err
		}
	}
	errs := make([]error, len(msgs))
	for _, f := range out.Failed {
		i, err := strconv.Atoi(f.Id)
		if err != nil || i < 0 || i >= len(msgs) {
			return nil, fmt.Errorf("SendMessageBatch: unknown entry id %q in Failed", f.Id)
		}
		errs[i] = &EntryError{Code: f.Code, Message: f.Message}
	}
	if len(out.Successful)+len(out.Failed) != len(msgs) {
		return nil, fmt.Errorf("SendMessageBatch: %d entries sent, %d answered", len(msgs), len(out.Successful)+len(out.Failed))
	}
	return errs, nil
}

// leanReceiveIn is a ReceiveMessage request; zero members are left out, as the SDK does.
type leanReceiveIn struct {
	MaxNumberOfMessages int32  `json:"MaxNumberOfMessages,omitempty"`
	QueueUrl            string `json:"QueueUrl"`
	WaitTimeSeconds     int32  `json:"WaitTimeSeconds,omitempty"`
}

type leanMessage struct {
	MessageId, ReceiptHandle, MD5OfBody, Body string
}

// Receive receives up to max messages with ReceiveMessage and checks their MD5s.
func (q *leanQueue) Receive(ctx context.Context, max int, wait time.Duration) ([]InMsg, error) {
	in := leanReceiveIn{MaxNumberOfMessages: int32(max), QueueUrl: q.url, WaitTimeSeconds: int32(wait / time.Second)}
	var out struct{ Messages []leanMessage }
	if err := q.t.call(ctx, q.endpoint, "ReceiveMessage", &in, &out); err != nil {
		return nil, err
	}
	msgs := make([]InMsg, len(out.Messages))
	for i, m := range out.Messages {
		msgs[i] = InMsg{Body: []byte(m.Body), handle: m.ReceiptHandle}
		if err := checkMD5("ReceiveMessage", m.MessageId, msgs[i].Body, m.MD5OfBody); err != nil {
			return nil, err
		}
	}
	return msgs, nil
}

type leanDeleteEntry struct {
	Id            string `json:"Id"`
	ReceiptHandle string `json:"ReceiptHandle"`
}

func (q *leanQueue) Ack(ctx context.Context, msgs []InMsg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	entries := make([]leanDeleteEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = leanDeleteEntry{Id: strconv.Itoa(i), ReceiptHandle: m.handle.(string)}
	}
	in := struct {
		Entries  []leanDeleteEntry `json:"Entries"`
		QueueUrl string            `json:"QueueUrl"`
	}{entries, q.url}
	var out struct {
		Successful []struct{ Id string }
		Failed     []leanBatchError
	}
	if err := q.t.call(ctx, q.endpoint, "DeleteMessageBatch", &in, &out); err != nil {
		return 0, err
	}
	if len(out.Failed) > 0 {
		f := out.Failed[0]
		return len(out.Successful), &EntryError{Code: f.Code, Message: f.Message}
	}
	return len(out.Successful), nil
}

// SendOne implements Unbatched with SendMessage.
func (q *leanQueue) SendOne(ctx context.Context, m OutMsg) error {
	in := struct {
		MessageBody            string  `json:"MessageBody"`
		MessageDeduplicationId *string `json:"MessageDeduplicationId,omitempty"`
		MessageGroupId         *string `json:"MessageGroupId,omitempty"`
		QueueUrl               string  `json:"QueueUrl"`
	}{MessageBody: string(m.Body), QueueUrl: q.url}
	if q.fifo {
		in.MessageGroupId, in.MessageDeduplicationId = &m.Group, &m.DedupID
	}
	var out struct{ MessageId, MD5OfMessageBody string }
	if err := q.t.call(ctx, q.endpoint, "SendMessage", &in, &out); err != nil {
		return err
	}
	return checkMD5("SendMessage", out.MessageId, m.Body, out.MD5OfMessageBody)
}

// ReceiveOne implements Unbatched with a ReceiveMessage of one; nil when none came.
func (q *leanQueue) ReceiveOne(ctx context.Context, wait time.Duration) (*InMsg, error) {
	got, err := q.Receive(ctx, 1, wait)
	if err != nil || len(got) == 0 {
		return nil, err
	}
	return &got[0], nil
}

// DeleteOne implements Unbatched with DeleteMessage.
func (q *leanQueue) DeleteOne(ctx context.Context, m InMsg) error {
	in := struct {
		QueueUrl      string `json:"QueueUrl"`
		ReceiptHandle string `json:"ReceiptHandle"`
	}{q.url, m.handle.(string)}
	return q.t.call(ctx, q.endpoint, "DeleteMessage", &in, nil)
}
