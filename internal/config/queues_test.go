package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadFile loads a configuration whose file holds text.
func loadFile(t *testing.T, text string) (Config, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sluice.toml")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o600))
	return load(t, []string{"--config", file}, nil)
}

func TestQueuesParse(t *testing.T) {
	t.Parallel()
	c, err := loadFile(t, `
[[queues]]
name = "orders"
attributes = { VisibilityTimeout = 45, DelaySeconds = 2, Policy = '{"Version":"2012-10-17"}' }
redrive_policy = { dead_letter_queue = "orders-dlq", max_receive_count = 5 }
tags = { team = "shop" }

[[queues]]
name = "orders-dlq"
redrive_allow_policy = { permission = "byQueue", source_queues = ["orders"] }

[[queues]]
name = "events.fifo"
type = "fifo"
[queues.attributes]
ContentBasedDeduplication = true
DeduplicationScope = "messageGroup"
`)
	require.NoError(t, err)
	require.Len(t, c.Queues, 3)
	orders := c.Queues[0]
	require.Equal(t, "standard", orders.Type, "type defaults to standard")
	require.Equal(t, map[string]string{"VisibilityTimeout": "45", "DelaySeconds": "2", "Policy": `{"Version":"2012-10-17"}`},
		orders.StringAttributes())
	require.Equal(t, &RedriveDecl{DeadLetterQueue: "orders-dlq", MaxReceiveCount: 5}, orders.RedrivePolicy)
	require.Equal(t, map[string]string{"team": "shop"}, orders.Tags)
	require.Equal(t, &RedriveAllowDecl{Permission: "byQueue", SourceQueues: []string{"orders"}}, c.Queues[1].RedriveAllowPolicy)
	require.True(t, c.Queues[2].FIFO())
	require.Equal(t, map[string]string{"ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup"},
		c.Queues[2].StringAttributes())
}

func TestQueuesInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no name", `[[queues]]
type = "fifo"`, `queues: queue "#1": name: must not be empty`},
		{"twice", `[[queues]]
name = "a"
[[queues]]
name = "a"`, `queue "a": name: declared twice`},
		{"bad type", `[[queues]]
name = "a"
type = "priority"`, `queue "a": type: must be standard or fifo, not "priority"`},
		{"fifo name, standard type", `[[queues]]
name = "a.fifo"`, `queue "a.fifo": type: a queue whose name ends in .fifo must have type = "fifo"`},
		{"fifo type, standard name", `[[queues]]
name = "a"
type = "fifo"`, `queue "a": name: the name of a FIFO queue must end in .fifo`},
		{"float value", `[[queues]]
name = "a"
attributes = { VisibilityTimeout = 1.5 }`, `queue "a": attributes.VisibilityTimeout: must be a number, a boolean or a string, not 1.5`},
		{"redrive as attribute", `[[queues]]
name = "a"
attributes = { RedrivePolicy = "{}" }`, `queue "a": attributes.RedrivePolicy: declare it as a [queues.redrive_policy] table`},
		{"FifoQueue attribute", `[[queues]]
name = "a.fifo"
type = "fifo"
attributes = { FifoQueue = true }`, `queue "a.fifo": attributes.FifoQueue: use type = "fifo"`},
		{"dlq missing", `[[queues]]
name = "a"
redrive_policy = { max_receive_count = 3 }`, `queue "a": redrive_policy.dead_letter_queue: must not be empty`},
		{"dlq not declared", `[[queues]]
name = "a"
redrive_policy = { dead_letter_queue = "nowhere", max_receive_count = 3 }`, `queue "a": redrive_policy.dead_letter_queue: "nowhere" is not declared in the file (to use a queue that exists but is not declared, give its ARN)`},
		{"dlq is itself", `[[queues]]
name = "a"
redrive_policy = { dead_letter_queue = "a", max_receive_count = 3 }`, `queue "a": redrive_policy.dead_letter_queue: a queue cannot be its own dead-letter queue`},
		{"dlq of other type", `[[queues]]
name = "a"
redrive_policy = { dead_letter_queue = "d.fifo", max_receive_count = 3 }
[[queues]]
name = "d.fifo"
type = "fifo"`, `queue "a": redrive_policy.dead_letter_queue: "d.fifo" is a fifo queue; the dead-letter queue of a standard queue must be a standard queue too`},
		{"receive count", `[[queues]]
name = "a"
redrive_policy = { dead_letter_queue = "d", max_receive_count = 0 }
[[queues]]
name = "d"`, `queue "a": redrive_policy.max_receive_count: must be from 1 to 1000, not 0`},
		{"allow permission", `[[queues]]
name = "a"
redrive_allow_policy = { permission = "some" }`, `queue "a": redrive_allow_policy.permission: must be allowAll, denyAll or byQueue, not "some"`},
		{"allow sources with allowAll", `[[queues]]
name = "a"
redrive_allow_policy = { permission = "allowAll", source_queues = ["a"] }`, `queue "a": redrive_allow_policy.source_queues: only with permission = "byQueue"`},
		{"byQueue without sources", `[[queues]]
name = "a"
redrive_allow_policy = { permission = "byQueue" }`, `queue "a": redrive_allow_policy.source_queues: byQueue needs 1 to 10 source queues`},
		{"byQueue unknown source", `[[queues]]
name = "a"
redrive_allow_policy = { permission = "byQueue", source_queues = ["b"] }`, `queue "a": redrive_allow_policy.source_queues: "b" is not declared in the file (to name a queue that exists but is not declared, give its ARN)`},
		{"unknown field", `[[queues]]
name = "a"
visibility = 3`, `unknown setting "queues.visibility"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadFile(t, tc.file)
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrInvalid), "%v", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestQueuesByARN(t *testing.T) {
	t.Parallel()
	c, err := loadFile(t, `[[queues]]
name = "a"
redrive_policy = { dead_letter_queue = "arn:aws:sqs:us-east-1:000000000000:existing", max_receive_count = 3 }`)
	require.NoError(t, err, "a dead-letter queue given by ARN need not be declared")
	require.Equal(t, "arn:aws:sqs:us-east-1:000000000000:existing", c.Queues[0].RedrivePolicy.DeadLetterQueue)
}
