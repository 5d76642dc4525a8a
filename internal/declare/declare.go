// Package declare makes the queues declared in the config file exist with their declared
// attributes, redrive policies and tags: at start, a declared queue that does not exist is
// created and one that differs is updated; queues not declared are left alone. It works through
// queue.Service like any client, so every SQS rule applies to the file as to an API call, and it
// is safe when several nodes apply the same file at once.
package declare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"

	"sluice/internal/clock"
	"sluice/internal/config"
	"sluice/internal/engine/memengine"
	"sluice/internal/queue"
)

// Change is one thing Apply did to a queue.
type Change struct {
	Queue string
	// Field is "created", an attribute name, or "tag:<key>".
	Field string
	From  string
	To    string
}

func (c Change) String() string {
	if c.Field == "created" {
		return fmt.Sprintf("queue %q: created", c.Queue)
	}
	return fmt.Sprintf("queue %q: %s: %q -> %q", c.Queue, c.Field, c.From, c.To)
}

// Error is a declaration the queue service refused; it names the queue and the field.
type Error struct {
	Queue string
	Field string
	Err   error
}

func (e *Error) Error() string {
	msg := e.Err.Error()
	var qe *queue.Error
	if errors.As(e.Err, &qe) {
		msg = qe.Message
	}
	return fmt.Sprintf("queue %q: %s: %s", e.Queue, e.Field, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Apply makes the declared queues exist as declared in caller's account and returns what it
// changed, in order. It logs each change. Declarations must have passed config validation.
func Apply(ctx context.Context, svc *queue.Service, caller *queue.Caller, decls []config.QueueDecl, log *slog.Logger) ([]Change, error) {
	a := &applier{ctx: ctx, svc: svc, c: caller, urls: map[string]string{}, arns: map[string]string{}}
	// Pass 1: every queue, without its redrive policies (their targets may come later in the file).
	for i := range decls {
		if err := a.ensure(&decls[i]); err != nil {
			return a.changes, err
		}
	}
	// Pass 2: redrive-allow policies, then redrive policies (which the allow policies govern).
	for i := range decls {
		d := &decls[i]
		if d.RedriveAllowPolicy == nil {
			continue
		}
		p := map[string]any{"redrivePermission": d.RedriveAllowPolicy.Permission}
		if len(d.RedriveAllowPolicy.SourceQueues) > 0 {
			p["sourceQueueArns"] = a.resolve(d.RedriveAllowPolicy.SourceQueues...)
		}
		if err := a.setJSON(d.Name, queue.AttrRedriveAllowPolicy, "redrive_allow_policy", p); err != nil {
			return a.changes, err
		}
	}
	for i := range decls {
		d := &decls[i]
		if d.RedrivePolicy == nil {
			continue
		}
		p := map[string]any{"deadLetterTargetArn": a.resolve(d.RedrivePolicy.DeadLetterQueue)[0],
			"maxReceiveCount": d.RedrivePolicy.MaxReceiveCount}
		if err := a.setJSON(d.Name, queue.AttrRedrivePolicy, "redrive_policy", p); err != nil {
			return a.changes, err
		}
	}
	for _, ch := range a.changes {
		if ch.Field == "created" {
			log.Info("declared queue created", "queue", ch.Queue)
			continue
		}
		log.Info("declared queue changed", "queue", ch.Queue, "field", ch.Field, "from", ch.From, "to", ch.To)
	}
	return a.changes, nil
}

// Check applies the declarations to an empty in-memory server and reports the first one that
// SQS's rules refuse (unknown attribute, value out of range, ...), naming the queue and field.
func Check(ctx context.Context, decls []config.QueueDecl, region, account string) error {
	eng := memengine.New()
	defer eng.Close()
	svc := queue.New(queue.Options{Engine: eng, Clock: clock.Real{}, SweepEvery: -1})
	defer svc.Close()
	caller := &queue.Caller{Account: account, Region: region, BaseURL: "http://127.0.0.1", SenderID: account}
	_, err := Apply(ctx, svc, caller, decls, slog.New(slog.DiscardHandler))
	return err
}

type applier struct {
	ctx     context.Context
	svc     *queue.Service
	c       *queue.Caller
	urls    map[string]string
	arns    map[string]string
	changes []Change
}

// ensure creates the queue of d if it is missing, or brings its declared attributes and tags to
// the declared values.
func (a *applier) ensure(d *config.QueueDecl) error {
	attrs := d.StringAttributes()
	if d.FIFO() {
		attrs[queue.AttrFifoQueue] = "true"
	}
	_, missing := a.svc.GetQueueUrl(a.ctx, a.c, &queue.GetQueueUrlInput{QueueName: d.Name})
	out, err := a.svc.CreateQueue(a.ctx, a.c, &queue.CreateQueueInput{QueueName: d.Name, Attributes: attrs, Tags: d.Tags})
	switch {
	case err == nil:
	case errors.Is(err, queue.ErrQueueNameExists):
		// It exists with other values (or another node created it with its redrive policy
		// already set): update it below.
		u, err := a.svc.GetQueueUrl(a.ctx, a.c, &queue.GetQueueUrlInput{QueueName: d.Name})
		if err != nil {
			return &Error{Queue: d.Name, Field: "name", Err: err}
		}
		out = &queue.CreateQueueOutput{QueueUrl: u.QueueUrl}
	default:
		return &Error{Queue: d.Name, Field: fieldOf(err, attrs), Err: err}
	}
	a.urls[d.Name] = out.QueueUrl
	if errors.Is(missing, queue.ErrQueueDoesNotExist) && err == nil {
		a.changes = append(a.changes, Change{Queue: d.Name, Field: "created"})
	}
	cur, err := a.svc.GetQueueAttributes(a.ctx, a.c, &queue.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []string{"All"}})
	if err != nil {
		return &Error{Queue: d.Name, Field: "attributes", Err: err}
	}
	a.arns[d.Name] = cur.Attributes[queue.AttrQueueArn]
	for _, k := range sortedKeys(attrs) {
		if k == queue.AttrFifoQueue || same(k, cur.Attributes[k], attrs[k]) {
			continue
		}
		if _, err := a.svc.SetQueueAttributes(a.ctx, a.c, &queue.SetQueueAttributesInput{QueueUrl: out.QueueUrl,
			Attributes: map[string]string{k: attrs[k]}}); err != nil {
			return &Error{Queue: d.Name, Field: "attributes." + k, Err: err}
		}
		a.changes = append(a.changes, Change{Queue: d.Name, Field: k, From: cur.Attributes[k], To: attrs[k]})
	}
	tags, err := a.svc.ListQueueTags(a.ctx, a.c, &queue.QueueUrlInput{QueueUrl: out.QueueUrl})
	if err != nil {
		return &Error{Queue: d.Name, Field: "tags", Err: err}
	}
	set := map[string]string{}
	for _, k := range sortedKeys(d.Tags) {
		if old, ok := tags.Tags[k]; !ok || old != d.Tags[k] {
			set[k] = d.Tags[k]
			a.changes = append(a.changes, Change{Queue: d.Name, Field: "tag:" + k, From: old, To: d.Tags[k]})
		}
	}
	if len(set) > 0 {
		if _, err := a.svc.TagQueue(a.ctx, a.c, &queue.TagQueueInput{QueueUrl: out.QueueUrl, Tags: set}); err != nil {
			return &Error{Queue: d.Name, Field: "tags", Err: err}
		}
	}
	return nil
}

// setJSON sets a JSON-valued attribute if its value differs from the declared one.
func (a *applier) setJSON(name, attr, field string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return &Error{Queue: name, Field: field, Err: err}
	}
	url := a.urls[name]
	cur, err := a.svc.GetQueueAttributes(a.ctx, a.c, &queue.GetQueueAttributesInput{QueueUrl: url, AttributeNames: []string{attr}})
	if err != nil {
		return &Error{Queue: name, Field: field, Err: err}
	}
	if same(attr, cur.Attributes[attr], string(b)) {
		return nil
	}
	if _, err := a.svc.SetQueueAttributes(a.ctx, a.c, &queue.SetQueueAttributesInput{QueueUrl: url,
		Attributes: map[string]string{attr: string(b)}}); err != nil {
		return &Error{Queue: name, Field: field, Err: err}
	}
	a.changes = append(a.changes, Change{Queue: name, Field: attr, From: cur.Attributes[attr], To: string(b)})
	return nil
}

// resolve turns declared queue names into ARNs; ARNs stay as they are.
func (a *applier) resolve(refs ...string) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		if arn, ok := a.arns[r]; ok && !config.IsARN(r) {
			out[i] = arn
		} else {
			out[i] = r
		}
	}
	return out
}

// same compares an attribute's current and declared values: JSON documents by content, others
// as strings.
func same(attr, cur, want string) bool {
	if cur == want {
		return true
	}
	switch attr {
	case queue.AttrPolicy, queue.AttrRedrivePolicy, queue.AttrRedriveAllowPolicy:
		var x, y any
		if json.Unmarshal([]byte(cur), &x) != nil || json.Unmarshal([]byte(want), &y) != nil {
			return false
		}
		return reflect.DeepEqual(x, y)
	}
	return false
}

// fieldOf guesses which declared field a CreateQueue error is about, for the message.
func fieldOf(err error, attrs map[string]string) string {
	var qe *queue.Error
	if errors.As(err, &qe) {
		for _, k := range sortedKeys(attrs) {
			if strings.Contains(qe.Message, k) {
				return "attributes." + k
			}
		}
		if errors.Is(err, queue.ErrInvalidAttributeName) || errors.Is(err, queue.ErrInvalidAttributeValue) {
			return "attributes"
		}
		if strings.Contains(qe.Message, "QueueName") {
			return "name"
		}
		if strings.Contains(qe.Message, "Tag") || strings.Contains(qe.Message, "tag") {
			return "tags"
		}
	}
	return "queue"
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
