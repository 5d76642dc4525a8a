package sdkcompat

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"
)

// TestFairQueue sends a flood from one tenant and a few messages from another to a standard
// queue with MessageGroupId through the SDK, on every engine: the quiet tenant's messages come
// out among the first receives, not behind the flood, the flood still drains, and each message
// carries its group id as a system attribute.
func TestFairQueue(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, b *testBundle) {
		url := b.create(t, "shared", nil)
		send := func(tenant string, n int) {
			for i := 0; i < n; i += 10 {
				var entries []types.SendMessageBatchRequestEntry
				for j := i; j < min(i+10, n); j++ {
					entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint("e", j)),
						MessageBody: aws.String(fmt.Sprintf("%s-%d", tenant, j)), MessageGroupId: aws.String(tenant)})
				}
				out, err := b.c.SendMessageBatch(b.ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
				require.NoError(t, err)
				require.Empty(t, out.Failed)
			}
		}
		send("noisy", 1000)
		send("quiet", 20)
		got := map[string]int{}
		for r := 0; r < 10; r++ {
			out, err := b.c.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
				VisibilityTimeout: 300, MessageSystemAttributeNames: []types.MessageSystemAttributeName{"MessageGroupId"}})
			require.NoError(t, err)
			require.Len(t, out.Messages, 10)
			for _, m := range out.Messages {
				tenant := strings.SplitN(*m.Body, "-", 2)[0]
				require.Equal(t, tenant, m.Attributes["MessageGroupId"])
				got[tenant]++
			}
		}
		require.Equal(t, 20, got["quiet"], "the quiet tenant's 20 messages are among the first 100 received, not behind 1000")
		require.Positive(t, got["noisy"], "the flood still drains")
	})
}
