// Package faults tests what clients see when the disk under the server fails: an SQS client
// (aws-sdk-go-v2) talks to an in-process server whose disk engine runs on a file system with
// switchable faults (faultfs). Under a fault the server answers every request with the
// retryable 503 ServiceUnavailable (never a 500, never a dropped connection), acknowledges
// nothing it did not persist, and keeps answering; after a restart (with or without a power
// loss) everything acknowledged before the fault is there.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/require"

	"sluice/internal/engine"
	"sluice/internal/engine/diskengine"
	"sluice/internal/engine/diskengine/faultfs"
	"sluice/internal/sluicetest"
)

const dataDir = "/data"

// server is a test server over a disk engine on fs.
type server struct {
	*sluicetest.Server
	eng engine.Engine
	// c has SDK retries disabled, so that tests see each answer.
	c *sqs.Client
}

func start(t *testing.T, fs vfs.FS) *server {
	t.Helper()
	e, err := diskengine.Open(t.Context(), diskengine.Options{Dir: dataDir, FS: fs})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	srv := sluicetest.NewServer(t, sluicetest.Options{Engine: e, KeepEngine: true})
	return &server{Server: srv, eng: e, c: client(srv.URL, aws.NopRetryer{})}
}

// stop stops the server and closes its engine, which reports the store's failure.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.Close()
	require.ErrorIs(t, s.eng.Close(), diskengine.ErrStoreFailed)
}

// client returns an SQS client for endpoint with the given retryer. It opens a connection per
// request: with retries off, aws-sdk-go-v2 can fail to read a response on a reused connection
// against a fast local server ("use of closed network connection", its issues #1825 and
// #2935), and these tests must see every answer.
func client(endpoint string, r aws.Retryer) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:      r,
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DisableKeepAlives = true
		}),
	})
}

// retrying is the SDK's standard retryer (3 attempts, retrying 503s) without the backoff
// delay, so that tests need not wait.
func retrying() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

// requireUnavailable checks that err is the answer 503 ServiceUnavailable.
func requireUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	require.Error(t, err, what)
	var ae smithy.APIError
	require.True(t, errors.As(err, &ae), "%s: not an API error: %v", what, err)
	require.Equal(t, "ServiceUnavailable", ae.ErrorCode(), "%s: %v", what, err)
	require.Equal(t, smithy.FaultServer, ae.ErrorFault(), what)
	var re *awshttp.ResponseError
	require.True(t, errors.As(err, &re), "%s: no HTTP response: %v", what, err)
	require.Equal(t, http.StatusServiceUnavailable, re.HTTPStatusCode(), what)
}

func (s *server) create(t *testing.T, name string, attrs map[string]string) string {
	t.Helper()
	out, err := s.c.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	require.NoError(t, err)
	return *out.QueueUrl
}

// drain receives every message of a queue and returns their bodies, sorted.
func (s *server) drain(t *testing.T, q string) []string {
	t.Helper()
	var out []string
	for {
		res, err := s.c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &q, MaxNumberOfMessages: 10, VisibilityTimeout: 600})
		require.NoError(t, err)
		if len(res.Messages) == 0 {
			break
		}
		for _, m := range res.Messages {
			out = append(out, *m.Body)
		}
	}
	slices.Sort(out)
	return out
}

// rawQuery posts a query-protocol request and returns the status and body.
func rawQuery(t *testing.T, endpoint string, form url.Values) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint+"/", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestFaultAnswers503 runs a workload, turns a storage fault on, and checks that every kind of
// request is answered 503 ServiceUnavailable, in both protocols, that the server keeps
// answering after the fault clears (still 503: the store needs a restart), and that after a
// restart (and after a power loss) the acknowledged messages are there and the acknowledged
// delete is not.
func TestFaultAnswers503(t *testing.T) {
	t.Parallel()
	for _, f := range faultfs.Faults {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			disk := faultfs.New()
			s := start(t, disk.FS())
			ctx := t.Context()
			q := s.create(t, "q", nil)
			fq := s.create(t, "q.fifo", map[string]string{"FifoQueue": "true"})
			for _, b := range []string{"m1", "m2", "m3", "m4"} {
				_, err := s.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String(b)})
				require.NoError(t, err)
			}
			_, err := s.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &fq, MessageBody: aws.String("f1"),
				MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d1")})
			require.NoError(t, err)
			got, err := s.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, MaxNumberOfMessages: 2, VisibilityTimeout: 30})
			require.NoError(t, err)
			require.Len(t, got.Messages, 2)
			require.Equal(t, "m1", *got.Messages[0].Body)
			_, err = s.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: got.Messages[0].ReceiptHandle})
			require.NoError(t, err)
			inFlight := got.Messages[1].ReceiptHandle // m2

			disk.Set(f)
			del := &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: inFlight}
			_, err = s.c.DeleteMessage(ctx, del)
			requireUnavailable(t, "DeleteMessage", err)
			_, err = s.c.DeleteMessage(ctx, del)
			requireUnavailable(t, "DeleteMessage again", err)
			_, err = s.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String("lost")})
			requireUnavailable(t, "SendMessage", err)
			dedup := &sqs.SendMessageInput{QueueUrl: &fq, MessageBody: aws.String("f2"),
				MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d2")}
			_, err = s.c.SendMessage(ctx, dedup)
			requireUnavailable(t, "SendMessage FIFO", err)
			_, err = s.c.SendMessage(ctx, dedup)
			requireUnavailable(t, "SendMessage FIFO again", err)
			_, err = s.c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q, Entries: []types.SendMessageBatchRequestEntry{
				{Id: aws.String("a"), MessageBody: aws.String("lost-a")}, {Id: aws.String("b"), MessageBody: aws.String("lost-b")}}})
			requireUnavailable(t, "SendMessageBatch", err)
			_, err = s.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, MaxNumberOfMessages: 10})
			requireUnavailable(t, "ReceiveMessage", err)
			_, err = s.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &q, ReceiptHandle: inFlight, VisibilityTimeout: 0})
			requireUnavailable(t, "ChangeMessageVisibility", err)
			_, err = s.c.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q, Entries: []types.DeleteMessageBatchRequestEntry{
				{Id: aws.String("a"), ReceiptHandle: inFlight}}})
			requireUnavailable(t, "DeleteMessageBatch", err)
			_, err = s.c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("new")})
			requireUnavailable(t, "CreateQueue", err)
			_, err = s.c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")})
			requireUnavailable(t, "GetQueueUrl", err)
			_, err = s.c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &q, AttributeNames: []types.QueueAttributeName{"All"}})
			requireUnavailable(t, "GetQueueAttributes", err)
			_, err = s.c.ListQueues(ctx, &sqs.ListQueuesInput{})
			requireUnavailable(t, "ListQueues", err)
			_, err = s.c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &q})
			requireUnavailable(t, "PurgeQueue", err)
			// The query protocol answers alike.
			status, body := rawQuery(t, s.URL, url.Values{"Action": {"SendMessage"}, "QueueUrl": {q}, "MessageBody": {"lost"}})
			require.Equal(t, http.StatusServiceUnavailable, status, body)
			require.Contains(t, body, "<Code>ServiceUnavailable</Code>")

			// The fault clears: the server still answers, 503 until it is restarted.
			disk.Set(faultfs.None)
			_, err = s.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String("late")})
			requireUnavailable(t, "SendMessage after the fault", err)
			crashed := disk.Crashed()
			s.stop(t)

			for _, restart := range []struct {
				name string
				fs   vfs.FS
			}{{"power loss", crashed}, {"restart", disk.Mem()}} {
				t.Run(restart.name, func(t *testing.T) {
					s := start(t, restart.fs)
					s.Clock.Advance(time.Minute) // m2's visibility timeout
					got := s.drain(t, q)
					// m1's delete was acknowledged. m2's delete and the sends under the fault
					// were not: they may or may not have reached the disk.
					rest := slices.DeleteFunc(slices.Clone(got), func(b string) bool {
						return b == "m2" || strings.HasPrefix(b, "lost")
					})
					require.Equal(t, []string{"m3", "m4"}, rest, "queue holds %v", got)
					fifo := s.drain(t, fq)
					require.NotEmpty(t, fifo)
					require.Equal(t, "f1", fifo[0], "FIFO queue holds %v", fifo)
					_, err := s.c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String("works")})
					require.NoError(t, err)
					s.Close()
					require.NoError(t, s.eng.Close())
				})
			}
		})
	}
}

// TestRetriesNotAcknowledged: with the SDK's standard retries (which retry a 503), a delete and
// a FIFO send made while the disk is full must fail, and after a restart the message of the
// delete is back and the FIFO message is not there. Before the fix, the engine acknowledged the
// retry of each (its index already showed the message deleted, or the deduplication id
// taken), so the client saw success for writes that never reached the disk.
func TestRetriesNotAcknowledged(t *testing.T) {
	t.Parallel()
	disk := faultfs.New()
	s := start(t, disk.FS())
	ctx := t.Context()
	c := client(s.URL, retrying())
	q := s.create(t, "q", nil)
	fq := s.create(t, "q.fifo", map[string]string{"FifoQueue": "true"})
	_, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: aws.String("m")})
	require.NoError(t, err)
	got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, VisibilityTimeout: 30})
	require.NoError(t, err)
	require.Len(t, got.Messages, 1)

	disk.Set(faultfs.WriteENOSPC)
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: got.Messages[0].ReceiptHandle})
	requireUnavailable(t, "DeleteMessage with retries", err)
	_, err = c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &fq, MessageBody: aws.String("f"),
		MessageGroupId: aws.String("g"), MessageDeduplicationId: aws.String("d")})
	requireUnavailable(t, "SendMessage FIFO with retries", err)
	disk.Set(faultfs.None)
	crashed := disk.Crashed()
	s.stop(t)

	s = start(t, crashed)
	s.Clock.Advance(time.Minute)
	require.Equal(t, []string{"m"}, s.drain(t, q), "the delete was not stored")
	require.Empty(t, s.drain(t, fq), "the FIFO send was not stored")
}

// TestFaultUnderConcurrentLoad turns a fault on while clients send and delete concurrently.
// Every answer is a success or 503 ServiceUnavailable; after a power loss every acknowledged
// send is there and no acknowledged delete is undone.
func TestFaultUnderConcurrentLoad(t *testing.T) {
	t.Parallel()
	for _, f := range []faultfs.Fault{faultfs.SyncEIO, faultfs.ShortWrite} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			disk := faultfs.New()
			s := start(t, disk.FS())
			q := s.create(t, "q", nil)
			const workers, perWorker, faultAfter = 4, 60, 80
			var (
				mu                   sync.Mutex
				sent, tried, deleted = map[string]bool{}, map[string]bool{}, map[string]bool{}
				ops, refused         atomic.Int64
				wg                   sync.WaitGroup
			)
			// check requires a 503 ServiceUnavailable: never a 500, never a dropped answer.
			check := func(what string, err error) {
				var ae smithy.APIError
				var re *awshttp.ResponseError
				if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailable" || !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
					t.Errorf("%s: %v", what, err)
				}
				refused.Add(1)
			}
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for i := range perWorker {
						if ops.Add(1) == faultAfter {
							disk.Set(f)
						}
						body := fmt.Sprintf("w%d-%03d-%s", w, i, strings.Repeat("x", (i%8)*2500))
						_, err := s.c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &q, MessageBody: &body})
						if err != nil {
							check("SendMessage", err)
							continue
						}
						mu.Lock()
						sent[body] = true
						mu.Unlock()
						res, err := s.c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, VisibilityTimeout: 600})
						if err != nil {
							check("ReceiveMessage", err)
							continue
						}
						for _, m := range res.Messages {
							mu.Lock()
							tried[*m.Body] = true
							mu.Unlock()
							_, err := s.c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q, ReceiptHandle: m.ReceiptHandle})
							if err != nil {
								check("DeleteMessage", err)
								continue
							}
							mu.Lock()
							deleted[*m.Body] = true
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			disk.Set(faultfs.None)
			crashed := disk.Crashed()
			s.stop(t)
			t.Logf("%d sends and %d deletes acknowledged, %d calls refused with 503",
				len(sent), len(deleted), refused.Load())
			require.Positive(t, refused.Load())

			s = start(t, crashed)
			have := map[string]bool{}
			for _, b := range s.drain(t, q) {
				have[b] = true
			}
			for b := range sent {
				if !have[b] && !tried[b] {
					t.Errorf("acknowledged send %s missing after the power loss", b[:8])
				}
			}
			for b := range deleted {
				if have[b] {
					t.Errorf("acknowledged delete of %s undone after the power loss", b[:8])
				}
			}
		})
	}
}
