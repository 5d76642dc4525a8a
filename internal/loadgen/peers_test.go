package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPeers runs pipeline and burst against RabbitMQ (127.0.0.1:5672) and NATS JetStream
// (127.0.0.1:4222), which run on this machine and in CI (scripts/test-deps.sh starts them). A
// peer that is down fails the test: it is never skipped.
func TestPeers(t *testing.T) {
	ctx := context.Background()
	for _, target := range []string{"rabbitmq", "nats"} {
		t.Run(target, func(t *testing.T) {
			for _, sc := range []string{"pipeline", "burst"} {
				t.Run(sc, func(t *testing.T) {
					cfg := smallConfig(t, sc, target)
					cfg.Duration = time.Second
					r, err := Run(ctx, cfg)
					require.NoError(t, err, "is %s running? (scripts/test-deps.sh starts it)", target)
					requireClean(t, r)
					require.Zero(t, *r.Unexpected)
					require.Equal(t, r.Sent, r.Deleted)
					require.NotEmpty(t, r.Durability)
				})
			}
			t.Run("fifo", func(t *testing.T) {
				_, err := Run(ctx, smallConfig(t, "fifo", target))
				require.True(t, errors.Is(err, ErrNotSupported), "got %v", err)
			})
		})
	}
}
