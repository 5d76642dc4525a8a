package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"ttobot/internal/store"
)

// pgURL is the local PostgreSQL of the CI machine; TTOBOT_TEST_POSTGRES overrides it.
func pgURL() string {
	if u := os.Getenv("TTOBOT_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// open returns a fresh store of each kind; PostgreSQL gets a schema of its own, and an
// unreachable PostgreSQL fails the test.
func open(t *testing.T, kind string) *store.Store {
	t.Helper()
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "s.db")
	if kind == "postgres" {
		admin, err := sql.Open("pgx", pgURL())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		schema := fmt.Sprintf("ttobot_test_%d", time.Now().UnixNano())
		if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
			t.Fatalf("PostgreSQL is needed for this test (%s): %v", pgURL(), err)
		}
		t.Cleanup(func() {
			a, err := sql.Open("pgx", pgURL())
			if err == nil {
				_, _ = a.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
				a.Close()
			}
		})
		dsn = pgURL() + "&search_path=" + schema
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStore(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			st := open(t, kind)
			now := time.Date(2024, 10, 13, 14, 0, 0, 0, time.UTC)
			sub := func(id, user, norm, key string) error {
				c := &store.Content{ID: id, Cohort: "10기", UserID: user, Username: "이름" + user, Kind: store.KindSubmit,
					ReceivedAt: now, SlackTimestamp: now, Round: 1, URL: "https://" + norm, NormURL: norm, Title: "Go 100% 정복_" + id,
					Category: "기타", Tags: []string{"go"}}
				return st.Record(ctx, key, now, c, &store.OutboxItem{Channel: "C1", Text: "t", ContentID: id})
			}
			if err := sub("a", "U1", "x.com/1", "k1"); err != nil {
				t.Fatal(err)
			}
			if err := sub("b", "U1", "x.com/2", "k1"); !errors.Is(err, store.ErrDuplicateDelivery) {
				t.Fatalf("same delivery: %v", err)
			}
			if err := sub("c", "U2", "x.com/1", "k3"); !errors.Is(err, store.ErrDuplicateURL) {
				t.Fatalf("same URL: %v", err)
			}
			pass := &store.Content{ID: "p", Cohort: "10기", UserID: "U2", Username: "x", Kind: store.KindPass, ReceivedAt: now, SlackTimestamp: now, Round: 1}
			if err := st.Record(ctx, "k4", now, pass, nil); err != nil {
				t.Fatal(err)
			}
			pass.ID = "p2"
			if err := st.Record(ctx, "k5", now, pass, nil); !errors.Is(err, store.ErrDuplicatePass) {
				t.Fatalf("second pass: %v", err)
			}
			if taken, err := st.URLTaken(ctx, "10기", "x.com/1"); err != nil || !taken {
				t.Fatalf("URLTaken = %v, %v", taken, err)
			}
			res, total, err := st.Search(ctx, store.SearchParams{Cohort: "10기", Keyword: "GO 100%"})
			if err != nil || total != 1 || res[0].ID != "a" {
				t.Fatalf("search: %v %d %v", res, total, err)
			}
			if _, total, _ := st.Search(ctx, store.SearchParams{Cohort: "10기", Keyword: "100_"}); total != 0 {
				t.Fatal("LIKE wildcards not escaped")
			}
			due, err := st.DueOutbox(ctx, now, 10)
			if err != nil || len(due) != 1 {
				t.Fatalf("due: %v %v", due, err)
			}
			if err := st.ClaimOutbox(ctx, due[0].ID, now); err != nil {
				t.Fatal(err)
			}
			if err := st.ClaimOutbox(ctx, due[0].ID, now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("second claim: %v", err)
			}
			if err := st.SentOutbox(ctx, &due[0], "123.456"); err != nil {
				t.Fatal(err)
			}
			cs, err := st.UserContents(ctx, "10기", "U1")
			if err != nil || len(cs) != 1 || cs[0].MessageTS != "123.456" || !cs[0].ReceivedAt.Equal(now) {
				t.Fatalf("contents: %+v %v", cs, err)
			}
		})
	}
}
