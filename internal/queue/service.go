// Package queue is the domain core of Sluice and the only place that knows the rules of Amazon
// SQS: names, limits, defaults and validation, queue attributes, message attributes and their
// MD5s, delay, visibility, retention, receipt handles and long polling. Protocol codecs decode a
// request into one of this package's inputs, call the Service, and encode its output or *Error.
// It imports neither net/http nor any storage driver: storage is an engine.Engine, and time
// comes from an injected clock.
package queue

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"sluice/internal/clock"
	"sluice/internal/engine"
)

// Caller describes who sent a request and where: the protocol layer fills it from the HTTP
// request.
type Caller struct {
	// Account is the caller's account id; it names the namespace of queues created or listed.
	Account string
	// Region is used in ARNs.
	Region string
	// BaseURL is scheme://host[:port] as the client reached us; queue URLs start with it.
	BaseURL string
	// SenderID is reported as the SenderId system attribute of messages sent.
	SenderID string
	// TraceHeader is the X-Amzn-Trace-Id request header; it becomes AWSTraceHeader.
	TraceHeader string
	// Isolated is set when requests are authenticated: the caller may then use another
	// account's queue only as that queue's Policy allows Action (see access.go). Unset, any
	// queue URL is served, whatever its account.
	Isolated bool
	// Action is the SQS action being served (checked against queue policies).
	Action string
}

// Options configure a Service.
type Options struct {
	Engine engine.Engine
	Clock  clock.Clock
	Logger *slog.Logger
	// PurgeInterval is the minimum time between two purges of a queue (SQS: 60 s). Negative
	// disables the rule.
	PurgeInterval time.Duration
	// DeleteCooldown is how long a deleted queue's name stays unusable (SQS: 60 s). Negative
	// disables the rule.
	DeleteCooldown time.Duration
	// MaxInFlight is the number of in-flight messages of a standard queue at which ReceiveMessage
	// fails with OverLimit (SQS: 120,000).
	MaxInFlight int
	// SweepEvery is how often the retention sweeper runs (default 1 s; negative disables it).
	// Receives expire old messages as they meet them; the sweeper removes the rest, in chunks,
	// so that a large expiry never stalls a queue.
	SweepEvery time.Duration
	// MaxLongPolls caps the receives waiting at once (long polls); one more that would have to
	// wait fails with RequestThrottled. 0 means no cap.
	MaxLongPolls int
	// MoveTaskPoll is how often, with an engine several processes share (engine.Leader), the
	// process that leads looks for running message move tasks to run (started through any
	// process, or left by a previous leader) and the others stop running theirs (default 1 s).
	// It is wall-clock time: it says how soon a task is picked up, not how an SQS time elapses.
	MoveTaskPoll time.Duration
	// MaxQueuesPerAccount caps the queues of one account; CreateQueue of one more fails with
	// OverLimit. 0 means no cap.
	MaxQueuesPerAccount int
	// Observer, when set, hears of the messages sent, received, deleted, dead-lettered and
	// expired (for metrics; see observer.go).
	Observer Observer
}

// Service implements the SQS actions.
type Service struct {
	// policyMu serialises the read-modify-write of a Policy by AddPermission and
	// RemovePermission in this process, so that two concurrent calls cannot lose each other's
	// statement. The engine offers no compare-and-swap, so a SetQueueAttributes of Policy, or a
	// call on another node sharing the store, can still interleave; the last write wins then,
	// as for any attribute.
	policyMu sync.Mutex
	eng      engine.Engine
	clock    clock.Clock
	log      *slog.Logger
	opts     Options
	waiter   *waiters
	done     chan struct{}
	once     sync.Once

	// Message move tasks (movetask.go): one worker goroutine per running task.
	moveMu      sync.Mutex
	moveRunners map[string]*moveRunner // guarded by moveMu; by task handle
	moveClosed  bool                   // guarded by moveMu: no worker starts once set
	moveWG      sync.WaitGroup         // running workers and the supervisor
	// leader is the engine's engine.Leader, or nil: then this process runs every task itself.
	leader engine.Leader

	sweeping sync.WaitGroup // the retention sweeper (sweep.go)

	longPolls atomic.Int64 // receives waiting now (limits.go)
}

// New returns a Service. Zero durations and limits take SQS's values.
func New(o Options) *Service {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PurgeInterval == 0 {
		o.PurgeInterval = 60 * time.Second
	}
	if o.DeleteCooldown == 0 {
		o.DeleteCooldown = 60 * time.Second
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 120000
	}
	if o.SweepEvery == 0 {
		o.SweepEvery = time.Second
	}
	if o.MoveTaskPoll <= 0 {
		o.MoveTaskPoll = time.Second
	}
	leader, _ := o.Engine.(engine.Leader)
	return &Service{leader: leader, eng: o.Engine, clock: o.Clock, log: o.Logger, opts: o, waiter: newWaiters(), done: make(chan struct{}),
		moveRunners: map[string]*moveRunner{}}
}

// Start resumes the work the store says is unfinished: the message move tasks that were
// running when the previous process stopped. With an engine several processes share
// (engine.Leader), only the lead process runs tasks: Start starts a supervisor that runs them
// while this process leads, and stops them when it does not. Call it once, before serving; Close stops what it
// starts.
func (s *Service) Start(ctx context.Context) error {
	if w, ok := s.eng.(engine.Watcher); ok {
		// Another process sharing the engine sent or moved messages: wake the long polls here.
		w.Watch(s.waiter.notifyEngine)
	}
	if s.opts.SweepEvery > 0 {
		s.sweeping.Add(1)
		go s.sweepLoop()
	}
	if s.leader != nil {
		// Tasks run in the lead process only; the supervisor follows the lead.
		s.moveMu.Lock()
		defer s.moveMu.Unlock()
		if !s.moveClosed {
			s.moveWG.Add(1)
			go s.superviseMoveTasks()
		}
		return nil
	}
	return s.resumeMoveTasks(ctx)
}

// Close ends every waiting long poll (they answer with no messages) and makes new ones return at
// once, stops the message move task workers and waits for them: once it returns, no background
// goroutine of the Service uses the engine. It does not close the engine.
func (s *Service) Close() {
	s.once.Do(func() { close(s.done) })
	s.stopMoveTasks()
	s.sweeping.Wait()
}

// internal wraps an unexpected engine failure as a retryable ServiceUnavailable whose cause is
// logged but not shown.
func (s *Service) internal(ctx context.Context, op string, err error) error {
	var qe *Error
	if errors.As(err, &qe) {
		return err
	}
	if errors.Is(err, engine.ErrQueueNotFound) {
		return errNoQueue()
	}
	s.log.ErrorContext(ctx, "engine failure", "op", op, "err", err)
	return &Error{Kind: ErrServiceUnavailable, Message: "The request has failed due to a temporary failure of the server.", Cause: err}
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

func isFifoName(name string) bool { return strings.HasSuffix(name, ".fifo") }

func (c *Caller) queueURL(k engine.QueueKey) string {
	return c.BaseURL + "/" + k.Account + "/" + k.Name
}

// queueArn returns a queue's ARN.
func (c *Caller) queueArn(k engine.QueueKey) string {
	return "arn:aws:sqs:" + c.Region + ":" + k.Account + ":" + k.Name
}

// parseQueueURL resolves a QueueUrl by its last two path segments (account, name). A bare
// name is taken in the caller's account.
func parseQueueURL(c *Caller, raw string) (engine.QueueKey, error) {
	if raw == "" {
		return engine.QueueKey{}, missing("QueueUrl")
	}
	path := raw
	if u, err := url.Parse(raw); err == nil && (u.Scheme != "" || strings.HasPrefix(raw, "/")) {
		path = u.Path
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[len(parts)-1] != "":
		return engine.QueueKey{Account: parts[len(parts)-2], Name: parts[len(parts)-1]}, nil
	case len(parts) == 1 && parts[0] != "" && !strings.Contains(raw, "://"):
		return engine.QueueKey{Account: c.Account, Name: parts[0]}, nil
	}
	return engine.QueueKey{}, errNoQueue()
}

// lookup resolves a QueueUrl to the stored queue.
func (s *Service) lookup(ctx context.Context, c *Caller, rawURL string) (*engine.Queue, error) {
	k, err := parseQueueURL(c, rawURL)
	if err != nil {
		return nil, err
	}
	q, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: k})
	if err != nil {
		if c.crossAccount(k) && errors.Is(err, engine.ErrQueueNotFound) {
			return nil, errAccessDenied(c, k) // do not tell whether another account's queue exists
		}
		return nil, s.internal(ctx, "QueueGet", err)
	}
	if err := authorize(c, q); err != nil {
		return nil, err
	}
	return q, nil
}

func isFifo(q *engine.Queue) bool { return q.FIFO }

// intAttr returns a numeric attribute's effective value.
func intAttr(q *engine.Queue, name string) int {
	v, _ := effectiveAttr(q.Attributes, name, isFifo(q))
	n, _ := strconv.Atoi(v)
	return n
}

// CreateQueue creates a queue, or returns the URL of an existing one with the same attributes.
func (s *Service) CreateQueue(ctx context.Context, c *Caller, in *CreateQueueInput) (*CreateQueueOutput, error) {
	name := in.QueueName
	if name == "" {
		return nil, missing("QueueName")
	}
	fifoAttr, hasFifo := in.Attributes[AttrFifoQueue]
	fifo := false
	if hasFifo {
		v, ok := boolean(fifoAttr)
		if !ok {
			return nil, newErr(ErrInvalidAttributeValue, "Invalid value for the parameter FifoQueue.")
		}
		if v == "false" && !isFifoName(name) {
			return nil, newErr(ErrInvalidAttributeName, "Unknown Attribute FifoQueue.")
		}
		fifo = v == "true"
	}
	base := name
	if fifo {
		if !isFifoName(name) {
			return nil, newErr(ErrInvalidParameterValue,
				"The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
		}
		base = strings.TrimSuffix(name, ".fifo")
		if len(name) > 80 {
			base = name
		}
	} else if isFifoName(name) {
		return nil, invalidValue("QueueName", name,
			"Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	if !queueNameRE.MatchString(base) {
		return nil, invalidValue("QueueName", name,
			"Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	set, _, err := validateAttributes(in.Attributes, fifo, true)
	if err != nil {
		return nil, err
	}
	if err := s.checkRedriveTarget(ctx, c, engine.QueueKey{Account: c.Account, Name: name}, set, fifo); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	key := engine.QueueKey{Account: c.Account, Name: name}
	if err := s.checkQueueCount(ctx, key); err != nil {
		return nil, err
	}
	res, err := s.eng.QueueCreate(ctx, &engine.QueueCreateParams{
		Key: key, FIFO: fifo, Attributes: set, Tags: in.Tags, Now: s.clock.Now(),
		DeletedCooldown: max(s.opts.DeleteCooldown, 0),
	})
	if errors.Is(err, engine.ErrQueueDeletedRecently) {
		return nil, newErr(ErrQueueDeletedRecently,
			"You must wait 60 seconds after deleting a queue before you can create another with the same name.")
	}
	if err != nil {
		return nil, s.internal(ctx, "QueueCreate", err)
	}
	if !res.Created {
		existingFifo := isFifo(res.Queue)
		if existingFifo != fifo && hasFifo {
			return nil, newErr(ErrQueueNameExists,
				"A queue already exists with the same name and a different value for attribute FifoQueue")
		}
		for _, n := range sortedKeys(set) {
			cur, _ := effectiveAttr(res.Queue.Attributes, n, existingFifo)
			if cur != set[n] {
				return nil, newErr(ErrQueueNameExists,
					"A queue already exists with the same name and a different value for attribute %s", n)
			}
		}
	}
	return &CreateQueueOutput{QueueUrl: c.queueURL(key)}, nil
}

// checkRedriveTarget checks that a RedrivePolicy's dead-letter queue exists, is of the same
// type as the source queue, and that its RedriveAllowPolicy lets source use it.
func (s *Service) checkRedriveTarget(ctx context.Context, c *Caller, source engine.QueueKey, set map[string]string, fifo bool) error {
	v, ok := set[AttrRedrivePolicy]
	if !ok {
		return nil
	}
	rp, err := parseRedrivePolicy(v)
	if err != nil {
		return err
	}
	bad := func(reason string) error {
		return newErr(ErrInvalidParameterValue, "Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	target, ok := arnKey(rp.DeadLetterTargetArn)
	if !ok {
		return bad("Invalid value for deadLetterTargetArn.")
	}
	dlq, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: target})
	if errors.Is(err, engine.ErrQueueNotFound) || (err == nil && c.crossAccount(target)) {
		// A dead-letter queue must be in the source queue's account.
		return bad("Dead letter target does not exist.")
	}
	if err != nil {
		return s.internal(ctx, "QueueGet", err)
	}
	if isFifo(dlq) != fifo {
		if fifo {
			return bad("Dead-letter target must be a FIFO queue too.")
		}
		return bad("Dead-letter target must be a standard queue too.")
	}
	if !redriveAllows(dlq.Attributes[AttrRedriveAllowPolicy], source) {
		return bad("Dead-letter queue's redrive allow policy doesn't allow this source queue.")
	}
	// Store the count as a JSON number, as SQS does.
	set[AttrRedrivePolicy] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, rp.DeadLetterTargetArn, rp.MaxReceiveCount)
	return nil
}

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return newErr(ErrInvalidParameterValue, "Too many tags added for queue. The maximum is 50.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 {
			return newErr(ErrInvalidParameterValue, "Tag keys must be between 1 and 128 characters in length.")
		}
		if len(v) > 256 {
			return newErr(ErrInvalidParameterValue, "Tag values may only be up to 256 characters in length.")
		}
		if !validChars(k) || !validChars(v) {
			return errTagChars()
		}
	}
	return nil
}

// errTagChars answers a tag key or value with characters SQS does not allow (NUL, invalid
// UTF-8, ...): no stored tag can have them.
func errTagChars() error {
	return newErr(ErrInvalidParameterValue, "Tag keys and values may only contain valid characters. %s", invalidCharsMsg)
}

// GetQueueUrl returns the URL of a named queue.
func (s *Service) GetQueueUrl(ctx context.Context, c *Caller, in *GetQueueUrlInput) (*GetQueueUrlOutput, error) {
	if in.QueueName == "" {
		return nil, missing("QueueName")
	}
	acct := c.Account
	if in.QueueOwnerAWSAccountId != "" {
		acct = in.QueueOwnerAWSAccountId
	}
	key := engine.QueueKey{Account: acct, Name: in.QueueName}
	q, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: key})
	if err != nil {
		if c.crossAccount(key) && errors.Is(err, engine.ErrQueueNotFound) {
			return nil, errAccessDenied(c, key)
		}
		return nil, s.internal(ctx, "QueueGet", err)
	}
	if err := authorize(c, q); err != nil {
		return nil, err
	}
	return &GetQueueUrlOutput{QueueUrl: c.queueURL(key)}, nil
}

// ListQueues lists the caller's queues by name prefix, up to 1000, with pagination when
// MaxResults is given.
func (s *Service) ListQueues(ctx context.Context, c *Caller, in *ListQueuesInput) (*ListQueuesOutput, error) {
	qs, err := s.eng.QueueList(ctx, &engine.QueueListParams{Account: c.Account, Prefix: in.QueueNamePrefix})
	if err != nil {
		return nil, s.internal(ctx, "QueueList", err)
	}
	urls, next, err := pageQueueURLs(c, qs, in.MaxResults, in.NextToken, nil)
	if err != nil {
		return nil, err
	}
	return &ListQueuesOutput{QueueUrls: urls, NextToken: next}, nil
}

// pageQueueURLs returns one page of the URLs of the queues (sorted by name) that keep selects
// (nil: all): at most maxResults (default 1000) after the name in nextToken, and the token of
// the next page when maxResults was given and more remain.
func pageQueueURLs(c *Caller, qs []*engine.Queue, maxResults *int32, nextToken string, keep func(*engine.Queue) bool) ([]string, string, error) {
	limit := 1000
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 1000 {
			return nil, "", invalidValue("MaxResults", *maxResults, "MaxResults must be an integer between 1 and 1000.")
		}
		limit = int(*maxResults)
	}
	after := ""
	if nextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(nextToken)
		if err != nil || len(b) == 0 {
			return nil, "", newErr(ErrInvalidParameterValue, "Invalid NextToken value.")
		}
		after = string(b)
	}
	var urls []string
	last := ""
	for _, q := range qs {
		if (after != "" && q.Key.Name <= after) || (keep != nil && !keep(q)) {
			continue
		}
		if len(urls) == limit {
			if maxResults != nil {
				return urls, base64.RawURLEncoding.EncodeToString([]byte(last)), nil
			}
			break
		}
		urls = append(urls, c.queueURL(q.Key))
		last = q.Key.Name
	}
	return urls, "", nil
}

// DeleteQueue deletes a queue and its messages.
func (s *Service) DeleteQueue(ctx context.Context, c *Caller, in *QueueUrlInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := s.eng.QueueDelete(ctx, &engine.QueueDeleteParams{Key: q.Key, Now: s.clock.Now()}); err != nil {
		return nil, s.internal(ctx, "QueueDelete", err)
	}
	s.observe(EventQueueDeleted, q.Key, 1)
	s.waiter.notify(q.Key)
	return &Empty{}, nil
}

// GetQueueAttributes returns the requested attributes.
func (s *Service) GetQueueAttributes(ctx context.Context, c *Caller, in *GetQueueAttributesInput) (*GetQueueAttributesOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	fifo := isFifo(q)
	want := map[string]bool{}
	all := false
	for _, n := range in.AttributeNames {
		if n == "All" {
			all = true
			continue
		}
		d := attrByName[n]
		if (d == nil && !isComputed(n)) || (d != nil && d.fifoOnly && !fifo) {
			return nil, newErr(ErrInvalidAttributeName, "Unknown Attribute %s.", n)
		}
		want[n] = true
	}
	if !all && len(want) == 0 {
		return &GetQueueAttributesOutput{}, nil
	}
	attrs := map[string]string{}
	for _, d := range attrDefs {
		if all || want[d.name] {
			if v, ok := effectiveAttr(q.Attributes, d.name, fifo); ok {
				attrs[d.name] = v
			}
		}
	}
	needStats := all || want[AttrApproximateNumberOfMessages] || want[AttrApproximateNumberOfMessagesNotVisible] || want[AttrApproximateNumberOfMessagesDelayed]
	if needStats {
		now := s.clock.Now()
		st, err := s.eng.QueueStats(ctx, &engine.QueueStatsParams{Key: q.Key, Now: now, RetentionCutoff: s.retentionCutoff(q, now)})
		if err != nil {
			return nil, s.internal(ctx, "QueueStats", err)
		}
		for n, v := range map[string]int64{
			AttrApproximateNumberOfMessages:           st.Visible,
			AttrApproximateNumberOfMessagesNotVisible: st.InFlight,
			AttrApproximateNumberOfMessagesDelayed:    st.Delayed,
		} {
			if all || want[n] {
				attrs[n] = strconv.FormatInt(v, 10)
			}
		}
	}
	if all || want[AttrCreatedTimestamp] {
		attrs[AttrCreatedTimestamp] = strconv.FormatInt(q.CreatedAt.Unix(), 10)
	}
	if all || want[AttrLastModifiedTimestamp] {
		attrs[AttrLastModifiedTimestamp] = strconv.FormatInt(q.ModifiedAt.Unix(), 10)
	}
	if all || want[AttrQueueArn] {
		attrs[AttrQueueArn] = c.queueArn(q.Key)
	}
	return &GetQueueAttributesOutput{Attributes: attrs}, nil
}

// SetQueueAttributes validates and stores queue attributes.
func (s *Service) SetQueueAttributes(ctx context.Context, c *Caller, in *SetQueueAttributesInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.Attributes == nil {
		return nil, missing("Attributes")
	}
	fifo := isFifo(q)
	set, remove, err := validateAttributes(in.Attributes, fifo, false)
	if err != nil {
		return nil, err
	}
	if err := s.checkRedriveTarget(ctx, c, q.Key, set, fifo); err != nil {
		return nil, err
	}
	if _, ok := in.Attributes[AttrKmsMasterKeyId]; ok && in.Attributes[AttrKmsMasterKeyId] == "" {
		remove = append(remove, AttrKmsDataKeyReusePeriodSeconds)
	}
	if _, err := s.eng.QueueUpdate(ctx, &engine.QueueUpdateParams{
		Key: q.Key, Now: s.clock.Now(), SetAttributes: set, RemoveAttributes: remove,
	}); err != nil {
		return nil, s.internal(ctx, "QueueUpdate", err)
	}
	s.waiter.notify(q.Key)
	return &Empty{}, nil
}

// PurgeQueue deletes every message of a queue, once per PurgeInterval.
func (s *Service) PurgeQueue(ctx context.Context, c *Caller, in *QueueUrlInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	err = s.eng.QueuePurge(ctx, &engine.QueuePurgeParams{Key: q.Key, Now: s.clock.Now(), MinInterval: max(s.opts.PurgeInterval, 0)})
	if errors.Is(err, engine.ErrPurgeInProgress) {
		return nil, newErr(ErrPurgeQueueInProgress, "Only one PurgeQueue operation on %s is allowed every 60 seconds.", q.Key.Name)
	}
	if err != nil {
		return nil, s.internal(ctx, "QueuePurge", err)
	}
	s.observe(EventPurged, q.Key, 1)
	return &Empty{}, nil
}

// TagQueue adds or overwrites tags.
func (s *Service) TagQueue(ctx context.Context, c *Caller, in *TagQueueInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.Tags) == 0 {
		return nil, missing("Tags")
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	merged := len(q.Tags)
	for k := range in.Tags {
		if _, ok := q.Tags[k]; !ok {
			merged++
		}
	}
	if merged > 50 {
		return nil, newErr(ErrInvalidParameterValue, "Too many tags added for queue %s.", q.Key.Name)
	}
	if _, err := s.eng.QueueUpdate(ctx, &engine.QueueUpdateParams{Key: q.Key, Now: s.clock.Now(), SetTags: in.Tags}); err != nil {
		return nil, s.internal(ctx, "QueueUpdate", err)
	}
	return &Empty{}, nil
}

// UntagQueue removes tags; unknown keys are ignored.
func (s *Service) UntagQueue(ctx context.Context, c *Caller, in *UntagQueueInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if len(in.TagKeys) == 0 {
		return nil, missing("TagKeys")
	}
	for _, k := range in.TagKeys {
		if !validChars(k) {
			return nil, errTagChars()
		}
	}
	if _, err := s.eng.QueueUpdate(ctx, &engine.QueueUpdateParams{Key: q.Key, Now: s.clock.Now(), RemoveTags: in.TagKeys}); err != nil {
		return nil, s.internal(ctx, "QueueUpdate", err)
	}
	return &Empty{}, nil
}

// ListQueueTags returns a queue's tags.
func (s *Service) ListQueueTags(ctx context.Context, c *Caller, in *QueueUrlInput) (*ListQueueTagsOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	out := &ListQueueTagsOutput{}
	if len(q.Tags) > 0 {
		out.Tags = make(map[string]string, len(q.Tags))
		for k, v := range q.Tags {
			out.Tags[k] = v
		}
	}
	return out, nil
}

func (s *Service) retentionCutoff(q *engine.Queue, now time.Time) time.Time {
	return now.Add(-time.Duration(intAttr(q, AttrMessageRetentionPeriod)) * time.Second)
}

func newMessageID() string { return uuid.NewString() }
