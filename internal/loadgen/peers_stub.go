package loadgen

import "context"

// OpenRabbitMQ is not written yet.
func OpenRabbitMQ(ctx context.Context, url string) (Target, error) { return nil, ErrNotSupported }

// OpenNATS is not written yet.
func OpenNATS(ctx context.Context, url string) (Target, error) { return nil, ErrNotSupported }
