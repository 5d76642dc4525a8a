package queue

import (
	"encoding/json"
	"path"
	"strings"

	"sluice/internal/engine"
)

// Access between accounts. With authentication on (Caller.Isolated), each caller belongs to
// the account of its access key: it creates and lists queues in that account only, and may act
// on another account's queue only when that queue's Policy allows it. Policies are evaluated as
// SQS evaluates the ones AddPermission writes:
//
//   - a statement applies when its Principal names the caller's account (its id,
//     arn:aws:iam::<id>:root or any arn:aws:iam::<id>:..., or "*"), its Action matches the
//     action (SQS:SendMessage, sqs:*, *, wildcards; case-insensitive; the batch actions are
//     covered by their single forms), and its Resource (if any) matches the queue ARN;
//   - an applicable Deny wins over any Allow;
//   - statements with a Condition are not evaluated: such an Allow never applies, such a Deny
//     always does (the safe side);
//   - only the actions AddPermission can grant may be granted; the owner-only actions
//     (DeleteQueue, SetQueueAttributes, AddPermission, ...) are refused to other accounts
//     whatever the policy says.
//
// The owner's own requests are not checked against the policy (Sluice has no IAM users to
// restrict within an account). A request on another account's queue that does not exist is
// refused with AccessDenied too, so that existence does not leak.

// crossAccount reports whether k belongs to another account than an isolated caller's.
func (c *Caller) crossAccount(k engine.QueueKey) bool {
	return c.Isolated && k.Account != c.Account
}

func errAccessDenied(c *Caller, k engine.QueueKey) *Error {
	return newErr(ErrAccessDenied, "Access to the resource %s is denied.", c.queueURL(k))
}

// batchBase maps a batch action to the single action a policy names for it.
var batchBase = map[string]string{
	"SendMessageBatch":             "SendMessage",
	"DeleteMessageBatch":           "DeleteMessage",
	"ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}

// authorize checks that c may run c.Action on q.
func authorize(c *Caller, q *engine.Queue) error {
	if !c.crossAccount(q.Key) {
		return nil
	}
	action := c.Action
	if b, ok := batchBase[action]; ok {
		action = b
	}
	if action == "" || action == "*" || !permissionActions[action] {
		return errAccessDenied(c, q.Key)
	}
	if !policyAllows(q.Attributes[AttrPolicy], c.Account, action, c.queueArn(q.Key)) {
		return errAccessDenied(c, q.Key)
	}
	return nil
}

// policyStatementDoc is the part of a policy statement that authorisation reads.
type policyStatementDoc struct {
	Effect    string          `json:"Effect"`
	Principal json.RawMessage `json:"Principal"`
	Action    json.RawMessage `json:"Action"`
	Resource  json.RawMessage `json:"Resource"`
	Condition json.RawMessage `json:"Condition"`
}

// policyAllows evaluates a policy document for account doing action on the queue arn.
func policyAllows(policy, account, action, arn string) bool {
	_, stmts, ok := parsePolicy(policy)
	if !ok {
		return false
	}
	allowed := false
	for _, raw := range stmts {
		var st policyStatementDoc
		if json.Unmarshal(raw, &st) != nil {
			continue
		}
		if !principalMatches(st.Principal, account) || !anyMatches(st.Action, "sqs:"+action, true) {
			continue
		}
		if len(st.Resource) > 0 && !anyMatches(st.Resource, arn, false) {
			continue
		}
		conditional := len(st.Condition) > 0 && string(st.Condition) != "null" && string(st.Condition) != "{}"
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			if !conditional {
				allowed = true
			}
		}
	}
	return allowed
}

// stringList reads a policy value that is a string or a list of strings.
func stringList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		return many
	}
	return nil
}

func principalMatches(raw json.RawMessage, account string) bool {
	var ps []string
	var obj struct {
		AWS json.RawMessage `json:"AWS"`
	}
	if l := stringList(raw); l != nil {
		ps = l // "Principal": "*"
	} else if json.Unmarshal(raw, &obj) == nil && len(obj.AWS) > 0 {
		ps = stringList(obj.AWS)
	}
	for _, p := range ps {
		if p == "*" || p == account || strings.HasPrefix(p, "arn:aws:iam::"+account+":") {
			return true
		}
	}
	return false
}

// anyMatches reports whether any pattern of a string-or-list value matches s ('*' and '?'
// wildcards).
func anyMatches(raw json.RawMessage, s string, fold bool) bool {
	if fold {
		s = strings.ToLower(s)
	}
	for _, p := range stringList(raw) {
		if fold {
			p = strings.ToLower(p)
		}
		if p == "*" || p == s {
			return true
		}
		// path.Match gives '/' a meaning, but neither actions nor SQS ARNs contain one; '['
		// and '\' are escaped so that they match themselves.
		p = strings.NewReplacer(`\`, `\\`, `[`, `\[`).Replace(p)
		if ok, err := path.Match(p, s); err == nil && ok {
			return true
		}
	}
	return false
}
