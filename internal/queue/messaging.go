package queue

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"sluice/internal/clock"
	"sluice/internal/engine"
)

const maxBatchEntries = 10

var batchIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// groupIDRE matches MessageGroupId and MessageDeduplicationId values.
var groupIDRE = regexp.MustCompile("^[A-Za-z0-9!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~]{1,128}$")

// checkBatch applies the whole-request rules of every batch action.
func checkBatch(entryName string, ids []string) error {
	if len(ids) == 0 {
		return newErr(ErrEmptyBatchRequest, "There should be at least one %s in the request.", entryName)
	}
	if len(ids) > maxBatchEntries {
		return newErr(ErrTooManyEntriesInBatchRequest,
			"Maximum number of entries per request are %d. You have sent %d.", maxBatchEntries, len(ids))
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return newErr(ErrInvalidBatchEntryId,
				"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return newErr(ErrBatchEntryIdsNotDistinct, "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

// entryFailure turns a per-entry *Error into a batch failure entry.
func entryFailure(id string, err error) BatchResultErrorEntry {
	var qe *Error
	if errors.As(err, &qe) {
		code := qe.Kind.Error()
		if qe.Kind == ErrMessageNotInflight {
			code = "AWS.SimpleQueueService.MessageNotInflight"
		}
		return BatchResultErrorEntry{Id: id, SenderFault: qe.Kind != ErrServiceUnavailable, Code: code, Message: qe.Message}
	}
	return BatchResultErrorEntry{Id: id, SenderFault: false, Code: "InternalError", Message: "We encountered an internal error. Please try again."}
}

// DedupWindow is how long a FIFO queue remembers a deduplication id.
const DedupWindow = 5 * time.Minute

// prepared is a validated message ready to store.
type prepared struct {
	msg       *engine.Message
	visibleAt time.Time
	dedupKey  string
	out       SendMessageBatchResultEntry
}

// sequenceNumber formats a FIFO message's sequence as SQS does: a large decimal string that
// increases within the queue.
func sequenceNumber(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// prepare validates one message (SendMessage or a batch entry) and builds it. sizeReason is
// the text of the too-large error, which differs between SendMessage and batches.
func (s *Service) prepare(q *engine.Queue, c *Caller, now time.Time, body *string, delay *int32,
	attrs, sysAttrs map[string]MessageAttributeValue, groupID, dedupID *string, batch bool) (*prepared, error) {
	if body == nil || *body == "" {
		return nil, missing("MessageBody")
	}
	fifo := isFifo(q)
	if delay != nil && (*delay < 0 || *delay > 900) {
		return nil, invalidValue("DelaySeconds", *delay, "DelaySeconds must be >= 0 and <= 900.")
	}
	if fifo && delay != nil && *delay > 0 {
		return nil, invalidValue("DelaySeconds", *delay, "The request include parameter that is not valid for this queue type.")
	}
	if groupID != nil && !groupIDRE.MatchString(*groupID) {
		return nil, invalidValue("MessageGroupId", *groupID,
			"MessageGroupId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
	}
	if dedupID != nil && !groupIDRE.MatchString(*dedupID) {
		return nil, invalidValue("MessageDeduplicationId", *dedupID,
			"MessageDeduplicationId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
	}
	if fifo {
		if groupID == nil {
			if batch {
				return nil, newErr(ErrInvalidParameterValue, "The request must contain the parameter MessageGroupId.")
			}
			return nil, missing("MessageGroupId")
		}
		if dedupID == nil && q.Attributes[AttrContentBasedDeduplication] != "true" {
			return nil, newErr(ErrInvalidParameterValue,
				"The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
		}
	}
	if !validChars(*body) {
		return nil, newErr(ErrInvalidMessageContents, "%s", invalidCharsMsg)
	}
	mattrs, size, err := convertAttributes(attrs)
	if err != nil {
		return nil, err
	}
	maxSize := intAttr(q, AttrMaximumMessageSize)
	if len(*body)+size > maxSize {
		if batch {
			return nil, newErr(ErrInvalidParameterValue,
				"One or more parameters cannot be validated. Reason: Message must be shorter than %d bytes.", maxSize)
		}
		return nil, newErr(ErrInvalidParameterValue,
			"One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", maxSize)
	}
	sattrs, err := convertSystemAttributes(sysAttrs)
	if err != nil {
		return nil, err
	}
	if _, ok := sattrs["AWSTraceHeader"]; !ok && c.TraceHeader != "" {
		if sattrs == nil {
			sattrs = map[string]engine.MessageAttribute{}
		}
		sattrs["AWSTraceHeader"] = engine.MessageAttribute{DataType: "String", StringValue: c.TraceHeader}
	}
	d := intAttr(q, AttrDelaySeconds)
	if delay != nil && !fifo {
		d = int(*delay)
	}
	m := &engine.Message{
		ID: newMessageID(), Body: *body, Attributes: mattrs, SystemAttributes: sattrs,
		SenderID: c.SenderID, SentAt: now.Truncate(time.Millisecond),
	}
	if groupID != nil {
		m.GroupID = *groupID
	}
	if dedupID != nil {
		m.DeduplicationID = *dedupID
	}
	p := &prepared{msg: m, visibleAt: m.SentAt.Add(time.Duration(d) * time.Second)}
	if fifo {
		if m.DeduplicationID == "" {
			// Content-based deduplication: SHA-256 of the body only.
			sum := sha256.Sum256([]byte(m.Body))
			m.DeduplicationID = hex.EncodeToString(sum[:])
		}
		p.dedupKey = m.DeduplicationID
		if q.Attributes[AttrDeduplicationScope] == "messageGroup" {
			p.dedupKey = m.GroupID + "\x00" + m.DeduplicationID
		}
	}
	m.BodyMD5 = MD5OfBody(m.Body)
	p.out = SendMessageBatchResultEntry{
		MessageId:              m.ID,
		MD5OfMessageBody:       m.BodyMD5,
		MD5OfMessageAttributes: MD5OfAttributes(mattrs),
	}
	if len(sysAttrs) > 0 {
		p.out.MD5OfMessageSystemAttributes = MD5OfAttributes(sattrs)
	}
	return p, nil
}

// store writes prepared messages and wakes long polls. On FIFO queues it fills in each
// result's SequenceNumber, and a duplicate's MessageId is that of the message it duplicates.
func (s *Service) store(ctx context.Context, q *engine.Queue, now time.Time, ps []*prepared) error {
	entries := make([]engine.MessageSendEntry, len(ps))
	for i, p := range ps {
		entries[i] = engine.MessageSendEntry{Message: p.msg, VisibleAt: p.visibleAt, DedupKey: p.dedupKey}
	}
	res, err := s.eng.MessageSend(ctx, &engine.MessageSendParams{QueueID: q.ID, Now: now, Entries: entries, DedupUntil: now.Add(DedupWindow)})
	if err != nil {
		return s.internal(ctx, "MessageSend", err)
	}
	if isFifo(q) {
		for i, r := range res.Entries {
			ps[i].out.MessageId = r.MessageID
			ps[i].out.SequenceNumber = sequenceNumber(r.Seq)
		}
	}
	stored := 0
	for _, r := range res.Entries {
		if !r.Duplicate {
			stored++
		}
	}
	s.observe(EventSent, q.Key, stored)
	s.waiter.notify(q.Key)
	return nil
}

// SendMessage stores one message.
func (s *Service) SendMessage(ctx context.Context, c *Caller, in *SendMessageInput) (*SendMessageOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	p, err := s.prepare(q, c, now, in.MessageBody, in.DelaySeconds, in.MessageAttributes,
		in.MessageSystemAttributes, in.MessageGroupId, in.MessageDeduplicationId, false)
	if err != nil {
		return nil, err
	}
	if err := s.store(ctx, q, now, []*prepared{p}); err != nil {
		return nil, err
	}
	return &SendMessageOutput{
		MessageId: p.out.MessageId, MD5OfMessageBody: p.out.MD5OfMessageBody, SequenceNumber: p.out.SequenceNumber,
		MD5OfMessageAttributes: p.out.MD5OfMessageAttributes, MD5OfMessageSystemAttributes: p.out.MD5OfMessageSystemAttributes,
	}, nil
}

// SendMessageBatch stores up to ten messages; entries that fail validation are reported one by
// one while the others are stored.
func (s *Service) SendMessageBatch(ctx context.Context, c *Caller, in *SendMessageBatchInput) (*SendMessageBatchOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	total := 0
	for i, e := range in.Entries {
		ids[i] = e.Id
		if e.MessageBody != nil {
			total += len(*e.MessageBody)
		}
		for n, a := range e.MessageAttributes {
			total += len(n) + len(a.DataType) + len(a.BinaryValue)
			if a.StringValue != nil {
				total += len(*a.StringValue)
			}
		}
	}
	if err := checkBatch("SendMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	if total > MaxMessageSize {
		return nil, newErr(ErrBatchRequestTooLong,
			"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", MaxMessageSize, total)
	}
	now := s.clock.Now()
	out := &SendMessageBatchOutput{Successful: []SendMessageBatchResultEntry{}, Failed: []BatchResultErrorEntry{}}
	var ok []*prepared
	for _, e := range in.Entries {
		p, err := s.prepare(q, c, now, e.MessageBody, e.DelaySeconds, e.MessageAttributes,
			e.MessageSystemAttributes, e.MessageGroupId, e.MessageDeduplicationId, true)
		if err != nil {
			// FIFO entries without a group or deduplication id fail the whole request.
			var qe *Error
			if isFifo(q) && errors.As(err, &qe) && (e.MessageGroupId == nil ||
				(e.MessageDeduplicationId == nil && q.Attributes[AttrContentBasedDeduplication] != "true")) && e.MessageBody != nil {
				return nil, err
			}
			out.Failed = append(out.Failed, entryFailure(e.Id, err))
			continue
		}
		p.out.Id = e.Id
		ok = append(ok, p)
	}
	if len(ok) > 0 {
		if err := s.store(ctx, q, now, ok); err != nil {
			return nil, err
		}
		for _, p := range ok {
			out.Successful = append(out.Successful, p.out)
		}
	}
	return out, nil
}

// receiveParams validates ReceiveMessage's numeric parameters.
func receiveParams(q *engine.Queue, in *ReceiveMessageInput) (max int, vis, wait time.Duration, err error) {
	max = 1
	if in.MaxNumberOfMessages != nil {
		if *in.MaxNumberOfMessages < 1 || *in.MaxNumberOfMessages > 10 {
			return 0, 0, 0, invalidValue("MaxNumberOfMessages", *in.MaxNumberOfMessages, "Must be between 1 and 10, if provided.")
		}
		max = int(*in.MaxNumberOfMessages)
	}
	v := intAttr(q, AttrVisibilityTimeout)
	if in.VisibilityTimeout != nil {
		if *in.VisibilityTimeout < 0 || *in.VisibilityTimeout > 43200 {
			return 0, 0, 0, invalidValue("VisibilityTimeout", *in.VisibilityTimeout, "Must be >= 0 and <= 43200, if provided.")
		}
		v = int(*in.VisibilityTimeout)
	}
	w := intAttr(q, AttrReceiveMessageWaitTimeSeconds)
	if in.WaitTimeSeconds != nil {
		if *in.WaitTimeSeconds < 0 || *in.WaitTimeSeconds > 20 {
			return 0, 0, 0, invalidValue("WaitTimeSeconds", *in.WaitTimeSeconds, "Must be >= 0 and <= 20, if provided.")
		}
		w = int(*in.WaitTimeSeconds)
	}
	if in.ReceiveRequestAttemptId != nil && !groupIDRE.MatchString(*in.ReceiveRequestAttemptId) {
		return 0, 0, 0, invalidValue("ReceiveRequestAttemptId", *in.ReceiveRequestAttemptId,
			"ReceiveRequestAttemptId can only include alphanumeric and punctuation characters. 1 to 128 in length.")
	}
	return max, time.Duration(v) * time.Second, time.Duration(w) * time.Second, nil
}

// ReceiveMessage returns up to MaxNumberOfMessages messages, waiting up to WaitTimeSeconds for
// the first one to arrive.
func (s *Service) ReceiveMessage(ctx context.Context, c *Caller, in *ReceiveMessageInput) (*ReceiveMessageOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	max, vis, wait, err := receiveParams(q, in)
	if err != nil {
		return nil, err
	}
	deadline := s.clock.Now().Add(wait)
	waiting := false
	defer func() {
		if waiting {
			s.releaseLongPoll()
		}
	}()
	for {
		woken := s.waiter.wait(q.Key)
		now := s.clock.Now()
		p := &engine.MessageReceiveParams{
			QueueID: q.ID, Now: now, Max: max, VisibleAt: now.Add(vis),
			RetentionCutoff: s.retentionCutoff(q, now), MaxInFlight: s.opts.MaxInFlight,
		}
		if isFifo(q) && in.ReceiveRequestAttemptId != nil {
			p.AttemptID, p.AttemptUntil = *in.ReceiveRequestAttemptId, now.Add(DedupWindow)
		}
		dlq, err := s.deadLetter(ctx, c, q)
		if err != nil {
			return nil, err
		}
		if dlq != nil {
			p.DeadLetter = &engine.DeadLetter{QueueID: dlq.queue.ID, MaxReceiveCount: dlq.maxReceiveCount,
				SourceArn: c.queueArn(q.Key), ResetSentAt: isFifo(q)}
		}
		res, err := s.eng.MessageReceive(ctx, p)
		switch {
		case errors.Is(err, engine.ErrInFlightLimit) && isFifo(q):
			// FIFO queues answer an in-flight cap with empty receives, not an error.
			res, err = &engine.MessageReceiveResult{}, nil
		case errors.Is(err, engine.ErrInFlightLimit):
			return nil, newErr(ErrOverLimit, "The maximum number of in flight messages (%d) has been reached.", s.opts.MaxInFlight)
		case err != nil:
			return nil, s.internal(ctx, "MessageReceive", err)
		}
		if res.DeadLettered > 0 {
			s.observe(EventDeadLettered, q.Key, res.DeadLettered)
			s.waiter.notify(dlq.queue.Key)
		}
		if len(res.Messages) > 0 {
			s.observe(EventReceived, q.Key, len(res.Messages))
			return s.receiveOutput(c, q, in, res.Messages), nil
		}
		if !now.Before(deadline) {
			s.observe(EventEmptyReceive, q.Key, 1)
			return &ReceiveMessageOutput{}, nil
		}
		if !waiting {
			if !s.acquireLongPoll() {
				return nil, s.errTooManyLongPolls()
			}
			waiting = true
		}
		until := deadline
		if !res.NextVisibleAt.IsZero() && res.NextVisibleAt.Before(until) {
			until = res.NextVisibleAt
		}
		// The timer is set for the instant, not for until-now: the clock may have moved since now
		// was read (a fake clock advanced by a test while a spurious wakeup looked again).
		t := clock.NewTimerAt(s.clock, until)
		select {
		case <-woken:
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			s.observe(EventEmptyReceive, q.Key, 1)
			return &ReceiveMessageOutput{}, nil
		case <-s.done:
			t.Stop()
			s.observe(EventEmptyReceive, q.Key, 1)
			return &ReceiveMessageOutput{}, nil
		}
		t.Stop()
		// The queue may have been deleted or changed while we waited.
		if q, err = s.lookup(ctx, c, in.QueueUrl); err != nil {
			return nil, err
		}
	}
}

// systemAttrNames are the message system attributes in the order they are returned.
var systemAttrNames = []string{
	"SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
	"AWSTraceHeader", "MessageGroupId", "MessageDeduplicationId", "SequenceNumber", "DeadLetterQueueSourceArn",
}

func (s *Service) receiveOutput(c *Caller, q *engine.Queue, in *ReceiveMessageInput, msgs []engine.ReceivedMessage) *ReceiveMessageOutput {
	want := map[string]bool{}
	for _, n := range append(append([]string(nil), in.AttributeNames...), in.MessageSystemAttributeNames...) {
		if n == "All" {
			for _, a := range systemAttrNames {
				want[a] = true
			}
			continue
		}
		want[n] = true
	}
	out := &ReceiveMessageOutput{Messages: make([]Message, 0, len(msgs))}
	for _, rm := range msgs {
		m := rm.Message
		sum := m.BodyMD5
		if sum == "" {
			sum = MD5OfBody(m.Body)
		}
		om := Message{
			MessageId:     m.ID,
			ReceiptHandle: EncodeReceipt(rm.Receipt),
			MD5OfBody:     sum,
			Body:          m.Body,
		}
		if len(want) > 0 {
			attrs := map[string]string{}
			add := func(name, v string) {
				if want[name] && v != "" {
					attrs[name] = v
				}
			}
			add("SenderId", m.SenderID)
			add("SentTimestamp", strconv.FormatInt(m.SentAt.UnixMilli(), 10))
			add("ApproximateReceiveCount", strconv.Itoa(rm.ReceiveCount))
			add("ApproximateFirstReceiveTimestamp", strconv.FormatInt(rm.FirstReceiveAt.UnixMilli(), 10))
			add("AWSTraceHeader", m.SystemAttributes["AWSTraceHeader"].StringValue)
			add("MessageGroupId", m.GroupID)
			if isFifo(q) {
				add("MessageDeduplicationId", m.DeduplicationID)
				add("SequenceNumber", sequenceNumber(rm.Receipt.Seq))
			}
			add("DeadLetterQueueSourceArn", m.DeadLetterSourceArn)
			if len(attrs) > 0 {
				om.Attributes = attrs
			}
		}
		if sel := filterMessageAttributes(m.Attributes, in.MessageAttributeNames); len(sel) > 0 {
			om.MessageAttributes = outAttributes(sel)
			om.MD5OfMessageAttributes = MD5OfAttributes(sel)
		}
		out.Messages = append(out.Messages, om)
	}
	return out
}

// receiptFor decodes a handle for a queue: ReceiptHandleIsInvalid when it is not one of ours.
func receiptFor(h string) (engine.Receipt, error) {
	if h == "" {
		return engine.Receipt{}, missing("ReceiptHandle")
	}
	r, err := DecodeReceipt(h)
	if err != nil {
		return engine.Receipt{}, newErr(ErrReceiptHandleIsInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", h)
	}
	return r, nil
}

// deleteError maps an engine per-entry delete outcome to the SQS result: on standard queues a
// stale or repeated delete succeeds.
func deleteError(fifo bool, h string, err error) error {
	switch {
	case err == nil:
		return nil
	case fifo && errors.Is(err, engine.ErrMessageNotInFlight):
		return invalidValue("ReceiptHandle", h, "The receipt handle has expired.")
	case errors.Is(err, engine.ErrMessageNotFound), errors.Is(err, engine.ErrReceiptSuperseded):
		return nil
	}
	return err
}

// DeleteMessage deletes a received message.
func (s *Service) DeleteMessage(ctx context.Context, c *Caller, in *DeleteMessageInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	r, err := receiptFor(in.ReceiptHandle)
	if err != nil {
		return nil, err
	}
	errs, err := s.eng.MessageDelete(ctx, &engine.MessageDeleteParams{
		QueueID: q.ID, Now: s.clock.Now(), Receipts: []engine.Receipt{r}, RequireInFlight: isFifo(q),
	})
	if err != nil {
		return nil, s.internal(ctx, "MessageDelete", err)
	}
	if err := deleteError(isFifo(q), in.ReceiptHandle, errs[0]); err != nil {
		return nil, s.internal(ctx, "MessageDelete", err)
	}
	s.observe(EventDeleted, q.Key, 1)
	return &Empty{}, nil
}

// DeleteMessageBatch deletes up to ten messages.
func (s *Service) DeleteMessageBatch(ctx context.Context, c *Caller, in *DeleteMessageBatchInput) (*DeleteMessageBatchOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch("DeleteMessageBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	out := &DeleteMessageBatchOutput{Successful: []DeleteMessageBatchResultEntry{}, Failed: []BatchResultErrorEntry{}}
	var receipts []engine.Receipt
	var idx []int
	for i, e := range in.Entries {
		r, err := receiptFor(e.ReceiptHandle)
		if err != nil {
			out.Failed = append(out.Failed, entryFailure(e.Id, err))
			continue
		}
		receipts = append(receipts, r)
		idx = append(idx, i)
	}
	if len(receipts) > 0 {
		errs, err := s.eng.MessageDelete(ctx, &engine.MessageDeleteParams{
			QueueID: q.ID, Now: s.clock.Now(), Receipts: receipts, RequireInFlight: isFifo(q),
		})
		if err != nil {
			return nil, s.internal(ctx, "MessageDelete", err)
		}
		for j, i := range idx {
			e := in.Entries[i]
			if err := deleteError(isFifo(q), e.ReceiptHandle, errs[j]); err != nil {
				out.Failed = append(out.Failed, entryFailure(e.Id, s.internal(ctx, "MessageDelete", err)))
				continue
			}
			out.Successful = append(out.Successful, DeleteMessageBatchResultEntry{Id: e.Id})
		}
		s.observe(EventDeleted, q.Key, len(out.Successful))
	}
	return out, nil
}

// visibilityError maps an engine per-entry outcome of a visibility change to the SQS error.
func visibilityError(h string, timeout int32, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrVisibilityTooLong):
		return invalidValue("VisibilityTimeout", timeout, "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]")
	case errors.Is(err, engine.ErrMessageNotInFlight):
		return newErr(ErrMessageNotInflight, "Message does not exist or is not available for visibility timeout change.")
	case errors.Is(err, engine.ErrMessageNotFound), errors.Is(err, engine.ErrReceiptSuperseded):
		return invalidValue("ReceiptHandle", h, "Message does not exist or is not available for visibility timeout change.")
	}
	return err
}

func checkVisibilityTimeout(v *int32) error {
	if v == nil {
		return missing("VisibilityTimeout")
	}
	if *v < 0 || *v > 43200 {
		return invalidValue("VisibilityTimeout", *v, "Must be >= 0 and <= 43200, if provided.")
	}
	return nil
}

// ChangeMessageVisibility sets a received message's remaining invisibility, counted from now.
func (s *Service) ChangeMessageVisibility(ctx context.Context, c *Caller, in *ChangeMessageVisibilityInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	r, err := receiptFor(in.ReceiptHandle)
	if err != nil {
		return nil, err
	}
	if err := checkVisibilityTimeout(in.VisibilityTimeout); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	errs, err := s.eng.MessageChangeVisibility(ctx, &engine.MessageChangeVisibilityParams{
		QueueID: q.ID, Now: now, MaxSinceReceive: 12 * time.Hour, RequireInFlight: isFifo(q),
		Entries: []engine.VisibilityChange{{Receipt: r, VisibleAt: now.Add(time.Duration(*in.VisibilityTimeout) * time.Second)}},
	})
	if err != nil {
		return nil, s.internal(ctx, "MessageChangeVisibility", err)
	}
	if err := visibilityError(in.ReceiptHandle, *in.VisibilityTimeout, errs[0]); err != nil {
		return nil, s.internal(ctx, "MessageChangeVisibility", err)
	}
	if *in.VisibilityTimeout == 0 {
		s.waiter.notify(q.Key)
	}
	return &Empty{}, nil
}

// ChangeMessageVisibilityBatch changes the visibility of up to ten messages.
func (s *Service) ChangeMessageVisibilityBatch(ctx context.Context, c *Caller, in *ChangeMessageVisibilityBatchInput) (*ChangeMessageVisibilityBatchOutput, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(in.Entries))
	for i, e := range in.Entries {
		ids[i] = e.Id
	}
	if err := checkBatch("ChangeMessageVisibilityBatchRequestEntry", ids); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out := &ChangeMessageVisibilityBatchOutput{Successful: []ChangeMessageVisibilityBatchResultEntry{}, Failed: []BatchResultErrorEntry{}}
	var changes []engine.VisibilityChange
	var idx []int
	wake := false
	for i, e := range in.Entries {
		r, err := receiptFor(e.ReceiptHandle)
		if err == nil {
			err = checkVisibilityTimeout(e.VisibilityTimeout)
		}
		if err != nil {
			out.Failed = append(out.Failed, entryFailure(e.Id, err))
			continue
		}
		wake = wake || *e.VisibilityTimeout == 0
		changes = append(changes, engine.VisibilityChange{Receipt: r, VisibleAt: now.Add(time.Duration(*e.VisibilityTimeout) * time.Second)})
		idx = append(idx, i)
	}
	if len(changes) > 0 {
		errs, err := s.eng.MessageChangeVisibility(ctx, &engine.MessageChangeVisibilityParams{
			QueueID: q.ID, Now: now, MaxSinceReceive: 12 * time.Hour, RequireInFlight: isFifo(q), Entries: changes,
		})
		if err != nil {
			return nil, s.internal(ctx, "MessageChangeVisibility", err)
		}
		for j, i := range idx {
			e := in.Entries[i]
			if err := visibilityError(e.ReceiptHandle, *e.VisibilityTimeout, errs[j]); err != nil {
				out.Failed = append(out.Failed, entryFailure(e.Id, s.internal(ctx, "MessageChangeVisibility", err)))
				continue
			}
			out.Successful = append(out.Successful, ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
		}
	}
	if wake {
		s.waiter.notify(q.Key)
	}
	return out, nil
}
