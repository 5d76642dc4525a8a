// Package push delivers a queue's messages to an HTTP endpoint: Sluice itself is the consumer,
// at a set rate, burst and concurrency. A Manager owns the subscriptions (stored durably as
// queue tags) and runs one dispatcher per subscription. A dispatcher consumes like any SQS
// client, through queue.Service: it receives with a visibility timeout of the per-attempt
// timeout plus a margin, deletes a message when the endpoint answers 2xx, and on failure
// changes the message's visibility to a backoff delay, so that retries, RedrivePolicy and
// dead-letter queues, and FIFO group ordering work exactly as for any other consumer.
// See docs/push.md.
package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Errors returned by the Manager; match them with errors.Is.
var (
	// ErrNotFound means that the queue has no push subscription.
	ErrNotFound = errors.New("push subscription not found")
	// ErrQueueNotFound means that the queue does not exist.
	ErrQueueNotFound = errors.New("queue does not exist")
	// ErrInvalid is the kind of every *ValidationError.
	ErrInvalid = errors.New("invalid push subscription")
)

// ValidationError says which field of a subscription is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Duration is a time.Duration written in JSON as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("1.5s") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("a duration is a string such as \"30s\" or a number of seconds: %w", err)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// Subscription is the configuration of a queue's push delivery.
type Subscription struct {
	// Queue is the queue's name (in the manager's account).
	Queue string `json:"queue"`
	// Endpoint is the http or https URL that messages are POSTed to.
	Endpoint string `json:"endpoint"`
	// Rate is the maximum number of deliveries started per second; Burst how many may start at
	// once after a quiet period.
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst,omitempty"`
	// Concurrency is the maximum number of requests in flight.
	Concurrency int `json:"concurrency,omitempty"`
	// Timeout bounds one delivery attempt.
	Timeout Duration `json:"timeout,omitempty"`
	// MinBackoff and MaxBackoff bound the delay before a failed message is retried; the delay
	// doubles with each receive of the message, at most MaxDoublings times.
	MinBackoff   Duration `json:"min_backoff,omitempty"`
	MaxBackoff   Duration `json:"max_backoff,omitempty"`
	MaxDoublings int      `json:"max_doublings,omitempty"`
	// Paused stops delivery until resumed.
	Paused bool `json:"paused,omitempty"`
}

// Defaults applied by Normalize to zero fields.
const (
	DefaultConcurrency  = 10
	DefaultTimeout      = 30 * time.Second
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultMaxDoublings = 16
)

// Normalize fills zero fields with their defaults and validates s.
func (s *Subscription) Normalize() error {
	if s.Queue == "" {
		return &ValidationError{"queue", "required"}
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &ValidationError{"endpoint", "must be an absolute http or https URL"}
	}
	if !(s.Rate > 0) || s.Rate > 1e6 {
		return &ValidationError{"rate", "must be greater than 0 and at most 1000000 per second"}
	}
	if s.Burst == 0 {
		s.Burst = max(1, int(s.Rate))
	}
	if s.Burst < 1 || s.Burst > 100000 {
		return &ValidationError{"burst", "must be between 1 and 100000"}
	}
	if s.Concurrency == 0 {
		s.Concurrency = DefaultConcurrency
	}
	if s.Concurrency < 1 || s.Concurrency > 10000 {
		return &ValidationError{"concurrency", "must be between 1 and 10000"}
	}
	if s.Timeout == 0 {
		s.Timeout = Duration(DefaultTimeout)
	}
	// The visibility timeout of a receive is Timeout plus a margin, at most SQS's 12 hours.
	if s.Timeout < Duration(time.Millisecond) || s.Timeout > Duration(11*time.Hour) {
		return &ValidationError{"timeout", "must be between 1ms and 11h"}
	}
	if s.MinBackoff == 0 {
		s.MinBackoff = Duration(DefaultMinBackoff)
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = Duration(DefaultMaxBackoff)
	}
	if s.MinBackoff < 0 || s.MaxBackoff > Duration(12*time.Hour) || s.MinBackoff > s.MaxBackoff {
		return &ValidationError{"min_backoff", "backoffs must satisfy 0 <= min_backoff <= max_backoff <= 12h"}
	}
	if s.MaxDoublings == 0 {
		s.MaxDoublings = DefaultMaxDoublings
	}
	if s.MaxDoublings < 0 || s.MaxDoublings > 62 {
		return &ValidationError{"max_doublings", "must be between 0 and 62"}
	}
	return nil
}

// backoff returns the delay before the retry of a message received receiveCount times.
func (s *Subscription) backoff(receiveCount int) time.Duration {
	d := time.Duration(s.MinBackoff)
	for i := 1; i < receiveCount && i <= s.MaxDoublings; i++ {
		d *= 2
		if d >= time.Duration(s.MaxBackoff) {
			return time.Duration(s.MaxBackoff)
		}
	}
	return min(d, time.Duration(s.MaxBackoff))
}

// Subscriptions are stored as queue tags: SQS limits a tag value to 256 characters, so the JSON
// is split over tags TagKey, TagKey.1, TagKey.2, ...
const (
	TagKey   = "sluice:push"
	chunkLen = 256
)

// encodeTags returns the tags that store s.
func encodeTags(s *Subscription) (map[string]string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encoding push subscription: %w", err)
	}
	text := string(b)
	tags := map[string]string{}
	for i := 0; len(text) > 0; i++ {
		n := min(chunkLen, len(text))
		// Never split a UTF-8 sequence: back up to a rune start.
		for n < len(text) && n > 0 && text[n]&0xC0 == 0x80 {
			n--
		}
		tags[chunkKey(i)] = text[:n]
		text = text[n:]
	}
	return tags, nil
}

func chunkKey(i int) string {
	if i == 0 {
		return TagKey
	}
	return TagKey + "." + strconv.Itoa(i)
}

// isChunkKey reports whether k is one of the tags that store a subscription.
func isChunkKey(k string) bool {
	if k == TagKey {
		return true
	}
	rest, ok := strings.CutPrefix(k, TagKey+".")
	if !ok {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}

// decodeTags returns the subscription stored in tags, or nil if there is none.
func decodeTags(tags map[string]string) (*Subscription, error) {
	if _, ok := tags[TagKey]; !ok {
		return nil, nil
	}
	var keys []int
	for k := range tags {
		if k == TagKey {
			keys = append(keys, 0)
		} else if rest, ok := strings.CutPrefix(k, TagKey+"."); ok {
			if i, err := strconv.Atoi(rest); err == nil {
				keys = append(keys, i)
			}
		}
	}
	sort.Ints(keys)
	var b strings.Builder
	for i, k := range keys {
		if k != i {
			break // a gap: a chunk of an older, longer value; ignore the rest
		}
		b.WriteString(tags[chunkKey(k)])
	}
	var s Subscription
	if err := json.Unmarshal([]byte(b.String()), &s); err != nil {
		return nil, fmt.Errorf("decoding stored push subscription: %w", err)
	}
	return &s, nil
}
