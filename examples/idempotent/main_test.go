package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"sluice/internal/sluicetest"
)

// TestRun runs the example against an in-process server whose clock only moves when the test
// advances it.
func TestRun(t *testing.T) {
	srv := sluicetest.NewServer(t, sluicetest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const queue, crashVisibility = "payments.fifo", 10 * time.Second
	payments := samplePayments("t")
	waited := false

	rep, err := run(ctx, srv.Client, config{
		Queue:           queue,
		Payments:        payments,
		CrashVisibility: crashVisibility,
		WaitForRedelivery: func(ctx context.Context) error {
			waited = true
			// The crashed consumer's message stays hidden until its visibility timeout is over.
			srv.Clock.Advance(crashVisibility - time.Second)
			if got := countMessages(ctx, t, srv.Client, srv.QueueURL(queue)); got[notVisible] != "1" {
				t.Errorf("1s before the crashed receive's timeout: %s = %q, want 1", notVisible, got[notVisible])
			}
			srv.Clock.Advance(time.Second)
			return nil
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if !waited {
		t.Fatal("run did not wait for the redelivery")
	}

	// Producer: each retried send was recognised as a duplicate of the first.
	if len(rep.Sends) != len(payments) {
		t.Fatalf("%d send results, want %d", len(rep.Sends), len(payments))
	}
	messageIDOf := map[string]string{} // payment id -> MessageId
	seen := map[string]bool{}
	for _, s := range rep.Sends {
		first, retry := s.MessageIDs[0], s.MessageIDs[1]
		if first == "" || retry != first {
			t.Errorf("payment %s: retried send returned MessageId %q, first send %q; want the first send's id",
				s.PaymentID, retry, first)
		}
		if seen[first] {
			t.Errorf("payment %s: MessageId %s was also returned for another payment", s.PaymentID, first)
		}
		seen[first] = true
		messageIDOf[s.PaymentID] = first
	}

	// The crashed consumer applied its message on first delivery.
	c := rep.Crashed
	if !c.Applied || c.ReceiveCount != 1 || c.MessageID != messageIDOf[c.Key] || c.MessageID == "" {
		t.Errorf("crashed delivery = %+v, want an applied first receive of a sent message", c)
	}

	// Consumer: one delivery per payment (duplicates never reached it), and the crashed message
	// came back once and was recognised.
	var redelivered []outcome
	for _, o := range rep.Outcomes {
		if o.MessageID != messageIDOf[o.Key] {
			t.Errorf("delivery %+v: MessageId differs from the send's %q", o, messageIDOf[o.Key])
		}
		switch {
		case !o.Applied:
			redelivered = append(redelivered, o)
		case o.ReceiveCount != 1:
			t.Errorf("delivery %+v applied on receive #%d, want first receive", o, o.ReceiveCount)
		}
	}
	if len(redelivered) != 1 {
		t.Errorf("deliveries recognised as already applied: %+v, want exactly the crashed message", redelivered)
	} else if r := redelivered[0]; r.MessageID != c.MessageID || r.Key != c.Key || r.ReceiveCount != 2 {
		t.Errorf("recognised delivery = %+v, want the crashed message %s on its second receive", r, c.MessageID)
	}
	if len(rep.Outcomes) != len(payments) {
		t.Errorf("%d deliveries after the crash, want %d (%d payments minus the crashed one, plus its redelivery): %+v",
			len(rep.Outcomes), len(payments), len(payments)-1, rep.Outcomes)
	}

	// Ledger: every payment exactly once, in send order per account, and exact balances.
	applied := map[string]int{}
	for _, e := range rep.Ledger.Entries {
		applied[e.Key]++
	}
	for _, p := range payments {
		if applied[p.ID] != 1 {
			t.Errorf("payment %s applied %d times, want 1", p.ID, applied[p.ID])
		}
	}
	if len(rep.Ledger.Entries) != len(payments) {
		t.Errorf("ledger has %d entries, want %d: %+v", len(rep.Ledger.Entries), len(payments), rep.Ledger.Entries)
	}
	for _, account := range []string{"alice", "bob", "carol"} {
		var want, got []string
		for _, p := range payments {
			if p.Account == account {
				want = append(want, p.ID)
			}
		}
		for _, e := range rep.Ledger.Entries {
			if e.Account == account {
				got = append(got, e.Key)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s's payments applied in order %v, want %v", account, got, want)
		}
	}
	wantBalances := map[string]int64{"alice": 745, "bob": 500, "carol": 7500}
	if !maps.Equal(rep.Ledger.Balances, wantBalances) {
		t.Errorf("balances = %v, want %v", rep.Ledger.Balances, wantBalances)
	}

	// Nothing is left in the queue, visible or not.
	got := countMessages(ctx, t, srv.Client, srv.QueueURL(queue))
	for _, name := range []string{visible, notVisible} {
		if got[name] != "0" {
			t.Errorf("after the run %s = %q, want 0", name, got[name])
		}
	}
}

const (
	visible    = string(types.QueueAttributeNameApproximateNumberOfMessages)
	notVisible = string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
)

func countMessages(ctx context.Context, t *testing.T, client *sqs.Client, queueURL string) map[string]string {
	t.Helper()
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes: %v", err)
	}
	return out.Attributes
}

func paymentMessage(id, key, body string) types.Message {
	m := types.Message{
		MessageId:  aws.String(id),
		Body:       aws.String(body),
		Attributes: map[string]string{"ApproximateReceiveCount": "1"},
	}
	if key != "" {
		m.MessageAttributes = map[string]types.MessageAttributeValue{
			keyAttr: {DataType: aws.String("String"), StringValue: aws.String(key)},
		}
	}
	return m
}

// TestApplyOnceConcurrent delivers one payment to many consumers at once, as happens when a
// visibility timeout runs out while the first consumer is still working: exactly one applies it.
func TestApplyOnceConcurrent(t *testing.T) {
	store := newMemStore()
	m := paymentMessage("m-1", "pay-1", `{"id":"pay-1","account":"alice","amount":100}`)
	const n = 16
	var wg sync.WaitGroup
	results := make([]outcome, n)
	for i := range n {
		wg.Go(func() {
			o, err := applyOnce(context.Background(), store, m)
			if err != nil {
				t.Error(err)
			}
			results[i] = o
		})
	}
	wg.Wait()
	applied := 0
	for _, o := range results {
		if o.Applied {
			applied++
		}
	}
	l := store.Snapshot()
	if applied != 1 || len(l.Entries) != 1 || l.Balances["alice"] != 100 {
		t.Errorf("%d of %d concurrent deliveries applied; ledger %+v; want 1 entry and alice = 100", applied, n, l)
	}
}

// TestUpdateRollsBack checks that a failed transaction keeps neither the key nor the effect, so
// the next delivery applies the payment.
func TestUpdateRollsBack(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	boom := errors.New("boom")
	err := store.Update(ctx, func(tx Tx) error {
		if ok, err := tx.MarkProcessed("pay-1"); !ok || err != nil {
			t.Fatalf("MarkProcessed on an empty store = %v, %v", ok, err)
		}
		if ok, _ := tx.MarkProcessed("pay-1"); ok {
			t.Error("MarkProcessed twice in one transaction returned true twice")
		}
		if err := tx.Post(Entry{Key: "pay-1", Account: "alice", Amount: 100}); err != nil {
			t.Fatal(err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want %v", err, boom)
	}
	if l := store.Snapshot(); len(l.Entries) != 0 || len(l.Balances) != 0 {
		t.Fatalf("after a rolled-back transaction the ledger is %+v, want empty", l)
	}

	// Without a business key the MessageId is the idempotency key.
	m := paymentMessage("m-1", "", `{"id":"pay-1","account":"alice","amount":100}`)
	for i, want := range []bool{true, false} {
		o, err := applyOnce(ctx, store, m)
		if err != nil || o.Applied != want || o.Key != "m-1" {
			t.Errorf("delivery %d: applyOnce = %+v, %v; want Applied %v with key m-1", i+1, o, err, want)
		}
	}
	if l := store.Snapshot(); len(l.Entries) != 1 || l.Balances["alice"] != 100 {
		t.Errorf("ledger = %+v, want one entry and alice = 100", l)
	}
}
