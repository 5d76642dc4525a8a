package queue

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"sluice/internal/engine"
)

// Message move tasks (StartMessageMoveTask and friends) redrive the messages of a dead-letter
// queue: back to the queues they came from, or to one destination queue, at up to
// MaxNumberOfMessagesPerSecond. The engine stores each task; this file runs them, one worker
// goroutine per running task, in steps driven by the injected clock: one step at once, then one
// a second, each moving up to the rate with engine.MessageMove and then storing the task's
// progress. Service.Start resumes the tasks a restart interrupted.
//
// With an engine several processes share (engine.Leader), tasks run only in the process that
// leads: a task started elsewhere is stored and left to the leader, whose supervisor looks for
// running tasks every MoveTaskPoll; a process that loses the lead stops its workers (the tasks
// stay RUNNING in the store for the next leader). A cancel through any process stores the task
// as CANCELLED, and the running worker reads the stored status before each step, so it stops
// at its next step. (A process that has lost its lead but not yet noticed may run a step beside
// the new leader's: moves are atomic in the engine, so nothing is moved twice; the rate is
// briefly doubled.)

// Move task statuses, as ListMessageMoveTasks reports them. (SQS also has CANCELLING, for the
// moment between the cancel and the end of the step in progress; here a cancel waits for the
// step, so a task goes straight to CANCELLED.)
const (
	moveRunning   = "RUNNING"
	moveCompleted = "COMPLETED"
	moveCancelled = "CANCELLED"
	moveFailed    = "FAILED"
)

const (
	// maxMoveRate is the highest MaxNumberOfMessagesPerSecond, and the rate of a task that does
	// not set one (SQS: "system-optimized", at most 500).
	maxMoveRate = 500
	// moveStepEvery is the time between two steps of a task.
	moveStepEvery = time.Second
	// moveFailNoQueue is the failure reason of a task whose destination, or a message's source
	// queue, no longer exists.
	moveFailNoQueue = "AWS.SimpleQueueService.NonExistentQueue"
	// moveFailNoSource is the failure reason of a task without a destination that meets a
	// message that was not dead-lettered (sent to the dead-letter queue directly).
	moveFailNoSource = "CouldNotDetermineMessageSource"
)

// moveRunner is the worker state of one running task.
type moveRunner struct {
	handle string
	mu     sync.Mutex
	// task is the task as the worker last updated it; dirty says it has not been stored since.
	task  *engine.MoveTask // guarded by mu
	dirty bool             // guarded by mu
	// stop is closed when the task is cancelled.
	stop     chan struct{}
	stopOnce sync.Once
}

func (r *moveRunner) cancel() { r.stopOnce.Do(func() { close(r.stop) }) }

// taskHandle is what a TaskHandle encodes: the source queue's ARN, so that a cancel finds the
// queue, and the task's id.
type taskHandle struct {
	TaskID    string `json:"taskId"`
	SourceArn string `json:"sourceArn"`
}

func encodeTaskHandle(h taskHandle) string {
	b, _ := json.Marshal(h) // two strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeTaskHandle reads a TaskHandle, tolerating padding and the standard base64 alphabet.
func decodeTaskHandle(s string) (taskHandle, bool) {
	raw := strings.TrimRight(s, "=")
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(raw); err != nil {
			return taskHandle{}, false
		}
	}
	var h taskHandle
	if err := json.Unmarshal(b, &h); err != nil || h.TaskID == "" || h.SourceArn == "" {
		return taskHandle{}, false
	}
	return h, true
}

func errResourceNotFound(param string) *Error {
	return newErr(ErrResourceNotFound, "The resource that you specified for the %s parameter doesn't exist.", param)
}

// queueByArn returns the queue an ARN names, or nil if it names none.
func (s *Service) queueByArn(ctx context.Context, arn string) (*engine.Queue, error) {
	k, ok := arnKey(arn)
	if !ok {
		return nil, nil
	}
	q, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: k})
	if errors.Is(err, engine.ErrQueueNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", arn, err)
	}
	return q, nil
}

// redriveSources returns the queues of the given accounts whose RedrivePolicy names dlq as
// their dead-letter queue.
func (s *Service) redriveSources(ctx context.Context, dlq engine.QueueKey, accounts ...string) ([]*engine.Queue, error) {
	var out []*engine.Queue
	seen := map[string]bool{}
	for _, acct := range accounts {
		if seen[acct] {
			continue
		}
		seen[acct] = true
		qs, err := s.eng.QueueList(ctx, &engine.QueueListParams{Account: acct})
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			v := q.Attributes[AttrRedrivePolicy]
			if v == "" {
				continue
			}
			rp, err := parseRedrivePolicy(v)
			if err != nil {
				continue
			}
			if k, ok := arnKey(rp.DeadLetterTargetArn); ok && k == dlq {
				out = append(out, q)
			}
		}
	}
	return out, nil
}

// StartMessageMoveTask starts moving the messages of a dead-letter queue to DestinationArn, or
// back to the queues they came from.
func (s *Service) StartMessageMoveTask(ctx context.Context, c *Caller, in *StartMessageMoveTaskInput) (*StartMessageMoveTaskOutput, error) {
	if in.SourceArn == "" {
		return nil, missing("SourceArn")
	}
	src, err := s.queueByArn(ctx, in.SourceArn)
	if err != nil {
		return nil, s.internal(ctx, "QueueGet", err)
	}
	if src == nil || c.crossAccount(src.Key) {
		return nil, errResourceNotFound("SourceArn")
	}
	var rate int32
	if in.MaxNumberOfMessagesPerSecond != nil {
		rate = *in.MaxNumberOfMessagesPerSecond
		if rate < 1 || rate > maxMoveRate {
			return nil, newErr(ErrInvalidParameterValue,
				"Value for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: You must enter a number that's between 1 and %d.", maxMoveRate)
		}
	}
	sources, err := s.redriveSources(ctx, src.Key, src.Key.Account, c.Account)
	if err != nil {
		return nil, s.internal(ctx, "QueueList", err)
	}
	if len(sources) == 0 {
		return nil, newErr(ErrInvalidParameterValue, "Source queue must be configured as a Dead Letter Queue.")
	}
	if in.DestinationArn != "" {
		dst, err := s.queueByArn(ctx, in.DestinationArn)
		if err != nil {
			return nil, s.internal(ctx, "QueueGet", err)
		}
		if dst == nil || c.crossAccount(dst.Key) {
			return nil, errResourceNotFound("DestinationArn")
		}
		if dst.ID == src.ID {
			return nil, newErr(ErrInvalidParameterValue, "Source queue arn and destination queue arn cannot be the same.")
		}
		if dst.FIFO != src.FIFO {
			return nil, newErr(ErrInvalidParameterValue, "The source queue and destination queue must be of the same queue type.")
		}
	}
	now := s.clock.Now()
	st, err := s.eng.QueueStats(ctx, &engine.QueueStatsParams{Key: src.Key, Now: now, RetentionCutoff: s.retentionCutoff(src, now)})
	if err != nil {
		return nil, s.internal(ctx, "QueueStats", err)
	}
	id, err := uuid.NewV7() // time-ordered: breaks ties between tasks started in one millisecond
	if err != nil {
		return nil, s.internal(ctx, "uuid", err)
	}
	task := &engine.MoveTask{
		Handle:         encodeTaskHandle(taskHandle{TaskID: id.String(), SourceArn: in.SourceArn}),
		SourceQueueID:  src.ID,
		SourceArn:      in.SourceArn,
		DestinationArn: in.DestinationArn,
		MaxPerSecond:   rate,
		Status:         moveRunning,
		ToMove:         st.Visible,
		StartedAt:      now,
	}

	// One task at a time per source: the check and the put happen under moveMu.
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	tasks, err := s.eng.MoveTaskList(ctx, &engine.MoveTaskListParams{SourceQueueID: src.ID})
	if err != nil {
		return nil, s.internal(ctx, "MoveTaskList", err)
	}
	for _, t := range tasks {
		if t.Status == moveRunning {
			return nil, newErr(ErrInvalidParameterValue,
				"There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
		}
	}
	if err := s.eng.MoveTaskPut(ctx, task); err != nil {
		return nil, s.internal(ctx, "MoveTaskPut", err)
	}
	if s.leader == nil || s.leader.Leading() {
		s.runMoveTaskLocked(task)
	}
	return &StartMessageMoveTaskOutput{TaskHandle: task.Handle}, nil
}

// CancelMessageMoveTask cancels a running task and reports how many messages it moved.
func (s *Service) CancelMessageMoveTask(ctx context.Context, c *Caller, in *CancelMessageMoveTaskInput) (*CancelMessageMoveTaskOutput, error) {
	if in.TaskHandle == "" {
		return nil, missing("TaskHandle")
	}
	h, ok := decodeTaskHandle(in.TaskHandle)
	if !ok {
		return nil, newErr(ErrInvalidParameterValue, "Value for parameter TaskHandle is invalid.")
	}
	src, err := s.queueByArn(ctx, h.SourceArn)
	if err != nil {
		return nil, s.internal(ctx, "QueueGet", err)
	}
	if src == nil || c.crossAccount(src.Key) {
		return nil, errResourceNotFound("SourceArn")
	}
	notRunning := newErr(ErrInvalidParameterValue, "Only a message movement task in RUNNING status can be cancelled.")

	s.moveMu.Lock()
	r := s.moveRunners[in.TaskHandle]
	if r == nil {
		// No worker: the task has ended, or the Service is not running tasks (before Start or
		// after Close). Its stored record is the truth, and no worker writes it meanwhile: a
		// worker stores its last update before it leaves moveRunners.
		defer s.moveMu.Unlock()
		t, err := s.findMoveTask(ctx, src.ID, in.TaskHandle)
		if err != nil {
			return nil, err
		}
		if t.Status != moveRunning {
			return nil, notRunning
		}
		t.Status = moveCancelled
		if err := s.eng.MoveTaskPut(ctx, t); err != nil {
			return nil, s.internal(ctx, "MoveTaskPut", err)
		}
		return &CancelMessageMoveTaskOutput{ApproximateNumberOfMessagesMoved: t.Moved}, nil
	}
	s.moveMu.Unlock()

	// The worker's lock: the cancel waits for a step in progress, and no step starts after it.
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.task.SourceQueueID != src.ID {
		return nil, newErr(ErrResourceNotFound, "Task does not exist.")
	}
	if r.task.Status != moveRunning {
		return nil, notRunning
	}
	t := r.task.Clone()
	t.Status = moveCancelled
	if err := s.eng.MoveTaskPut(ctx, t); err != nil {
		return nil, s.internal(ctx, "MoveTaskPut", err)
	}
	r.task, r.dirty = t, false
	r.cancel()
	return &CancelMessageMoveTaskOutput{ApproximateNumberOfMessagesMoved: t.Moved}, nil
}

// findMoveTask returns the stored task of a source queue with the given handle.
func (s *Service) findMoveTask(ctx context.Context, sourceID uint64, handle string) (*engine.MoveTask, error) {
	tasks, err := s.eng.MoveTaskList(ctx, &engine.MoveTaskListParams{SourceQueueID: sourceID})
	if err != nil {
		return nil, s.internal(ctx, "MoveTaskList", err)
	}
	for _, t := range tasks {
		if t.Handle == handle {
			return t, nil
		}
	}
	return nil, newErr(ErrResourceNotFound, "Task does not exist.")
}

// ListMessageMoveTasks lists the most recent tasks of a source queue, newest first.
func (s *Service) ListMessageMoveTasks(ctx context.Context, c *Caller, in *ListMessageMoveTasksInput) (*ListMessageMoveTasksOutput, error) {
	if in.SourceArn == "" {
		return nil, missing("SourceArn")
	}
	limit := 1
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10 {
			return nil, newErr(ErrInvalidParameterValue,
				"Value %d for parameter MaxResults is invalid. Reason: You must enter a number that's between 1 and 10.", *in.MaxResults)
		}
		limit = int(*in.MaxResults)
	}
	src, err := s.queueByArn(ctx, in.SourceArn)
	if err != nil {
		return nil, s.internal(ctx, "QueueGet", err)
	}
	if src == nil || c.crossAccount(src.Key) {
		return nil, errResourceNotFound("SourceArn")
	}
	tasks, err := s.eng.MoveTaskList(ctx, &engine.MoveTaskListParams{SourceQueueID: src.ID})
	if err != nil {
		return nil, s.internal(ctx, "MoveTaskList", err)
	}
	sortMoveTasks(tasks)
	out := &ListMessageMoveTasksOutput{}
	for _, t := range tasks[:min(limit, len(tasks))] {
		e := ListMessageMoveTasksResultEntry{
			Status:                            t.Status,
			SourceArn:                         t.SourceArn,
			DestinationArn:                    t.DestinationArn,
			ApproximateNumberOfMessagesMoved:  t.Moved,
			ApproximateNumberOfMessagesToMove: &t.ToMove,
			StartedTimestamp:                  t.StartedAt.UnixMilli(),
		}
		if t.Status == moveRunning {
			e.TaskHandle = t.Handle
		}
		if t.MaxPerSecond > 0 {
			e.MaxNumberOfMessagesPerSecond = &t.MaxPerSecond
		}
		if t.Status == moveFailed {
			e.FailureReason = t.FailureReason
		}
		out.Results = append(out.Results, e)
	}
	return out, nil
}

// sortMoveTasks sorts tasks newest first: by start time, then by task id (time-ordered).
func sortMoveTasks(tasks []*engine.MoveTask) {
	id := func(t *engine.MoveTask) string {
		h, _ := decodeTaskHandle(t.Handle)
		return h.TaskID
	}
	slices.SortFunc(tasks, func(a, b *engine.MoveTask) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(id(b), id(a))
	})
}

// resumeMoveTasks starts a worker for every stored running task that has none.
func (s *Service) resumeMoveTasks(ctx context.Context) error {
	tasks, err := s.eng.MoveTaskList(ctx, &engine.MoveTaskListParams{})
	if err != nil {
		return fmt.Errorf("listing message move tasks: %w", err)
	}
	sortMoveTasks(tasks)
	s.moveMu.Lock()
	defer s.moveMu.Unlock()
	for _, t := range slices.Backward(tasks) {
		if t.Status == moveRunning {
			s.runMoveTaskLocked(t)
		}
	}
	return nil
}

// superviseMoveTasks, with an engine several processes share, runs the stored running tasks
// while this process leads and stops its workers while it does not, every MoveTaskPoll until
// the Service closes.
func (s *Service) superviseMoveTasks() {
	defer s.moveWG.Done()
	tick := time.NewTicker(s.opts.MoveTaskPoll)
	defer tick.Stop()
	for {
		if s.leader.Leading() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := s.resumeMoveTasks(ctx); err != nil && !errors.Is(err, engine.ErrClosed) {
				s.log.Warn("message move tasks: looking for tasks to run", "err", err)
			}
			cancel()
		} else {
			s.moveMu.Lock()
			for _, r := range s.moveRunners {
				r.cancel() // the task stays RUNNING in the store: the leader runs it
			}
			s.moveMu.Unlock()
		}
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
	}
}

// storedMoveTask returns the stored version of t, or nil if there is none.
func (s *Service) storedMoveTask(ctx context.Context, t *engine.MoveTask) (*engine.MoveTask, error) {
	tasks, err := s.eng.MoveTaskList(ctx, &engine.MoveTaskListParams{SourceQueueID: t.SourceQueueID})
	if err != nil {
		return nil, err
	}
	for _, st := range tasks {
		if st.Handle == t.Handle {
			return st, nil
		}
	}
	return nil, nil
}

// stopMoveTasks stops every worker and waits for them; no worker starts afterwards.
func (s *Service) stopMoveTasks() {
	s.moveMu.Lock()
	s.moveClosed = true
	s.moveMu.Unlock()
	s.moveWG.Wait()
}

// runMoveTaskLocked starts the worker of a running task, unless it has one or the Service is
// closed (the task then stays running in the store, for the next Start). The caller holds
// moveMu.
func (s *Service) runMoveTaskLocked(t *engine.MoveTask) {
	if s.moveClosed || s.moveRunners[t.Handle] != nil {
		return
	}
	r := &moveRunner{handle: t.Handle, task: t.Clone(), stop: make(chan struct{})}
	s.moveRunners[t.Handle] = r
	s.moveWG.Add(1)
	go s.moveWorker(r)
}

// moveWorker runs a task: a step at once, then one every moveStepEvery, until the task ends, is
// cancelled or the Service closes.
func (s *Service) moveWorker(r *moveRunner) {
	defer s.moveWG.Done()
	defer func() {
		s.moveMu.Lock()
		if s.moveRunners[r.handle] == r {
			delete(s.moveRunners, r.handle)
		}
		s.moveMu.Unlock()
	}()
	for {
		// The timer is set before the step, so that whoever sees the step's result can advance
		// a fake clock to the next one.
		t := s.clock.NewTimer(moveStepEvery)
		if !s.moveStep(r) {
			t.Stop()
			return
		}
		select {
		case <-t.C():
		case <-r.stop:
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
}

// moveStep moves one step's worth of messages and stores the task's progress. It reports
// whether the task goes on.
func (s *Service) moveStep(r *moveRunner) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	// Engine calls are short and not cancelled: Close waits for the step instead, so that a
	// move is never left unrecorded for want of a context.
	ctx := context.Background()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.leader != nil && r.task.Status == moveRunning {
		if !s.leader.Leading() {
			return false // the stored task stays RUNNING, for the process that leads now
		}
		// Another process may have cancelled the task: its stored status is the truth.
		if st, err := s.storedMoveTask(ctx, r.task); err == nil && st != nil && st.Status != moveRunning {
			r.task, r.dirty = st, false
			return false
		}
	}
	if r.task.Status == moveRunning {
		t := r.task.Clone()
		moved, asked, reason, err := s.moveBatch(ctx, t)
		t.Moved += moved
		switch {
		case err != nil && errors.Is(err, engine.ErrClosed):
			r.task, r.dirty = t, r.dirty || moved > 0
			return false
		case err != nil:
			// Tried again at the next step.
			s.log.Error("message move task step failed", "source", t.SourceArn, "err", err)
		case reason != "":
			t.Status, t.FailureReason = moveFailed, reason
		case t.Moved >= t.ToMove || moved < asked:
			t.Status = moveCompleted
		}
		r.task, r.dirty = t, true
	}
	if r.dirty {
		if err := s.eng.MoveTaskPut(ctx, r.task); err != nil {
			if errors.Is(err, engine.ErrClosed) {
				return false
			}
			s.log.Error("storing message move task", "source", r.task.SourceArn, "err", err)
			return true // stored again at the next step
		}
		r.dirty = false
	}
	return r.task.Status == moveRunning
}

// moveBatch moves up to one step's worth of messages of t. It returns how many it moved and
// how many it asked for, and a failure reason when the task cannot go on.
func (s *Service) moveBatch(ctx context.Context, t *engine.MoveTask) (moved, asked int64, reason string, err error) {
	rate := int64(t.MaxPerSecond)
	if rate <= 0 {
		rate = maxMoveRate
	}
	asked = min(rate, t.ToMove-t.Moved)
	if asked <= 0 {
		return 0, 0, "", nil
	}
	src, err := s.queueByArn(ctx, t.SourceArn)
	if err != nil {
		return 0, asked, "", err
	}
	if src == nil || src.ID != t.SourceQueueID {
		return 0, asked, moveFailNoQueue, nil
	}
	p := &engine.MessageMoveParams{QueueID: src.ID, Now: s.clock.Now(), Max: int(asked)}
	var wake []engine.QueueKey
	if t.DestinationArn != "" {
		dst, err := s.queueByArn(ctx, t.DestinationArn)
		if err != nil {
			return 0, asked, "", err
		}
		if dst == nil {
			return 0, asked, moveFailNoQueue, nil
		}
		p.Destination = dst.ID
		wake = append(wake, dst.Key)
	} else {
		sources, err := s.redriveSources(ctx, src.Key, src.Key.Account)
		if err != nil {
			return 0, asked, "", err
		}
		region := arnRegion(t.SourceArn)
		p.Sources = make(map[string]uint64, len(sources))
		for _, q := range sources {
			p.Sources["arn:aws:sqs:"+region+":"+q.Key.Account+":"+q.Key.Name] = q.ID
			wake = append(wake, q.Key)
		}
	}
	defer func() {
		if moved > 0 {
			for _, k := range wake {
				s.waiter.notify(k)
			}
		}
	}()
	for {
		res, err := s.eng.MessageMove(ctx, p)
		if errors.Is(err, engine.ErrQueueNotFound) {
			// The source or the destination went away since we looked them up.
			return moved, asked, moveFailNoQueue, nil
		}
		if err != nil {
			return moved, asked, "", err
		}
		moved += int64(res.Moved)
		if res.Unroutable == "" {
			return moved, asked, "", nil
		}
		// A message from a queue that is no longer (or never was, under this ARN spelling) a
		// source of the dead-letter queue: it still goes back where it came from, if that
		// queue exists.
		k, ok := arnKey(res.Unroutable)
		if !ok {
			return moved, asked, moveFailNoSource, nil
		}
		if p.Sources == nil || p.Sources[res.Unroutable] != 0 {
			return moved, asked, moveFailNoQueue, nil
		}
		q, err := s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: k})
		if errors.Is(err, engine.ErrQueueNotFound) || (err == nil && q.ID == src.ID) {
			return moved, asked, moveFailNoQueue, nil
		}
		if err != nil {
			return moved, asked, "", err
		}
		p.Sources[res.Unroutable] = q.ID
		wake = append(wake, q.Key)
		p.Max = int(asked - moved)
		if p.Max <= 0 {
			return moved, asked, "", nil
		}
	}
}

// arnRegion returns the region of an SQS ARN (arn:aws:sqs:region:account:name).
func arnRegion(arn string) string {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 {
		return ""
	}
	return parts[3]
}
