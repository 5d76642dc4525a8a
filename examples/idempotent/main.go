// Command idempotent applies payments from a FIFO queue exactly once, although the queue
// delivers them at least once and the producer sends each of them twice.
//
// It shows the two halves of the job, against Sluice or any SQS endpoint:
//
//   - Producer side: the queue has ContentBasedDeduplication, so a retried send of the same body
//     within five minutes is accepted, returns the first send's MessageId and is not enqueued
//     again.
//   - Consumer side: each payment carries an idempotency key. The consumer records the key and
//     applies the payment in one store transaction and deletes the message only after that
//     commit. A consumer that "crashes" between the commit and the delete is simulated; its
//     message is delivered again once the visibility timeout runs out, and the next consumer
//     sees the recorded key and only deletes it.
//
// Start a server (go run ./cmd/sluice serve) and run
//
//	go run ./examples/idempotent -endpoint http://127.0.0.1:9324
//
// docs/deduplication.md explains the pattern.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func main() {
	endpoint := flag.String("endpoint", "http://127.0.0.1:9324", "SQS endpoint URL")
	queue := flag.String("queue", "payments.fifo", "name of the FIFO queue to use (created if missing)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	client := sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(*endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("x", "x", ""),
	})
	const crashVisibility = 2 * time.Second
	rep, err := run(ctx, client, config{
		Queue: *queue,
		// The payment ids are unique per run: a second run within five minutes would otherwise
		// send bodies the queue has already seen, and deduplication would drop every one.
		Payments:        samplePayments(time.Now().UTC().Format("20060102T150405")),
		Wait:            time.Second,
		CrashVisibility: crashVisibility,
		WaitForRedelivery: func(ctx context.Context) error {
			log.Printf("waiting %v for the crashed receive's visibility timeout", crashVisibility)
			select {
			case <-time.After(crashVisibility):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Logf: log.Printf,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d payments applied\n", len(rep.Ledger.Entries))
	for _, a := range slices.Sorted(maps.Keys(rep.Ledger.Balances)) {
		fmt.Printf("%-6s %8d\n", a, rep.Ledger.Balances[a])
	}
}

// Payment credits Amount (in cents; negative for a debit) to Account. ID makes every payment's
// body unique: with content-based deduplication two payments with equal bodies would be taken
// for one payment sent twice.
type Payment struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	Amount  int64  `json:"amount"`
}

// samplePayments returns the payments the example sends; prefix makes their ids unique.
func samplePayments(prefix string) []Payment {
	return []Payment{
		{ID: prefix + "-1", Account: "alice", Amount: 1000},
		{ID: prefix + "-2", Account: "bob", Amount: 250},
		{ID: prefix + "-3", Account: "alice", Amount: -300},
		{ID: prefix + "-4", Account: "carol", Amount: 7500},
		{ID: prefix + "-5", Account: "bob", Amount: 250},
		{ID: prefix + "-6", Account: "alice", Amount: 45},
	}
}

// keyAttr is the message attribute that carries a message's idempotency key.
const keyAttr = "IdempotencyKey"

// idempotencyKey returns the key the consumer records for m: the business key sent with it, or
// its MessageId if there is none. The business key is the better choice: it is the same for every
// copy of a payment, also for copies the queue did not deduplicate (a retry after the five-minute
// window, a producer that rebuilt the message); a MessageId only names one accepted send.
func idempotencyKey(m types.Message) string {
	if a, ok := m.MessageAttributes[keyAttr]; ok && aws.ToString(a.StringValue) != "" {
		return aws.ToString(a.StringValue)
	}
	return aws.ToString(m.MessageId)
}

// config configures run.
type config struct {
	Queue    string
	Payments []Payment
	// Wait is how long each receive long-polls; 0 polls without waiting.
	Wait time.Duration
	// CrashVisibility is the visibility timeout of the receive whose consumer crashes.
	CrashVisibility time.Duration
	// WaitForRedelivery returns once CrashVisibility has passed since that receive.
	WaitForRedelivery func(ctx context.Context) error
	// Logf, if set, narrates the run.
	Logf func(format string, args ...any)
}

// report is what run did.
type report struct {
	// Sends has, per payment, the MessageIds returned by its two sends.
	Sends []sendResult
	// Crashed is the delivery whose consumer crashed after applying it and before deleting it.
	Crashed outcome
	// Outcomes are the later deliveries, in the order they were handled.
	Outcomes []outcome
	// Ledger is the store's final state.
	Ledger Ledger
}

// run creates the queue, sends every payment twice, lets one consumer crash after applying a
// payment, waits for that message's visibility timeout to run out, and drains the queue with a
// second consumer that shares the first one's store.
func run(ctx context.Context, client *sqs.Client, cfg config) (report, error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var rep report
	queueURL, err := createQueue(ctx, client, cfg.Queue)
	if err != nil {
		return rep, err
	}
	if rep.Sends, err = produce(ctx, client, queueURL, cfg.Payments); err != nil {
		return rep, err
	}
	for _, s := range rep.Sends {
		logf("payment %s sent twice: MessageIds %s, %s", s.PaymentID, s.MessageIDs[0], s.MessageIDs[1])
	}

	store := newMemStore() // stands for the consumers' database: it outlives a crashed consumer
	c := &consumer{client: client, queueURL: queueURL, store: store, wait: cfg.Wait}

	// A consumer receives a message, commits its payment and crashes before deleting it.
	rep.Crashed, err = c.receiveAndCrash(ctx, cfg.CrashVisibility)
	if err != nil {
		return rep, err
	}
	logf("consumer crashed after applying %s (message %s), before deleting it", rep.Crashed.Key, rep.Crashed.MessageID)
	if err := cfg.WaitForRedelivery(ctx); err != nil {
		return rep, err
	}

	// Another consumer, same store, drains the queue; it gets the crashed message again.
	rep.Outcomes, err = c.drain(ctx)
	for _, o := range rep.Outcomes {
		if o.Applied {
			logf("applied %s (message %s)", o.Key, o.MessageID)
		} else {
			logf("%s already applied: message %s (receive #%d) only deleted", o.Key, o.MessageID, o.ReceiveCount)
		}
	}
	rep.Ledger = store.Snapshot()
	return rep, err
}

// createQueue creates the FIFO queue with content-based deduplication, or returns its URL if it
// exists with these attributes.
func createQueue(ctx context.Context, client *sqs.Client, name string) (string, error) {
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name),
		Attributes: map[string]string{
			string(types.QueueAttributeNameFifoQueue):                 "true",
			string(types.QueueAttributeNameContentBasedDeduplication): "true",
		},
	})
	if err != nil {
		return "", fmt.Errorf("creating queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// sendResult is what the two sends of one payment returned.
type sendResult struct {
	PaymentID  string
	MessageIDs [2]string
}

// produce sends each payment twice, as a producer does that retries a send whose response it
// never got. Both sends have the same body, hence the same content-based deduplication id.
// Messages of one account share a message group, so they are delivered in order.
func produce(ctx context.Context, client *sqs.Client, queueURL string, payments []Payment) ([]sendResult, error) {
	var res []sendResult
	for _, p := range payments {
		body, err := json.Marshal(p)
		if err != nil {
			return res, err
		}
		r := sendResult{PaymentID: p.ID}
		for i := range r.MessageIDs {
			out, err := client.SendMessage(ctx, &sqs.SendMessageInput{
				QueueUrl:       aws.String(queueURL),
				MessageBody:    aws.String(string(body)),
				MessageGroupId: aws.String(p.Account),
				MessageAttributes: map[string]types.MessageAttributeValue{
					keyAttr: {DataType: aws.String("String"), StringValue: aws.String(p.ID)},
				},
			})
			if err != nil {
				return res, fmt.Errorf("sending payment %s: %w", p.ID, err)
			}
			r.MessageIDs[i] = aws.ToString(out.MessageId)
		}
		res = append(res, r)
	}
	return res, nil
}

// Entry is one applied payment.
type Entry struct {
	Key     string
	Account string
	Amount  int64
}

// Ledger is the consumers' state: every applied entry and the resulting balances.
type Ledger struct {
	Entries  []Entry
	Balances map[string]int64
}

// Tx is what a transaction of a Store can do.
type Tx interface {
	// MarkProcessed records key as processed. It returns false, recording nothing, if the key is
	// already recorded by a committed transaction or earlier in this one.
	MarkProcessed(key string) (bool, error)
	// Post adds e to the ledger and to its account's balance.
	Post(e Entry) error
}

// Store is where the consumers keep their state. Update runs fn as one transaction: if fn
// returns an error nothing it did is kept, otherwise all of it is committed at once, and
// transactions do not see each other's uncommitted work.
//
// On a SQL database, Update is BEGIN ... COMMIT, and the Tx methods are
//
//	INSERT INTO processed (key) VALUES ($1) ON CONFLICT DO NOTHING  -- no row inserted: false
//	INSERT INTO entries ...; UPDATE balances SET cents = cents + $2 WHERE account = $1
//
// where the primary key of processed makes concurrent deliveries of one message wait for each
// other; the one that commits first applies the payment.
type Store interface {
	Update(ctx context.Context, fn func(tx Tx) error) error
}

// applyOnce applies the payment in m unless its idempotency key has already been processed. The
// key is recorded in the same transaction as the payment, so the two happen together or not at
// all: there is no moment at which the payment is applied but the key not recorded, or the
// reverse.
func applyOnce(ctx context.Context, store Store, m types.Message) (outcome, error) {
	o := outcome{MessageID: aws.ToString(m.MessageId), Key: idempotencyKey(m)}
	o.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	var p Payment
	if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &p); err != nil {
		return o, fmt.Errorf("message %s: decoding payment: %w", o.MessageID, err)
	}
	applied := false
	err := store.Update(ctx, func(tx Tx) error {
		first, err := tx.MarkProcessed(o.Key)
		if err != nil || !first {
			return err
		}
		applied = true
		return tx.Post(Entry{Key: o.Key, Account: p.Account, Amount: p.Amount})
	})
	if err != nil {
		return o, fmt.Errorf("message %s: applying payment: %w", o.MessageID, err)
	}
	o.Applied = applied
	return o, nil
}

// outcome is what a consumer did with one delivery.
type outcome struct {
	MessageID string
	Key       string
	// ReceiveCount is the message's ApproximateReceiveCount: more than 1 for a redelivery.
	ReceiveCount int
	// Applied is false when the key had already been processed and the message was only deleted.
	Applied bool
}

// consumer receives payments and applies them to its store.
type consumer struct {
	client   *sqs.Client
	queueURL string
	store    Store
	wait     time.Duration
}

// receive receives up to max messages. visibility 0 means the queue's visibility timeout.
func (c *consumer) receive(ctx context.Context, max int32, visibility time.Duration) ([]types.Message, error) {
	out, err := c.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(c.queueURL),
		MaxNumberOfMessages:         max,
		VisibilityTimeout:           int32(visibility / time.Second),
		WaitTimeSeconds:             int32(c.wait / time.Second),
		MessageAttributeNames:       []string{keyAttr},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, fmt.Errorf("receiving: %w", err)
	}
	return out.Messages, nil
}

// handle applies m's payment at most once and then deletes m. If anything fails, m is not
// deleted and comes back after its visibility timeout. (Work that can outlast the visibility
// timeout should extend it with ChangeMessageVisibility while it runs.)
func (c *consumer) handle(ctx context.Context, m types.Message) (outcome, error) {
	o, err := applyOnce(ctx, c.store, m)
	if err != nil {
		return o, err
	}
	if _, err := c.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle,
	}); err != nil {
		return o, fmt.Errorf("message %s: deleting: %w", o.MessageID, err)
	}
	return o, nil
}

// drain handles messages until a receive returns none.
func (c *consumer) drain(ctx context.Context) ([]outcome, error) {
	var res []outcome
	for {
		msgs, err := c.receive(ctx, 10, 0)
		if err != nil || len(msgs) == 0 {
			return res, err
		}
		for _, m := range msgs {
			o, err := c.handle(ctx, m)
			if err != nil {
				return res, err
			}
			res = append(res, o)
		}
	}
}

// receiveAndCrash receives one message with the given visibility timeout and applies it, then
// "crashes": it returns without deleting the message.
func (c *consumer) receiveAndCrash(ctx context.Context, visibility time.Duration) (outcome, error) {
	msgs, err := c.receive(ctx, 1, visibility)
	if err != nil {
		return outcome{}, err
	}
	if len(msgs) == 0 {
		return outcome{}, errors.New("receiving: the queue is empty")
	}
	return applyOnce(ctx, c.store, msgs[0])
}

// memStore is a Store in memory. One mutex serialises the transactions; a transaction's writes
// are buffered and only reach the maps when it commits.
type memStore struct {
	mu        sync.Mutex
	processed map[string]bool
	ledger    Ledger
}

func newMemStore() *memStore {
	return &memStore{processed: map[string]bool{}, ledger: Ledger{Balances: map[string]int64{}}}
}

// Update implements Store.
func (s *memStore) Update(ctx context.Context, fn func(Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &memTx{s: s, processed: map[string]bool{}}
	if err := fn(tx); err != nil {
		return err // rolled back: tx's buffered writes are dropped
	}
	for k := range tx.processed {
		s.processed[k] = true
	}
	for _, e := range tx.entries {
		s.ledger.Entries = append(s.ledger.Entries, e)
		s.ledger.Balances[e.Account] += e.Amount
	}
	return nil
}

// Snapshot returns a copy of the committed ledger.
func (s *memStore) Snapshot() Ledger {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Ledger{Entries: slices.Clone(s.ledger.Entries), Balances: maps.Clone(s.ledger.Balances)}
}

// memTx is a transaction of a memStore; it runs with the store's mutex held.
type memTx struct {
	s         *memStore
	processed map[string]bool
	entries   []Entry
}

func (tx *memTx) MarkProcessed(key string) (bool, error) {
	if tx.s.processed[key] || tx.processed[key] {
		return false, nil
	}
	tx.processed[key] = true
	return true, nil
}

func (tx *memTx) Post(e Entry) error {
	tx.entries = append(tx.entries, e)
	return nil
}
