// Package store keeps ttobot's records in SQLite (the default, through the pure-Go
// modernc.org/sqlite driver) or PostgreSQL (pgx): contents (submissions and passes), the
// idempotency keys of Slack deliveries already handled, and the announcement outbox.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// Errors of the record operations.
var (
	ErrDuplicateDelivery = errors.New("store: delivery already processed")
	ErrDuplicateURL      = errors.New("store: URL already submitted")
	ErrDuplicatePass     = errors.New("store: pass already recorded for this round")
	ErrNotFound          = errors.New("store: not found")
)

// Kinds of content.
const (
	KindSubmit = "submit"
	KindPass   = "pass"
)

// Content is one submission or pass.
type Content struct {
	ID                string
	Cohort            string
	UserID            string
	Username          string // the member's name at the time
	Kind              string
	ReceivedAt        time.Time // when ttobot's ingress received the request
	SlackTimestamp    time.Time // X-Slack-Request-Timestamp
	Round             int       // computed from ReceivedAt when recorded
	URL               string
	NormURL           string
	Title             string
	Category          string
	Tags              []string
	Description       string
	Curation          string
	FeedbackIntensity string
	ChannelID         string
	MessageTS         string
}

// OutboxItem is one announcement to post.
type OutboxItem struct {
	ID        int64
	Channel   string
	Text      string
	Blocks    json.RawMessage
	ContentID string
	Attempts  int
	ClaimedAt time.Time
}

// Store is the database.
type Store struct {
	db      *sql.DB
	dialect string // "sqlite" or "postgres"
}

// Open opens the database named by dsn: "sqlite:PATH" (or a bare path) or a postgres:// URL,
// and creates the tables if they are missing.
func Open(ctx context.Context, dsn string) (*Store, error) {
	var s Store
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		s.db, s.dialect = db, "postgres"
	default:
		path := strings.TrimPrefix(dsn, "sqlite:")
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		db.SetMaxOpenConns(1) // one writer; SQLite serialises writes anyway
		s.db, s.dialect = db, "sqlite"
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return &s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	serial := "INTEGER PRIMARY KEY AUTOINCREMENT"
	if s.dialect == "postgres" {
		serial = "BIGSERIAL PRIMARY KEY"
	}
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS deliveries (
			key TEXT PRIMARY KEY,
			processed_at_ms BIGINT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS contents (
			id TEXT PRIMARY KEY,
			cohort TEXT NOT NULL,
			user_id TEXT NOT NULL,
			username TEXT NOT NULL,
			kind TEXT NOT NULL,
			received_at_ms BIGINT NOT NULL,
			slack_ts BIGINT NOT NULL,
			round INTEGER NOT NULL,
			url TEXT NOT NULL DEFAULT '',
			norm_url TEXT NOT NULL DEFAULT '',
			title TEXT NOT NULL DEFAULT '',
			category TEXT NOT NULL DEFAULT '',
			tags TEXT NOT NULL DEFAULT '[]',
			description TEXT NOT NULL DEFAULT '',
			curation TEXT NOT NULL DEFAULT '',
			feedback_intensity TEXT NOT NULL DEFAULT '',
			channel_id TEXT NOT NULL DEFAULT '',
			message_ts TEXT NOT NULL DEFAULT '')`,
		`CREATE UNIQUE INDEX IF NOT EXISTS contents_url ON contents (cohort, norm_url) WHERE kind = 'submit'`,
		`CREATE UNIQUE INDEX IF NOT EXISTS contents_pass ON contents (cohort, user_id, round) WHERE kind = 'pass'`,
		`CREATE INDEX IF NOT EXISTS contents_user ON contents (cohort, user_id, received_at_ms)`,
		`CREATE TABLE IF NOT EXISTS outbox (
			id ` + serial + `,
			channel TEXT NOT NULL,
			text TEXT NOT NULL,
			blocks TEXT NOT NULL DEFAULT '[]',
			content_id TEXT NOT NULL DEFAULT '',
			status TEXT NOT NULL DEFAULT 'pending',
			attempts INTEGER NOT NULL DEFAULT 0,
			next_attempt_ms BIGINT NOT NULL DEFAULT 0,
			claimed_at_ms BIGINT NOT NULL DEFAULT 0,
			message_ts TEXT NOT NULL DEFAULT '',
			last_error TEXT NOT NULL DEFAULT '')`,
		`CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, id)`,
	}
	for _, q := range stmts {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	return nil
}

// q rewrites ? placeholders to $n for PostgreSQL.
func (s *Store) q(query string) string {
	if s.dialect != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// NewID returns a random content id.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DeliveryProcessed reports whether a delivery key was already handled.
func (s *Store) DeliveryProcessed(ctx context.Context, key string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM deliveries WHERE key = ?`), key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: delivery lookup: %w", err)
	}
	return true, nil
}

// MarkDelivery records a delivery key as handled; ErrDuplicateDelivery if it already was.
func (s *Store) MarkDelivery(ctx context.Context, key string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, s.q(`INSERT INTO deliveries (key, processed_at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`), key, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: mark delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDuplicateDelivery
	}
	return nil
}

// URLTaken reports whether a normalised URL was already submitted in the cohort.
func (s *Store) URLTaken(ctx context.Context, cohort, normURL string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM contents WHERE cohort = ? AND norm_url = ? AND kind = 'submit'`), cohort, normURL).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: url lookup: %w", err)
	}
	return true, nil
}

// Record stores a content and its announcement in one transaction, together with the
// delivery key, so a redelivered request records nothing twice. It returns
// ErrDuplicateDelivery, ErrDuplicateURL or ErrDuplicatePass when a uniqueness rule holds it back.
func (s *Store) Record(ctx context.Context, deliveryKey string, now time.Time, c *Content, ob *OutboxItem) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO deliveries (key, processed_at_ms) VALUES (?, ?) ON CONFLICT DO NOTHING`), deliveryKey, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: record: delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDuplicateDelivery
	}
	var one int
	switch c.Kind {
	case KindSubmit:
		err = tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM contents WHERE cohort = ? AND norm_url = ? AND kind = 'submit'`), c.Cohort, c.NormURL).Scan(&one)
		if err == nil {
			return ErrDuplicateURL
		}
	case KindPass:
		err = tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM contents WHERE cohort = ? AND user_id = ? AND round = ? AND kind = 'pass'`), c.Cohort, c.UserID, c.Round).Scan(&one)
		if err == nil {
			return ErrDuplicatePass
		}
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: record: uniqueness check: %w", err)
	}
	tags, _ := json.Marshal(c.Tags)
	if c.Tags == nil {
		tags = []byte("[]")
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO contents (id, cohort, user_id, username, kind, received_at_ms, slack_ts, round,
		url, norm_url, title, category, tags, description, curation, feedback_intensity, channel_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.ID, c.Cohort, c.UserID, c.Username, c.Kind, c.ReceivedAt.UnixMilli(), c.SlackTimestamp.Unix(), c.Round,
		c.URL, c.NormURL, c.Title, c.Category, string(tags), c.Description, c.Curation, c.FeedbackIntensity, c.ChannelID)
	if err != nil {
		return fmt.Errorf("store: record: insert content: %w", err)
	}
	if ob != nil {
		if err = s.insertOutbox(ctx, tx, ob); err != nil {
			return err
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("store: record: commit: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) insertOutbox(ctx context.Context, ex execer, ob *OutboxItem) error {
	blocks := string(ob.Blocks)
	if blocks == "" {
		blocks = "[]"
	}
	if _, err := ex.ExecContext(ctx, s.q(`INSERT INTO outbox (channel, text, blocks, content_id) VALUES (?, ?, ?, ?)`),
		ob.Channel, ob.Text, blocks, ob.ContentID); err != nil {
		return fmt.Errorf("store: insert outbox: %w", err)
	}
	return nil
}

// AddOutbox queues an announcement that belongs to no content (e.g. an admin notice).
func (s *Store) AddOutbox(ctx context.Context, ob *OutboxItem) error {
	return s.insertOutbox(ctx, s.db, ob)
}

const contentCols = `id, cohort, user_id, username, kind, received_at_ms, slack_ts, round, url, norm_url, title,
	category, tags, description, curation, feedback_intensity, channel_id, message_ts`

func scanContents(rows *sql.Rows) ([]Content, error) {
	defer rows.Close()
	var out []Content
	for rows.Next() {
		var c Content
		var recv, slackTS int64
		var tags string
		if err := rows.Scan(&c.ID, &c.Cohort, &c.UserID, &c.Username, &c.Kind, &recv, &slackTS, &c.Round, &c.URL, &c.NormURL,
			&c.Title, &c.Category, &tags, &c.Description, &c.Curation, &c.FeedbackIntensity, &c.ChannelID, &c.MessageTS); err != nil {
			return nil, fmt.Errorf("store: scan content: %w", err)
		}
		c.ReceivedAt = time.UnixMilli(recv).UTC()
		c.SlackTimestamp = time.Unix(slackTS, 0).UTC()
		if err := json.Unmarshal([]byte(tags), &c.Tags); err != nil {
			return nil, fmt.Errorf("store: content %s tags: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: contents: %w", err)
	}
	return out, nil
}

// UserContents returns a member's contents in the cohort, newest first.
func (s *Store) UserContents(ctx context.Context, cohort, userID string) ([]Content, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+contentCols+` FROM contents WHERE cohort = ? AND user_id = ?
		ORDER BY received_at_ms DESC, id DESC`), cohort, userID)
	if err != nil {
		return nil, fmt.Errorf("store: user contents: %w", err)
	}
	return scanContents(rows)
}

// AllContents returns every content of the cohort, oldest first (tests and exports).
func (s *Store) AllContents(ctx context.Context, cohort string) ([]Content, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+contentCols+` FROM contents WHERE cohort = ? ORDER BY received_at_ms, id`), cohort)
	if err != nil {
		return nil, fmt.Errorf("store: all contents: %w", err)
	}
	return scanContents(rows)
}

// SearchParams select submissions.
type SearchParams struct {
	Cohort   string
	Keyword  string // substring of title, comment or tags, case-insensitive; "" = any
	Author   string // substring of the member's name; "" = any
	Category string // exact; "" = any
	Limit    int
}

func likeArg(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// Search returns matching submissions, newest first, and how many matched in all.
func (s *Store) Search(ctx context.Context, p SearchParams) ([]Content, int, error) {
	where := `cohort = ? AND kind = 'submit'`
	args := []any{p.Cohort}
	if p.Keyword != "" {
		where += ` AND lower(title || ' ' || description || ' ' || tags) LIKE ? ESCAPE '\'`
		args = append(args, likeArg(p.Keyword))
	}
	if p.Author != "" {
		where += ` AND lower(username) LIKE ? ESCAPE '\'`
		args = append(args, likeArg(p.Author))
	}
	if p.Category != "" {
		where += ` AND category = ?`
		args = append(args, p.Category)
	}
	var total int
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT count(*) FROM contents WHERE `+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: search count: %w", err)
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 20
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+contentCols+` FROM contents WHERE `+where+`
		ORDER BY received_at_ms DESC, id DESC LIMIT `+strconv.Itoa(limit)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: search: %w", err)
	}
	out, err := scanContents(rows)
	return out, total, err
}
