package pgengine_test

import (
	"testing"

	"sluice/internal/engine"
	"sluice/internal/engine/enginetest"
	"sluice/internal/engine/pgengine"
	"sluice/internal/engine/pgengine/pgtest"
)

func TestConformance(t *testing.T) {
	enginetest.Exercise(t, func(t *testing.T) engine.Engine { return pgtest.Open(t, "", pgengine.Options{}) })
}

func TestFair(t *testing.T) {
	enginetest.ExerciseFair(t, func(t *testing.T) engine.Engine { return pgtest.Open(t, "", pgengine.Options{}) })
}

// BenchmarkEngine runs the engine benchmarks on PostgreSQL, each on a fresh schema (see
// docs/postgres.md for numbers and how they were taken).
func BenchmarkEngine(b *testing.B) {
	enginetest.Benchmark(b, func(tb testing.TB) engine.Engine { return pgtest.Open(tb, "", pgengine.Options{}) })
}
