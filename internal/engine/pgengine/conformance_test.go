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
