package config

import (
	"fmt"
	"sort"
	"strings"
)

// QueueDecl is a queue declared in the config file (a [[queues]] table): `sluice serve` creates
// it at start if it does not exist and sets the declared attributes and tags if it does.
type QueueDecl struct {
	// Name is the queue name; FIFO queue names end in .fifo.
	Name string `toml:"name"`
	// Type is "standard" (default) or "fifo".
	Type string `toml:"type"`
	// Attributes holds SQS queue attributes by their API names (VisibilityTimeout = 30,
	// ContentBasedDeduplication = true, Policy = '{...}'); values are numbers, booleans or
	// strings. RedrivePolicy and RedriveAllowPolicy have tables of their own.
	Attributes map[string]any `toml:"attributes"`
	// RedrivePolicy names the dead-letter queue by name (declared in the file or existing) or ARN.
	RedrivePolicy *RedriveDecl `toml:"redrive_policy"`
	// RedriveAllowPolicy says which source queues may use this queue as their dead-letter queue.
	RedriveAllowPolicy *RedriveAllowDecl `toml:"redrive_allow_policy"`
	Tags               map[string]string `toml:"tags"`
	// Push attaches a push subscription to the queue (a [queues.push] table; docs/push.md).
	Push *PushDecl `toml:"push"`
}

// PushDecl is a declared queue's push subscription. Zero fields take the defaults of package
// push, which checks the rest of the values.
type PushDecl struct {
	Endpoint     string   `toml:"endpoint"`
	Rate         float64  `toml:"rate"`
	Burst        int      `toml:"burst"`
	Concurrency  int      `toml:"concurrency"`
	Timeout      Duration `toml:"timeout"`
	MinBackoff   Duration `toml:"min_backoff"`
	MaxBackoff   Duration `toml:"max_backoff"`
	MaxDoublings int      `toml:"max_doublings"`
}

// RedriveDecl is a declared queue's redrive policy.
type RedriveDecl struct {
	// DeadLetterQueue is a queue name of the same account, or a queue ARN.
	DeadLetterQueue string `toml:"dead_letter_queue"`
	MaxReceiveCount int    `toml:"max_receive_count"`
}

// RedriveAllowDecl is a declared queue's redrive-allow policy.
type RedriveAllowDecl struct {
	// Permission is allowAll, denyAll or byQueue.
	Permission string `toml:"permission"`
	// SourceQueues (with byQueue) are queue names of the same account, or queue ARNs.
	SourceQueues []string `toml:"source_queues"`
}

// FIFO reports whether the declaration is of a FIFO queue.
func (d *QueueDecl) FIFO() bool { return d.Type == "fifo" }

// StringAttributes returns the declared attributes in the string form of the SQS API.
func (d *QueueDecl) StringAttributes() map[string]string {
	out := make(map[string]string, len(d.Attributes))
	for k, v := range d.Attributes {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// IsARN reports whether a queue reference is an ARN rather than a name.
func IsARN(ref string) bool { return strings.HasPrefix(ref, "arn:") }

// validateQueues checks what can be checked of the declarations without the SQS rules (which
// the queue package applies when the declarations are checked or applied): names, types, value
// kinds and references between declared queues. Each error names the queue and the field.
func validateQueues(decls []QueueDecl) error {
	bad := func(i int, format string, args ...any) error {
		name := decls[i].Name
		if name == "" {
			name = fmt.Sprintf("#%d", i+1)
		}
		return fmt.Errorf("%w: queues: queue %q: %s", ErrInvalid, name, fmt.Sprintf(format, args...))
	}
	byName := make(map[string]*QueueDecl, len(decls))
	for i := range decls {
		d := &decls[i]
		switch {
		case d.Name == "":
			return bad(i, "name: must not be empty")
		case byName[d.Name] != nil:
			return bad(i, "name: declared twice")
		}
		byName[d.Name] = d
		switch d.Type {
		case "":
			d.Type = "standard"
		case "standard", "fifo":
		default:
			return bad(i, "type: must be standard or fifo, not %q", d.Type)
		}
		if fifoName := strings.HasSuffix(d.Name, ".fifo"); fifoName != d.FIFO() {
			if fifoName {
				return bad(i, "type: a queue whose name ends in .fifo must have type = \"fifo\"")
			}
			return bad(i, "name: the name of a FIFO queue must end in .fifo")
		}
		if p := d.Push; p != nil {
			switch {
			case p.Endpoint == "":
				return bad(i, "push.endpoint: must not be empty")
			case !(p.Rate > 0):
				return bad(i, "push.rate: must be greater than 0")
			}
		}
		for _, k := range sortedAttrKeys(d.Attributes) {
			switch v := d.Attributes[k]; v.(type) {
			case string, int64, bool:
			default:
				return bad(i, "attributes.%s: must be a number, a boolean or a string, not %v", k, v)
			}
			switch k {
			case "RedrivePolicy", "RedriveAllowPolicy":
				return bad(i, "attributes.%s: declare it as a [queues.%s] table", k, snake(k))
			case "FifoQueue":
				return bad(i, "attributes.FifoQueue: use type = \"fifo\"")
			}
		}
	}
	for i := range decls {
		d := &decls[i]
		if rp := d.RedrivePolicy; rp != nil {
			switch dlq := byName[rp.DeadLetterQueue]; {
			case rp.DeadLetterQueue == "":
				return bad(i, "redrive_policy.dead_letter_queue: must not be empty")
			case dlq == d:
				return bad(i, "redrive_policy.dead_letter_queue: a queue cannot be its own dead-letter queue")
			case dlq == nil && !IsARN(rp.DeadLetterQueue):
				return bad(i, "redrive_policy.dead_letter_queue: %q is not declared in the file (to use a queue that exists but is not declared, give its ARN)", rp.DeadLetterQueue)
			case dlq != nil && dlq.FIFO() != d.FIFO():
				return bad(i, "redrive_policy.dead_letter_queue: %q is a %s queue; the dead-letter queue of a %s queue must be a %s queue too",
					dlq.Name, dlq.Type, d.Type, d.Type)
			}
			if rp.MaxReceiveCount < 1 || rp.MaxReceiveCount > 1000 {
				return bad(i, "redrive_policy.max_receive_count: must be from 1 to 1000, not %d", rp.MaxReceiveCount)
			}
		}
		if ap := d.RedriveAllowPolicy; ap != nil {
			switch ap.Permission {
			case "allowAll", "denyAll":
				if len(ap.SourceQueues) > 0 {
					return bad(i, "redrive_allow_policy.source_queues: only with permission = \"byQueue\"")
				}
			case "byQueue":
				if len(ap.SourceQueues) == 0 || len(ap.SourceQueues) > 10 {
					return bad(i, "redrive_allow_policy.source_queues: byQueue needs 1 to 10 source queues")
				}
				for _, src := range ap.SourceQueues {
					if byName[src] == nil && !IsARN(src) {
						return bad(i, "redrive_allow_policy.source_queues: %q is not declared in the file (to name a queue that exists but is not declared, give its ARN)", src)
					}
				}
			default:
				return bad(i, "redrive_allow_policy.permission: must be allowAll, denyAll or byQueue, not %q", ap.Permission)
			}
		}
	}
	return nil
}

func sortedAttrKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// snake turns RedrivePolicy into redrive_policy.
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
