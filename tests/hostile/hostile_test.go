// Package hostile checks that hostile clients cannot exhaust the server: a slowloris client, a
// flood of long polls and a 100 MiB body are each handled with bounded memory and goroutines,
// honest clients keep being served, and no stored message is lost. Each test logs what it
// measured (go test -v ./tests/hostile/); docs/security.md quotes the numbers.
package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/httpserver"
	"sluice/internal/protocol/awsjson"
	"sluice/internal/protocol/awsquery"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

type server struct {
	url    string
	svc    *queue.Service
	clock  *clock.Fake
	client *sqs.Client
	queue  string
}

// start runs a real server (httpserver.Serve on a TCP listener, disk engine) with the given
// limits, and stores n messages in a queue "kept" that the test checks afterwards.
func start(t *testing.T, so httpserver.ServeOptions, qo queue.Options, n int) *server {
	t.Helper()
	eng := sluicetest.OpenDisk(t, t.TempDir())
	fc := clock.NewFake(sluicetest.Start)
	qo.Engine, qo.Clock, qo.SweepEvery = eng, fc, -1
	svc := queue.New(qo)
	require.NoError(t, svc.Start(context.Background()))
	h := httpserver.NewHandler(httpserver.Options{Service: svc, JSON: awsjson.Codec{}, Query: awsquery.Codec{},
		MatchJSON: awsjson.Matches, Account: sluicetest.Account, Region: "us-east-1", Clock: fc})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	so.Grace = 5 * time.Second
	done := make(chan error, 1)
	go func() { done <- httpserver.Serve(ctx, ln, h, svc, so) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, eng.Close())
	})
	s := &server{url: "http://" + ln.Addr().String(), svc: svc, clock: fc}
	s.client = sluicetest.NewClient(s.url)
	out, err := s.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("kept")})
	require.NoError(t, err)
	s.queue = *out.QueueUrl
	for i := range n {
		_, err := s.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: out.QueueUrl, MessageBody: aws.String(fmt.Sprint("m", i))})
		require.NoError(t, err)
	}
	return s
}

// checkKept receives every stored message: none was lost.
func (s *server) checkKept(t *testing.T, n int) {
	t.Helper()
	seen := map[string]bool{}
	for len(seen) < n {
		out, err := s.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &s.queue, MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.NotEmpty(t, out.Messages, "only %d of %d stored messages left", len(seen), n)
		for _, m := range out.Messages {
			seen[*m.Body] = true
		}
	}
}

// honest checks that an ordinary client is served promptly.
func (s *server) honest(t *testing.T) time.Duration {
	t.Helper()
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := s.client.ListQueues(ctx, &sqs.ListQueuesInput{})
	require.NoError(t, err)
	return time.Since(t0)
}

type usage struct {
	goroutines int // all of the process's (the hostile clients run in it too)
	serving    int // the server's connection goroutines
	heapMiB    float64
}

// stackBuf is measure's buffer, allocated once so that measuring does not distort the heap.
var (
	stackMu  sync.Mutex
	stackBuf = make([]byte, 32<<20)
)

func measure() usage {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	stackMu.Lock()
	defer stackMu.Unlock()
	n := runtime.Stack(stackBuf, true)
	return usage{runtime.NumGoroutine(), bytes.Count(stackBuf[:n], []byte("net/http.(*conn).serve(")), float64(m.HeapInuse) / (1 << 20)}
}

// peak samples usage every 50 ms until stop is closed.
func peak(stop <-chan struct{}) <-chan usage {
	out := make(chan usage, 1)
	go func() {
		var p usage
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			u := measure()
			p.goroutines = max(p.goroutines, u.goroutines)
			p.serving = max(p.serving, u.serving)
			p.heapMiB = max(p.heapMiB, u.heapMiB)
			select {
			case <-stop:
				out <- p
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// TestSlowloris opens many connections that trickle their headers one byte at a time. The
// connection cap bounds what they hold, the header timeout cuts each of them off, and an
// honest client is still served.
func TestSlowloris(t *testing.T) {
	const conns, maxConns, stored = 400, 100, 50
	s := start(t, httpserver.ServeOptions{ReadHeaderTimeout: time.Second, MaxConns: maxConns}, queue.Options{}, stored)
	before := measure()
	stop := make(chan struct{})
	pk := peak(stop)

	addr := strings.TrimPrefix(s.url, "http://")
	var cs []net.Conn
	for range conns {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		require.NoError(t, err)
		cs = append(cs, c)
	}
	// Trickle: one header byte per connection every 100 ms, for 3 s (three header timeouts).
	header := "POST / HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
	closed := make([]bool, conns)
	for step := 0; step < 30; step++ {
		for i, c := range cs {
			if closed[i] {
				continue
			}
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := c.Write([]byte{header[step%len(header)]}); err != nil {
				closed[i] = true
			}
		}
		time.Sleep(100 * time.Millisecond) // real time: the server's header timeout is wall-clock
	}
	during := s.honest(t)
	// Every slow connection is closed by the server: reading gets EOF (or a reset).
	cut := 0
	for _, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if err == nil || !(errors.As(err, &ne) && ne.Timeout()) {
			cut++
		}
		c.Close()
	}
	close(stop)
	p := <-pk
	t.Logf("slowloris: %d connections trickling headers, cap %d, header timeout 1s: %d cut off by the server; peak server connection goroutines %d, peak goroutines %d (before %d), peak heap %.1f MiB (before %.1f); honest ListQueues during the attack took %v",
		conns, maxConns, cut, p.serving, p.goroutines, before.goroutines, p.heapMiB, before.heapMiB, during)
	require.Equal(t, conns, cut, "every slow connection is cut off")
	require.LessOrEqual(t, p.serving, maxConns, "connections served at once bounded by the cap")
	require.Less(t, p.goroutines, before.goroutines+2*maxConns+50, "goroutines bounded by the connection cap")
	s.checkKept(t, stored)
}

// TestLongPollFlood starts far more long polls than the cap: those over it are refused at once
// with RequestThrottled, the parked ones cost bounded memory, and all of them end.
func TestLongPollFlood(t *testing.T) {
	const polls, maxPolls, stored = 2000, 200, 50
	s := start(t, httpserver.ServeOptions{MaxConns: -1}, queue.Options{MaxLongPolls: maxPolls}, stored)
	q, err := s.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("empty")})
	require.NoError(t, err)
	before := measure()
	stop := make(chan struct{})
	pk := peak(stop)
	tr := &http.Transport{MaxIdleConnsPerHost: polls, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	status := map[int]int{}
	for range polls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", s.url+"/", strings.NewReader(`{"QueueUrl":"`+*q.QueueUrl+`","WaitTimeSeconds":20}`))
			req.Header.Set("Content-Type", "application/x-amz-json-1.0")
			req.Header.Set("X-Amz-Target", "AmazonSQS.ReceiveMessage")
			resp, err := hc.Do(req)
			code := -1
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			status[code]++
			mu.Unlock()
		}()
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return status[400] == polls-maxPolls && s.svc.LongPolls() == maxPolls
	}, 60*time.Second, 10*time.Millisecond)
	parked := measure()
	during := s.honest(t)
	s.clock.Advance(21 * time.Second) // every long poll ends, empty
	wg.Wait()
	close(stop)
	<-pk
	tr.CloseIdleConnections()
	// What remains are the honest SDK client's keep-alive connections.
	require.Eventually(t, func() bool { return measure().serving <= 4 }, 30*time.Second, 100*time.Millisecond, "connection goroutines end")
	after := measure()
	t.Logf("long-poll flood: %d concurrent 20-second receives, cap %d: %d throttled at once (400 RequestThrottled), %d answered empty after 20 s; while parked: %d waiting receives, %d server connection goroutines (keep-alive connections of the throttled clients included), %d goroutines in the process (before %d; the flood's clients run in it), heap %.1f MiB (before %.1f); after: %d goroutines; honest ListQueues during the flood took %v",
		polls, maxPolls, status[400], status[200], maxPolls, parked.serving, parked.goroutines, before.goroutines, parked.heapMiB, before.heapMiB, after.goroutines, during)
	require.Less(t, after.goroutines, before.goroutines+20, "no goroutine leaked")
	require.Equal(t, map[int]int{400: polls - maxPolls, 200: maxPolls}, status)
	require.Zero(t, s.svc.LongPolls())
	s.checkKept(t, stored)
}

// zeros is an endless reader of 'a' bytes, so that a 100 MiB body need not be in memory.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.n)
	for i := range p[:n] {
		p[i] = 'a'
	}
	z.n -= n
	return int(n), nil
}

// Test100MiBBody sends 100 MiB bodies, with and without a Content-Length, several at once:
// each is refused with SQS's message-too-long error after at most 5 MiB is read.
func Test100MiBBody(t *testing.T) {
	const size, parallel, stored = 100 << 20, 4, 50
	s := start(t, httpserver.ServeOptions{}, queue.Options{}, stored)
	runtime.GC()
	before := measure()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	stop := make(chan struct{})
	pk := peak(stop)
	var wg sync.WaitGroup
	results := make(chan string, 2*parallel)
	for i := range 2 * parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := io.Reader(&zeros{size})
			req, _ := http.NewRequest("POST", s.url+"/", io.MultiReader(strings.NewReader("Action=SendMessage&QueueUrl="+s.queue+"&MessageBody="), body))
			if i%2 == 0 {
				req.ContentLength = size + int64(len("Action=SendMessage&QueueUrl="+s.queue+"&MessageBody="))
			} else {
				req.ContentLength = -1 // chunked: the limit applies while reading
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
			if err != nil {
				// The server may answer and close before the upload ends; Go's client then
				// reports the write error rather than the response.
				results <- "closed: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- fmt.Sprintf("%d %s", resp.StatusCode, b)
		}()
	}
	wg.Wait()
	close(stop)
	close(results)
	p := <-pk
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	answered := 0
	for r := range results {
		if strings.HasPrefix(r, "400 ") {
			require.Contains(t, r, "Message must be shorter than 1048576 bytes")
			answered++
		}
	}
	t.Logf("100 MiB bodies: %d sent at once (half with Content-Length, half chunked): %d answered 400 InvalidParameterValue, the rest cut off; allocated %.1f MiB in all while %d MiB were offered; peak heap %.1f MiB (before %.1f); peak goroutines %d (before %d)",
		2*parallel, answered, float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), 2*parallel*size>>20, p.heapMiB, before.heapMiB, p.goroutines, before.goroutines)
	require.Positive(t, answered)
	require.Less(t, float64(m1.TotalAlloc-m0.TotalAlloc)/(1<<20), float64(2*parallel*(3*httpserver.MaxRequestBody>>20)+64),
		"at most a few times the 5 MiB limit is allocated per request")
	s.checkKept(t, stored)
	_ = s.honest(t)
}
