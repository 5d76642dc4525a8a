package queue

import (
	"context"
	"encoding/base64"
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
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 1000 {
			return nil, invalidValue("MaxResults", *in.MaxResults, "MaxResults must be an integer between 1 and 1000.")
		}
		limit = int(*in.MaxResults)
	}
	after := ""
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err != nil || len(b) == 0 {
			return nil, newErr(ErrInvalidParameterValue, "Invalid NextToken value.")
		}
		after = string(b)
	}
	qs, err := s.eng.QueueList(ctx, &engine.QueueListParams{Account: c.Account})
	if err != nil {
		return nil, s.internal(ctx, "QueueList", err)
	}
	// queueUrls is a required member: present, possibly empty.
	out := &ListDeadLetterSourceQueuesOutput{QueueUrls: []string{}}
	last := ""
	for _, q := range qs {
		if after != "" && q.Key.Name <= after {
			continue
		}
		v := q.Attributes[AttrRedrivePolicy]
		if v == "" {
			continue
		}
		rp, err := parseRedrivePolicy(v)
		if err != nil {
			continue
		}
		// Compared by account and name, as checkRedriveTarget resolves the target: the region is
		// not part of a queue's identity in Sluice.
		if k, ok := arnKey(rp.DeadLetterTargetArn); !ok || k != dlq.Key {
			continue
		}
		if len(out.QueueUrls) == limit {
			if in.MaxResults != nil {
				out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(last))
			}
			break
		}
		out.QueueUrls = append(out.QueueUrls, c.queueURL(q.Key))
		last = q.Key.Name
	}
	return out, nil
}
