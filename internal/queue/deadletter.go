package queue

import (
	"context"
	"encoding/json"

	"sluice/internal/engine"
)

// redriveAllows reports whether a dead-letter queue's RedriveAllowPolicy (as stored, validated
// by validateRedriveAllowPolicy; "" means none, that is allowAll) lets source use it.
func redriveAllows(policy string, source engine.QueueKey) bool {
	if policy == "" {
		return true
	}
	var p struct {
		RedrivePermission string   `json:"redrivePermission"`
		SourceQueueArns   []string `json:"sourceQueueArns"`
	}
	if err := json.Unmarshal([]byte(policy), &p); err != nil {
		return true // not stored by validateAttributes; treat as absent
	}
	switch p.RedrivePermission {
	case "denyAll":
		return false
	case "byQueue":
		for _, arn := range p.SourceQueueArns {
			if k, ok := arnKey(arn); ok && k == source {
				return true
			}
		}
		return false
	}
	return true
}

// ListDeadLetterSourceQueues lists the caller's queues whose RedrivePolicy names this queue as
// their dead-letter queue, sorted by name, with pagination when MaxResults is given.
func (s *Service) ListDeadLetterSourceQueues(ctx context.Context, c *Caller, in *ListDeadLetterSourceQueuesInput) (*ListDeadLetterSourceQueuesOutput, error) {
	dlq, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	qs, err := s.eng.QueueList(ctx, &engine.QueueListParams{Account: c.Account})
	if err != nil {
		return nil, s.internal(ctx, "QueueList", err)
	}
	urls, next, err := pageQueueURLs(c, qs, in.MaxResults, in.NextToken, func(q *engine.Queue) bool {
		rp, err := parseRedrivePolicy(q.Attributes[AttrRedrivePolicy])
		if err != nil {
			return false
		}
		// Compared by account and name, as checkRedriveTarget resolves the target: the region is
		// not part of a queue's identity in Sluice.
		k, ok := arnKey(rp.DeadLetterTargetArn)
		return ok && k == dlq.Key
	})
	if err != nil {
		return nil, err
	}
	// queueUrls is a required member: present, possibly empty.
	out := &ListDeadLetterSourceQueuesOutput{QueueUrls: urls, NextToken: next}
	if out.QueueUrls == nil {
		out.QueueUrls = []string{}
	}
	return out, nil
}
