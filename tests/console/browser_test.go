// Package console_test drives the web console in headless Chromium (chromedp): it opens the
// console of an in-process server, sees a queue's depth change after sends, watches the live
// chart fill, peeks a message, starts a dead-letter redrive and sees it complete, and keeps a
// screenshot. Chromium must be installed (scripts/test-deps.sh installs Debian's); without it
// the test skips, except under CI=true where it fails. Screenshots go to $SLUICE_TEST_ARTIFACTS
// (default: sluice-console-artifacts in the temporary directory).
package console_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"sluice/internal/clock"
	"sluice/internal/console"
	"sluice/internal/engine/memengine"
	"sluice/internal/history"
	"sluice/internal/httpserver"
	"sluice/internal/protocol/awsjson"
	"sluice/internal/protocol/awsquery"
	"sluice/internal/queue"
	"sluice/internal/sluicetest"
)

func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/test-deps.sh installs it)")
	}
	t.Skip("chromium is not installed; apt-get install chromium (CI=true makes this a failure)")
	return ""
}

// server runs the SQS API and the console on one httptest server, with a history sampled every
// 200 ms so that the chart fills quickly.
func server(t *testing.T) string {
	t.Helper()
	eng := memengine.New()
	hist := history.New(history.Options{Engine: eng, Clock: clock.Real{}, Interval: 200 * time.Millisecond})
	svc := queue.New(queue.Options{Engine: eng, Clock: clock.Real{}, PurgeInterval: -1, Observer: hist})
	require.NoError(t, svc.Start(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	go hist.Run(ctx)
	c, err := console.New(console.Options{Service: svc, History: hist, Account: sluicetest.Account, Region: "us-east-1",
		Token: console.NewToken(), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/console/", c)
	mux.Handle("/", httpserver.NewHandler(httpserver.Options{Service: svc, JSON: awsjson.Codec{}, Query: awsquery.Codec{},
		MatchJSON: awsjson.Matches, Account: sluicetest.Account, Region: "us-east-1"}))
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { cancel(); svc.Close(); hs.Close(); _ = eng.Close() })
	return hs.URL
}

func artifactDir(t *testing.T) string {
	if d := os.Getenv("SLUICE_TEST_ARTIFACTS"); d != "" {
		require.NoError(t, os.MkdirAll(d, 0o755))
		return d
	}
	// Kept after the test (t.TempDir would remove it): CI can collect it.
	d := filepath.Join(os.TempDir(), "sluice-console-artifacts")
	require.NoError(t, os.MkdirAll(d, 0o755))
	return d
}

func TestConsoleInBrowser(t *testing.T) {
	exe := chromium(t)
	url := server(t)
	client := sluicetest.NewClient(url)
	ctx := context.Background()
	_, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs-dlq")})
	require.NoError(t, err)
	jobs, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs"), Attributes: map[string]string{
		"VisibilityTimeout": "0",
		"RedrivePolicy":     `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:jobs-dlq","maxReceiveCount":1}`}})
	require.NoError(t, err)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1100, 1400))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// The list shows the queue, empty. (The first call starts the browser, without a timeout.)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(url+"/console/")))
	require.Equal(t, "0", text(t, bctx, `tr[data-queue="jobs"] td.visible`))

	// The queue page's live numbers follow sends without a reload, and the chart fills.
	do(t, bctx, chromedp.Navigate(url+"/console/queues/000000000000/jobs"), chromedp.WaitVisible(chromedp.ID("depth-chart")))
	for i := range 5 {
		_, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: jobs.QueueUrl, MessageBody: aws.String("job " + strconv.Itoa(i))})
		require.NoError(t, err)
	}
	waitText(t, bctx, "#visible", "5")
	require.Eventually(t, func() bool {
		n, _ := strconv.Atoi(attr(bctx, "#depth-chart", "data-points"))
		return n >= 2
	}, 30*time.Second, 100*time.Millisecond, "the chart has samples")
	require.Eventually(t, func() bool { return attr(bctx, "#depth-chart", "data-last") == "5,0,0" },
		30*time.Second, 100*time.Millisecond, "the chart's last point is the depth")

	// Peek: the messages are shown, and still visible afterwards.
	do(t, bctx, chromedp.Click(chromedp.ID("peek-button")), chromedp.WaitVisible(chromedp.ID("peeked")))
	peeked := text(t, bctx, "#peeked")
	require.Contains(t, peeked, "job 0")
	require.Contains(t, peeked, "job 4")
	waitText(t, bctx, "#visible", "5")
	shot(t, bctx, "console-queue.png")

	// Dead-letter one message (received once, maxReceiveCount 1), then redrive it from the
	// DLQ's page and watch the task complete.
	_, err = client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: jobs.QueueUrl})
	require.NoError(t, err)
	_, err = client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: jobs.QueueUrl, MessageBody: aws.String("poison")})
	require.NoError(t, err)
	for range 2 {
		_, err = client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: jobs.QueueUrl})
		require.NoError(t, err)
	}
	do(t, bctx, chromedp.Navigate(url+"/console/queues/000000000000/jobs-dlq"), chromedp.WaitVisible(chromedp.ID("redrive-form")))
	waitText(t, bctx, "#visible", "1")
	do(t, bctx, chromedp.Submit(chromedp.ID("redrive-form")), chromedp.WaitVisible(chromedp.ID("flash")))
	waitText(t, bctx, "#tasks td.status", "COMPLETED")
	waitText(t, bctx, "#visible", "0")
	shot(t, bctx, "console-redrive.png")
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: jobs.QueueUrl,
		AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages"}})
	require.NoError(t, err)
	require.Equal(t, "1", out.Attributes["ApproximateNumberOfMessages"], "the message is back in its source queue")
}

// do runs steps with a timeout.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// text returns the visible text of the element sel (a CSS selector).
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	require.NoError(t, err)
	return s
}

// attr returns an attribute of the element sel, or "" (when it is absent or on error).
func attr(ctx context.Context, sel, name string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err != nil {
		return ""
	}
	return r.Value
}

// waitText waits until the element's text is want (the page refreshes it live).
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
		return err == nil && s == want
	}, 30*time.Second, 100*time.Millisecond, "%s: want %q", sel, want)
}

// shot saves a screenshot of the page as a test artifact.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	p := filepath.Join(artifactDir(t), name)
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s", p)
}
