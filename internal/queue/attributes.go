package queue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Queue attribute names.
const (
	AttrDelaySeconds                  = "DelaySeconds"
	AttrMaximumMessageSize            = "MaximumMessageSize"
	AttrMessageRetentionPeriod        = "MessageRetentionPeriod"
	AttrReceiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
	AttrVisibilityTimeout             = "VisibilityTimeout"
	AttrPolicy                        = "Policy"
	AttrRedrivePolicy                 = "RedrivePolicy"
	AttrRedriveAllowPolicy            = "RedriveAllowPolicy"
	AttrFifoQueue                     = "FifoQueue"
	AttrContentBasedDeduplication     = "ContentBasedDeduplication"
	AttrDeduplicationScope            = "DeduplicationScope"
	AttrFifoThroughputLimit           = "FifoThroughputLimit"
	AttrSqsManagedSseEnabled          = "SqsManagedSseEnabled"
	AttrKmsMasterKeyId                = "KmsMasterKeyId"
	AttrKmsDataKeyReusePeriodSeconds  = "KmsDataKeyReusePeriodSeconds"

	AttrApproximateNumberOfMessages           = "ApproximateNumberOfMessages"
	AttrApproximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
	AttrApproximateNumberOfMessagesDelayed    = "ApproximateNumberOfMessagesDelayed"
	AttrCreatedTimestamp                      = "CreatedTimestamp"
	AttrLastModifiedTimestamp                 = "LastModifiedTimestamp"
	AttrQueueArn                              = "QueueArn"
)

// attrDef describes one settable queue attribute.
type attrDef struct {
	name string
	// def is the default shown by GetQueueAttributes; "" means the attribute is absent unless set.
	def string
	// fifoOnly attributes are unknown on standard queues; notFifoMsg is the error text then
	// ("" means "Unknown Attribute X.").
	fifoOnly   bool
	notFifoMsg string
	// createOnly attributes cannot be changed by SetQueueAttributes.
	createOnly bool
	// canon validates a value and returns its canonical form.
	canon func(v string) (string, bool)
}

func intRange(lo, hi int) func(string) (string, bool) {
	return func(v string) (string, bool) {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return "", false
		}
		return strconv.Itoa(n), true
	}
}

func boolean(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "true":
		return "true", true
	case "false":
		return "false", true
	}
	return "", false
}

func oneOf(vals ...string) func(string) (string, bool) {
	return func(v string) (string, bool) {
		for _, o := range vals {
			if v == o {
				return v, true
			}
		}
		return "", false
	}
}

func anyJSON(v string) (string, bool) {
	if v == "" {
		return "", true
	}
	return v, json.Valid([]byte(v))
}

func anyString(v string) (string, bool) { return v, true }

// attrDefs lists the settable attributes in the order GetQueueAttributes(All) returns them.
var attrDefs = []attrDef{
	{name: AttrDelaySeconds, def: "0", canon: intRange(0, 900)},
	{name: AttrMaximumMessageSize, def: "1048576", canon: intRange(1024, 1048576)},
	{name: AttrMessageRetentionPeriod, def: "345600", canon: intRange(60, 1209600)},
	{name: AttrReceiveMessageWaitTimeSeconds, def: "0", canon: intRange(0, 20)},
	{name: AttrVisibilityTimeout, def: "30", canon: intRange(0, 43200)},
	{name: AttrPolicy, canon: anyJSON},
	{name: AttrRedrivePolicy, canon: anyJSON},
	{name: AttrRedriveAllowPolicy, canon: anyJSON},
	{name: AttrSqsManagedSseEnabled, def: "true", canon: boolean},
	{name: AttrKmsMasterKeyId, canon: anyString},
	{name: AttrKmsDataKeyReusePeriodSeconds, canon: intRange(60, 86400)},
	{name: AttrFifoQueue, def: "true", fifoOnly: true, createOnly: true, canon: boolean},
	{name: AttrContentBasedDeduplication, def: "false", fifoOnly: true, canon: boolean},
	{name: AttrDeduplicationScope, def: "queue", fifoOnly: true, canon: oneOf("queue", "messageGroup"),
		notFifoMsg: "You can specify the DeduplicationScope only when FifoQueue is set to true."},
	{name: AttrFifoThroughputLimit, def: "perQueue", fifoOnly: true, canon: oneOf("perQueue", "perMessageGroupId"),
		notFifoMsg: "You can specify the FifoThroughputLimit only when FifoQueue is set to true."},
}

var attrByName = func() map[string]*attrDef {
	m := make(map[string]*attrDef, len(attrDefs))
	for i := range attrDefs {
		m[attrDefs[i].name] = &attrDefs[i]
	}
	return m
}()

// computedAttrs are the read-only attributes.
var computedAttrs = []string{
	AttrApproximateNumberOfMessages, AttrApproximateNumberOfMessagesNotVisible,
	AttrApproximateNumberOfMessagesDelayed, AttrCreatedTimestamp, AttrLastModifiedTimestamp, AttrQueueArn,
}

func isComputed(name string) bool {
	for _, c := range computedAttrs {
		if c == name {
			return true
		}
	}
	return false
}

// validateAttributes checks attributes given to CreateQueue (creating=true) or
// SetQueueAttributes and returns the values to store and the names to remove. Empty values of
// Policy, RedrivePolicy, RedriveAllowPolicy and KmsMasterKeyId remove the attribute.
func validateAttributes(in map[string]string, fifo, creating bool) (set map[string]string, remove []string, err error) {
	set = make(map[string]string, len(in))
	for _, name := range sortedKeys(in) {
		v := in[name]
		d := attrByName[name]
		if d == nil {
			return nil, nil, newErr(ErrInvalidAttributeName, "Unknown Attribute %s.", name)
		}
		if d.fifoOnly && !fifo {
			if d.notFifoMsg != "" {
				return nil, nil, newErr(ErrInvalidAttributeName, "%s", d.notFifoMsg)
			}
			return nil, nil, newErr(ErrInvalidAttributeName, "Unknown Attribute %s.", name)
		}
		c, ok := d.canon(v)
		if !ok || !validChars(v) {
			return nil, nil, newErr(ErrInvalidAttributeValue, "Invalid value for the parameter %s.", name)
		}
		if name == AttrFifoQueue && !creating {
			if c == "false" {
				return nil, nil, newErr(ErrInvalidAttributeValue,
					"Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
			}
			continue
		}
		if c == "" && d.def == "" {
			remove = append(remove, name)
			continue
		}
		set[name] = c
	}
	if _, ok := in[AttrKmsMasterKeyId]; ok {
		if sse, ok := in[AttrSqsManagedSseEnabled]; ok && strings.EqualFold(sse, "true") && in[AttrKmsMasterKeyId] != "" {
			return nil, nil, newErr(ErrInvalidAttributeName,
				"You can use one type of server-side encryption (SSE) at one time. You can either enable KMS SSE or SQS SSE.")
		}
		if in[AttrKmsMasterKeyId] != "" {
			set[AttrSqsManagedSseEnabled] = "false"
		}
	}
	if v, ok := set[AttrFifoThroughputLimit]; ok && v == "perMessageGroupId" {
		if scope, ok := set[AttrDeduplicationScope]; ok && scope != "messageGroup" {
			return nil, nil, newErr(ErrInvalidAttributeValue,
				"Invalid value for the parameter FifoThroughputLimit. Reason: The perMessageGroupId value is allowed only when the value for DeduplicationScope is messageGroup.")
		}
	}
	if v, ok := set[AttrRedrivePolicy]; ok {
		if _, err := parseRedrivePolicy(v); err != nil {
			return nil, nil, err
		}
	}
	if v, ok := set[AttrRedriveAllowPolicy]; ok {
		if err := validateRedriveAllowPolicy(v); err != nil {
			return nil, nil, err
		}
	}
	return set, remove, nil
}

// RedrivePolicy is a queue's dead-letter configuration.
type RedrivePolicy struct {
	DeadLetterTargetArn string
	MaxReceiveCount     int
}

func parseRedrivePolicy(v string) (*RedrivePolicy, error) {
	var raw map[string]any
	bad := func(reason string) error {
		return newErr(ErrInvalidParameterValue, "Value %s for parameter RedrivePolicy is invalid. Reason: %s", v, reason)
	}
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, bad("Invalid JSON.")
	}
	arn, _ := raw["deadLetterTargetArn"].(string)
	if arn == "" {
		return nil, bad("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	var count int
	switch c := raw["maxReceiveCount"].(type) {
	case float64:
		count = int(c)
		if float64(count) != c {
			count = 0
		}
	case string:
		count, _ = strconv.Atoi(c)
	case nil:
		return nil, bad("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
	}
	if count < 1 || count > 1000 {
		return nil, bad("Invalid value for maxReceiveCount: " + fmt.Sprint(raw["maxReceiveCount"]) + ", valid values are from 1 to 1000 both inclusive.")
	}
	return &RedrivePolicy{DeadLetterTargetArn: arn, MaxReceiveCount: count}, nil
}

func validateRedriveAllowPolicy(v string) error {
	var p struct {
		RedrivePermission string   `json:"redrivePermission"`
		SourceQueueArns   []string `json:"sourceQueueArns"`
	}
	bad := func(reason string) error {
		return newErr(ErrInvalidParameterValue, "Value %s for parameter RedriveAllowPolicy is invalid. Reason: %s", v, reason)
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return bad("Invalid JSON.")
	}
	switch p.RedrivePermission {
	case "allowAll", "denyAll":
		if len(p.SourceQueueArns) > 0 {
			return bad("Only specify sourceQueueArns with redrivePermission byQueue.")
		}
	case "byQueue":
		if len(p.SourceQueueArns) == 0 || len(p.SourceQueueArns) > 10 {
			return bad("Specify 1 to 10 sourceQueueArns with redrivePermission byQueue.")
		}
	default:
		return bad("Invalid redrivePermission.")
	}
	return nil
}

// effectiveAttr returns a queue's value of a settable attribute (stored or default).
func effectiveAttr(stored map[string]string, name string, fifo bool) (string, bool) {
	if v, ok := stored[name]; ok {
		return v, true
	}
	d := attrByName[name]
	if d == nil || d.def == "" || (d.fifoOnly && !fifo) {
		return "", false
	}
	return d.def, true
}
