package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBenchNull runs `sluice bench` end to end against its in-process null server, with flags
// after the scenario, and checks the summary line and the JSON.
func TestBenchNull(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--target", "null", "pipeline", "--duration", "300ms",
		"--producers", "1", "--consumers", "1", "--json", "-"}, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, 0, code, stderr.String())
	line, rest, _ := strings.Cut(stdout.String(), "\n")
	require.Contains(t, line, "pipeline null")
	require.Contains(t, line, "lost n/a")
	var r struct {
		Scenario string
		Sent     int64
	}
	require.NoError(t, json.Unmarshal([]byte(rest), &r))
	require.Equal(t, "pipeline", r.Scenario)
	require.Positive(t, r.Sent)
}

func TestBenchUnknownScenario(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "nosuch"}, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, 1, code)
	require.Contains(t, stderr.String(), "unknown scenario")
}

// TestBenchHelpNamesScenarios checks that --help names every scenario and the flags of fair and
// push, and that both refuse a target that is not an SQS endpoint.
func TestBenchHelpNamesScenarios(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"bench", "--help"}, &stdout, &stderr, func(string) string { return "" })
	require.Equal(t, 0, code, stderr.String())
	for _, want := range []string{"pipeline, burst, single, fifo, wake, fair, push", "-noisy-rate", "-quiet-rate", "-tenants", "-push-rate", "-push-concurrency"} {
		require.Contains(t, stderr.String(), want)
	}
	for _, sc := range []string{"fair", "push"} {
		stderr.Reset()
		code = run(context.Background(), []string{"bench", "--target", "null", "--chart", "", sc}, &stdout, &stderr, func(string) string { return "" })
		require.Equal(t, 1, code)
		require.Contains(t, stderr.String(), "needs an sqs=URL target")
	}
}
