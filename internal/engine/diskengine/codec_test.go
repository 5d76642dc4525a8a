package diskengine

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"sluice/internal/engine"
	"sluice/internal/engine/msgindex"
)

// sampleMessages covers the codec's corners: empty and nil maps, binary values (empty, nil and
// non-nil), zero and non-zero times, multi-byte lengths.
func sampleMessages() []*engine.Message {
	long := string(bytes.Repeat([]byte("x"), 300))
	return []*engine.Message{
		{},
		{ID: "id", Body: "body", Attributes: map[string]engine.MessageAttribute{}},
		{
			ID:       "6f1b3c1e-3e0a-4c55-9b1e-000000000001",
			Body:     long + "\x00\xff unicode: é",
			SenderID: "AIDAEXAMPLE",
			SentAt:   time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC),
			GroupID:  "g1", DeduplicationID: "d1",
			Attributes: map[string]engine.MessageAttribute{
				"s":     {DataType: "String", StringValue: "v"},
				"n":     {DataType: "Number.int", StringValue: "42"},
				"b":     {DataType: "Binary", BinaryValue: []byte{0, 1, 2, 255}, IsBinary: true},
				"empty": {DataType: "Binary.x", BinaryValue: []byte{}, IsBinary: true},
				long:    {DataType: "String", StringValue: long},
			},
			SystemAttributes: map[string]engine.MessageAttribute{
				"AWSTraceHeader": {DataType: "String", StringValue: "Root=1-5759e988-bd862e3fe1be46a994272793"},
			},
		},
		{ID: "old", SentAt: time.Unix(-1e12, 1)},
		{ID: "summed", Body: "msg", BodyMD5: "6e2baaf3b97dbeef01c0043275f9a0e7", DeadLetterSourceArn: "arn:aws:sqs:us-east-1:000000000000:src"},
	}
}

// equalMessages compares messages field by field, times by instant.
func equalMessages(a, b *engine.Message) bool {
	return a.ID == b.ID && a.Body == b.Body && a.SenderID == b.SenderID &&
		a.GroupID == b.GroupID && a.DeduplicationID == b.DeduplicationID &&
		a.DeadLetterSourceArn == b.DeadLetterSourceArn && a.BodyMD5 == b.BodyMD5 &&
		a.SentAt.Equal(b.SentAt) && a.SentAt.IsZero() == b.SentAt.IsZero() &&
		reflect.DeepEqual(a.Attributes, b.Attributes) &&
		reflect.DeepEqual(a.SystemAttributes, b.SystemAttributes)
}

func TestMessageCodecRoundTrip(t *testing.T) {
	for i, m := range sampleMessages() {
		enc := appendMessage(nil, m)
		got, err := decodeMessage(enc)
		if err != nil {
			t.Fatalf("message %d: decode: %v", i, err)
		}
		if !equalMessages(got, m) {
			t.Errorf("message %d: round trip\n got %+v\nwant %+v", i, got, m)
		}
		// Deterministic: attributes are sorted.
		if again := appendMessage(nil, got); !bytes.Equal(again, enc) {
			t.Errorf("message %d: re-encoding differs", i)
		}
	}
}

// TestMessageCodecVersion1 reads records written before the body's MD5 was kept (version 1:
// the same fields without it), and refuses an MD5 of the wrong size.
func TestMessageCodecVersion1(t *testing.T) {
	m := sampleMessages()[2]
	enc := appendMessage(nil, m) // no BodyMD5: ends with an empty string, one 0 byte
	v1 := append([]byte{1}, enc[1:len(enc)-1]...)
	got, err := decodeMessage(v1)
	if err != nil {
		t.Fatalf("decoding a version 1 record: %v", err)
	}
	if !equalMessages(got, m) {
		t.Errorf("version 1 record\n got %+v\nwant %+v", got, m)
	}
	bad := append(enc[:len(enc)-1:len(enc)-1], 5, 1, 2, 3, 4, 5)
	if _, err := decodeMessage(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a 5-byte body MD5 decoded with err %v, want ErrCorrupt", err)
	}
	// A malformed MD5 is not stored (receives compute it).
	got, err = decodeMessage(appendMessage(nil, &engine.Message{ID: "x", BodyMD5: "not hex"}))
	if err != nil || got.BodyMD5 != "" {
		t.Errorf("malformed BodyMD5 round trip = %q, %v; want it dropped", got.BodyMD5, err)
	}
}

func TestMessageDecodeCopies(t *testing.T) {
	m := sampleMessages()[2]
	enc := appendMessage(nil, m)
	got, err := decodeMessage(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		enc[i] = 0xAA
	}
	if !equalMessages(got, m) {
		t.Fatal("decoded message aliases the input buffer")
	}
}

func TestMessageDecodeCorrupt(t *testing.T) {
	enc := appendMessage(nil, sampleMessages()[2])
	// Every strict prefix is truncated.
	for n := range len(enc) {
		if _, err := decodeMessage(enc[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("prefix of %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
	cases := map[string][]byte{
		"unknown version": append([]byte{99}, enc[1:]...),
		"trailing byte":   append(slices.Clone(enc), 0),
		"huge length":     {messageVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bad varint":      {messageVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge attr count": {messageVersion, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0},
		"bad time tag":    {messageVersion, 0, 0, 0, 0, 0, 7, 0, 0},
		"nanos too big":   {messageVersion, 0, 0, 0, 0, 0, 1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0, 0},
		"unsorted attrs": {messageVersion, 0, 0, 0, 0, 0, 0,
			3, 1, 'b', 0, 0, 0, 1, 'a', 0, 0, 0, 0},
		"bad attr flags": {messageVersion, 0, 0, 0, 0, 0, 0,
			2, 1, 'a', 0, 0x80, 0, 0},
	}
	for name, v := range cases {
		if _, err := decodeMessage(v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(appendMessage(nil, m))
	}
	f.Add([]byte{})
	f.Add([]byte{messageVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMessage(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		// What decodes must survive a round trip unchanged. (The bytes may differ: a record
		// with non-minimal varints decodes, and is re-encoded minimally.)
		enc := appendMessage(nil, m)
		m2, err := decodeMessage(enc)
		if err != nil || !equalMessages(m, m2) {
			t.Fatalf("second round trip: %v", err)
		}
	})
}

func TestStateCodecRoundTrip(t *testing.T) {
	states := []msgindex.State{
		{Seq: 1},
		{Seq: 1<<64 - 1, SentAt: 1, VisibleAt: -2, ReceivedAt: 1 << 62, FirstReceiveAt: -1 << 63,
			Token: 1<<64 - 1, ReceiveCount: 1<<32 - 1},
		{Seq: 3, Group: "tenant-42"},
	}
	for _, st := range states {
		enc := appendState(nil, &st)
		if len(enc) != stateLen+1+len(st.Group) {
			t.Fatalf("encoded state is %d bytes, want %d", len(enc), stateLen+1+len(st.Group))
		}
		got, err := decodeState(st.Seq, enc)
		if err != nil || got != st {
			t.Fatalf("round trip: got %+v, %v; want %+v", got, err, st)
		}
		if _, err := decodeState(st.Seq, enc[:len(enc)-1]); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated state: err = %v, want ErrCorrupt", err)
		}
		bad := slices.Clone(enc)
		bad[0] = 2
		if _, err := decodeState(st.Seq, bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("unknown version: err = %v, want ErrCorrupt", err)
		}
	}
}

func TestQueueCodecRoundTrip(t *testing.T) {
	q := &engine.Queue{
		ID:         7,
		Key:        engine.QueueKey{Account: "000000000000", Name: "orders.fifo"},
		FIFO:       true,
		Attributes: map[string]string{"FifoQueue": "true", "VisibilityTimeout": "30"},
		Tags:       map[string]string{"team": "x"},
		CreatedAt:  time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		ModifiedAt: time.Date(2030, 1, 2, 3, 4, 6, 7, time.UTC),
	}
	enc, err := encodeQueue(q)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeQueue(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != q.ID || got.Key != q.Key || !reflect.DeepEqual(got.Attributes, q.Attributes) ||
		!reflect.DeepEqual(got.Tags, q.Tags) || !got.CreatedAt.Equal(q.CreatedAt) || !got.ModifiedAt.Equal(q.ModifiedAt) {
		t.Fatalf("round trip: got %+v, want %+v", got, q)
	}
	for _, bad := range []string{`{`, `{"v":2,"id":7}`, `[]`} {
		if _, err := decodeQueue([]byte(bad)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", bad, err)
		}
	}
}

// TestKeyOrder checks the layout's promises: a queue's keys are contiguous and ordered by seq,
// and the span helpers cover exactly one queue.
func TestKeyOrder(t *testing.T) {
	qids := []uint64{0, 1, 255, 256, 1<<64 - 1}
	for _, prefix := range []byte{prefixMessage, prefixState} {
		for _, qid := range qids {
			lo, hi := queueSpan(prefix, qid)
			for _, seq := range []uint64{0, 1, 1 << 40, 1<<64 - 1} {
				k := msgKey(prefix, qid, seq)
				if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
					t.Errorf("key %x outside span [%x, %x)", k, lo, hi)
				}
				if gotQ, gotS, err := parseMsgKey(k); err != nil || gotQ != qid || gotS != seq {
					t.Errorf("parseMsgKey(%x) = %d, %d, %v", k, gotQ, gotS, err)
				}
			}
			if qid > 0 {
				if k := msgKey(prefix, qid-1, 1<<64-1); bytes.Compare(k, lo) >= 0 {
					t.Errorf("key %x of queue %d inside span of queue %d", k, qid-1, qid)
				}
			}
			if qid < 1<<64-1 {
				if k := msgKey(prefix, qid+1, 0); bytes.Compare(k, hi) < 0 {
					t.Errorf("key %x of queue %d inside span of queue %d", k, qid+1, qid)
				}
			}
		}
		if bytes.Compare(msgKey(prefix, 1, 2), msgKey(prefix, 1, 256)) >= 0 {
			t.Error("seqs do not sort numerically")
		}
	}
}
