// Package pgtest gives tests a PostgreSQL engine in a schema of their own, dropped when the test
// ends. The database comes from SLUICE_TEST_POSTGRES_URL (default DefaultURL). A test that
// cannot reach it fails: PostgreSQL is part of the test environment (scripts/test-deps.sh
// starts it), and a skipped engine suite would hide a broken engine.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"sluice/internal/engine/pgengine"
)

// DefaultURL is the test database when SLUICE_TEST_POSTGRES_URL is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the test database's connection string.
func URL() string {
	if u := os.Getenv("SLUICE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Schema returns the name of a new, unused schema that is dropped (with everything in it) when
// the test ends. The schema itself is created by whoever opens an engine on it.
func Schema(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "test_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, URL())
		if err != nil {
			t.Errorf("pgtest: connecting to drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("pgtest: dropping schema %s: %v", name, err)
		}
	})
	return name
}

// Open opens an engine on schema (a new one from Schema when empty), failing the test if
// PostgreSQL cannot be reached. The caller closes the engine.
func Open(t testing.TB, schema string, o pgengine.Options) *pgengine.Engine {
	t.Helper()
	if schema == "" {
		schema = Schema(t)
	}
	o.URL, o.Schema = URL(), schema
	if o.MaxConns == 0 {
		o.MaxConns = 8
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := pgengine.Open(ctx, o)
	if err != nil {
		t.Fatalf("pgtest: opening the postgres engine at %s (set SLUICE_TEST_POSTGRES_URL; scripts/test-deps.sh starts the local cluster): %v", URL(), err)
	}
	return e
}
