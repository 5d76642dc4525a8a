package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"

	"sluice/internal/engine"
)

// AddPermission and RemovePermission edit a queue's Policy attribute: each permission is one
// statement of the policy, named by its Sid (the permission's label). The policy is only stored
// and returned; Sluice does not authorise requests by it.

// permissionActions are the action names AddPermission accepts (SQS lets a queue owner share
// these); ownerOnlyActions are the SQS actions it refuses with a reason of their own. Batch
// actions are not named in a policy: SendMessage, DeleteMessage and ChangeMessageVisibility
// imply their batch variants.
var (
	permissionActions = map[string]bool{
		"*": true, "ChangeMessageVisibility": true, "DeleteMessage": true, "GetQueueAttributes": true,
		"GetQueueUrl": true, "ListDeadLetterSourceQueues": true, "ListQueueTags": true, "PurgeQueue": true,
		"ReceiveMessage": true, "SendMessage": true,
	}
	ownerOnlyActions = map[string]bool{
		"AddPermission": true, "CancelMessageMoveTask": true, "CreateQueue": true, "DeleteQueue": true,
		"ListMessageMoveTasks": true, "ListQueues": true, "RemovePermission": true, "SetQueueAttributes": true,
		"StartMessageMoveTask": true, "TagQueue": true, "UntagQueue": true,
	}
)

// maxPermissionActions is the number of actions one policy statement may name.
const maxPermissionActions = 7

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// AddPermission adds a statement that allows the given accounts the given actions on the queue
// to the queue's Policy, creating the policy if the queue has none.
func (s *Service) AddPermission(ctx context.Context, c *Caller, in *AddPermissionInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.Label == "" {
		return nil, missing("Label")
	}
	if !queueNameRE.MatchString(in.Label) {
		return nil, invalidValue("Label", in.Label,
			"Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length.")
	}
	if len(in.Actions) == 0 {
		return nil, missing("Actions")
	}
	if len(in.Actions) > maxPermissionActions {
		return nil, newErr(ErrOverLimit, "%d Actions were found, maximum allowed is %d.", len(in.Actions), maxPermissionActions)
	}
	if len(in.AWSAccountIds) == 0 {
		return nil, invalidValue("PrincipalId", "[]", "Unable to verify.")
	}
	principals := make([]string, len(in.AWSAccountIds))
	for i, id := range in.AWSAccountIds {
		if !accountIDRE.MatchString(id) {
			return nil, invalidValue("PrincipalId", "["+id+"]", "Unable to verify.")
		}
		principals[i] = "arn:aws:iam::" + id + ":root"
	}
	actions := make([]string, len(in.Actions))
	for i, a := range in.Actions {
		switch {
		case ownerOnlyActions[a]:
			return nil, invalidValue("ActionName", "SQS:"+a, "Only the queue owner is allowed to invoke this action.")
		case !permissionActions[a]:
			return nil, invalidValue("ActionName", "SQS:"+a, "Please refer to the appropriate WSDL for a list of valid actions.")
		}
		actions[i] = "SQS:" + a
	}
	stmt, err := marshalNoEscape(policyStatement{
		Sid:       in.Label,
		Effect:    "Allow",
		Principal: policyPrincipal{AWS: oneOrMany(principals)},
		Action:    oneOrMany(actions),
		Resource:  c.queueArn(q.Key),
	})
	if err != nil {
		return nil, s.internal(ctx, "AddPermission", err)
	}

	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	// Read the queue again under the lock: the policy may have changed since the lookup.
	if q, err = s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: q.Key}); err != nil {
		return nil, s.internal(ctx, "QueueGet", err)
	}
	doc, stmts, ok := parsePolicy(q.Attributes[AttrPolicy])
	if !ok {
		// No policy, or one that is not a JSON object with a Statement list (or a single
		// statement object, or no Statement at all): start the queue's default policy, as SQS
		// does for a queue without one. A user's policy that is such an object keeps every other
		// member and statement, and the new statement is appended to its list.
		arn := c.queueArn(q.Key)
		doc = []jsonMember{
			{"Version", json.RawMessage(`"2008-10-17"`)},
			{"Id", jsonString(arn + "/SQSDefaultPolicy")},
			{"Statement", nil},
		}
		stmts = nil
	}
	if statementIndex(stmts, in.Label) >= 0 {
		return nil, invalidValue("Label", in.Label, "Already exists.")
	}
	stmts = append(stmts, stmt)
	policy, err := encodePolicy(doc, stmts)
	if err != nil {
		return nil, s.internal(ctx, "AddPermission", err)
	}
	if _, err := s.eng.QueueUpdate(ctx, &engine.QueueUpdateParams{
		Key: q.Key, Now: s.clock.Now(), SetAttributes: map[string]string{AttrPolicy: policy},
	}); err != nil {
		return nil, s.internal(ctx, "QueueUpdate", err)
	}
	return &Empty{}, nil
}

// RemovePermission removes the statement named Label from the queue's Policy; removing the last
// statement removes the Policy.
func (s *Service) RemovePermission(ctx context.Context, c *Caller, in *RemovePermissionInput) (*Empty, error) {
	q, err := s.lookup(ctx, c, in.QueueUrl)
	if err != nil {
		return nil, err
	}
	if in.Label == "" {
		return nil, missing("Label")
	}
	s.policyMu.Lock()
	defer s.policyMu.Unlock()
	if q, err = s.eng.QueueGet(ctx, &engine.QueueGetParams{Key: q.Key}); err != nil {
		return nil, s.internal(ctx, "QueueGet", err)
	}
	doc, stmts, ok := parsePolicy(q.Attributes[AttrPolicy])
	i := statementIndex(stmts, in.Label)
	if !ok || i < 0 {
		return nil, invalidValue("Label", in.Label, "can't find label.")
	}
	stmts = append(stmts[:i:i], stmts[i+1:]...)
	upd := &engine.QueueUpdateParams{Key: q.Key, Now: s.clock.Now()}
	if len(stmts) == 0 {
		upd.RemoveAttributes = []string{AttrPolicy}
	} else {
		policy, err := encodePolicy(doc, stmts)
		if err != nil {
			return nil, s.internal(ctx, "RemovePermission", err)
		}
		upd.SetAttributes = map[string]string{AttrPolicy: policy}
	}
	if _, err := s.eng.QueueUpdate(ctx, upd); err != nil {
		return nil, s.internal(ctx, "QueueUpdate", err)
	}
	return &Empty{}, nil
}

// policyStatement is a statement as AddPermission writes it, members in SQS's order.
type policyStatement struct {
	Sid       string          `json:"Sid"`
	Effect    string          `json:"Effect"`
	Principal policyPrincipal `json:"Principal"`
	Action    any             `json:"Action"`
	Resource  string          `json:"Resource"`
}

type policyPrincipal struct {
	AWS any `json:"AWS"`
}

// oneOrMany renders a policy value as SQS does: a string for one value, else a list.
func oneOrMany(vs []string) any {
	if len(vs) == 1 {
		return vs[0]
	}
	return vs
}

// jsonMember is one member of a JSON object, kept in document order.
type jsonMember struct {
	key string
	val json.RawMessage
}

// parsePolicy splits a policy document into its members and its statements. ok is false when
// the policy is empty or is not a JSON object whose Statement (if present) is a list or an
// object. A single statement object is returned as a list of one.
func parsePolicy(policy string) (doc []jsonMember, stmts []json.RawMessage, ok bool) {
	if strings.TrimSpace(policy) == "" {
		return nil, nil, false
	}
	dec := json.NewDecoder(strings.NewReader(policy))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, nil, false
		}
		if key == "Statement" {
			if seen {
				continue // a repeated member: the first counts
			}
			seen = true
			switch v := bytes.TrimSpace(val); {
			case len(v) > 0 && v[0] == '[':
				if err := json.Unmarshal(v, &stmts); err != nil {
					return nil, nil, false
				}
			case len(v) > 0 && v[0] == '{':
				stmts = []json.RawMessage{v}
			default:
				return nil, nil, false
			}
			val = nil
		}
		doc = append(doc, jsonMember{key, val})
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, false
	}
	if !seen {
		doc = append(doc, jsonMember{key: "Statement"})
	}
	return doc, stmts, true
}

// encodePolicy writes a policy document (as parsePolicy returned it) with stmts as its
// Statement list, compactly.
func encodePolicy(doc []jsonMember, stmts []json.RawMessage) (string, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range doc {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(m.key))
		b.WriteByte(':')
		val := m.val
		if m.key == "Statement" && val == nil {
			if stmts == nil {
				stmts = []json.RawMessage{}
			}
			var err error
			if val, err = marshalNoEscape(stmts); err != nil {
				return "", err
			}
		}
		b.Write(val)
	}
	b.WriteByte('}')
	var out bytes.Buffer
	if err := json.Compact(&out, b.Bytes()); err != nil {
		return "", err
	}
	return out.String(), nil
}

// statementIndex returns the index of the statement whose Sid is label, or -1.
func statementIndex(stmts []json.RawMessage, label string) int {
	for i, raw := range stmts {
		var st struct {
			Sid any `json:"Sid"`
		}
		if json.Unmarshal(raw, &st) == nil && st.Sid == label {
			return i
		}
	}
	return -1
}

// marshalNoEscape marshals v without escaping <, > and & (SQS returns policies as written).
func marshalNoEscape(v any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// jsonString returns s as a JSON string (encoding a string cannot fail).
func jsonString(s string) json.RawMessage {
	b, _ := marshalNoEscape(s)
	return b
}
