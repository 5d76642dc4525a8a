package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The operator commands talk to a running server over HTTP only: the SQS API through
// aws-sdk-go-v2, and the console's JSON API for what SQS lacks (peeking). They never open a
// store.

const ctlUsage = `Operator commands (they talk to a running server, never to its store):
  sluice queues                       list queues with visible, in-flight and delayed messages
  sluice stats QUEUE                  a queue's counts, oldest message age and attributes
  sluice peek [-n N] QUEUE            the next messages a receive would get, without receiving them
  sluice send QUEUE BODY              send a message (-group, -dedup for FIFO queues, -delay)
  sluice redrive [-no-wait] DLQ       move a dead-letter queue's messages back to their sources
                                      (or -to QUEUE) and watch the move task until it ends
  sluice queue create|delete|purge|attrs QUEUE
                                      create (-fifo), delete or purge a queue, or print its attributes

Common flags: -endpoint URL (env SLUICE_ENDPOINT, default http://127.0.0.1:9324), -region;
credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (dummies when unset). peek and
the oldest age use the console API (-console-url, default the endpoint); off the loopback
interface they need -console-token (env SLUICE_CONSOLE_TOKEN).
`

// ctl holds what every operator command needs.
type ctl struct {
	client     *sqs.Client
	endpoint   string
	consoleURL string
	token      string
	user, pass string // Basic auth for the console API when no token is given
	stdout     io.Writer
	http       *http.Client
}

// ctlFlags registers the common flags on fs and returns a function that builds the ctl once
// fs has been parsed.
func ctlFlags(fs *flag.FlagSet, stdout io.Writer, getenv func(string) string) func() *ctl {
	def := func(env, fallback string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fallback
	}
	endpoint := fs.String("endpoint", def("SLUICE_ENDPOINT", "http://127.0.0.1:9324"), "the server's SQS endpoint (env SLUICE_ENDPOINT)")
	region := fs.String("region", def("AWS_REGION", def("AWS_DEFAULT_REGION", "us-east-1")), "region to sign requests for")
	consoleURL := fs.String("console-url", getenv("SLUICE_CONSOLE_URL"), "base URL of the console API (default: the endpoint; env SLUICE_CONSOLE_URL)")
	token := fs.String("console-token", getenv("SLUICE_CONSOLE_TOKEN"), "console token, needed off the loopback interface (env SLUICE_CONSOLE_TOKEN)")
	return func() *ctl {
		key, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
		if key == "" || secret == "" {
			key, secret = "sluice", "sluice"
		}
		ep := strings.TrimRight(*endpoint, "/")
		c := &ctl{endpoint: ep, consoleURL: strings.TrimRight(*consoleURL, "/"), token: *token, user: key, pass: secret,
			stdout: stdout, http: &http.Client{Timeout: 30 * time.Second}}
		if c.consoleURL == "" {
			c.consoleURL = ep
		}
		c.client = sqs.New(sqs.Options{Region: *region, BaseEndpoint: aws.String(ep),
			Credentials: credentials.NewStaticCredentialsProvider(key, secret, getenv("AWS_SESSION_TOKEN"))})
		return c
	}
}

// operate runs one operator command.
func operate(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("sluice "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, ctlUsage); fs.PrintDefaults() }
	build := ctlFlags(fs, stdout, getenv)
	var (
		n       *int
		group   *string
		dedup   *string
		delay   *int
		noWait  *bool
		to      *string
		rate    *int
		fifo    *bool
		nargs   = 1
		usageOf = cmd + " QUEUE"
	)
	switch cmd {
	case "queues":
		nargs, usageOf = 0, "queues"
	case "peek":
		n = fs.Int("n", 10, "how many messages (1 to 100)")
	case "send":
		group = fs.String("group", "", "MessageGroupId (FIFO queues)")
		dedup = fs.String("dedup", "", "MessageDeduplicationId (FIFO queues without content-based deduplication)")
		delay = fs.Int("delay", -1, "DelaySeconds (default: the queue's)")
		nargs, usageOf = 2, "send QUEUE BODY"
	case "redrive":
		noWait = fs.Bool("no-wait", false, "start the move task and return")
		to = fs.String("to", "", "move to this queue instead of back to each message's source queue")
		rate = fs.Int("rate", 0, "MaxNumberOfMessagesPerSecond (default: as fast as possible)")
		usageOf = "redrive DLQ"
	case "queue":
		fifo = fs.Bool("fifo", false, "create a FIFO queue (the name must end in .fifo)")
		nargs, usageOf = 2, "queue create|delete|purge|attrs QUEUE"
	}
	var sub []string
	if cmd == "queue" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		// sluice queue create -fifo NAME: the subcommand comes before its flags.
		sub, args, nargs = args[:1], args[1:], 1
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != nargs {
		return fmt.Errorf("usage: sluice %s (sluice %s -h for the flags)", usageOf, cmd)
	}
	c := build()
	a := append(sub, fs.Args()...)
	switch cmd {
	case "queues":
		return c.queues(ctx)
	case "stats":
		return c.stats(ctx, a[0])
	case "peek":
		return c.peek(ctx, a[0], *n)
	case "send":
		return c.send(ctx, a[0], a[1], *group, *dedup, *delay)
	case "redrive":
		return c.redrive(ctx, a[0], *to, *rate, !*noWait)
	}
	switch a[0] {
	case "create":
		return c.create(ctx, a[1], *fifo)
	case "delete", "purge", "attrs":
		return c.queueOp(ctx, a[0], a[1])
	}
	return fmt.Errorf("unknown queue command %q: create, delete, purge or attrs", a[0])
}

// sdkError returns a short form of an SDK error: the API's code and message.
func sdkError(what string, err error) error {
	var ae interface {
		ErrorCode() string
		ErrorMessage() string
	}
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s: %s", what, ae.ErrorCode(), ae.ErrorMessage())
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (c *ctl) queueURL(ctx context.Context, name string) (string, error) {
	out, err := c.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return "", sdkError("queue "+name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func (c *ctl) attrs(ctx context.Context, u string) (map[string]string, error) {
	out, err := c.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
	if err != nil {
		return nil, sdkError("getting attributes", err)
	}
	return out.Attributes, nil
}

func (c *ctl) queues(ctx context.Context) error {
	var urls []string
	p := sqs.NewListQueuesPaginator(c.client, &sqs.ListQueuesInput{MaxResults: aws.Int32(1000)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return sdkError("listing queues", err)
		}
		urls = append(urls, out.QueueUrls...)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "QUEUE\tVISIBLE\tIN FLIGHT\tDELAYED\t")
	for _, u := range urls {
		a, err := c.attrs(ctx, u)
		if err != nil {
			continue // deleted since the list
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", u[strings.LastIndex(u, "/")+1:], a["ApproximateNumberOfMessages"],
			a["ApproximateNumberOfMessagesNotVisible"], a["ApproximateNumberOfMessagesDelayed"])
	}
	return tw.Flush()
}

func (c *ctl) stats(ctx context.Context, name string) error {
	u, err := c.queueURL(ctx, name)
	if err != nil {
		return err
	}
	a, err := c.attrs(ctx, u)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s\n  visible    %s\n  in flight  %s\n  delayed    %s\n", name, a["ApproximateNumberOfMessages"],
		a["ApproximateNumberOfMessagesNotVisible"], a["ApproximateNumberOfMessagesDelayed"])
	if ms, err := c.peekAPI(ctx, u, 1); err == nil && len(ms) == 1 {
		fmt.Fprintf(c.stdout, "  oldest     %s\n", time.Since(ms[0].SentAt).Round(time.Second))
	}
	fmt.Fprintln(c.stdout, "attributes:")
	return c.printAttrs(a)
}

func (c *ctl) printAttrs(a map[string]string) error {
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\n", k, a[k])
	}
	return tw.Flush()
}

// peekedMessage is a message as the console API returns it.
type peekedMessage struct {
	MessageID    string            `json:"messageId"`
	Body         string            `json:"body"`
	SentAt       time.Time         `json:"sentAt"`
	ReceiveCount int               `json:"receiveCount"`
	GroupID      string            `json:"messageGroupId"`
	SourceArn    string            `json:"deadLetterQueueSourceArn"`
	Attributes   map[string]string `json:"attributes"`
}

// authorize adds the operator's credentials: the console token, else the access key.
func (c *ctl) authorize(req *http.Request) {
	if c.token != "" {
		req.SetBasicAuth("sluice", c.token)
	} else {
		req.SetBasicAuth(c.user, c.pass)
	}
}

// do sends an HTTP request with a JSON body (nil for none) to the console or admin API,
// authenticated as the ctl's token or user, and returns the response with its body read up
// to limit bytes (and closed).
func (c *ctl) do(ctx context.Context, method, u string, body []byte, limit int64) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp, out, nil
}

// peekAPI calls the console's peek API for the queue at URL u.
func (c *ctl) peekAPI(ctx context.Context, u string, n int) ([]peekedMessage, error) {
	qu, err := url.Parse(u)
	if err != nil {
		return nil, fmt.Errorf("queue URL %q: %w", u, err)
	}
	resp, body, err := c.do(ctx, http.MethodGet,
		fmt.Sprintf("%s/console/api/queues%s/peek?max=%d", c.consoleURL, qu.EscapedPath(), n), nil, 256<<20)
	if err != nil {
		return nil, fmt.Errorf("peeking: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, errors.New("peeking: the console refused the credentials (set -console-token or SLUICE_CONSOLE_TOKEN)")
	case http.StatusNotFound:
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("peeking: %s", e.Error)
		}
		return nil, errors.New("peeking: the console API is not served there (is the console on, or on -console-url?)")
	default:
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("peeking: %s %s", resp.Status, e.Error)
	}
	var ms []peekedMessage
	if err := json.Unmarshal(body, &ms); err != nil {
		return nil, fmt.Errorf("peeking: decoding the answer: %w", err)
	}
	return ms, nil
}

func (c *ctl) peek(ctx context.Context, name string, n int) error {
	if n < 1 || n > 100 {
		return errors.New("-n must be between 1 and 100")
	}
	u, err := c.queueURL(ctx, name)
	if err != nil {
		return err
	}
	ms, err := c.peekAPI(ctx, u, n)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		fmt.Fprintln(c.stdout, "no message is visible now")
		return nil
	}
	for _, m := range ms {
		fmt.Fprintf(c.stdout, "%s  sent %s  receives %d", m.MessageID, m.SentAt.UTC().Format(time.RFC3339), m.ReceiveCount)
		if m.GroupID != "" {
			fmt.Fprintf(c.stdout, "  group %s", m.GroupID)
		}
		if m.SourceArn != "" {
			fmt.Fprintf(c.stdout, "  from %s", m.SourceArn)
		}
		fmt.Fprintf(c.stdout, "\n  %s\n", strings.ReplaceAll(m.Body, "\n", "\n  "))
	}
	return nil
}

func (c *ctl) send(ctx context.Context, name, body, group, dedup string, delay int) error {
	u, err := c.queueURL(ctx, name)
	if err != nil {
		return err
	}
	in := &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body)}
	if group != "" {
		in.MessageGroupId = aws.String(group)
	}
	if dedup != "" {
		in.MessageDeduplicationId = aws.String(dedup)
	}
	if delay >= 0 {
		in.DelaySeconds = int32(min(delay, 1<<20))
	}
	out, err := c.client.SendMessage(ctx, in)
	if err != nil {
		return sdkError("sending", err)
	}
	fmt.Fprintln(c.stdout, aws.ToString(out.MessageId))
	return nil
}

func (c *ctl) arn(ctx context.Context, name string) (string, error) {
	u, err := c.queueURL(ctx, name)
	if err != nil {
		return "", err
	}
	a, err := c.attrs(ctx, u)
	if err != nil {
		return "", err
	}
	return a["QueueArn"], nil
}

func (c *ctl) redrive(ctx context.Context, dlq, to string, rate int, wait bool) error {
	src, err := c.arn(ctx, dlq)
	if err != nil {
		return err
	}
	in := &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(src)}
	if to != "" {
		if in.DestinationArn, err = c.arnPtr(ctx, to); err != nil {
			return err
		}
	}
	if rate > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(min(rate, 1<<20)))
	}
	out, err := c.client.StartMessageMoveTask(ctx, in)
	if err != nil {
		return sdkError("starting the redrive", err)
	}
	fmt.Fprintf(c.stdout, "redrive started: task %s\n", aws.ToString(out.TaskHandle))
	if !wait {
		return nil
	}
	for {
		ts, err := c.client.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(src), MaxResults: aws.Int32(1)})
		if err != nil {
			return sdkError("watching the redrive", err)
		}
		if len(ts.Results) == 1 {
			t := ts.Results[0]
			status := aws.ToString(t.Status)
			fmt.Fprintf(c.stdout, "%s: %d moved", status, t.ApproximateNumberOfMessagesMoved)
			if t.ApproximateNumberOfMessagesToMove != nil {
				fmt.Fprintf(c.stdout, " of %d", *t.ApproximateNumberOfMessagesToMove)
			}
			fmt.Fprintln(c.stdout)
			switch status {
			case "COMPLETED":
				return nil
			case "FAILED", "CANCELLED":
				return fmt.Errorf("redrive %s: %s", strings.ToLower(status), aws.ToString(t.FailureReason))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (c *ctl) arnPtr(ctx context.Context, name string) (*string, error) {
	a, err := c.arn(ctx, name)
	return aws.String(a), err
}

func (c *ctl) create(ctx context.Context, name string, fifo bool) error {
	in := &sqs.CreateQueueInput{QueueName: aws.String(name)}
	if fifo {
		in.Attributes = map[string]string{"FifoQueue": "true"}
	}
	out, err := c.client.CreateQueue(ctx, in)
	if err != nil {
		return sdkError("creating "+name, err)
	}
	fmt.Fprintln(c.stdout, aws.ToString(out.QueueUrl))
	return nil
}

func (c *ctl) queueOp(ctx context.Context, op, name string) error {
	u, err := c.queueURL(ctx, name)
	if err != nil {
		return err
	}
	switch op {
	case "delete":
		if _, err := c.client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}); err != nil {
			return sdkError("deleting "+name, err)
		}
		fmt.Fprintln(c.stdout, "deleted", name)
	case "purge":
		if _, err := c.client.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(u)}); err != nil {
			return sdkError("purging "+name, err)
		}
		fmt.Fprintln(c.stdout, "purged", name)
	case "attrs":
		a, err := c.attrs(ctx, u)
		if err != nil {
			return err
		}
		return c.printAttrs(a)
	}
	return nil
}
